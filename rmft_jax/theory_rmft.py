"""From the meta-algorithm to the loss: real Iterative RMFT on the single-layer LSA (issue 4, point 5).

The theory module (:mod:`rmft_jax.theory`, ``theory/no_regret.md``) studies the
*loss-for-theory*: ``k = 1`` and infinitely many rollouts, so that the kept
trajectory plays the optimal action ``π*`` in every round and SFT is supervised
learning with optimal-action labels. Its global minimizer is
``π_t = map_Π(η* S_{t−1})`` (FTRL on the ball, Hedge on the simplex). Here we run
the *real* loop of :mod:`rmft_jax.rmft` on the same model and measure how close it
comes to that fixed point::

    tasks     μ_m ~ N(0, σ_μ² I), m = 1..M                      (OnlineEnv 'stochastic')
    rollouts  L per task, each with its own R_t = μ + σ ε_t (independent rewards) or all
              L on one shared R_t (shared rewards: common random numbers), and
              π_t = map_Π(g_θ(Z_{t−1}) + σ_x ξ_t), ξ_t ~ N(0, I)  (LSAPolicy, σ_x = explore_std)
    rank      by the pseudo-regret Σ_t ⟨π*, μ⟩ − ⟨π_t, μ⟩        (PseudoRegretEnv)
              or by the realised static regret (OnlineEnv.regret)
    keep      the k lowest per task
    SFT       sft_steps AdamW steps on ℓ(map_Π(g_θ(Z_{t−1})), π_t^kept), teacher-forced
              on the kept reward sequences (ℓ = ‖·−·‖² on the ball, cross-entropy on the
              simplex: :func:`rmft_jax.theory.pointwise_loss`, the loss-for-theory's ℓ)

and after every iteration record ``effective(params, domain)``: ``η_eff``, the
off-diagonal norm and the vanishing norm, to compare with ``η*``, 0 and 0.

With independent rewards, best-of-L selection also picks *histories*: the kept
rollouts are those whose reward noise happened to point along ``μ`` early on
(``theory/no_regret.md`` §2, the selection tilt). :func:`selection_tilt` measures it;
with shared rewards it is exactly zero.

Public API: :class:`LSAPolicy`, :class:`PseudoRegretEnv`, :func:`make_env`,
:func:`lsa_sft_loss`, :func:`make_learner`, :class:`Config`, :func:`run_config`,
:func:`pseudo_regret_curve`, :func:`one_step_map`, :func:`selection_tilt`,
:func:`tilt_summary`, :func:`run_theory_rmft`, :func:`plot_theory_rmft`
and ``python -m rmft_jax.theory_rmft [--quick] [--out DIR] [--overwrite]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import sys
import time
from pathlib import Path
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from rmft_jax import _checks
from rmft_jax import rmft as rmft_mod
from rmft_jax import theory
from rmft_jax.envs.online import OnlineEnv
from rmft_jax.regret import DOMAINS, static_regret
from rmft_jax.results import atomic_write_bytes, check_writable, load_json, save_figure, save_json
from rmft_jax.rollout import rollout_tasks, sample_tasks
from rmft_jax.types import FULL, ActionSpace, Array, Episode, Policy, PyTree

LABEL_RULES = ("pseudo", "realised")
STARTS = ("random", "eta_star")
REWARDS = ("independent", "shared")
OUTPUTS = ("theory_rmft.json", "theory_rmft.png", "theory_rmft.pdf", "theory_rmft.md")

# --------------------------------------------------------------------------------------
# The LSA as a rollout policy
# --------------------------------------------------------------------------------------


@struct.dataclass
class LSAState:
    """Sufficient statistics of the history ``Z_{t−1}`` for the LSA (no cache needed).

    Attributes:
      S: ``(d,)`` ``Σ_{s<t} R_s``.
      M: ``(d, d)`` ``Σ_{s<t} R_s R_sᵀ``.
      n: ``()`` ``t − 1``, rounds seen.

    With ``w = Kᵀ q̃`` and ``b = ⟨k, q̃⟩`` (:func:`rmft_jax.theory.lsa_outputs`)::

        g = Σ_{s<t} (V R_s + v)(⟨w, R_s⟩ + b) = V (b S + M w) + v (⟨w, S⟩ + b n)
    """

    S: Array
    M: Array
    n: Array


@dataclasses.dataclass(frozen=True)
class LSAPolicy(Policy):
    """The single-layer linear self-attention model of :mod:`rmft_jax.theory` as a full-information policy.

    ``act`` plays ``map_Π(g_θ(Z_{t−1}) + explore_std · ξ_t)``, ``ξ_t ~ N(0, I_d)``: the
    exploration is added to the pre-map output, as
    :class:`rmft_jax.models.policy.OnlineTransformerPolicy` does, so every rollout stays
    in ``Π``; at ``explore_std = 0`` it plays ``map_Π(lsa_outputs(params, R)[t−1])``.
    ``params`` is the theory's parameter dict (:func:`rmft_jax.theory.init_lsa`).

    Attributes:
      dim: ``d >= 2``.
      domain: ``"ball"`` (Env I) or ``"simplex"`` (Env II).
      radius: ``R_Π > 0`` of the ball.
      explore_std: ``σ_x >= 0`` of the exploration noise.
      horizon: ``T >= 1``, the longest rollout (only checked; the state has no cache).
    """

    feedback: ClassVar[str] = FULL

    dim: int = 3
    domain: str = "ball"
    radius: float = 1.0
    explore_std: float = 0.5
    horizon: int = 25

    def __post_init__(self):
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731
        set_("dim", _checks.integer("dim", self.dim, 2))
        _checks.choice("domain", self.domain, DOMAINS)
        set_("radius", _checks.real("radius", self.radius, low=0.0, low_open=True))
        set_("explore_std", _checks.real("explore_std", self.explore_std, low=0.0))
        set_("horizon", _checks.integer("horizon", self.horizon, 1))

    @property
    def action_space(self) -> ActionSpace:
        return ActionSpace(self.feedback, self.dim, self.domain, self.radius)

    def init(self, params: PyTree, length: int | None = None) -> LSAState:
        d = self.dim
        return LSAState(jnp.zeros((d,)), jnp.zeros((d, d)), jnp.zeros(()))

    def noise(self, key: Array, horizon: int) -> Array:
        """Standard normal ``(T, d)`` (``(T, 0)`` when ``explore_std = 0``)."""
        if horizon > self.horizon:
            _checks.fail("horizon", f"<= the policy's horizon = {self.horizon}", horizon)
        if self.explore_std == 0.0:
            return jnp.zeros((horizon, 0))
        return jax.random.normal(key, (horizon, self.dim))

    def output(self, params: PyTree, state: LSAState) -> Array:
        """The pre-map output ``g_θ(Z_{t−1})`` from the sufficient statistics, ``(d,)``."""
        w, b = theory._qwb(params)
        return params["V"] @ (b * state.S + state.M @ w) + params["v"] * (state.S @ w + b * state.n)

    def act(self, params: PyTree, state: LSAState, noise: Array) -> Array:
        g = self.output(params, state)
        y = g if self.explore_std == 0.0 else g + self.explore_std * noise
        return theory.map_to_policy(y, self.domain, self.radius)

    def update(self, params: PyTree, state: LSAState, action: Array, feedback: Array) -> LSAState:
        del params, action
        return LSAState(state.S + feedback, state.M + jnp.outer(feedback, feedback), state.n + 1.0)


# --------------------------------------------------------------------------------------
# The trainer's ranking: pseudo-regret through an environment wrapper
# --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PseudoRegretEnv(OnlineEnv):
    """:class:`OnlineEnv` whose ``regret`` is the pseudo-regret: **the trainer ranks by pseudo-regret**.

    ``regret(episode, actions) = static_regret(episode.means, actions, domain, radius)``:
    the static regret against the noiseless part of the sequence (``μ`` for the
    ``stochastic`` family), i.e. ``t·max_Π⟨π, μ⟩ − Σ_{s≤t}⟨π_s, μ⟩`` after round ``t``.
    :func:`rmft_jax.rmft.iteration` ranks rollouts by ``traj.regret[..., −1]``, so with
    this env it keeps the rollouts of lowest pseudo-regret, the ranking under which
    ``theory/no_regret.md`` §2 derives optimal-action labels. Everything else
    (sampling, rewards, feedback) is :class:`OnlineEnv`'s; the learner never sees ``μ``.
    Whether the ``L`` rollouts of a task share its rewards is the RMFT config's choice
    (``RMFTConfig.shared_env_noise``), not the environment's.
    """

    def regret(self, episode: Episode, actions: Array) -> Array:
        return static_regret(episode.means, actions, self.domain, self.radius)


def make_env(setting: theory.TheorySetting, labels: str | None = None) -> OnlineEnv:
    """The training distribution of ``setting`` as an RMFT environment.

    ``labels`` (default ``setting.labels``): ``"pseudo"`` ranks by pseudo-regret
    (:class:`PseudoRegretEnv`), ``"realised"`` by the static regret on the realised
    rewards (:class:`OnlineEnv`). Rewards are drawn around the task's ``μ`` per rollout
    or once per task, as :func:`rmft_jax.rollout.rollout_tasks` is told.
    """
    labels = setting.labels if labels is None else labels
    _checks.choice("labels", labels, LABEL_RULES)
    if not setting.symmetric:
        _checks.fail("setting", "symmetric (the isotropic 'stochastic' family of OnlineEnv)", setting.asymmetry())
    cls = PseudoRegretEnv if labels == "pseudo" else OnlineEnv
    return cls(
        dim=setting.dim, horizon=setting.horizon, domain=setting.domain, radius=setting.radius,
        sequence="stochastic", noise=setting.noise, mean_scale=setting.mean_scale,
    )


# --------------------------------------------------------------------------------------
# SFT: the loss-for-theory's ℓ between the model and the kept policies
# --------------------------------------------------------------------------------------


def lsa_sft_loss(params: PyTree, actions: Array, feedback: Array, domain: str, radius: float = 1.0):
    """Teacher-forced matching loss of the kept trajectories (the ``Learner.loss`` signature).

    ``mean_{trajectories, t} ℓ(map_Π(lsa_outputs(params, R)[t]), π_t^kept)`` with
    ``ℓ = ‖map_Π(g) − π‖²`` (ball) or ``−⟨π, log softmax g⟩`` (simplex): exactly
    :func:`rmft_jax.theory.sequence_loss` with the kept policies as soft labels.

    Args:
      actions: ``(B, T, d)`` the kept policies; feedback: ``(B, T, d)`` their reward vectors.
    Returns:
      ``(scalar, {})``.
    """
    per = jax.vmap(lambda r, y: theory.sequence_loss(params, r, y, domain, radius))(feedback, actions)
    return jnp.mean(per), {}


def make_learner(policy: LSAPolicy, base_params: PyTree) -> rmft_mod.Learner:
    """The RMFT learner: :class:`LSAPolicy` for rollouts, :func:`lsa_sft_loss` for SFT."""
    loss = functools.partial(lsa_sft_loss, domain=policy.domain, radius=policy.radius)
    return rmft_mod.Learner(policy, loss, base_params)


# --------------------------------------------------------------------------------------
# One RMFT run, per-iteration effective quantities
# --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Config:
    """One Iterative-RMFT run on the LSA (all static).

    Attributes:
      domain: ``"ball"`` or ``"simplex"``.
      rollouts: ``L``; keep: ``k``; tasks: ``M`` per iteration; iterations.
      labels: ``"pseudo"`` or ``"realised"`` ranking.
      shared_rewards: the ``L`` rollouts of a task share one reward sequence (common
        random numbers, ``RMFTConfig.shared_env_noise``); ``False``: each rollout draws
        its own, and the selection tilts the kept histories (:func:`selection_tilt`).
      explore_std: ``σ_x`` of the exploration noise (added before ``map_Π``).
      sft_steps, learning_rate, grad_clip: SFT (AdamW, warm start, no weight decay).
      seeds: independent runs (initialisation and data) per start, vmapped.
      starts: where the runs start: ``"random"`` (``init_lsa``) and/or ``"eta_star"``
        (the theory's fixed point, slightly perturbed; see :func:`initial_params`).
      init_scale: ``init_lsa`` scale.
      dim, horizon, mean_scale, noise: the theory's distribution.
    """

    domain: str = "ball"
    rollouts: int = 16
    keep: int = 1
    tasks: int = 64
    iterations: int = 300
    labels: str = "pseudo"
    shared_rewards: bool = False
    explore_std: float = 0.5
    sft_steps: int = 8
    learning_rate: float = 0.01
    grad_clip: float = 1.0
    seeds: int = 1
    starts: tuple[str, ...] = ("random", "eta_star")
    init_scale: float = 0.2
    dim: int = 3
    horizon: int = 25
    mean_scale: float = 1.0
    noise: float = 1.0

    def __post_init__(self):
        if not isinstance(self.shared_rewards, bool):
            _checks.fail("shared_rewards", "true or false", self.shared_rewards)

    def setting(self) -> theory.TheorySetting:
        return theory.TheorySetting(
            domain=self.domain, dim=self.dim, horizon=self.horizon, mean_scale=self.mean_scale,
            noise=self.noise, labels=self.labels,
        )

    def rmft_config(self) -> rmft_mod.RMFTConfig:
        return rmft_mod.RMFTConfig(
            tasks=self.tasks, rollouts=self.rollouts, keep=self.keep, iterations=self.iterations,
            sft_steps=self.sft_steps, learning_rate=self.learning_rate, grad_clip=self.grad_clip,
            explore_std=self.explore_std, weight_decay=0.0, warm_start=True, buffer_iterations=1,
            shared_env_noise=self.shared_rewards,
        )

    def policy(self) -> LSAPolicy:
        return LSAPolicy(dim=self.dim, domain=self.domain, explore_std=self.explore_std, horizon=self.horizon)


@functools.partial(jax.jit, static_argnames=("cfg",))
def _run(keys: Array, params0: PyTree, cfg: Config):
    env = make_env(cfg.setting())
    rc = cfg.rmft_config()
    policy = cfg.policy()

    def one(key, p0):
        learner = make_learner(policy, p0)
        state = rmft_mod.init_state(env, rc, learner)

        def body(s, _):
            s, m = rmft_mod.iteration(env, rc, learner, s, key, p0)
            e = theory.effective(s.params, cfg.domain)
            out = {"eta": e.eta, "offdiag_norm": e.offdiag_norm, "vanishing_norm": e.vanishing_norm,
                   "quad_norm": e.quad_norm, "drift_norm": e.drift_norm,
                   "rollout_regret": m["rollout_regret_mean"], "kept_regret": m["kept_regret_mean"],
                   "sft_loss": m["sft_loss_last"]}
            return s, out

        state, trace = jax.lax.scan(body, state, None, length=rc.iterations)
        return state.params, trace

    return jax.vmap(one)(keys, params0)


def initial_params(key: Array, cfg: Config, start: str, eta_star_value: float | None = None) -> PyTree:
    """The run's starting point: ``"random"`` (``init_lsa(key, d, scale=init_scale)``) or
    ``"eta_star"`` (``structured_params(η*)`` plus i.i.d. ``N(0, (0.1·init_scale)²)`` on every entry)."""
    _checks.choice("start", start, STARTS)
    k_init = jax.random.fold_in(key, 1)
    if start == "random":
        return theory.init_lsa(k_init, cfg.dim, scale=cfg.init_scale)
    if eta_star_value is None:
        _checks.fail("eta_star_value", "given for start='eta_star'", None)
    base = theory.structured_params(eta_star_value, cfg.dim)
    pert = theory.init_lsa(k_init, cfg.dim, scale=0.1 * cfg.init_scale)
    return jax.tree.map(jnp.add, base, pert)


def run_config(cfg: Config, seed: int = 0, eta_star_value: float | None = None) -> dict[str, Any]:
    """Run ``cfg.seeds`` independent RMFT runs from each start in ``cfg.starts`` (vmapped, one compilation).

    Returns NumPy traces with leading axis ``run = (start, seed)`` (``len(starts)·seeds`` rows,
    the starts in order): ``eta``, ``offdiag_norm``, ``vanishing_norm``, ``quad_norm``,
    ``drift_norm``, ``rollout_regret``, ``kept_regret`` (under the run's ranking),
    ``sft_loss`` ``(runs, iterations)``; ``eta0`` ``(runs,)`` at the start; ``start`` the
    start of each row; ``params`` the final parameters.
    """
    keys, p0s, starts = [], [], []
    for i, start in enumerate(cfg.starts):
        for j in range(cfg.seeds):
            key = jax.random.fold_in(jax.random.key(seed), 1000 * i + j)
            keys.append(key)
            p0s.append(initial_params(key, cfg, start, eta_star_value))
            starts.append(start)
    p0 = jax.tree.map(lambda *x: jnp.stack(x), *p0s)
    params, trace = _run(jnp.stack(keys), p0, cfg)
    out = {k: np.asarray(v) for k, v in trace.items()}
    out["eta0"] = np.asarray(jax.vmap(lambda p: theory.effective(p, cfg.domain).eta)(p0))
    out["start"] = starts
    out["params"] = jax.tree.map(np.asarray, params)
    return out


# --------------------------------------------------------------------------------------
# Diagnostics: what the selection optimises
# --------------------------------------------------------------------------------------


@functools.partial(jax.jit, static_argnames=("setting", "batch"))
def pseudo_regret_curve(etas: Array, key: Array, setting: theory.TheorySetting, batch: int) -> tuple[Array, Array]:
    """Mean final pseudo-regret and loss-for-theory of ``map_Π(η S)`` for each ``η`` (common random numbers).

    Returns ``(regret (len(etas),), loss (len(etas),))``: the selection ranks by the first,
    the loss-for-theory (pseudo labels) is the second; their minimisers need not agree.
    """
    mu, R = theory.sample_batch(key, setting, batch)
    y = jax.vmap(lambda m, r: theory.make_labels(m, r, setting.replace(labels="pseudo")))(mu, R)

    def at(eta):
        pi = jax.vmap(lambda r: theory.induced_policies(r, eta, setting.domain, setting.radius))(R)
        means = jnp.broadcast_to(mu[:, None, :], R.shape)
        reg = jax.vmap(lambda m, p: static_regret(m, p, setting.domain, setting.radius)[-1])(means, pi)
        loss = jax.vmap(lambda r, yy: theory.family_loss(eta, r, yy, setting.domain, setting.radius))(R, y)
        return jnp.mean(reg), jnp.mean(loss)

    return jax.lax.map(at, etas)


@functools.partial(jax.jit, static_argnames=("setting", "rollouts", "keep", "batch", "shared_rewards"))
def one_step_map(eta: Array, key: Array, setting: theory.TheorySetting, rollouts: int, keep: int, explore_std: float,
                 batch: int, shared_rewards: bool = False) -> Array:
    """One exact RMFT step inside the structured family ``map_Π(η S)``: ``T(η)``.

    Roll out ``map_Π(η S_{t−1} + σ_x ξ_t)`` ``rollouts`` times on each of ``batch`` tasks
    (each rollout its own rewards, or with ``shared_rewards`` one reward sequence per task,
    as :func:`rmft_jax.rollout.rollout_tasks` does), keep the
    ``keep`` of lowest pseudo-regret, and return the ``η'`` minimising the SFT loss
    ``ℓ(map_Π(η' S), π^kept)`` over a log grid on ``[η/4, 4η]`` (resolution 0.7 %). A fixed point
    of RMFT that is the theory's needs ``T(η*) = η*``; ``T(η*) > η*`` means RMFT leaves η* upwards.
    """
    d, T, dom = setting.dim, setting.horizon, setting.domain
    k1, k2, k3 = jax.random.split(key, 3)
    mu = setting.mean_scale * jax.random.normal(k1, (batch, 1, 1, d))
    R = mu + setting.noise * jax.random.normal(k2, (batch, 1 if shared_rewards else rollouts, T, d))
    R = jnp.broadcast_to(R, (batch, rollouts, T, d))
    S = jnp.cumsum(R, axis=2) - R
    pi = theory.map_to_policy(eta * S + explore_std * jax.random.normal(k3, R.shape), dom, setting.radius)
    means = jnp.broadcast_to(mu, R.shape)
    reg = jax.vmap(jax.vmap(lambda m, p: static_regret(m, p, dom, setting.radius)[-1]))(means, pi)
    idx = jax.lax.top_k(-reg, keep)[1][:, :, None, None]
    S_k = jnp.take_along_axis(S, idx, axis=1)
    pi_k = jnp.take_along_axis(pi, idx, axis=1)
    grid = eta * jnp.exp(jnp.linspace(jnp.log(0.25), jnp.log(4.0), 201))
    losses = jax.lax.map(lambda e: jnp.mean(theory.pointwise_loss(e * S_k, pi_k, dom, setting.radius)), grid)
    return grid[jnp.argmin(losses)]


@functools.partial(jax.jit, static_argnames=("cfg", "tasks", "rounds"))
def selection_tilt(params: PyTree, key: Array, cfg: Config, tasks: int, rounds: int = 5) -> tuple[Array, Array]:
    """What best-of-L selection does to the *histories*: the reward noise of kept vs all rollouts.

    One RMFT selection step of ``cfg`` (its ranking, ``L``, ``k``, ``σ_x`` and reward sharing)
    with the policy ``params`` on ``tasks`` fresh tasks. For rollout ``l`` of task ``m``,
    ``along[m, l] = (1/rounds) Σ_{t ≤ rounds} ⟨R_t − μ, μ/‖μ‖⟩``: its mean reward noise along
    ``μ`` in the first ``rounds`` rounds (``N(0, σ²/rounds)`` for a rollout chosen blindly).
    With independent rewards the kept rollouts are biased towards positive values (the
    selection tilt of ``theory/no_regret.md`` §2); with shared rewards the ``L`` values of a
    task are the same number and the kept ones cannot differ. :func:`tilt_summary` reduces.

    Returns:
      ``along`` ``(tasks, L)`` and ``idx`` ``(tasks, k)``, the kept rollouts (as
      :func:`rmft_jax.rmft.select_lowest` picks them).
    """
    if _checks.integer("rounds", rounds, 1) > cfg.horizon:
        _checks.fail("rounds", f"<= the horizon {cfg.horizon}", rounds)
    env = make_env(cfg.setting())
    k_task, k_roll = jax.random.split(key)
    batch = sample_tasks(env, k_task, tasks)
    traj = rollout_tasks(env, cfg.policy(), k_roll, batch, cfg.rollouts, params, cfg.shared_rewards)
    idx = rmft_mod.select_lowest(traj.regret[..., -1], cfg.keep)
    mu = batch.means[:, 0, :]  # (M, d): the stochastic family's mean is the same every round
    unit = mu / jnp.linalg.norm(mu, axis=-1, keepdims=True)
    eps = traj.feedback[:, :, :rounds, :] - mu[:, None, None, :]
    along = jnp.mean(jnp.einsum("mltd,md->mlt", eps, unit), axis=-1)
    return along, idx


def tilt_summary(along: Array, idx: Array) -> dict[str, float]:
    """Means of :func:`selection_tilt`'s ``along`` over kept, all and unselected rollouts (float64).

    ``tilt = mean_m (mean_kept − mean_all)`` with ``tilt_se`` its standard error over
    tasks, and ``gap = mean_m (mean_kept − mean_unselected)`` (``nan`` when ``k = L``).
    Computed in float64 on the host, where the mean of equal float32 numbers is that
    number exactly, so shared rewards give ``tilt = gap = 0`` exactly, not to rounding.
    """
    a = np.asarray(along, np.float64)
    idx = np.asarray(idx)
    if a.ndim != 2 or idx.ndim != 2 or idx.shape[0] != a.shape[0]:
        _checks.fail("along, idx", "shaped (M, L) and (M, k)", (a.shape, idx.shape))
    m, n = a.shape
    kept = np.take_along_axis(a, idx, axis=1).mean(axis=1)
    all_ = a.mean(axis=1)
    rest = np.ones(a.shape, bool)
    np.put_along_axis(rest, idx, False, axis=1)
    k_rest = rest.sum(axis=1)
    unsel = np.where(k_rest > 0, (a * rest).sum(axis=1) / np.maximum(k_rest, 1), np.nan)
    diff = kept - all_
    return {
        "kept": float(kept.mean()), "all": float(all_.mean()), "unselected": float(unsel.mean()),
        "tilt": float(diff.mean()), "tilt_se": float(diff.std(ddof=1) / np.sqrt(m)) if m > 1 else float("nan"),
        "gap": float((kept - unsel).mean()), "tasks": m, "rollouts": n,
    }


@functools.partial(jax.jit, static_argnames=("setting", "batch"))
def _eval_params(params: PyTree, key: Array, setting: theory.TheorySetting, batch: int):
    """Loss-for-theory (pseudo labels) and mean final pseudo-regret of the noise-free LSA policy."""
    mu, R = theory.sample_batch(key, setting, batch)
    y = jax.vmap(lambda m, r: theory.make_labels(m, r, setting.replace(labels="pseudo")))(mu, R)
    g = jax.vmap(lambda r: theory.lsa_outputs(params, r))(R)
    pi = theory.map_to_policy(g, setting.domain, setting.radius)
    loss = jnp.mean(theory.pointwise_loss(g, y, setting.domain, setting.radius))
    means = jnp.broadcast_to(mu[:, None, :], R.shape)
    reg = jax.vmap(lambda m, p: static_regret(m, p, setting.domain, setting.radius)[-1])(means, pi)
    return loss, jnp.mean(reg)


# --------------------------------------------------------------------------------------
# The experiment
# --------------------------------------------------------------------------------------

FULL_MODE = {
    "tasks": 64, "iterations": 100, "seeds": 1, "sweep_L": (4, 16, 64), "sweep_k": (1, 4, 16), "L_for_k": 64,
    "explore_std": 0.2, "sft_steps": 8, "learning_rate": 0.03, "tail": 0.2, "eval_batch": 8192, "map_batch": 1024,
    "realised_check": True, "shared_L": (16, 64), "tilt_tasks": 1024, "tilt_rounds": 5,
    "map_sweep_L": (4, 16, 64, 256, 1024), "map_sweep_rollouts": 65536,
}
QUICK_MODE = {
    "tasks": 16, "iterations": 15, "seeds": 1, "sweep_L": (4, 16), "sweep_k": (1, 4), "L_for_k": 16,
    "explore_std": 0.2, "sft_steps": 8, "learning_rate": 0.03, "tail": 0.25, "eval_batch": 512, "map_batch": 128,
    "realised_check": False, "shared_L": (16,), "tilt_tasks": 128, "tilt_rounds": 5,
    "map_sweep_L": (4, 16), "map_sweep_rollouts": 2048,
}


def _configs(mode: dict, domain: str) -> list[tuple[str, Config]]:
    base = dict(domain=domain, tasks=mode["tasks"], iterations=mode["iterations"], seeds=mode["seeds"],
                explore_std=mode["explore_std"], sft_steps=mode["sft_steps"], learning_rate=mode["learning_rate"])
    out = [(f"L{L}_k1", Config(rollouts=L, keep=1, **base)) for L in mode["sweep_L"]]
    out += [(f"L{mode['L_for_k']}_k{k}", Config(rollouts=mode["L_for_k"], keep=k, **base))
            for k in mode["sweep_k"] if (mode["L_for_k"], k) not in [(L, 1) for L in mode["sweep_L"]]]
    if mode["realised_check"]:
        out.append((f"L{mode['L_for_k']}_k1_realised", Config(rollouts=mode["L_for_k"], keep=1, labels="realised", **base)))
    # The same loop with the L rollouts of a task on one reward sequence: no selection tilt.
    out += [(f"L{L}_k1_shared", Config(rollouts=L, keep=1, shared_rewards=True, **base)) for L in mode["shared_L"]]
    if mode["realised_check"]:
        out.append((f"L{mode['L_for_k']}_k1_realised_shared",
                    Config(rollouts=mode["L_for_k"], keep=1, labels="realised", shared_rewards=True, **base)))
    return out


def run_theory_rmft(out_dir: str | Path = "figures", quick: bool = False, overwrite: bool = False, seed: int = 0, log=print) -> dict:
    """Run the sweep and write ``theory_rmft.{json,png,pdf,md}`` into ``out_dir``.

    For both environments (d = 3, T = 25, σ_μ = σ = 1, exploration σ_x = 0.2):
    ``L ∈ {4, 16, 64}`` with ``k = 1`` and ``k ∈ {1, 4, 16}`` at ``L = 64``, ranked by
    pseudo-regret, and (full mode) one realised-regret run at ``L = 64, k = 1``, each
    rollout with its own rewards; then the same loop with the ``L`` rollouts of a task
    sharing one reward sequence (``L ∈ {16, 64}``, ``k = 1``, and in full mode the
    realised-regret ranking at ``L = 64``). Every configuration runs from a random
    initialisation and from the theory's fixed point (slightly perturbed). Also records
    the one-step RMFT map at η* in the structured family (:func:`one_step_map`), the
    selection tilt of the kept histories at η* and at the end of each run
    (:func:`selection_tilt`), and the pseudo-regret and loss-for-theory of
    ``map_Π(η S)`` against ``η`` (:func:`pseudo_regret_curve`), which explain the gap.
    Refuses to overwrite any output unless ``overwrite`` (checked before any work). The
    figure and table are drawn from the saved JSON only.
    """
    out = Path(out_dir)
    for name in OUTPUTS:
        check_writable(out / name, overwrite)
    mode = QUICK_MODE if quick else FULL_MODE
    t_start = time.perf_counter()
    report: dict[str, Any] = {
        "note": ("Issue 4 point 5: real Iterative RMFT (finite L, exploration noise, top-k, SFT) on the single-layer "
                 "LSA of rmft_jax/theory.py, compared with the fixed point of the loss-for-theory (our reconstruction "
                 "of Theorem 1, theory/no_regret.md). No number here is the paper's."),
        "mode": "quick" if quick else "full",
        "seed": seed,
        "settings": {k: (list(v) if isinstance(v, tuple) else v) for k, v in mode.items()},
        "summary_definition": (f"final values = mean over the last {mode['tail']:.0%} of iterations; norms in units of eta*; "
                               "loss_for_theory (pseudo labels) and pseudo_regret of the noise-free final policy on a fresh batch"),
        "tilt_definition": (f"selection tilt: mean over {mode['tilt_tasks']} fresh tasks of (kept - all rollouts) of each "
                            f"rollout's mean reward noise along mu/|mu| in rounds 1-{mode['tilt_rounds']} "
                            "(one selection step of the run's config; 0 without selection); at_eta_star: with the "
                            "structured policy map(eta* S); final: with the run's final parameters"),
    }
    eta_kw = {"nodes": 48, "log2_points": 12, "scrambles": 4} if quick else {"nodes": 96, "log2_points": 15, "scrambles": 8}
    for domain in DOMAINS:
        env_name = theory.ENV_NAMES[domain]
        setting = theory.TheorySetting(domain=domain)
        es = theory.eta_star(setting, seed=seed, **eta_kw)
        k_eval = jax.random.key(seed + 1000)
        l_star, r_star = _eval_params(theory.structured_params(es.value, setting.dim), k_eval, setting, mode["eval_batch"])
        grid = np.geomspace(0.05, 50.0, 31) * es.value
        reg_curve, loss_curve = pseudo_regret_curve(jnp.asarray(grid, jnp.float32), k_eval, setting, mode["eval_batch"])
        reg_curve, loss_curve = np.asarray(reg_curve), np.asarray(loss_curve)
        # One exact step from η* against L (k = 1), both reward settings, beyond the L of the runs.
        k_sweep = jax.random.fold_in(k_eval, 5)
        sweep_tasks = [min(mode["map_batch"], max(1, mode["map_sweep_rollouts"] // L)) for L in mode["map_sweep_L"]]
        map_sweep = {"L": list(mode["map_sweep_L"]), "tasks": sweep_tasks}
        for rewards in REWARDS:
            map_sweep[rewards] = [
                float(one_step_map(es.value, k_sweep, setting, L, 1, mode["explore_std"], b, rewards == "shared")) / es.value
                for L, b in zip(mode["map_sweep_L"], sweep_tasks)]
        env_rep: dict[str, Any] = {
            "eta_star": es.value, "eta_star_stderr": es.stderr,
            "loss_for_theory_at_eta_star": float(l_star), "pseudo_regret_at_eta_star": float(r_star),
            "eta_grid": grid, "pseudo_regret_vs_eta": reg_curve, "loss_for_theory_vs_eta": loss_curve,
            "one_step_map_vs_L": map_sweep,
            "runs": {},
        }
        log(f"{env_name}: eta* = {es.value:.5f}; pseudo-regret of map(eta S) at eta* {reg_curve[np.argmin(np.abs(grid - es.value))]:.3f}, "
            f"at 50 eta* {reg_curve[-1]:.3f}; T(eta*)/eta* for L = {map_sweep['L']}: independent "
            f"{[round(x, 3) for x in map_sweep['independent']]}, shared {[round(x, 3) for x in map_sweep['shared']]}")
        for name, cfg in _configs(mode, domain):
            t0 = time.perf_counter()
            res = run_config(cfg, seed=seed, eta_star_value=es.value)
            n_tail = max(1, int(round(mode["tail"] * cfg.iterations)))
            t_map = float(one_step_map(es.value, jax.random.fold_in(k_eval, 3), setting.replace(labels="pseudo"),
                                       cfg.rollouts, cfg.keep, cfg.explore_std, mode["map_batch"],
                                       cfg.shared_rewards)) if cfg.labels == "pseudo" else None
            k_tilt = jax.random.fold_in(k_eval, 4)
            tilt = lambda p: tilt_summary(*selection_tilt(p, k_tilt, cfg, mode["tilt_tasks"], mode["tilt_rounds"]))  # noqa: E731
            tilt_star = tilt(theory.structured_params(es.value, setting.dim))
            per_start = {}
            for i, start in enumerate(res["start"]):
                p_i = jax.tree.map(lambda x: x[i], res["params"])
                l_i, r_i = _eval_params(p_i, k_eval, setting, mode["eval_batch"])
                tail = lambda k: res[k][i, -n_tail:]  # noqa: E731
                ratio = tail("eta") / es.value
                per_start[f"{start}" if cfg.seeds == 1 else f"{start}_{i % cfg.seeds}"] = {
                    "eta0_over_eta_star": float(res["eta0"][i] / es.value),
                    "eta_over_eta_star": float(ratio.mean()),
                    "eta_over_eta_star_tail_std": float(ratio.std()),
                    "abs_rel_error": float(abs(ratio.mean() - 1.0)),
                    "offdiag_norm_over_eta_star": float(tail("offdiag_norm").mean() / es.value),
                    "vanishing_norm_over_eta_star": float(tail("vanishing_norm").mean() / es.value),
                    "rollout_regret": float(tail("rollout_regret").mean()),
                    "kept_regret": float(tail("kept_regret").mean()),
                    "loss_for_theory": float(l_i),
                    "pseudo_regret_noise_free": float(r_i),
                    "tilt_final": tilt(p_i),
                }
            run = {
                "config": dataclasses.asdict(cfg),
                "start": res["start"],
                "iteration": np.arange(1, cfg.iterations + 1),
                "eta0": res["eta0"],
                **{k: res[k] for k in ("eta", "offdiag_norm", "vanishing_norm", "quad_norm", "drift_norm",
                                        "rollout_regret", "kept_regret", "sft_loss")},
                "final": per_start,
                "rewards": REWARDS[cfg.shared_rewards],
                "one_step_map_at_eta_star_over_eta_star": None if t_map is None else t_map / es.value,
                "tilt_at_eta_star": tilt_star,
                "runtime_s": time.perf_counter() - t0,
            }
            env_rep["runs"][name] = run
            msg = "; ".join(
                f"{st}: eta/eta* {f['eta0_over_eta_star']:.2f} -> {f['eta_over_eta_star']:.3f}, off/eta* {f['offdiag_norm_over_eta_star']:.3f}, "
                f"van/eta* {f['vanishing_norm_over_eta_star']:.3f}, L_th {f['loss_for_theory']:.4f}, PR {f['pseudo_regret_noise_free']:.2f}"
                for st, f in per_start.items())
            tm = "" if t_map is None else f"T(eta*)/eta* = {t_map / es.value:.3f}; "
            tl = (f"tilt at eta* {tilt_star['tilt']:+.3f} (kept {tilt_star['kept']:+.3f}, all {tilt_star['all']:+.3f}); ")
            log(f"  {name:>22}: {tm}{tl}{msg} [{run['runtime_s']:.1f}s]")
        report[env_name] = env_rep
    report["runtime_s"] = time.perf_counter() - t_start
    save_json(out / "theory_rmft.json", report, overwrite)
    plot_theory_rmft(out / "theory_rmft.json", out)
    log(f"wrote {out / 'theory_rmft.json'}, .png, .pdf, .md in {report['runtime_s']:.1f}s")
    return report


# --------------------------------------------------------------------------------------
# Figure and table, from the saved JSON only
# --------------------------------------------------------------------------------------


def _shared(run: dict) -> bool:
    return bool(run["config"].get("shared_rewards", False))


def _sweeps(runs: dict, shared: bool = False) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """``(L, name)`` of the k = 1 pseudo runs, and ``(k, name)`` at the largest such L (one reward setting)."""
    pseudo = {n: r for n, r in runs.items() if r["config"]["labels"] == "pseudo" and _shared(r) == shared}
    by_L = sorted((r["config"]["rollouts"], n) for n, r in pseudo.items() if r["config"]["keep"] == 1)
    L_max = max(L for L, _ in by_L)
    by_k = sorted((r["config"]["keep"], n) for n, r in pseudo.items() if r["config"]["rollouts"] == L_max)
    return by_L, by_k


def _tilt_cell(t: dict | None) -> str:
    return "–" if t is None else f"{t['tilt']:+.3f} ± {t['tilt_se']:.3f}"


def _map_sweep_lines(e: dict) -> list[str]:
    sw = e.get("one_step_map_vs_L")
    if sw is None:
        return []
    row = lambda key: " | ".join(f"{x:.3f}" for x in sw[key])  # noqa: E731
    return [
        "One exact RMFT step from η* against L (k = 1; tasks per L as listed; grid resolution 1.4 %):",
        "",
        "| L | " + " | ".join(str(L) for L in sw["L"]) + " |",
        "|---|" + "---|" * len(sw["L"]),
        "| tasks | " + " | ".join(str(b) for b in sw["tasks"]) + " |",
        f"| T(η*)/η*, independent rewards | {row('independent')} |",
        f"| T(η*)/η*, shared rewards | {row('shared')} |",
        "",
    ]


def table_markdown(res: dict) -> str:
    """The results table (Markdown) from the saved report."""
    lines = [
        "# Iterative RMFT on the single-layer LSA vs the loss-for-theory's fixed point (issue 4, point 5)",
        "",
        f"Our reconstruction (`theory/no_regret.md` §11); no number here is the paper's. Mode: {res['mode']}. "
        f"{res['summary_definition']}. T(η*)/η*: one exact RMFT step from map_Π(η* S) inside the structured family "
        "(1 = η* is a fixed point of RMFT; > 1: RMFT leaves η* upwards). Rewards: *independent* = each of the L "
        "rollouts of a task draws its own reward sequence; *shared* = the L rollouts share one (common random numbers).",
        "",
        f"Tilt: {res.get('tilt_definition', '–')}.",
        "",
        f"Settings: `{json.dumps(res['settings'])}`.",
        "",
    ]
    for env_name, title in (("env1_ball", "Env I (ball)"), ("env2_simplex", "Env II (simplex)")):
        e = res[env_name]
        lines += [
            f"## {title}: η* = {e['eta_star']:.4f}; at η*: loss-for-theory {e['loss_for_theory_at_eta_star']:.4f}, "
            f"pseudo-regret of map_Π(η* S) {e['pseudo_regret_at_eta_star']:.3f} "
            f"(at 50 η*: {e['pseudo_regret_vs_eta'][-1]:.3f})",
            "",
            *_map_sweep_lines(e),
            "| run | ranking | rewards | L | k | T(η*)/η* | tilt at η* | start | η_eff/η* start → final | offdiag/η* | vanishing/η* "
            "| loss-for-theory | pseudo-regret (σ_x = 0) | kept regret | rollout regret | tilt at the end |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for name, r in e["runs"].items():
            c = r["config"]
            tm = r["one_step_map_at_eta_star_over_eta_star"]
            rewards = r.get("rewards", "independent")
            for st, f in r["final"].items():
                lines.append(
                    f"| {name} | {c['labels']} | {rewards} | {c['rollouts']} | {c['keep']} | {'–' if tm is None else f'{tm:.3f}'} | "
                    f"{_tilt_cell(r.get('tilt_at_eta_star'))} | {st} | "
                    f"{f['eta0_over_eta_star']:.2f} → **{f['eta_over_eta_star']:.3f}** | {f['offdiag_norm_over_eta_star']:.3f} | "
                    f"{f['vanishing_norm_over_eta_star']:.3f} | {f['loss_for_theory']:.4f} | {f['pseudo_regret_noise_free']:.3f} | "
                    f"{f['kept_regret']:.3f} | {f['rollout_regret']:.3f} | {_tilt_cell(f.get('tilt_final'))} |"
                )
        lines += ["", f"Selection tilt at η* ({title}): mean reward noise along μ/‖μ‖ in the first rounds, per rollout group.", "",
                  "| run | rewards | L | k | kept | all | unselected | kept − all | kept − unselected |", "|---|---|---|---|---|---|---|---|---|"]
        for name, r in e["runs"].items():
            t = r.get("tilt_at_eta_star")
            if t is None:
                continue
            c = r["config"]
            lines.append(f"| {name} | {r.get('rewards', 'independent')} | {c['rollouts']} | {c['keep']} | {t['kept']:+.4f} | "
                         f"{t['all']:+.4f} | {t['unselected']:+.4f} | {t['tilt']:+.4f} ± {t['tilt_se']:.4f} | {t['gap']:+.4f} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def plot_theory_rmft(results_path: str | Path, out_dir: str | Path) -> list[Path]:
    """``theory_rmft.{png,pdf}`` and ``theory_rmft.md``, drawn only from the saved JSON."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = load_json(results_path)
    out = Path(out_dir)
    fig, axes = plt.subplots(2, 7, figsize=(33, 8.5))
    styles = {"random": "-", "eta_star": "--"}
    for row, (env_name, title) in enumerate((("env1_ball", "Env I (ball)"), ("env2_simplex", "Env II (simplex)"))):
        e = res[env_name]
        es = e["eta_star"]
        runs = e["runs"]
        by_L, by_k = _sweeps(runs)
        has_shared = any(_shared(r) for r in runs.values())
        by_L_sh = _sweeps(runs, shared=True)[0] if has_shared else []
        ax = axes[row]

        def curves(a, name, label, color, key="eta", ls=None, lw=1.1):
            r = runs[name]
            it = np.asarray(r["iteration"])
            y = np.asarray(r[key], dtype=float) / es
            for j, st in enumerate(r["start"]):
                a.plot(it, y[j], color=color, ls=ls or styles[st], lw=lw, label=f"{label}" if j == 0 else None)

        for i, (L, n) in enumerate(by_L):
            curves(ax[0], n, f"L = {L}, k = 1", f"C{i}")
        ax[0].axhline(1.0, color="k", ls=":", lw=1.2, label="η* (loss-for-theory)")
        ax[0].set(yscale="log", title=f"{title}: η_eff/η* (k = 1), independent rewards\nsolid: random init; dashed: start at η*",
                  xlabel="RMFT iteration", ylabel="η_eff / η*")
        ax[0].legend(fontsize=7)
        for i, (k, n) in enumerate(by_k):
            curves(ax[1], n, f"L = {runs[n]['config']['rollouts']}, k = {k}", f"C{i + 3}")
        for n, r in runs.items():
            if r["config"]["labels"] == "realised" and not _shared(r):
                curves(ax[1], n, f"L = {r['config']['rollouts']}, k = 1, realised-regret ranking", "C7")
        ax[1].axhline(1.0, color="k", ls=":", lw=1.2, label="η*")
        ax[1].set(yscale="log", title=f"{title}: η_eff/η* (vary k), independent rewards\nsolid: random init; dashed: start at η*",
                  xlabel="RMFT iteration", ylabel="η_eff / η*")
        ax[1].legend(fontsize=7)
        for i, (L, n) in enumerate(by_L_sh):
            curves(ax[2], n, f"shared, L = {L}, k = 1", f"C{i}")
        for n, r in runs.items():
            if r["config"]["labels"] == "realised" and _shared(r):
                curves(ax[2], n, f"shared, L = {r['config']['rollouts']}, k = 1, realised-regret ranking", "C7")
        if by_L:
            curves(ax[2], by_L[-1][1], f"independent, L = {by_L[-1][0]}, k = 1 (for comparison)", "0.6", lw=0.8)
        ax[2].axhline(1.0, color="k", ls=":", lw=1.2, label="η*")
        ax[2].set(yscale="log", title=f"{title}: η_eff/η*, SHARED rewards (no selection tilt)\nsolid: random init; dashed: start at η*",
                  xlabel="RMFT iteration", ylabel="η_eff / η*")
        ax[2].legend(fontsize=7)
        for i, (L, n) in enumerate(by_L):
            curves(ax[3], n, f"offdiag, L = {L}", f"C{i}", key="offdiag_norm")
            curves(ax[3], n, f"vanishing, L = {L}", f"C{i}", key="vanishing_norm", ls=":")
        ax[3].set(yscale="log", title="offdiag/η* (solid/dashed as before) and vanishing/η* (dotted), k = 1, independent",
                  xlabel="RMFT iteration")
        ax[3].title.set_fontsize(8)
        ax[3].legend(fontsize=6)
        # final gap vs L (k = 1) and vs k, both starts
        for st, mk in (("random", "o"), ("eta_star", "s")):
            for sweep, color, lab in ((by_L, "C0", "independent"), (by_L_sh, "C2", "shared")):
                Ls = [L for L, _ in sweep]
                gap = [abs(runs[n]["final"][st]["eta_over_eta_star"] - 1) for _, n in sweep if st in runs[n]["final"]]
                if Ls and len(gap) == len(Ls):
                    ax[4].plot(Ls, gap, mk + "-", color=color, label=f"|η/η* − 1| vs L (k = 1, {lab}), start {st}")
            ks = [k for k, _ in by_k]
            gap = [abs(runs[n]["final"][st]["eta_over_eta_star"] - 1) for _, n in by_k if st in runs[n]["final"]]
            if len(gap) == len(ks):
                ax[4].plot(ks, gap, mk + "--", color="C3", label=f"|η/η* − 1| vs k (L = {runs[by_k[0][1]]['config']['rollouts']}), start {st}")
        sw = e.get("one_step_map_vs_L")
        for rewards, color in (("independent", "C0"), ("shared", "C2")):
            if sw is not None:
                ax[4].plot(sw["L"], np.abs(np.asarray(sw[rewards]) - 1) + 1e-3, "^:", color=color,
                           label=f"|T(η*)/η* − 1| vs L ({rewards} rewards; one exact step, +1e-3)")
        tm_k = [runs[n]["one_step_map_at_eta_star_over_eta_star"] for _, n in by_k]
        ax[4].plot([k for k, _ in by_k], np.abs(np.asarray(tm_k) - 1) + 1e-3, "v:", color="C3", label="|T(η*)/η* − 1| vs k")
        ax[4].set(xscale="log", yscale="log", title="final gap to η* vs L (k = 1) and vs k", xlabel="L or k")
        ax[4].legend(fontsize=6)
        for sweep, color, lab in ((by_L, "C0", "independent"), (by_L_sh, "C2", "shared")):
            ts = [runs[n].get("tilt_at_eta_star") for _, n in sweep]
            if sweep and all(t is not None for t in ts):
                Ls = [L for L, _ in sweep]
                ax[5].errorbar(Ls, [t["tilt"] for t in ts], yerr=[2 * t["tilt_se"] for t in ts], fmt="o-", color=color,
                               capsize=3, label=f"kept − all at η*, {lab} rewards")
                ax[5].plot(Ls, [t["kept"] for t in ts], "^:", color=color, label=f"kept at η*, {lab}")
                ax[5].plot(Ls, [t["unselected"] for t in ts], "v:", color=color, label=f"unselected at η*, {lab}")
        ax[5].axhline(0.0, color="k", lw=0.8)
        ticks = sorted({L for L, _ in by_L + by_L_sh})
        ax[5].set_xscale("log")
        ax[5].set_xticks(ticks, [str(L) for L in ticks])
        ax[5].minorticks_off()
        rounds = res["settings"].get("tilt_rounds", 5)
        ax[5].set(xlabel="L (k = 1)", ylabel=f"mean reward noise along μ/‖μ‖, rounds 1–{rounds}",
                  title="selection tilt of the kept histories (±2 s.e.)")
        ax[5].legend(fontsize=6)
        grid = np.asarray(e["eta_grid"], dtype=float) / es
        reg = np.asarray(e["pseudo_regret_vs_eta"], dtype=float)
        lft = np.asarray(e["loss_for_theory_vs_eta"], dtype=float)
        ax[6].semilogx(grid, reg, color="C0", label="pseudo-regret of map_Π(ηS): what RMFT ranks by")
        ax[6].set(xlabel="η / η*", ylabel="mean final pseudo-regret", title="why: selection criterion vs loss-for-theory")
        ax6b = ax[6].twinx()
        ax6b.semilogx(grid, lft, color="C3", label="loss-for-theory (min at η*)")
        ax6b.set_ylabel("loss-for-theory", color="C3")
        ax[6].axvline(1.0, color="k", ls=":", lw=1)
        h1, l1 = ax[6].get_legend_handles_labels()
        h2, l2 = ax6b.get_legend_handles_labels()
        ax[6].legend(h1 + h2, l1 + l2, fontsize=7, loc="upper center")
    fig.suptitle("Iterative RMFT on the single-layer LSA vs the loss-for-theory's fixed point η* "
                 f"(our reconstruction; d = 3, T = 25, σ_x = {res['settings']['explore_std']}; mode {res['mode']})", fontsize=11)
    fig.tight_layout()
    written = []
    for ext in ("png", "pdf"):
        p = out / f"theory_rmft.{ext}"
        save_figure(fig, p, dpi=110)
        written.append(p)
    plt.close(fig)
    md = out / "theory_rmft.md"
    atomic_write_bytes(md, table_markdown(res).encode())
    written.append(md)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rmft_jax.theory_rmft",
        description="Iterative RMFT on the single-layer LSA vs the loss-for-theory's fixed point (issue 4, point 5).",
    )
    parser.add_argument("--quick", action="store_true", help="small sweep for tests (about 2 min on a loaded 2-core CPU)")
    parser.add_argument("--out", default="figures", help="output directory (default: figures)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        run_theory_rmft(args.out, quick=args.quick, overwrite=args.overwrite, seed=args.seed)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
