"""Data parallelism over devices with JAX's own SPMD.

Rollouts and SFT are data-parallel: the environment instances ``M`` and their
rollouts (the leading batch axes) are split across a one-axis
:class:`jax.sharding.Mesh` named ``"data"``, and the model's parameters and optimiser
state are replicated. Nothing here partitions by hand: the jitted entry points of
:mod:`rmft_jax.rollout` and :mod:`rmft_jax.rmft` are called unchanged, with
``NamedSharding`` in/out shardings and ``with_sharding_constraint`` on their batch
arrays, and XLA's SPMD partitioner splits the scan over the batch (per-device
shapes ``(T, B / devices)``) and inserts the all-reduce of the SFT gradients.

Equivalence with one device (``tests/test_sharding.py``, 8 CPU devices): random
keys are derived from the batch index (threefry is partitionable), so every
rollout draws the same numbers; the baselines' rollouts, and in those tests the
sampled Transformer rollouts and therefore every selection, are bit-identical.
A Transformer's matrix products run on ``B / devices`` rows per device, which
XLA:CPU may round differently from ``B`` rows, so in general model outputs agree
to float rounding (greedy play can part where two logits tie to rounding; see
``rmft_jax.rollout._batch_tile`` for the same effect of tiles). SFT sums a
gradient over a batch split across devices, so parameters agree to float
rounding (``atol 1e-5`` after a few iterations).

Devices: ``devices=None`` uses every visible device when there is more than one
(one device: the plain, unsharded path); an ``int`` takes the first ``n`` of
``jax.devices()``, a sequence of devices or a ``Mesh`` is used as given. A batch
axis that the device count does not divide is replicated rather than split.

Processes: after :func:`rmft_jax.distributed.initialize`, ``jax.devices()`` lists
every process's devices, so the same mesh spans processes (and hosts) and nothing
below changes: each process computes the rows of the batch that live on its own
devices, and the gradient all-reduce crosses processes. Across ``P`` processes an
``int`` ``n`` takes the first ``n / P`` devices of each process, and every mesh must
include devices of every process (each process runs the same program).

:func:`rmft_jax.sweeps.sweep_seeds` (seed and learning-rate sweeps in one program)
is built on this layer, beside :mod:`rmft_jax.training`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

from rmft_jax import rmft, rollout
from rmft_jax.types import Array, Environment, Policy, PyTree

DATA = "data"

Devices = None | int | Sequence[Any] | Mesh


def make_mesh(devices: Devices = None) -> Mesh:
    """A one-axis ``("data",)`` mesh over ``devices`` (default: all of ``jax.devices()``).

    Axes are ``Auto``: the partitioner propagates the shardings we constrain.
    """
    if isinstance(devices, Mesh):
        return devices
    if devices is None:
        devs = jax.devices()
    elif isinstance(devices, int):
        devs = _first_devices(devices)
    else:
        devs = list(devices)
        if not devs:
            raise ValueError("devices: must name at least one device (got an empty list)")
    if jax.process_count() > 1 and {d.process_index for d in devs} != set(range(jax.process_count())):
        raise ValueError(f"devices: must include devices of each of the {jax.process_count()} processes "
                         f"(got devices of processes {sorted({d.process_index for d in devs})})")
    return Mesh(np.asarray(devs), (DATA,), axis_types=(AxisType.Auto,))


def _first_devices(n: int) -> list:
    """The first ``n`` devices; across processes, the first ``n / processes`` of each process (in process order)."""
    available, procs = jax.devices(), jax.process_count()
    if not 1 <= n <= len(available):
        raise ValueError(f"devices: must be between 1 and the {len(available)} visible devices (got {n})")
    if procs == 1:
        return available[:n]
    if n % procs:
        raise ValueError(f"devices: must be a multiple of the {procs} processes, each giving as many (got {n})")
    return [d for p in range(procs) for d in [d for d in available if d.process_index == p][: n // procs]]


def resolve_mesh(devices: Devices = None) -> Mesh | None:
    """The mesh to run on, or ``None`` for the plain single-device path.

    ``None`` means automatic: all visible devices when there is more than one.
    """
    if devices is None and len(jax.devices()) == 1:
        return None
    mesh = make_mesh(devices)
    return None if mesh.size == 1 else mesh


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def batch_sharding(mesh: Mesh, shape: tuple[int, ...]) -> NamedSharding:
    """Split axis 0 over ``"data"`` when the device count divides it; else replicate."""
    if len(shape) == 0 or shape[0] % mesh.size:
        return replicated(mesh)
    return NamedSharding(mesh, PartitionSpec(DATA))


def constrain_batch(tree: PyTree, mesh: Mesh) -> PyTree:
    """``with_sharding_constraint`` of every leaf along its leading (batch) axis (inside ``jit``)."""
    return jax.tree.map(lambda x: jax.lax.with_sharding_constraint(x, batch_sharding(mesh, x.shape)), tree)


# --- rollouts ------------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _sharded_run(env: Environment, policy: Policy, num_runs: int, mesh: Mesh):
    def fn(key, params):
        return constrain_batch(rollout.run(env, policy, key, num_runs, params), mesh)

    return jax.jit(fn, in_shardings=(replicated(mesh), replicated(mesh)))


def run(env: Environment, policy: Policy, key: Array, num_runs: int, params: PyTree = None, devices: Devices = None):
    """:func:`rmft_jax.rollout.run` with the ``num_runs`` axis split over devices.

    Equal to the unsharded call with the same arguments: bit for bit for the baselines, to float
    rounding of the per-device matrix products for a model (see the module docstring).
    """
    mesh = resolve_mesh(devices)
    if mesh is None:
        return rollout.run(env, policy, key, num_runs, params)
    return _sharded_run(env, policy, num_runs, mesh)(key, params)


@functools.lru_cache(maxsize=64)
def _sharded_rollout_tasks(env: Environment, policy: Policy, num_rollouts: int, mesh: Mesh):
    def fn(key, tasks, params):
        tasks = constrain_batch(tasks, mesh)
        return constrain_batch(rollout.rollout_tasks(env, policy, key, tasks, num_rollouts, params), mesh)

    return jax.jit(fn, in_shardings=(replicated(mesh), None, replicated(mesh)))


def rollout_tasks(
    env: Environment, policy: Policy, key: Array, tasks: PyTree, num_rollouts: int, params: PyTree = None,
    devices: Devices = None,
):
    """:func:`rmft_jax.rollout.rollout_tasks` with the task axis ``M`` split over devices (as :func:`run`: same
    random numbers, values to float rounding for a model)."""
    mesh = resolve_mesh(devices)
    if mesh is None:
        return rollout.rollout_tasks(env, policy, key, tasks, num_rollouts, params)
    return _sharded_rollout_tasks(env, policy, num_rollouts, mesh)(key, tasks, params)


# --- RMFT iterations -----------------------------------------------------------------------


def state_shardings(state: rmft.TrainState, mesh: Mesh) -> rmft.TrainState:
    """Replicated parameters and optimiser state; the SFT buffer split along its trajectories."""
    rep = replicated(mesh)
    buffer = jax.tree.map(lambda x: batch_sharding(mesh, x.shape), state.buffer)
    return rmft.TrainState(
        params=jax.tree.map(lambda _: rep, state.params),
        opt_state=jax.tree.map(lambda _: rep, state.opt_state),
        buffer=buffer,
        iteration=rep,
    )


def place_state(state: rmft.TrainState, devices: Devices = None) -> rmft.TrainState:
    """``state`` laid out for :func:`make_iteration` on ``devices`` (unchanged on one device)."""
    mesh = resolve_mesh(devices)
    if mesh is None:
        return state
    return jax.device_put(state, state_shardings(state, mesh))


def make_iteration(env: Environment, cfg: rmft.RMFTConfig, learner: rmft.Learner, devices: Devices = None):
    """:func:`rmft_jax.rmft.make_iteration`, data-parallel over ``devices``.

    Instances, rollouts and the SFT buffer are split over the mesh and the weights
    replicated; place the initial state with :func:`place_state`. With one device
    this is exactly :func:`rmft_jax.rmft.make_iteration`.
    """
    mesh = resolve_mesh(devices)
    if mesh is None:
        return rmft.make_iteration(env, cfg, learner)
    abstract = jax.eval_shape(lambda: rmft.init_state(env, cfg, learner))
    shardings = state_shardings(abstract, mesh)
    rep = replicated(mesh)
    fn = functools.partial(rmft.iteration, env, cfg, learner, shard=functools.partial(constrain_batch, mesh=mesh))
    return jax.jit(fn, in_shardings=(shardings, rep, rep), out_shardings=(shardings, rep), donate_argnums=(0,))


__all__ = [
    "DATA",
    "make_mesh",
    "resolve_mesh",
    "replicated",
    "batch_sharding",
    "constrain_batch",
    "run",
    "rollout_tasks",
    "state_shardings",
    "place_state",
    "make_iteration",
]
