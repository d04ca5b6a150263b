"""From the meta-algorithm to the loss: real Iterative RMFT on the single-layer LSA (issue 4, point 5).

The theory module (:mod:`rmft_jax.theory`, ``theory/no_regret.md``) studies the
*loss-for-theory*: ``k = 1`` and infinitely many rollouts, so that the kept
trajectory plays the optimal action ``π*`` in every round and SFT is supervised
learning with optimal-action labels. Its global minimizer is
``π_t = map_Π(η* S_{t−1})`` (FTRL on the ball, Hedge on the simplex). Here we run
the *real* loop of :mod:`rmft_jax.rmft` on the same model and measure how close it
comes to that fixed point::

    tasks     μ_m ~ N(0, σ_μ² I), m = 1..M                      (OnlineEnv 'stochastic')
    rollouts  L per task, each with its own R_t = μ + σ ε_t and
              π_t = map_Π(g_θ(Z_{t−1}) + σ_x ξ_t), ξ_t ~ N(0, I)  (LSAPolicy, σ_x = explore_std)
    rank      by the pseudo-regret Σ_t ⟨π*, μ⟩ − ⟨π_t, μ⟩        (PseudoRegretEnv)
              or by the realised static regret (OnlineEnv.regret)
    keep      the k lowest per task
    SFT       sft_steps AdamW steps on ℓ(map_Π(g_θ(Z_{t−1})), π_t^kept), teacher-forced
              on the kept reward sequences (ℓ = ‖·−·‖² on the ball, cross-entropy on the
              simplex: :func:`rmft_jax.theory.pointwise_loss`, the loss-for-theory's ℓ)

and after every iteration record ``effective(params, domain)``: ``η_eff``, the
off-diagonal norm and the vanishing norm, to compare with ``η*``, 0 and 0.

Public API: :class:`LSAPolicy`, :class:`PseudoRegretEnv`, :func:`make_env`,
:func:`lsa_sft_loss`, :func:`make_learner`, :class:`Config`, :func:`run_config`,
:func:`pseudo_regret_curve`, :func:`run_theory_rmft`, :func:`plot_theory_rmft`
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
from rmft_jax.types import FULL, Array, Episode, Policy, PyTree

LABEL_RULES = ("pseudo", "realised")
STARTS = ("random", "eta_star")
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

    def init(self, params: PyTree) -> LSAState:
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
    """

    def regret(self, episode: Episode, actions: Array) -> Array:
        return static_regret(episode.means, actions, self.domain, self.radius)


