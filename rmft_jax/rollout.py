"""The one rollout engine: ``lax.scan`` over rounds, any policy on any environment.

Baselines and models go through the same loop::

    task    = env.sample_task(k_task)             # instance parameters
    episode = env.realize(k_env, task)            # (T, ·) means and randomness, in bulk
    noise   = policy.noise(k_pol, T)              # the policy's randomness, in bulk
    for t in 1..T:                                # lax.scan
        a_t          = policy.act(params, state, noise_t)
        fb_t, r_t    = env.step(means_t, xi_t, a_t)
        state        = policy.update(params, state, a_t, fb_t)
    regret = env.regret(episode, actions)         # exact, from the means / full sequence

:func:`rollout` is unbatched; :func:`run` ``vmap``s it over independent runs (each a
fresh task) and :func:`rollout_tasks` over ``L`` rollouts of each of ``M`` given
tasks, as Iterative RMFT needs. Both are jitted with the environment and the
policy static (they are frozen dataclasses, equal by value), so repeated calls with
the same shapes never recompile.

Every batched entry point turns its keys into tasks, episodes and policy keys
through one function, :func:`draw_episodes` (row ``i`` draws what :func:`rollout`
draws from ``keys[i]``). The engine reads only what :mod:`rmft_jax.types`
declares. Two layouts change shapes, not the algorithm (values agree to float
rounding), and save time: a policy whose state can be sized to the rounds it
serves (the Transformer's key/value cache) declares ``Policy.segments`` and runs
the rounds in *segments*, one scan per static cache length
(:func:`_scan_segments`), and on a single CPU device a policy may declare
``Policy.batch_tile`` to run the batch in *tiles* that fit a core's cache
(:func:`_batch_tile`). Both are measured in ``benchmarks/README.md``.
"""

from __future__ import annotations

import functools

import chex
import jax
import jax.numpy as jnp

from rmft_jax.types import FULL, Array, Environment, Episode, Policy, PyTree, Trajectory


def check_compatible(env: Environment, policy: Policy) -> None:
    """Raise a one-line ``ValueError`` if ``policy`` cannot act in ``env`` (:meth:`ActionSpace.mismatch`)."""
    space, built = env.action_space, policy.action_space
    field, name = space.mismatch(built), type(policy).__name__
    if field == "feedback":
        raise ValueError(
            f"policy: must be a {space.feedback}-feedback policy for this environment "
            f"(got {name}, a {built.feedback}-feedback policy)"
        )
    if field == "count":
        raise ValueError(f"policy: must be built for {space.count} actions (got {name} for {built.count})")
    if field == "domain":
        raise ValueError(f"policy: must act on the {space.domain} for this environment (got {name} on the {built.domain})")
    if field == "radius":
        raise ValueError(f"policy: must use the environment's radius {space.radius} (got {name} with {built.radius})")


def _step_fn(env: Environment, policy: Policy, params: PyTree):
    """The scan body's one round for one rollout: ``(state, xi_t, noise_t, means_t) -> (state, (a_t, r_t))``."""

    full = env.feedback == FULL

    def step(state, xi_t, noise_t, means_t):
        action = policy.act(params, state, noise_t)
        feedback, earned = env.step(means_t, xi_t, action)
        out = (action, earned, feedback) if full else (action, earned)
        return policy.update(params, state, action, feedback), out

    return step


def _best(means: Array, horizon: int) -> Array:
    """``(T,)`` int32 index of the best arm (coordinate) in each round."""
    return jnp.broadcast_to(jnp.argmax(means, axis=-1), (horizon,)).astype(jnp.int32)


def _init(policy: Policy, params: PyTree, plan) -> PyTree:
    """The state before round 1: of the first segment's size when the policy declares segments."""
    return policy.init(params) if not plan else policy.init(params, plan[0][1])


