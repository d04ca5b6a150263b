"""From the meta-algorithm to the loss: real Iterative RMFT on the single-layer LSA (issue 4, point 5).

The theory (:mod:`rmft_jax.theory`, ``theory/no_regret.md``) studies the
*loss-for-theory*: ``k = 1`` and infinitely many rollouts, so that the kept
trajectory plays the optimal action ``π*`` in every round and SFT is supervised
learning with optimal-action labels. Its global minimizer is
``π_t = map_Π(η* S_{t−1})`` (FTRL on the ball, Hedge on the simplex). Here the
*real* loop of :mod:`rmft_jax.rmft` runs on the same model::

    tasks     μ_m ~ N(0, σ_μ² I), m = 1..M                      (OnlineEnv 'stochastic')
    rollouts  L per task, each with its own R_t = μ + σ ε_t (independent rewards) or all
              L on one shared R_t (shared rewards: common random numbers), and
              π_t = map_Π(g_θ(Z_{t−1}) + σ_x ξ_t), ξ_t ~ N(0, I)  (LSAPolicy, σ_x = explore_std)
    rank      by the pseudo-regret Σ_t ⟨π*, μ⟩ − ⟨π_t, μ⟩        (PseudoRegretEnv)
              or by the realised static regret (OnlineEnv.regret)
    keep      the k lowest per task
    SFT       sft_steps AdamW steps on ℓ(map_Π(g_θ(Z_{t−1})), π_t^kept), teacher-forced
              on the kept reward sequences (ℓ = ‖·−·‖² on the ball, cross-entropy on the
              simplex: :func:`rmft_jax.theory.loss.pointwise_loss`, the loss-for-theory's ℓ)

and after every iteration records ``effective(params, domain)``: ``η_eff``, the
off-diagonal norm and the vanishing norm, to compare with ``η*``, 0 and 0.
:mod:`rmft_jax.theory.selection` holds the diagnostics of what the selection optimises,
:mod:`rmft_jax.theory.rmft_lsa_report` the sweep behind ``rmft theory --rmft``.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from rmft_jax import checks
from rmft_jax.envs import OnlineEnv, make_env
from rmft_jax.domain import DOMAINS, to_domain
from rmft_jax.regret import static_regret
from rmft_jax.rmft import Learner, RMFTConfig, init_state, iteration
from rmft_jax.theory.loss import sequence_loss
from rmft_jax.theory.model import effective, init_lsa, key_weights, structured_params
from rmft_jax.theory.setting import LABELS, TheorySetting
from rmft_jax.types import FULL, ActionSpace, Array, Episode, Policy, PyTree

STARTS = ("random", "eta_star")
REWARDS = ("independent", "shared")


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

    With ``w = Kᵀ q̃`` and ``b = ⟨k, q̃⟩`` (:func:`rmft_jax.theory.model.lsa_outputs`)::

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
    ``params`` is the theory's parameter dict (:func:`rmft_jax.theory.model.init_lsa`).

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
        checks.validate(
            self,
            dim=checks.at_least(2),
            domain=checks.one_of(DOMAINS),
            radius=checks.number(low=0.0, low_open=True),
            explore_std=checks.number(low=0.0),
            horizon=checks.at_least(1),
        )

    @property
    def action_space(self) -> ActionSpace:
        return ActionSpace(self.feedback, self.dim, self.domain, self.radius)

    def init(self, params: PyTree, length: int | None = None) -> LSAState:
        d = self.dim
        return LSAState(jnp.zeros((d,)), jnp.zeros((d, d)), jnp.zeros(()))

    def noise(self, key: Array, horizon: int) -> Array:
        """Standard normal ``(T, d)`` (``(T, 0)`` when ``explore_std = 0``)."""
        if horizon > self.horizon:
            checks.fail("horizon", f"<= the policy's horizon = {self.horizon}", horizon)
        if self.explore_std == 0.0:
            return jnp.zeros((horizon, 0))
        return jax.random.normal(key, (horizon, self.dim))

    def output(self, params: PyTree, state: LSAState) -> Array:
        """The pre-map output ``g_θ(Z_{t−1})`` from the sufficient statistics, ``(d,)``."""
        w, b = key_weights(params)
        return params["V"] @ (b * state.S + state.M @ w) + params["v"] * (state.S @ w + b * state.n)

    def act(self, params: PyTree, state: LSAState, noise: Array) -> Array:
        g = self.output(params, state)
        y = g if self.explore_std == 0.0 else g + self.explore_std * noise
        return to_domain(y, self.domain, self.radius)

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

    @classmethod
    def ranking(cls, env: OnlineEnv) -> "PseudoRegretEnv":
        """``env`` (every field kept) ranking by pseudo-regret."""
        return cls(**{f.name: getattr(env, f.name) for f in dataclasses.fields(env)})

    def regret(self, episode: Episode, actions: Array) -> Array:
        return static_regret(episode.means, actions, self.domain, self.radius)


def training_env(setting: TheorySetting, labels: str | None = None) -> OnlineEnv:
    """The training distribution of ``setting`` as an RMFT environment.

    The registry's ``fol-ball``/``fol-simplex`` (:func:`rmft_jax.envs.make_env`) with the
    ``stochastic`` family. ``labels`` (default ``setting.labels``): ``"pseudo"`` ranks by
    pseudo-regret (:class:`PseudoRegretEnv`), ``"realised"`` by the static regret on the
    realised rewards (:class:`OnlineEnv`). Rewards are drawn around the task's ``μ`` per rollout
    or once per task, as :func:`rmft_jax.rollout.rollout_tasks` is told.
    """
    labels = setting.labels if labels is None else labels
    checks.choice("labels", labels, LABELS)
    if not setting.symmetric:
        checks.fail("setting", "symmetric (the isotropic 'stochastic' family of OnlineEnv)", setting.asymmetry())
    env = make_env(
        f"fol-{setting.domain}", dim=setting.dim, horizon=setting.horizon, radius=setting.radius,
        sequence="stochastic", noise=setting.noise, mean_scale=setting.mean_scale,
    )
    return PseudoRegretEnv.ranking(env) if labels == "pseudo" else env


# --------------------------------------------------------------------------------------
# SFT: the loss-for-theory's ℓ between the model and the kept policies
# --------------------------------------------------------------------------------------


def lsa_sft_loss(params: PyTree, actions: Array, feedback: Array, domain: str, radius: float = 1.0):
    """Teacher-forced matching loss of the kept trajectories (the ``Learner.loss`` signature).

    ``mean_{trajectories, t} ℓ(map_Π(lsa_outputs(params, R)[t]), π_t^kept)`` with
    ``ℓ = ‖map_Π(g) − π‖²`` (ball) or ``−⟨π, log softmax g⟩`` (simplex): exactly
    :func:`rmft_jax.theory.loss.sequence_loss` with the kept policies as soft labels.

    Args:
      actions: ``(B, T, d)`` the kept policies; feedback: ``(B, T, d)`` their reward vectors.
    Returns:
      ``(scalar, {})``.
    """
    per = jax.vmap(lambda r, y: sequence_loss(params, r, y, domain, radius))(feedback, actions)
    return jnp.mean(per), {}


def make_learner(policy: LSAPolicy, base_params: PyTree) -> Learner:
    """The RMFT learner: :class:`LSAPolicy` for rollouts, :func:`lsa_sft_loss` for SFT."""
    loss = functools.partial(lsa_sft_loss, domain=policy.domain, radius=policy.radius)
    return Learner(policy, loss, base_params)


# --------------------------------------------------------------------------------------
# One RMFT run, per-iteration effective quantities
# --------------------------------------------------------------------------------------


def _starts(field: str, value: Any) -> tuple[str, ...]:
    """A non-empty tuple of distinct :data:`STARTS`."""
    allowed = "a non-empty list of distinct values from " + ", ".join(STARTS)
    if isinstance(value, str) or not isinstance(value, (tuple, list)) or not value:
        checks.fail(field, allowed, value)
    for v in value:
        checks.choice(field, v, STARTS)
    if len(set(value)) != len(value):
        checks.fail(field, allowed, value)
    return tuple(value)


@dataclasses.dataclass(frozen=True)
class LSARunConfig:
    """One Iterative-RMFT run on the LSA (all static), validated on construction.

    Attributes:
      domain: ``"ball"`` or ``"simplex"``.
      rollouts: ``L``; keep: ``k <= L``; tasks: ``M`` per iteration; iterations ``>= 1``.
      labels: ``"pseudo"`` or ``"realised"`` ranking.
      shared_rewards: the ``L`` rollouts of a task share one reward sequence (common
        random numbers, ``RMFTConfig.shared_env_noise``); ``False``: each rollout draws
        its own, and the selection tilts the kept histories
        (:func:`rmft_jax.theory.selection.selection_tilt`).
      explore_std: ``σ_x`` of the exploration noise (added before ``map_Π``).
      sft_steps, learning_rate, grad_clip: SFT (AdamW, warm start, no weight decay).
      seeds: independent runs (initialisation and data) per start, vmapped.
      starts: where the runs start, distinct: ``"random"`` (``init_lsa``) and/or ``"eta_star"``
        (the theory's fixed point, slightly perturbed; see :func:`initial_params`).
      init_scale: ``init_lsa`` scale.
      dim, horizon, mean_scale, noise: the theory's distribution (:meth:`setting`).

    Each field is checked as :class:`rmft_jax.rmft.RMFTConfig` and
    :class:`rmft_jax.theory.setting.TheorySetting` check theirs (one-line ``ValueError``
    naming the field), and both are built once here so that a bad combination fails on
    construction.
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
        checks.validate(
            self,
            domain=checks.one_of(DOMAINS),
            rollouts=checks.at_least(1),
            keep=checks.at_least(1),
            tasks=checks.at_least(1),
            iterations=checks.at_least(1),
            labels=checks.one_of(LABELS),
            shared_rewards=checks.boolean,
            explore_std=checks.number(low=0.0),
            sft_steps=checks.at_least(1),
            learning_rate=checks.number(low=0.0, low_open=True),
            grad_clip=checks.number(low=0.0, low_open=True),
            seeds=checks.at_least(1),
            starts=_starts,
            init_scale=checks.number(low=0.0, low_open=True),
            dim=checks.at_least(2),
            horizon=checks.at_least(2),
            mean_scale=checks.number(low=0.0),
            noise=checks.number(low=0.0, low_open=True),
        )
        self.setting()
        self.rmft_config()

    def setting(self) -> TheorySetting:
        return TheorySetting(
            domain=self.domain, dim=self.dim, horizon=self.horizon, mean_scale=self.mean_scale,
            noise=self.noise, labels=self.labels,
        )

    def rmft_config(self) -> RMFTConfig:
        return RMFTConfig(
            tasks=self.tasks, rollouts=self.rollouts, keep=self.keep, iterations=self.iterations,
            sft_steps=self.sft_steps, learning_rate=self.learning_rate, grad_clip=self.grad_clip,
            explore_std=self.explore_std, weight_decay=0.0, warm_start=True, buffer_iterations=1,
            shared_env_noise=self.shared_rewards,
        )

    def policy(self) -> LSAPolicy:
        return LSAPolicy(dim=self.dim, domain=self.domain, explore_std=self.explore_std, horizon=self.horizon)


@functools.partial(jax.jit, static_argnames=("cfg",))
def _run(keys: Array, params0: PyTree, cfg: LSARunConfig):
    env = training_env(cfg.setting())
    rc = cfg.rmft_config()
    policy = cfg.policy()

    def one(key, p0):
        learner = make_learner(policy, p0)
        state = init_state(env, rc, learner)

        def body(s, _):
            s, m = iteration(env, rc, learner, s, key, p0)
            e = effective(s.params, cfg.domain)
            out = {"eta": e.eta, "offdiag_norm": e.offdiag_norm, "vanishing_norm": e.vanishing_norm,
                   "quad_norm": e.quad_norm, "drift_norm": e.drift_norm,
                   "rollout_regret": m["rollout_regret_mean"], "kept_regret": m["kept_regret_mean"],
                   "sft_loss": m["sft_loss_last"]}
            return s, out

        state, trace = jax.lax.scan(body, state, None, length=rc.iterations)
        return state.params, trace

    return jax.vmap(one)(keys, params0)


def initial_params(key: Array, cfg: LSARunConfig, start: str, eta_star_value: float | None = None) -> PyTree:
    """The run's starting point: ``"random"`` (``init_lsa(key, d, scale=init_scale)``) or
    ``"eta_star"`` (``structured_params(η*)`` plus i.i.d. ``N(0, (0.1·init_scale)²)`` on every entry)."""
    checks.choice("start", start, STARTS)
    k_init = jax.random.fold_in(key, 1)
    if start == "random":
        return init_lsa(k_init, cfg.dim, scale=cfg.init_scale)
    if eta_star_value is None:
        checks.fail("eta_star_value", "given for start='eta_star'", None)
    base = structured_params(eta_star_value, cfg.dim)
    pert = init_lsa(k_init, cfg.dim, scale=0.1 * cfg.init_scale)
    return jax.tree.map(jnp.add, base, pert)


def run_config(cfg: LSARunConfig, seed: int = 0, eta_star_value: float | None = None) -> dict[str, Any]:
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
    out["eta0"] = np.asarray(jax.vmap(lambda p: effective(p, cfg.domain).eta)(p0))
    out["start"] = starts
    out["params"] = jax.tree.map(np.asarray, params)
    return out