def make_env(setting: theory.TheorySetting, labels: str | None = None) -> OnlineEnv:
    """The training distribution of ``setting`` as an RMFT environment.

    ``labels`` (default ``setting.labels``): ``"pseudo"`` ranks by pseudo-regret
    (:class:`PseudoRegretEnv`), ``"realised"`` by the static regret on the realised
    rewards (:class:`OnlineEnv`). Each rollout draws its own rewards around the task's ``μ``.
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


@functools.partial(jax.jit, static_argnames=("setting", "rollouts", "keep", "batch"))
def one_step_map(eta: Array, key: Array, setting: theory.TheorySetting, rollouts: int, keep: int, explore_std: float,
                 batch: int) -> Array:
    """One exact RMFT step inside the structured family ``map_Π(η S)``: ``T(η)``.

    Roll out ``map_Π(η S_{t−1} + σ_x ξ_t)`` ``rollouts`` times on each of ``batch`` tasks
    (each rollout its own rewards, as in :func:`rmft_jax.rollout.rollout_tasks`), keep the
    ``keep`` of lowest pseudo-regret, and return the ``η'`` minimising the SFT loss
    ``ℓ(map_Π(η' S), π^kept)`` over a log grid on ``[η/4, 4η]`` (resolution 0.7 %). A fixed point
    of RMFT that is the theory's needs ``T(η*) = η*``; ``T(η*) > η*`` means RMFT leaves η* upwards.
    """
    d, T, dom = setting.dim, setting.horizon, setting.domain
    k1, k2, k3 = jax.random.split(key, 3)
    mu = setting.mean_scale * jax.random.normal(k1, (batch, 1, 1, d))
    R = mu + setting.noise * jax.random.normal(k2, (batch, rollouts, T, d))
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
    "realised_check": True,
}
QUICK_MODE = {
    "tasks": 16, "iterations": 15, "seeds": 1, "sweep_L": (4, 16), "sweep_k": (1, 4), "L_for_k": 16,
    "explore_std": 0.2, "sft_steps": 8, "learning_rate": 0.03, "tail": 0.25, "eval_batch": 512, "map_batch": 128,
    "realised_check": False,
}


def _configs(mode: dict, domain: str) -> list[tuple[str, Config]]:
    base = dict(domain=domain, tasks=mode["tasks"], iterations=mode["iterations"], seeds=mode["seeds"],
                explore_std=mode["explore_std"], sft_steps=mode["sft_steps"], learning_rate=mode["learning_rate"])
    out = [(f"L{L}_k1", Config(rollouts=L, keep=1, **base)) for L in mode["sweep_L"]]
    out += [(f"L{mode['L_for_k']}_k{k}", Config(rollouts=mode["L_for_k"], keep=k, **base))
            for k in mode["sweep_k"] if (mode["L_for_k"], k) not in [(L, 1) for L in mode["sweep_L"]]]
    if mode["realised_check"]:
        out.append((f"L{mode['L_for_k']}_k1_realised", Config(rollouts=mode["L_for_k"], keep=1, labels="realised", **base)))
    return out


def run_theory_rmft(out_dir: str | Path = "figures", quick: bool = False, overwrite: bool = False, seed: int = 0, log=print) -> dict:
    """Run the sweep and write ``theory_rmft.{json,png,pdf,md}`` into ``out_dir``.

    For both environments (d = 3, T = 25, σ_μ = σ = 1, exploration σ_x = 0.2):
    ``L ∈ {4, 16, 64}`` with ``k = 1`` and ``k ∈ {1, 4, 16}`` at ``L = 64``, ranked by
    pseudo-regret, and (full mode) one realised-regret run at ``L = 64, k = 1``; every
    configuration runs from a random initialisation and from the theory's fixed point
    (slightly perturbed). Also records the one-step RMFT map at η* in the structured
    family (:func:`one_step_map`) and the pseudo-regret and loss-for-theory of
    ``map_Π(η S)`` against ``η`` (:func:`pseudo_regret_curve`), which explain the gap.
    Refuses to overwrite any output unless ``overwrite`` (checked before any work). The
    figure and table are drawn from the saved JSON only.
    """
    from rmft_jax.results import check_writable, save_json

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
        env_rep: dict[str, Any] = {
            "eta_star": es.value, "eta_star_stderr": es.stderr,
            "loss_for_theory_at_eta_star": float(l_star), "pseudo_regret_at_eta_star": float(r_star),
            "eta_grid": grid, "pseudo_regret_vs_eta": reg_curve, "loss_for_theory_vs_eta": loss_curve,
            "runs": {},
        }
        log(f"{env_name}: eta* = {es.value:.5f}; pseudo-regret of map(eta S) at eta* {reg_curve[np.argmin(np.abs(grid - es.value))]:.3f}, "
            f"at 50 eta* {reg_curve[-1]:.3f}")
        for name, cfg in _configs(mode, domain):
            t0 = time.perf_counter()
            res = run_config(cfg, seed=seed, eta_star_value=es.value)
            n_tail = max(1, int(round(mode["tail"] * cfg.iterations)))
            t_map = float(one_step_map(es.value, jax.random.fold_in(k_eval, 3), setting.replace(labels="pseudo"),
                                       cfg.rollouts, cfg.keep, cfg.explore_std, mode["map_batch"])) if cfg.labels == "pseudo" else None
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
                }
            run = {
                "config": dataclasses.asdict(cfg),
                "start": res["start"],
                "iteration": np.arange(1, cfg.iterations + 1),
                "eta0": res["eta0"],
                **{k: res[k] for k in ("eta", "offdiag_norm", "vanishing_norm", "quad_norm", "drift_norm",
                                        "rollout_regret", "kept_regret", "sft_loss")},
                "final": per_start,
                "one_step_map_at_eta_star_over_eta_star": None if t_map is None else t_map / es.value,
                "runtime_s": time.perf_counter() - t0,
            }
            env_rep["runs"][name] = run
            msg = "; ".join(
                f"{st}: eta/eta* {f['eta0_over_eta_star']:.2f} -> {f['eta_over_eta_star']:.3f}, off/eta* {f['offdiag_norm_over_eta_star']:.3f}, "
                f"van/eta* {f['vanishing_norm_over_eta_star']:.3f}, L_th {f['loss_for_theory']:.4f}, PR {f['pseudo_regret_noise_free']:.2f}"
                for st, f in per_start.items())
            tm = "" if t_map is None else f"T(eta*)/eta* = {t_map / es.value:.3f}; "
            log(f"  {name:>16}: {tm}{msg} [{run['runtime_s']:.1f}s]")
        report[env_name] = env_rep
    report["runtime_s"] = time.perf_counter() - t_start
    save_json(out / "theory_rmft.json", report, overwrite)
    plot_theory_rmft(out / "theory_rmft.json", out)
    log(f"wrote {out / 'theory_rmft.json'}, .png, .pdf, .md in {report['runtime_s']:.1f}s")
    return report


# --------------------------------------------------------------------------------------
# Figure and table, from the saved JSON only
# --------------------------------------------------------------------------------------


def _sweeps(runs: dict) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """``(L, name)`` of the k = 1 pseudo runs, and ``(k, name)`` at the largest such L."""
    pseudo = {n: r for n, r in runs.items() if r["config"]["labels"] == "pseudo"}
    by_L = sorted((r["config"]["rollouts"], n) for n, r in pseudo.items() if r["config"]["keep"] == 1)
    L_max = max(L for L, _ in by_L)
    by_k = sorted((r["config"]["keep"], n) for n, r in pseudo.items() if r["config"]["rollouts"] == L_max)
    return by_L, by_k


def table_markdown(res: dict) -> str:
    """The results table (Markdown) from the saved report."""
    lines = [
        "# Iterative RMFT on the single-layer LSA vs the loss-for-theory's fixed point (issue 4, point 5)",
        "",
        f"Our reconstruction (`theory/no_regret.md` §11); no number here is the paper's. Mode: {res['mode']}. "
        f"{res['summary_definition']}. T(η*)/η*: one exact RMFT step from map_Π(η* S) inside the structured family "
        "(1 = η* is a fixed point of RMFT; > 1: RMFT leaves η* upwards).",
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
            "| run | ranking | L | k | T(η*)/η* | start | η_eff/η* start → final | offdiag/η* | vanishing/η* | loss-for-theory | pseudo-regret (σ_x = 0) | kept regret | rollout regret |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for name, r in e["runs"].items():
            c = r["config"]
            tm = r["one_step_map_at_eta_star_over_eta_star"]
            for st, f in r["final"].items():
                lines.append(
                    f"| {name} | {c['labels']} | {c['rollouts']} | {c['keep']} | {'–' if tm is None else f'{tm:.3f}'} | {st} | "
                    f"{f['eta0_over_eta_star']:.2f} → **{f['eta_over_eta_star']:.3f}** | {f['offdiag_norm_over_eta_star']:.3f} | "
                    f"{f['vanishing_norm_over_eta_star']:.3f} | {f['loss_for_theory']:.4f} | {f['pseudo_regret_noise_free']:.3f} | "
                    f"{f['kept_regret']:.3f} | {f['rollout_regret']:.3f} |"
                )
        lines.append("")
    return "\n".join(lines) + "\n"


def plot_theory_rmft(results_path: str | Path, out_dir: str | Path) -> list[Path]:
    """``theory_rmft.{png,pdf}`` and ``theory_rmft.md``, drawn only from the saved JSON."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rmft_jax.results import atomic_write_bytes, load_json

    res = load_json(results_path)
    out = Path(out_dir)
    fig, axes = plt.subplots(2, 5, figsize=(24, 8.5))
    styles = {"random": "-", "eta_star": "--"}
    for row, (env_name, title) in enumerate((("env1_ball", "Env I (ball)"), ("env2_simplex", "Env II (simplex)"))):
        e = res[env_name]
        es = e["eta_star"]
        runs = e["runs"]
        by_L, by_k = _sweeps(runs)
        ax = axes[row]

        def curves(a, name, label, color, key="eta", ls=None):
            r = runs[name]
            it = np.asarray(r["iteration"])
            y = np.asarray(r[key], dtype=float) / es
            for j, st in enumerate(r["start"]):
                a.plot(it, y[j], color=color, ls=ls or styles[st], lw=1.1, label=f"{label}" if j == 0 else None)

        for i, (L, n) in enumerate(by_L):
            curves(ax[0], n, f"L = {L}, k = 1", f"C{i}")
        ax[0].axhline(1.0, color="k", ls=":", lw=1.2, label="η* (loss-for-theory)")
        ax[0].set(yscale="log", title=f"{title}: η_eff/η* (k = 1)\nsolid: random init; dashed: start at η*",
                  xlabel="RMFT iteration", ylabel="η_eff / η*")
        ax[0].legend(fontsize=7)
        for i, (k, n) in enumerate(by_k):
            curves(ax[1], n, f"L = {runs[n]['config']['rollouts']}, k = {k}", f"C{i + 3}")
        for n, r in runs.items():
            if r["config"]["labels"] == "realised":
                curves(ax[1], n, f"L = {r['config']['rollouts']}, k = 1, realised-regret ranking", "C7")
        ax[1].axhline(1.0, color="k", ls=":", lw=1.2, label="η*")
        ax[1].set(yscale="log", title=f"{title}: η_eff/η* (vary k)\nsolid: random init; dashed: start at η*",
                  xlabel="RMFT iteration", ylabel="η_eff / η*")
        ax[1].legend(fontsize=7)
        for i, (L, n) in enumerate(by_L):
            curves(ax[2], n, f"offdiag, L = {L}", f"C{i}", key="offdiag_norm")
            curves(ax[2], n, f"vanishing, L = {L}", f"C{i}", key="vanishing_norm", ls=":")
        ax[2].set(yscale="log", title="offdiag/η* (solid/dashed as before) and vanishing/η* (dotted), k = 1",
                  xlabel="RMFT iteration")
        ax[2].title.set_fontsize(8)
        ax[2].legend(fontsize=6)
        # final gap vs L (k = 1) and vs k, both starts
        for st, mk in (("random", "o"), ("eta_star", "s")):
            Ls = [L for L, _ in by_L]
            gap = [abs(runs[n]["final"][st]["eta_over_eta_star"] - 1) for _, n in by_L if st in runs[n]["final"]]
            if len(gap) == len(Ls):
                ax[3].plot(Ls, gap, mk + "-", color="C0", label=f"|η/η* − 1| vs L (k = 1), start {st}")
            ks = [k for k, _ in by_k]
            gap = [abs(runs[n]["final"][st]["eta_over_eta_star"] - 1) for _, n in by_k if st in runs[n]["final"]]
            if len(gap) == len(ks):
                ax[3].plot(ks, gap, mk + "--", color="C3", label=f"|η/η* − 1| vs k (L = {runs[by_k[0][1]]['config']['rollouts']}), start {st}")
        tm_L = [runs[n]["one_step_map_at_eta_star_over_eta_star"] for _, n in by_L]
        ax[3].plot([L for L, _ in by_L], np.abs(np.asarray(tm_L) - 1) + 1e-3, "^:", color="C0", label="|T(η*)/η* − 1| vs L (one exact step)")
        tm_k = [runs[n]["one_step_map_at_eta_star_over_eta_star"] for _, n in by_k]
        ax[3].plot([k for k, _ in by_k], np.abs(np.asarray(tm_k) - 1) + 1e-3, "v:", color="C3", label="|T(η*)/η* − 1| vs k")
        ax[3].set(xscale="log", yscale="log", title="final gap to η* vs L (k = 1) and vs k", xlabel="L or k")
        ax[3].legend(fontsize=6)
        grid = np.asarray(e["eta_grid"], dtype=float) / es
        reg = np.asarray(e["pseudo_regret_vs_eta"], dtype=float)
        lft = np.asarray(e["loss_for_theory_vs_eta"], dtype=float)
        ax[4].semilogx(grid, reg, color="C0", label="pseudo-regret of map_Π(ηS): what RMFT ranks by")
        ax[4].set(xlabel="η / η*", ylabel="mean final pseudo-regret", title="why: selection criterion vs loss-for-theory")
        ax4b = ax[4].twinx()
        ax4b.semilogx(grid, lft, color="C3", label="loss-for-theory (min at η*)")
        ax4b.set_ylabel("loss-for-theory", color="C3")
        ax[4].axvline(1.0, color="k", ls=":", lw=1)
        h1, l1 = ax[4].get_legend_handles_labels()
        h2, l2 = ax4b.get_legend_handles_labels()
        ax[4].legend(h1 + h2, l1 + l2, fontsize=7, loc="upper center")
    fig.suptitle("Iterative RMFT on the single-layer LSA vs the loss-for-theory's fixed point η* "
                 f"(our reconstruction; d = 3, T = 25, σ_x = {res['settings']['explore_std']}; mode {res['mode']})", fontsize=11)
    fig.tight_layout()
    written = []
    for ext in ("png", "pdf"):
        p = out / f"theory_rmft.{ext}"
        fig.savefig(p, dpi=110)
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
    parser.add_argument("--quick", action="store_true", help="small sweep for tests (< 1 min)")
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