def _scan_segments(policy: Policy, body, state: PyTree, xs: PyTree, plan, axes: PyTree | None):
    """``lax.scan(body, state, xs)[1]``, split into the policy's segments of rounds (``Policy.segments``).

    Each segment is its own scan over rounds ``[previous end, end)``, run on the
    state after ``policy.resize(state, size)``; a decode step then attends over a
    cache at most a constant factor longer than its filled prefix, instead of
    over all ``horizon`` slots. ``axes`` are the state's ``vmap`` axes in a batch
    (``None``: unbatched). The values are those of one scan over a state of the
    full size, up to float rounding of the shorter reductions.
    """
    if plan and plan[-1][0] != _scan_length(xs):
        raise ValueError(f"segments: must end at the horizon {_scan_length(xs)} (got {plan})")
    if not plan:
        return jax.lax.scan(body, state, xs)[1]
    outs, start = [], 0
    for end, size in plan:
        resize = lambda st, n=size: policy.resize(st, n)  # noqa: E731
        state = resize(state) if axes is None else jax.vmap(resize, in_axes=(axes,), out_axes=axes)(state)
        state, out = jax.lax.scan(body, state, jax.tree.map(lambda x, s=start, e=end: x[s:e], xs))
        outs.append(out)
        start = end
    return jax.tree.map(lambda *parts: jnp.concatenate(parts, axis=0), *outs)


def _scan_length(xs: PyTree) -> int:
    """The length of the scanned axis of ``xs``."""
    return jax.tree.leaves(xs)[0].shape[0]


def rollout_episode(env: Environment, policy: Policy, episode: Episode, key: Array, params: PyTree = None) -> Trajectory:
    """Run ``policy`` over a realised ``episode`` (unbatched)."""
    noise = policy.noise(key, env.horizon)
    step = _step_fn(env, policy, params)
    # A stationary episode keeps one row of means: closing over it, rather than
    # scanning a broadcast (T, K) table, keeps the loop's memory traffic to xi.
    stationary = episode.means.shape[0] == 1

    def body(state, xs):
        xi_t, noise_t = xs[:2]
        return step(state, xi_t, noise_t, episode.means[0] if stationary else xs[2])

    xs = (episode.xi, noise) if stationary else (episode.xi, noise, episode.means)
    plan = policy.segments(env.horizon)
    actions, rewards, *feedback = _scan_segments(policy, body, _init(policy, params, plan), xs, plan, None)
    regret = env.regret(episode, actions)
    return Trajectory(actions, rewards, regret, _best(episode.means, env.horizon), *feedback)


def _batch_tile(policy: Policy, batch: int) -> int | None:
    """Rollouts per tile when the batch is run tile by tile (``None``: all at once).

    A policy may declare ``batch_tile`` (``Policy.batch_tile``), the number of rollouts whose per-round
    working set fits a CPU core's cache (the Transformer's activations). On a
    process with one CPU device, a batch larger than that runs as a ``lax.map``
    over tiles of ``batch_tile`` rollouts (the largest divisor of ``batch`` not above
    it, if at least a quarter of it), each tile its own scan over time. The
    algorithm is unchanged; the values agree to float rounding (XLA:CPU rounds a
    matrix product of another batch size differently). Accelerators, and several
    devices (where :mod:`rmft_jax.sharding` splits the batch instead), run the
    batch at once.
    """
    hint = policy.batch_tile
    if not hint or batch <= hint or jax.default_backend() != "cpu" or jax.device_count() != 1:
        return None
    tile = next(d for d in range(hint, 0, -1) if batch % d == 0)
    return tile if 4 * tile >= hint else None


