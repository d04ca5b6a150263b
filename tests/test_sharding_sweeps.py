"""Seed sweeps and (learning rate × seed) sweeps in one program equal the separate runs.

A file of its own (split from ``test_sharding.py``) so that the parallel test run can give it
a worker of its own. Tolerances are ``test_sharding.py``'s: buffers bit for bit, parameters
``atol = 5e-4`` at the learning rate 1e-3 (scaled with the rate), metrics ``atol = 1e-5``.

Compile time dominates these tests, so each separate run compiles once per learning rate,
not once per seed: its base weights are an argument of the jitted ``train_scan`` rather than
constants baked into the program (the same computation), and both tests share the runs at
the learning rate 1e-3.
"""

from __future__ import annotations

import functools

import jax
import numpy as np
import pytest
from test_sharding import METRIC_ATOL, PARAM_ATOL, TINY

from rmft_jax import rmft, sweeps
from rmft_jax.config import TrainConfig
from rmft_jax.training import build_learner

CFG = TrainConfig.from_dict({**TINY, "rmft": {**TINY["rmft"], "tasks": 8}})
SEEDS = [0, 3]


@functools.cache
def _train_scan(learning_rate: float):
    """The jitted ``train_scan`` of CFG at ``learning_rate`` (static, as ``train`` runs it): ``(key, base) -> (state, metrics)``."""
    one = CFG.with_overrides({"rmft.learning_rate": learning_rate})
    learner = build_learner(one)
    return jax.jit(lambda k, base: rmft.train_scan(one.environment, one.rmft, learner._replace(base_params=base), k))


@functools.cache
def separate_run(seed: int, learning_rate: float):
    """The run of CFG with ``seed`` and ``rmft.learning_rate``: its own base weights and iteration key."""
    one = CFG.with_overrides({"seed": seed, "rmft.learning_rate": learning_rate})
    return _train_scan(learning_rate)(jax.random.fold_in(jax.random.key(seed), 1), build_learner(one).base_params)


def test_sweep_seeds_equals_separate_runs():
    states, metrics = sweeps.sweep_seeds(CFG, SEEDS)
    assert all(v.shape == (2, CFG.rmft.iterations) for v in metrics.values())
    for i, seed in enumerate(SEEDS):
        state, m = separate_run(seed, CFG.rmft.learning_rate)
        np.testing.assert_array_equal(states.buffer.actions[i], state.buffer.actions)
        for a, b in zip(jax.tree.leaves(states.params), jax.tree.leaves(state.params)):
            np.testing.assert_allclose(a[i], b, atol=PARAM_ATOL, rtol=0)
        for k in m:
            np.testing.assert_allclose(metrics[k][i], m[k], atol=METRIC_ATOL, rtol=0)


@pytest.mark.figures  # about 20 s; the seed sweep above stays in the default tier (the figures tier: CI, after it)
def test_sweep_over_learning_rates_equals_separate_runs():
    """A (learning rate × seed) grid in one program: each cell is the run with that seed and
    rmft.learning_rate (the learning rate travels traced; the optimiser state keeps its structure)."""
    rates = [1e-3, 1e-2]
    states, metrics = sweeps.sweep_seeds(CFG, SEEDS, learning_rates=rates)
    assert all(v.shape == (2, 2, CFG.rmft.iterations) for v in metrics.values())
    finals = []
    for r, lr in enumerate(rates):
        for i, seed in enumerate(SEEDS):
            state, m = separate_run(seed, lr)
            np.testing.assert_array_equal(states.buffer.actions[r, i], state.buffer.actions)
            for a, b in zip(jax.tree.leaves(states.params), jax.tree.leaves(state.params)):
                np.testing.assert_allclose(a[r, i], b, atol=PARAM_ATOL * lr / 1e-3, rtol=0)
            for k in m:
                np.testing.assert_allclose(metrics[k][r, i], m[k], atol=METRIC_ATOL, rtol=0)
            finals.append(np.concatenate([np.ravel(x[r, i]) for x in jax.tree.leaves(states.params)]))
    # The learning rate reaches the optimiser: the two rates train the same seed differently.
    assert np.abs(finals[0] - finals[2]).max() > 10 * PARAM_ATOL
    with pytest.raises(ValueError, match="^learning_rates: must be a 1-D sequence of positive numbers"):
        sweeps.sweep_seeds(CFG, SEEDS, learning_rates=[1e-3, -1.0])
