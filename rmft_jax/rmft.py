"""Iterative Regret-Minimization Fine-Tuning (paper §3, Algorithm "Iterative RMFT").

One iteration, jitted end to end with static shapes::

    tasks    ~ task prior                                   M instances
    rollouts = rollout_tasks(env, model, tasks, L)          (M, L, T), vmapped
    regret   = env.regret(...)[-1]                          exact, the trainer knows the env
    keep     = lax.top_k(-regret, k)                        the k lowest per instance
    model    = SFT(model, kept)                             teacher-forced, optax, warm start

The SFT objective is the negative log-likelihood of the kept actions (bandits) or
the matching loss of the kept policies (online learning; see
:func:`rmft_jax.models.policy.online_policy_loss`).

Beyond the naive loop (the paper's values of M, L, k, epochs and learning rate
are not available to us), :class:`RMFTConfig` exposes the levers studied in the
collapse ablation (``experiments/ablation_collapse.py``): rollout temperature,
L against k, the number of SFT steps and the learning rate, aggregation of the
selections of the last ``buffer_iterations`` iterations, re-fitting from the base
model instead of warm-starting (``warm_start=False``), and an entropy bonus in the
SFT loss. Every default that departs from the naive loop is a reconstruction,
chosen by that ablation, and documented there.

Randomness: iteration ``i`` uses ``fold_in(key, i)``, so a run interrupted at
iteration ``i`` and resumed from its checkpoint ends with the same parameters as an
uninterrupted run.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from rmft_jax import checks
from rmft_jax.rollout import rollout_tasks, sample_tasks
from rmft_jax.types import BANDIT, Array, Environment, PyTree


SELECTIONS = ("final", "prefix_mean", "extrapolated")
ONLINE_TARGETS = ("policy", "outputs")


@dataclasses.dataclass(frozen=True)
class RMFTConfig:
    """Hyper-parameters of Iterative RMFT (all static).

    Attributes:
      tasks: ``M``, task instances sampled per iteration.
      rollouts: ``L``, trajectories rolled out per instance.
      keep: ``k``, lowest-regret trajectories kept per instance (``1 <= k <= L``).
      iterations: number of RMFT iterations.
      sft_steps: optimiser steps per iteration.
      batch_size: trajectories per SFT step (``0``: every kept trajectory in the buffer).
      learning_rate, weight_decay, grad_clip: AdamW with global-norm clipping.
      temperature: rollout sampling temperature (bandit models).
      explore_std: Gaussian exploration added before the map onto Π (online models).
      buffer_iterations: SFT on the selections of the last this-many iterations.
      warm_start: continue from the current model (``True``, the paper's reading) or
        re-fit the base model on the buffer every iteration (``False``).
      entropy_bonus: ``β`` in ``NLL − β·H(π(·|h_t))`` (bandit models).
      shared_env_noise: the ``L`` rollouts of an instance share its realised
        randomness (common random numbers; see :func:`rmft_jax.rollout.rollout_tasks`),
        so regret ranks policies on the same reward sequence.
      selection: what the ``k`` kept rollouts minimise (:data:`SELECTIONS`):
        ``"final"``, the regret at the training horizon (the paper's criterion), or
        ``"prefix_mean"``, the mean over ``t`` of the regret after ``t`` rounds (a
        mistake in round ``s`` weighs ``T − s + 1``), or ``"extrapolated"``, the
        regret the rollout would reach at ``selection_horizon`` rounds if it went on
        at the per-round regret of its last ``⌈T/5⌉`` rounds (see
        :func:`selection_score`). Studied in the exploration ablation
        (``rmft figure exploration``).
      selection_horizon: ``H > T`` of the ``"extrapolated"`` criterion (``0`` otherwise).
      online_target: what the online SFT step fits (:data:`ONLINE_TARGETS`, online
        models): ``"policy"``, the played point of ``Π`` (squared error on the ball,
        cross-entropy on the simplex), or ``"outputs"``, the played exploration
        output ``y_t + σ ε_t`` itself, recovered from the played point (the centred
        log on the simplex; on the ball it needs the one-to-one ``model.ball_map =
        "tanh"``): the squared error of outputs, i.e. the log-likelihood of the played
        output under the Gaussian exploration policy ``N(y_t, σ²)`` (see
        :func:`rmft_jax.models.policy.online_output_loss`). Fitting the played
        *policy* averages noisy softmaxes (or points projected onto the sphere),
        which flattens the policy, so the sharpening by selection stalls; fitting
        the played *output* does not.
    """

    tasks: int = 128
    rollouts: int = 32
    keep: int = 2
    iterations: int = 100
    sft_steps: int = 4
    batch_size: int = 0
    learning_rate: float = 3e-4
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    temperature: float = 1.0
    explore_std: float = 0.1
    buffer_iterations: int = 1
    warm_start: bool = True
    entropy_bonus: float = 0.0
    shared_env_noise: bool = False
    selection: str = "final"
    selection_horizon: int = 0
    online_target: str = "policy"

    def __post_init__(self):
        positive = checks.number(low=0.0, low_open=True)
        checks.validate(
            self,
            tasks=checks.at_least(1),
            rollouts=checks.at_least(1),
            keep=checks.at_least(1),
            iterations=checks.at_least(0),
            sft_steps=checks.at_least(1),
            batch_size=checks.at_least(0),
            learning_rate=positive,
            weight_decay=checks.number(low=0.0),
            grad_clip=positive,
            temperature=positive,
            explore_std=checks.number(low=0.0),
            buffer_iterations=checks.at_least(1),
            warm_start=checks.boolean,
            entropy_bonus=checks.number(low=0.0),
            shared_env_noise=checks.boolean,
            selection=checks.one_of(SELECTIONS),
            selection_horizon=checks.at_least(0),
            online_target=checks.one_of(ONLINE_TARGETS),
        )
        if self.keep > self.rollouts:
            checks.fail("keep", f"<= rollouts = {self.rollouts}", self.keep)
        if (self.selection == "extrapolated") != (self.selection_horizon > 0):
            checks.fail("selection_horizon", "> 0 with selection 'extrapolated' and 0 otherwise", self.selection_horizon)

    @property
    def buffer_size(self) -> int:
        """Trajectories the SFT buffer holds: ``buffer_iterations · M · k``."""
        return self.buffer_iterations * self.tasks * self.keep


class Buffer(NamedTuple):
    """The kept trajectories of the last ``buffer_iterations`` iterations (a ring)."""

    actions: Array  # (B, T) int32 or (B, T, d)
    feedback: Array  # (B, T) realised rewards of the pulled arms, or (B, T, d) reward vectors
    filled: Array  # () int32, how many slots hold data


class TrainState(NamedTuple):
    """Everything an iteration reads and writes; a checkpoint is exactly this."""

    params: PyTree
    opt_state: PyTree
    buffer: Buffer
    iteration: Array  # () int32, iterations completed


class Learner(NamedTuple):
    """The model side of RMFT: a rollout policy and its teacher-forced SFT loss.

    Attributes:
      policy: a hashable :class:`rmft_jax.types.Policy` whose weights are ``params``.
      loss: ``loss(params, actions (B, T[, d]), feedback (B, T[, d])) -> (scalar, aux dict)``.
      base_params: the untrained model's weights (the "base model").
    """

    policy: Any
    loss: Any
    base_params: PyTree


def make_optimizer(cfg: RMFTConfig, learning_rate: Array | float | None = None) -> optax.GradientTransformation:
    """Clipped AdamW of ``cfg``. ``learning_rate`` (a scalar, may be traced) overrides
    ``cfg.learning_rate``; the optimiser state has the same structure either way, which
    is what lets :func:`rmft_jax.sweeps.sweep_seeds` ``vmap`` over learning rates."""
    lr = cfg.learning_rate if learning_rate is None else learning_rate
    return optax.chain(
        optax.clip_by_global_norm(cfg.grad_clip),
        optax.adamw(lr, weight_decay=cfg.weight_decay),
    )


def empty_buffer(env: Environment, cfg: RMFTConfig) -> Buffer:
    T, n, B = env.horizon, env.num_actions, cfg.buffer_size
    if env.feedback == BANDIT:
        return Buffer(jnp.zeros((B, T), jnp.int32), jnp.zeros((B, T)), jnp.zeros((), jnp.int32))
    return Buffer(jnp.zeros((B, T, n)), jnp.zeros((B, T, n)), jnp.zeros((), jnp.int32))


def init_state(env: Environment, cfg: RMFTConfig, learner: Learner) -> TrainState:
    opt = make_optimizer(cfg)
    # A copy: the jitted iteration donates its state, and the base weights must outlive it.
    params = jax.tree.map(jnp.copy, learner.base_params)
    return TrainState(params, opt.init(params), empty_buffer(env, cfg), jnp.zeros((), jnp.int32))


def selection_score(regret: Array, selection: str, horizon: int = 0) -> Array:
    """What the kept rollouts minimise, from the regret curves ``(..., T)``: ``(...)``.

    ``"final"``: ``Regret(T)``; ``"prefix_mean"``: ``mean_t Regret(t)``;
    ``"extrapolated"``: ``Regret(T) + (H − T)·(Regret(T) − Regret(T − w))/w`` with
    ``H = horizon > T`` and ``w = ⌈T/5⌉``: the regret at ``H`` of a rollout that went on
    at its final per-round regret. A rollout that ends committed to an arm ``Δ`` below
    the best pays ``(H − T)·Δ`` more, so ranking by it rewards having *identified*
    the best arm by round ``T``, which the regret at ``T`` alone does not (committing
    early to a near-best arm is cheap in 25 rounds, and costly in 1000).
    """
    if selection == "final":
        return regret[..., -1]
    if selection == "prefix_mean":
        return jnp.mean(regret, axis=-1)
    T = regret.shape[-1]
    w = -(-T // 5)
    before = regret[..., T - w - 1] if T > w else jnp.zeros_like(regret[..., -1])
    return regret[..., -1] + (horizon - T) * (regret[..., -1] - before) / w


def select_lowest(final_regret: Array, k: int) -> Array:
    """Indices ``(M, k)`` of the ``k`` lowest-regret rollouts of each instance (``(M, L)`` input).

    ``lax.top_k`` on the negated regret; ties go to the lower rollout index.
    """
    return jax.lax.top_k(-final_regret, k)[1]


def _same(tree):
    return tree


def roll_out(env: Environment, cfg: RMFTConfig, policy, params: PyTree, k_task: Array, k_roll: Array, shard=_same):
    """Algorithm 1, step 1: ``M`` instances from the task prior, ``L`` rollouts of each.

    Returns ``(tasks, traj)``: the instances and their ``(M, L, T)`` rollouts. The ``L``
    rollouts share each instance's reward tape when ``cfg.shared_env_noise``.
    ``shard`` lays out the batch arrays (:func:`iteration`).
    """
    tasks = shard(sample_tasks(env, k_task, cfg.tasks))
    return tasks, shard(rollout_tasks(env, policy, k_roll, tasks, cfg.rollouts, params, cfg.shared_env_noise))


def keep_lowest(env: Environment, cfg: RMFTConfig, traj, shard=_same) -> tuple[Array, Array, Array]:
    """Algorithm 1, steps 2–3: score every rollout by its exact regret (``cfg.selection``)
    and keep the ``k`` lowest of each instance. Returns ``(idx (M, k), actions, feedback)``,
    the kept trajectories flattened to ``(M·k, T, ...)`` (:func:`kept_trajectories`)."""
    idx = select_lowest(selection_score(traj.regret, cfg.selection, cfg.selection_horizon), cfg.keep)
    acts, fb = shard(kept_trajectories(traj, env, idx))
    return idx, acts, fb


def kept_trajectories(traj, env: Environment, idx: Array) -> tuple[Array, Array]:
    """Gather the kept actions and learner feedback, flattened to ``(M·k, T, ...)``."""
    take = lambda x: jnp.take_along_axis(x, idx.reshape(idx.shape + (1,) * (x.ndim - 2)), axis=1)  # noqa: E731
    actions = take(traj.actions)
    # Bandit learners observe the pulled arm's reward (= what they earned); online
    # learners observe the whole reward vector, which the rollout returns as feedback.
    feedback = take(traj.rewards if env.feedback == BANDIT else traj.feedback)
    return actions.reshape((-1,) + actions.shape[2:]), feedback.reshape((-1,) + feedback.shape[2:])


def push(buffer: Buffer, actions: Array, feedback: Array, iteration: Array) -> Buffer:
    """Write this iteration's selections into their slot of the ring."""
    n = actions.shape[0]
    slots = buffer.actions.shape[0] // n
    start = (iteration % slots) * n
    acts = jax.lax.dynamic_update_slice_in_dim(buffer.actions, actions.astype(buffer.actions.dtype), start, 0)
    fb = jax.lax.dynamic_update_slice_in_dim(buffer.feedback, feedback.astype(buffer.feedback.dtype), start, 0)
    return Buffer(acts, fb, jnp.minimum(buffer.filled + n, buffer.actions.shape[0]))


def sft(learner: Learner, cfg: RMFTConfig, params, opt_state, buffer: Buffer, key: Array, learning_rate=None):
    """``cfg.sft_steps`` optimiser steps on (mini-batches of) the buffer. Returns new params, opt state, metrics.

    ``learning_rate``: a (possibly traced) override of ``cfg.learning_rate``."""
    opt = make_optimizer(cfg, learning_rate)
    size = buffer.actions.shape[0]
    batch = cfg.batch_size or size
    grad_fn = jax.value_and_grad(learner.loss, has_aux=True)

    def step(carry, k):
        params, opt_state = carry
        if batch == size and cfg.buffer_iterations == 1:
            acts, fb = buffer.actions, buffer.feedback
        else:  # uniform over the filled part of the ring
            idx = jax.random.randint(k, (batch,), 0, jnp.maximum(buffer.filled, 1))
            acts, fb = buffer.actions[idx], buffer.feedback[idx]
        (loss, aux), grads = grad_fn(params, acts, fb)
        updates, opt_state = opt.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), (loss, aux)

    (params, opt_state), (losses, aux) = jax.lax.scan(step, (params, opt_state), jax.random.split(key, cfg.sft_steps))
    metrics = {"sft_loss_first": losses[0], "sft_loss_last": losses[-1]}
    metrics.update({f"sft_{k}": v[0] for k, v in aux.items()})
    return params, opt_state, metrics


def iteration(
    env: Environment, cfg: RMFTConfig, learner: Learner, state: TrainState, key: Array, base_params: PyTree, shard=None,
    learning_rate=None,
):
    """One Iterative-RMFT iteration (pure; :func:`make_iteration` jits it). Returns ``(state, metrics)``.

    ``base_params`` (the base model) is an argument, not a closure constant, so the
    compiled iteration does not embed weights and serves any model of the same shapes.
    ``shard`` (optional, ``pytree -> pytree``) lays out the batch arrays (tasks,
    rollouts, buffer) for data parallelism (:mod:`rmft_jax.sharding`); values are
    unchanged. ``learning_rate`` (optional, may be traced) overrides ``cfg.learning_rate``.
    """
    shard = _same if shard is None else shard
    k_task, k_roll, k_sft = jax.random.split(jax.random.fold_in(key, state.iteration), 3)
    _, traj = roll_out(env, cfg, learner.policy, state.params, k_task, k_roll, shard)
    final = traj.regret[..., -1]  # (M, L)
    idx, acts, fb = keep_lowest(env, cfg, traj, shard)
    buffer = shard(push(state.buffer, acts, fb, state.iteration))
    start = state.params if cfg.warm_start else base_params
    opt_state = state.opt_state if cfg.warm_start else make_optimizer(cfg).init(base_params)
    params, opt_state, sft_metrics = sft(learner, cfg, start, opt_state, buffer, k_sft, learning_rate)
    kept = jnp.take_along_axis(final, idx, axis=1)
    metrics = {
        "rollout_regret_mean": jnp.mean(final),
        "rollout_regret_best": jnp.mean(jnp.min(final, axis=1)),
        "kept_regret_mean": jnp.mean(kept),
        **sft_metrics,
    }
    return TrainState(params, opt_state, buffer, state.iteration + 1), metrics


def make_iteration(env: Environment, cfg: RMFTConfig, learner: Learner):
    """The jitted iteration ``(state, key, base_params) -> (state, metrics)``.

    Build it once per run and call it every iteration: same shapes, one compilation.
    """
    return jax.jit(functools.partial(iteration, env, cfg, learner), donate_argnums=(0,))


def train_scan(
    env: Environment, cfg: RMFTConfig, learner: Learner, key: Array, state: TrainState | None = None, learning_rate=None
):
    """All ``cfg.iterations`` iterations in one ``lax.scan`` (``jit(vmap(train_scan))`` sweeps seeds).

    Metrics are reduced to scalars inside the scan, so memory does not grow with
    the number of iterations beyond one scalar per metric per iteration.
    ``learning_rate`` (optional, may be traced) overrides ``cfg.learning_rate``.
    """
    state = init_state(env, cfg, learner) if state is None else state
    body = lambda s, _: iteration(env, cfg, learner, s, key, learner.base_params, learning_rate=learning_rate)  # noqa: E731
    return jax.lax.scan(body, state, None, length=cfg.iterations)


def single_round(env: Environment, cfg: RMFTConfig, learner: Learner, key: Array):
    """The single-round ablation: one selection and one SFT round, from the base model.

    It spends the same budget as ``cfg.iterations`` iterations of the iterative
    method — ``iterations · M`` instances, ``L`` rollouts each, the ``k`` lowest kept —
    but rolls every one of them out with the *base* model, then runs
    ``iterations · sft_steps`` SFT steps on the pooled selections (mini-batches of
    ``batch_size`` or ``M·k`` trajectories). Returns ``(params, metrics)``.
    """

    def collect(_, k):
        k_task, k_roll = jax.random.split(k)
        _, traj = roll_out(env, cfg, learner.policy, learner.base_params, k_task, k_roll)
        _, acts, fb = keep_lowest(env, cfg, traj)
        return None, (acts, fb, jnp.mean(traj.regret[..., -1]))

    k_collect, k_sft = jax.random.split(key)
    _, (acts, fb, regret) = jax.lax.scan(collect, None, jax.random.split(k_collect, max(cfg.iterations, 1)))
    acts = acts.reshape((-1,) + acts.shape[2:])
    fb = fb.reshape((-1,) + fb.shape[2:])
    pooled = Buffer(acts, fb, jnp.asarray(acts.shape[0], jnp.int32))
    one_shot = dataclasses.replace(
        cfg,
        sft_steps=cfg.sft_steps * max(cfg.iterations, 1),
        batch_size=cfg.batch_size or cfg.tasks * cfg.keep,
        buffer_iterations=max(cfg.iterations, 1),
    )
    opt = make_optimizer(one_shot)
    params, _, metrics = sft(learner, one_shot, learner.base_params, opt.init(learner.base_params), pooled, k_sft)
    metrics["rollout_regret_mean"] = jnp.mean(regret)
    return params, metrics