def _rollout_batch(env: Environment, policy: Policy, episodes: Episode, keys: Array, params: PyTree) -> Trajectory:
    """``rollout_episode`` over a batch (leading axis ``B``), tile by tile where the policy asks (:func:`_batch_tile`)."""
    batch = keys.shape[0]
    tile = _batch_tile(policy, batch)
    if tile is None:
        return _rollout_tile(env, policy, episodes, keys, params)
    tiled = lambda x: x.reshape(batch // tile, tile, *x.shape[1:])  # noqa: E731
    traj = jax.lax.map(lambda a: _rollout_tile(env, policy, a[0], a[1], params), jax.tree.map(tiled, (episodes, keys)))
    return jax.tree.map(lambda x: x.reshape(batch, *x.shape[2:]), traj)


def _rollout_tile(env: Environment, policy: Policy, episodes: Episode, keys: Array, params: PyTree) -> Trajectory:
    """``rollout_episode`` over a batch (leading axis ``B``) of episodes and policy keys.

    The same computation as ``vmap(rollout_episode)``, laid out for speed: one scan
    over time whose carry is the batch of states and whose body is the ``vmap`` of
    one round, with every per-round input time-major ``(T, B, ·)``. The batched
    (per-row) reductions of the policy then run over contiguous rows, the scan reads
    one contiguous ``(B, ·)`` slice per round, and the stacked outputs come out
    ``(T, B)``; the only transposes are of the bulk randomness (fused into its
    generation by XLA) and of the two ``(T, B)`` outputs.
    """
    horizon = env.horizon
    batch = keys.shape[0]
    noise = bulk_noise(policy, keys, horizon)
    time_major = lambda x: jnp.swapaxes(x, 0, 1)  # noqa: E731
    stationary = episodes.means.shape[1] == 1
    plan = policy.segments(horizon)
    state = _init(policy, params, plan)
    # Leaves a policy marks as shared (the same for every rollout, e.g. a decode
    # position) stay unbatched: a batched position would turn the KV-cache writes
    # into scatters. Values are unchanged, only the layout.
    axes = policy.state_batch_axes(state)
    step = jax.vmap(_step_fn(env, policy, params), in_axes=(axes, 0, 0, 0), out_axes=(axes, 0))
    state = jax.tree.map(lambda a, x: x if a is None else jnp.broadcast_to(x, (batch, *x.shape)), axes, state,
                         is_leaf=lambda a: a is None)

    if stationary:
        means = episodes.means[:, 0]  # (B, K), the same every round

        def body(state, xs):
            return step(state, xs[0], xs[1], means)

        xs = (time_major(episodes.xi), jax.tree.map(time_major, noise))
    else:

        def body(state, xs):
            return step(state, *xs)

        xs = (time_major(episodes.xi), jax.tree.map(time_major, noise), time_major(episodes.means))
    actions, rewards, *feedback = _scan_segments(policy, body, state, xs, plan, axes)
    regret = jax.vmap(env.regret, in_axes=(0, 1))(episodes, actions)
    best = jax.vmap(_best, in_axes=(0, None))(episodes.means, horizon)
    actions, rewards = time_major(actions), time_major(rewards)
    return Trajectory(actions, rewards, regret, best, *map(time_major, feedback))


def rollout(env: Environment, policy: Policy, key: Array, task: PyTree = None, params: PyTree = None) -> Trajectory:
    """One rollout on ``task`` (a fresh task from the prior when ``None``), unbatched.

    The key gives ``split(key, 3) = (k_task, k_env, k_pol)``: the task (unless
    given), the episode's randomness and the policy's noise; :func:`draw_episodes`
    is this derivation for a batch.
    """
    k_task, k_env, k_pol = jax.random.split(key, 3)
    if task is None:
        task = env.sample_task(k_task)
    return rollout_episode(env, policy, env.realize(k_env, task), k_pol, params)


def draw_episodes(
    env: Environment, keys: Array, tasks: PyTree = None, env_group: int = 1
) -> tuple[PyTree, Episode, Array]:
    """What a batch of rollouts draws before any policy acts: the one way from keys to tasks.

    Row ``i`` is :func:`rollout`'s derivation from ``keys[i]``:
    ``split(keys[i], 3) = (k_task, k_env, k_pol)``, task ``tasks[i]`` if given
    (``k_task`` unused) else ``env.sample_task(k_task)``, episode
    ``env.realize(k_env, task)``. With ``env_group = L > 1`` the rows come in
    consecutive groups of ``L`` that share the environment randomness of their
    group's first row (common random numbers; ``B`` a multiple of ``L``).

    Args:
      env: the environment.
      keys: ``(B,)`` typed keys, one per rollout.
      tasks: a batch of ``B`` tasks (leading axis ``B``), or ``None`` for fresh ones.
      env_group: rows per group sharing ``k_env``.
    Returns:
      ``(tasks, episodes, policy_keys)``, each with leading axis ``B``.
    """
    chex.assert_rank(keys, 1)
    k = jax.vmap(lambda k: jax.random.split(k, 3))(keys)
    k_task, k_env, k_pol = k[:, 0], k[:, 1], k[:, 2]
    if tasks is None:
        tasks = jax.vmap(env.sample_task)(k_task)
    else:
        chex.assert_tree_shape_prefix(tasks, keys.shape)
    if env_group > 1:
        k_env = jnp.repeat(k_env[::env_group], env_group, axis=0)
    return tasks, jax.vmap(env.realize)(k_env, tasks), k_pol


def bulk_noise(policy: Policy, keys: Array, horizon: int) -> PyTree:
    """The policy's bulk noise for a batch of rollouts, one key each (leading axis ``B``)."""
    return jax.vmap(policy.noise, in_axes=(0, None))(keys, horizon)


def run_episodes(env: Environment, key: Array, num_runs: int) -> tuple[Episode, Array]:
    """What :func:`run` draws before the rollouts: ``num_runs`` fresh realised episodes and the policy keys."""
    _, episodes, k_pol = draw_episodes(env, jax.random.split(key, num_runs))
    return episodes, k_pol


@functools.partial(jax.jit, static_argnames=("env", "policy", "num_runs"))
def run(env: Environment, policy: Policy, key: Array, num_runs: int, params: PyTree = None) -> Trajectory:
    """``num_runs`` independent rollouts, each on a fresh task: leading axis ``num_runs``.

    Row ``i`` equals ``rollout(env, policy, jax.random.split(key, num_runs)[i], None, params)``.
    """
    chex.assert_shape(key, ())
    episodes, k_pol = run_episodes(env, key, num_runs)
    return _rollout_batch(env, policy, episodes, k_pol, params)


@functools.partial(jax.jit, static_argnames=("env", "policy", "num_rollouts", "shared_env_noise"))
def rollout_tasks(
    env: Environment,
    policy: Policy,
    key: Array,
    tasks: PyTree,
    num_rollouts: int,
    params: PyTree = None,
    shared_env_noise: bool = False,
) -> Trajectory:
    """``num_rollouts`` rollouts of each task in the batch ``tasks`` (leading axis ``M``).

    Returns a trajectory with leading axes ``(M, num_rollouts)``; every rollout draws
    its own policy noise. Entry ``(m, l)`` equals
    ``rollout(env, policy, jax.random.split(key, (M, num_rollouts))[m, l], task_m, params)``.
    With ``shared_env_noise`` the rollouts of one task share its environment
    randomness (common random numbers: the realisation of rollout ``(m, 0)``), so
    in full-information online learning they face the same reward sequence and
    their static regrets differ only through the policy.
    """
    chex.assert_shape(key, ())
    m = jax.tree.leaves(tasks)[0].shape[0]
    chex.assert_tree_shape_prefix(tasks, (m,))
    keys = jax.random.split(key, (m, num_rollouts)).reshape(m * num_rollouts)
    # Rollouts of one task are contiguous rows of the flat batch of M·L.
    flat_tasks = jax.tree.map(lambda x: jnp.repeat(x, num_rollouts, axis=0), tasks)
    _, episodes, k_pol = draw_episodes(env, keys, flat_tasks, num_rollouts if shared_env_noise else 1)
    traj = _rollout_batch(env, policy, episodes, k_pol, params)
    return jax.tree.map(lambda x: x.reshape(m, num_rollouts, *x.shape[1:]), traj)


def sample_tasks(env: Environment, key: Array, num_tasks: int) -> PyTree:
    """A batch of ``num_tasks`` tasks from the environment's prior."""
    return jax.vmap(env.sample_task)(jax.random.split(key, num_tasks))
