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
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from rmft_jax.types import Array, Environment, Episode, Policy, PyTree, Trajectory


def check_compatible(env: Environment, policy: Policy) -> None:
    """Raise ``ValueError`` if ``policy`` cannot act in ``env``."""
    if env.feedback != policy.feedback:
        raise ValueError(
            f"policy: must be a {env.feedback}-feedback policy for this environment "
            f"(got {type(policy).__name__}, a {policy.feedback}-feedback policy)"
        )
    n = getattr(policy, "arms", getattr(policy, "dim", None))
    if n is not None and n != env.num_actions:
        raise ValueError(
            f"policy: must be built for {env.num_actions} actions (got {type(policy).__name__} for {n})"
        )


def rollout_episode(env: Environment, policy: Policy, episode: Episode, key: Array, params: PyTree = None) -> Trajectory:
    """Run ``policy`` over a realised ``episode`` (unbatched)."""
    noise = policy.noise(key, env.horizon)
    # A stationary episode keeps one row of means: closing over it, rather than
    # scanning a broadcast (T, K) table, keeps the loop's memory traffic to xi.
    stationary = episode.means.shape[0] == 1

    def step(state, xs):
        xi_t, noise_t = xs[:2]
        means_t = episode.means[0] if stationary else xs[2]
        action = policy.act(params, state, noise_t)
        feedback, earned = env.step(means_t, xi_t, action)
        state = policy.update(params, state, action, feedback)
        return state, (action, earned)

    xs = (episode.xi, noise) if stationary else (episode.xi, noise, episode.means)
    _, (actions, rewards) = jax.lax.scan(step, policy.init(params), xs)
    regret = env.regret(episode, actions)
    best = jnp.broadcast_to(jnp.argmax(episode.means, axis=-1), (env.horizon,)).astype(jnp.int32)
    return Trajectory(actions=actions, rewards=rewards, regret=regret, best=best)


def rollout(env: Environment, policy: Policy, key: Array, task: PyTree = None, params: PyTree = None) -> Trajectory:
    """One rollout on ``task`` (a fresh task from the prior when ``None``), unbatched."""
    k_task, k_env, k_pol = jax.random.split(key, 3)
    if task is None:
        task = env.sample_task(k_task)
    return rollout_episode(env, policy, env.realize(k_env, task), k_pol, params)


@functools.partial(jax.jit, static_argnames=("env", "policy", "num_runs"))
def run(env: Environment, policy: Policy, key: Array, num_runs: int, params: PyTree = None) -> Trajectory:
    """``num_runs`` independent rollouts, each on a fresh task: leading axis ``num_runs``."""
    keys = jax.random.split(key, num_runs)
    return jax.vmap(lambda k: rollout(env, policy, k, None, params))(keys)


@functools.partial(jax.jit, static_argnames=("env", "policy", "num_rollouts"))
def rollout_tasks(
    env: Environment, policy: Policy, key: Array, tasks: PyTree, num_rollouts: int, params: PyTree = None
) -> Trajectory:
    """``num_rollouts`` rollouts of each task in the batch ``tasks`` (leading axis ``M``).

    Returns a trajectory with leading axes ``(M, num_rollouts)``; every rollout draws
    its own environment randomness and policy noise.
    """
    m = jax.tree.leaves(tasks)[0].shape[0]
    keys = jax.random.split(key, (m, num_rollouts))
    per_task = lambda task, ks: jax.vmap(lambda k: rollout(env, policy, k, task, params))(ks)  # noqa: E731
    return jax.vmap(per_task)(tasks, keys)


def sample_tasks(env: Environment, key: Array, num_tasks: int) -> PyTree:
    """A batch of ``num_tasks`` tasks from the environment's prior."""
    return jax.vmap(env.sample_task)(jax.random.split(key, num_tasks))
