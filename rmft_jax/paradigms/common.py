"""What every training paradigm shares: the budget, the iteration loop and the seed sweep.

A paradigm is a pair of pure functions (:class:`Paradigm`): ``collect`` turns the
current model and a batch of task instances into training rows, and ``loss``
scores the model on a mini-batch of those rows. :func:`train` runs them in the
shape of Iterative RMFT (:func:`rmft_jax.rmft.train_scan`): ``lax.scan`` over
iterations, and in iteration ``i``::

    k_task, k_collect, k_steps = split(fold_in(key, i), 3)     # RMFT's own key split
    tasks  = sample_tasks(env, k_task, M)                      # the same instances as RMFT's
    rows   = collect(params, tasks, k_collect)                 # M·L rollouts of T rounds
    params = sft_steps × AdamW step on loss(params, M·k rows)  # make_optimizer(cfg)

so with one key every paradigm sees RMFT's task instances, generates the same
number of environment rounds (``M·L·T`` per iteration) and takes the same number
of optimiser steps, each on ``M·k`` trajectories of ``T`` tokens: what RMFT's SFT
reads per step. RMFT keeps ``k`` of its ``L`` rollouts and steps on all of them
every time; a paradigm that keeps every rollout draws a fresh mini-batch of
``M·k`` of its ``M·L`` rows (without replacement) at every step. Every
paradigm's rollouts (its own or a behaviour policy's) draw their reward tapes as
RMFT's do: shared by the ``L`` rollouts of an instance when
``cfg.shared_env_noise`` (the recipe's common random numbers), independent otherwise.

Seeds (:func:`train_seeds`) follow :func:`rmft_jax.sweeps.sweep_seeds`
(:func:`rmft_jax.training.seed_learner`): seed ``s`` has the base model
``init_model(fold_in(key(s), 0))`` and the training key ``fold_in(key(s), 1)``,
so paradigm and RMFT runs of one seed start from the same weights and see the
same instances.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from rmft_jax.models.policy import bandit_log_probs
from rmft_jax.rmft import Learner, RMFTConfig, make_optimizer
from rmft_jax.rollout import sample_tasks
from rmft_jax.training import seed_array, seed_learner
from rmft_jax.types import Array, Environment, PyTree


class Paradigm(NamedTuple):
    """A training signal as two pure functions.

    Attributes:
      collect: ``collect(env, cfg, learner, params, tasks, key) -> (rows, metrics)``:
        ``rows`` a dict of arrays with leading axis ``M·L`` (at least ``actions``
        ``(M·L, T)`` int32 and ``rewards`` ``(M·L, T)``, the teacher-forced
        histories), ``metrics`` a dict of scalars.
      loss: ``loss(learner, params, rows) -> (scalar, aux dict)`` on a mini-batch of rows.
    """

    collect: Callable
    loss: Callable


def budget(env: Environment, cfg: RMFTConfig) -> dict[str, int]:
    """What one training run spends (per seed): environment rounds, optimiser steps, supervised tokens."""
    steps = cfg.iterations * cfg.sft_steps
    batch = cfg.tasks * cfg.keep
    return {
        "env_rounds": cfg.iterations * cfg.tasks * cfg.rollouts * env.horizon,
        "grad_steps": steps,
        "batch_trajectories": batch,
        "supervised_tokens": steps * batch * env.horizon,
    }


def log_probs(learner: Learner, params: PyTree, actions: Array, rewards: Array) -> Array:
    """``(B, T, K)`` teacher-forced log-probabilities of the model's sampling policy on ``B`` histories."""
    graphdef, temperature = learner.policy.graphdef, learner.policy.temperature
    return jax.vmap(lambda a, r: bandit_log_probs(graphdef, params, a, r, temperature))(actions, rewards)


def flatten(x: Array) -> Array:
    """``(M, L, ...) -> (M·L, ...)``: the rollouts of one instance stay contiguous."""
    return x.reshape((-1,) + x.shape[2:])


