"""Seed and learning-rate sweeps: ``jit(vmap(train))`` over seeds (and learning rates), one program.

Beside :mod:`rmft_jax.training` (a sweep is many training runs at once), not in
:mod:`rmft_jax.sharding`, which is the device layer both build on.

Data-parallel over sweep cells: with more than one device (or process, see
:mod:`rmft_jax.distributed`) the cells are split over the one-axis mesh of
:mod:`rmft_jax.sharding`, the seed axis when the device count divides it, else the
learning-rate axis, else none (replicated). Each cell's computation is the same
wherever it runs, so cells agree with the one-device sweep to the float rounding of
batched matrix products of another batch size (XLA:CPU may round those
differently). Measured on a 2 × 2 (learning rate × seed) grid of the tiny test
model: two processes of one CPU device each gave the two-device single-process sweep
bit for bit, and the one-device sweep's kept rollouts bit for bit with weights within
8e-4 at the learning rate 1e-2 (Adam's normalisation amplifies rounding).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jax.sharding import NamedSharding, PartitionSpec

from rmft_jax import distributed, rmft, sharding
from rmft_jax.training import build_learner, seed_array, seed_learner
from rmft_jax.types import Array


def sweep_seeds(cfg, seeds: Sequence[int] | Array, learner: rmft.Learner | None = None,
                learning_rates: Sequence[float] | Array | None = None, devices: sharding.Devices = None):
    """``jit(vmap(train))`` over seeds (and learning rates): ``cfg.rmft.iterations`` RMFT iterations each, one program.

    Each seed ``s`` gets what :func:`rmft_jax.training.train` gives the config with
    ``seed = s``: base weights from ``fold_in(key(s), 0)`` and the iteration key
    ``fold_in(key(s), 1)`` — but through :func:`rmft_jax.rmft.train_scan`, so
    metrics are reduced inside the scan. With ``learning_rates``, every seed runs
    at every learning rate (a grid, ``vmap`` over both): what ``train`` gives the
    config with that ``rmft.learning_rate``.

    Args:
      cfg: a :class:`rmft_jax.config.TrainConfig` (its ``seed`` is ignored, and its
        learning rate too when ``learning_rates`` is given).
      seeds: ``(S,)`` integer seeds.
      learner: the learner of ``cfg`` (built if omitted; only its policy and loss
        are used, the base weights are drawn per seed).
      learning_rates: optional ``(R,)`` positive learning rates.
      devices: where the cells run, as for :func:`rmft_jax.training.train` (``None``: every
        visible device, every process's in a multi-process job; one device: the plain program).
    Returns:
      ``(states, metrics)``: a :class:`rmft_jax.rmft.TrainState` and a dict of
      ``(S, iterations)`` arrays, every leaf with a leading seed axis ``S``; with
      ``learning_rates``, leading axes ``(R, S)``. In a multi-process job every process
      gets the whole sweep as NumPy arrays (the cells are gathered from all processes).
    """
    learner = build_learner(cfg) if learner is None else learner
    seeds = seed_array(seeds)
    rates = None
    if learning_rates is not None:
        rates = np.asarray(learning_rates, np.float32)
        if rates.ndim != 1 or not rates.size or not np.all(np.isfinite(rates) & (rates > 0)):
            got = np.asarray(learning_rates).tolist()
            raise ValueError(f"learning_rates: must be a 1-D sequence of positive numbers (got {got})")
    mesh = sharding.resolve_mesh(devices)
    args = (seeds,) if rates is None else (seeds, jnp.asarray(rates))
    sweep = _sweep(cfg.environment, cfg.rmft, cfg.transformer, learner.policy, learner.loss, rates is not None)
    if mesh is None:
        return sweep(*args)
    spec = _cell_spec(mesh, len(seeds), None if rates is None else len(rates))
    in_specs = (PartitionSpec(spec[-1]),) if rates is None else (PartitionSpec(spec[1]), PartitionSpec(spec[0]))
    args = tuple(jax.device_put(a, NamedSharding(mesh, p)) for a, p in zip(args, in_specs))
    out = _sharded_sweep(sweep, mesh, spec)(*args)
    return distributed.to_host(out) if jax.process_count() > 1 else out


def _cell_spec(mesh, num_seeds: int, num_rates: int | None) -> tuple:
    """Partition of the cell axes ``(S,)`` or ``(R, S)``: seeds split over the mesh when its size divides
    their number, else learning rates, else nothing."""
    split = lambda n: sharding.DATA if n % mesh.size == 0 else None  # noqa: E731
    if num_rates is None:
        return (split(num_seeds),)
    by_seed = split(num_seeds)
    return (None, by_seed) if by_seed else (split(num_rates), None)


@functools.lru_cache(maxsize=16)
def _sharded_sweep(sweep, mesh, spec: tuple):
    out_sharding = NamedSharding(mesh, PartitionSpec(*spec))
    return jax.jit(lambda *a: jax.tree.map(lambda x: jax.lax.with_sharding_constraint(x, out_sharding), sweep(*a)))


@functools.lru_cache(maxsize=16)
def _sweep(env, rmft_cfg, model_cfg, policy, loss, over_rates: bool):
    def one(seed, learning_rate=None):
        learner, key = seed_learner(model_cfg, policy, loss, seed)
        return rmft.train_scan(env, rmft_cfg, learner, key, learning_rate=learning_rate)

    if not over_rates:
        return jax.jit(jax.vmap(one))
    # Outer axis: learning rates; inner: seeds.
    return jax.jit(jax.vmap(jax.vmap(one, in_axes=(0, None)), in_axes=(None, 0)))


__all__ = ["sweep_seeds"]