def iteration(env: Environment, cfg: RMFTConfig, learner: Learner, paradigm: Paradigm, carry, i: Array, key: Array):
    """One iteration of :func:`train` (pure): collect, then ``cfg.sft_steps`` optimiser steps."""
    params, opt_state = carry
    k_task, k_collect, k_steps = jax.random.split(jax.random.fold_in(key, i), 3)
    tasks = sample_tasks(env, k_task, cfg.tasks)
    rows, metrics = paradigm.collect(env, cfg, learner, params, tasks, k_collect)
    n = rows["actions"].shape[0]
    batch = min(cfg.tasks * cfg.keep, n)
    opt = make_optimizer(cfg)
    grad_fn = jax.value_and_grad(lambda p, b: paradigm.loss(learner, p, b), has_aux=True)

    def step(carry, k):
        params, opt_state = carry
        mini = rows if batch == n else jax.tree.map(lambda x: x[jax.random.permutation(k, n)[:batch]], rows)
        (loss, aux), grads = grad_fn(params, mini)
        updates, opt_state = opt.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), (loss, aux)

    (params, opt_state), (losses, aux) = jax.lax.scan(step, (params, opt_state), jax.random.split(k_steps, cfg.sft_steps))
    metrics = dict(metrics, loss_first=losses[0], loss_last=losses[-1])
    metrics.update({f"loss_{k}": v[-1] for k, v in aux.items()})
    return (params, opt_state), metrics


def train(env: Environment, cfg: RMFTConfig, learner: Learner, paradigm: Paradigm, key: Array):
    """``cfg.iterations`` iterations of ``paradigm`` from ``learner.base_params``: ``(params, metrics)``.

    The counterpart of :func:`rmft_jax.rmft.train_scan` (same budget, same key
    use); ``metrics`` holds one scalar per iteration per metric. Pure, so
    ``jit(vmap(train))`` sweeps seeds.
    """
    params = jax.tree.map(jnp.copy, learner.base_params)
    carry = (params, make_optimizer(cfg).init(params))
    body = lambda c, i: iteration(env, cfg, learner, paradigm, c, i, key)  # noqa: E731
    (params, _), metrics = jax.lax.scan(body, carry, jnp.arange(cfg.iterations))
    return params, metrics


def train_seeds(
    model_cfg,
    train_one: Callable[[Learner, Array], tuple[PyTree, dict]],
    learner: Learner,
    seeds: Sequence[int] | Array,
    vmap: bool | None = None,
) -> tuple[PyTree, dict[str, Any]]:
    """``train_one`` for every seed in one compiled program: results with a leading seed axis ``S``.

    Args:
      model_cfg: the :class:`~rmft_jax.models.transformer.TransformerConfig` (base weights per seed).
      train_one: ``(learner with this seed's base weights, key) -> (params, metrics)``.
      learner: policy and loss (its base weights are replaced per seed).
      seeds: ``(S,)`` integer seeds.
      vmap: ``jit(vmap)`` over seeds (``True``) or ``jit(lax.map)``, one seed after
        the other in the same program (``False``). ``None``: ``vmap`` on an
        accelerator, ``lax.map`` on CPU, where a vmapped sweep of the Figure 2
        recipe measured 1.8 times slower than the seeds in sequence (2-core CPU,
        3 seeds: batched weights turn every matrix product into a batched one).
    """
    seeds = seed_array(seeds)
    vmap = jax.default_backend() != "cpu" if vmap is None else vmap
    return _sweep(model_cfg, train_one, learner.policy, learner.loss, vmap)(seeds)


@functools.lru_cache(maxsize=32)
def _sweep(model_cfg, train_one, policy, loss, vmap: bool):
    def one(seed):
        return train_one(*seed_learner(model_cfg, policy, loss, seed))

    return jax.jit(jax.vmap(one) if vmap else lambda s: jax.lax.map(one, s))
