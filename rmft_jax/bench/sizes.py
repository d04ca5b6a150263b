"""What one ``rmft bench`` run measures: the problem sizes (full and quick) and the bandit of the baseline rows."""

from __future__ import annotations

import dataclasses

from rmft_jax.domain import UNIFORM_STD

# The Gaussian bandit of the baseline rows (K = 5, unit noise) and Thompson's prior (the U[0, 1] means).
ARMS, SIGMA = 5, 1.0
PRIOR_MEAN, PRIOR_STD = 0.5, UNIFORM_STD


@dataclasses.dataclass(frozen=True)
class Sizes:
    """Problem sizes of one benchmark run (``FULL`` is the issue's setting, ``QUICK`` a smoke test)."""

    base_horizon: int = 1000
    base_runs: int = 4096
    base_runs_small: int = 64
    base_repeats: int = 7
    tf_horizon: int = 100
    tf_runs: int = 4096
    tf_recompute_runs: int = 256
    tf_numpy_runs: int = 4096
    tf_repeats: int = 3
    matmul_n: int = 2048
    quick_train: bool = False  # iteration timings on fig2.QUICK_TRAIN instead of fig2.TRAIN
    iteration_parts: bool = True  # time rollout / selection / SFT as separate jitted functions
    iter_repeats: int = 3
    long_iterations: int = 1000
    eval_runs: int = 1000
    curves: bool = True
    scale_runs: int = 65536  # 2^16 rollouts: measured on accelerators (and in quick mode, small, to test the path)
    generators: bool = True  # measure the generator table (rmft_jax.bench.generators)
    gen_repeats: int = 5  # the generator table: repeats of each bulk draw and baseline run, per generator
    gen_sharded: bool = True  # the generator table's sharded column (a child process of 2 CPU devices)
    processes: bool = True  # measure the process-scaling table (rmft_jax.bench.processes)
    proc_iterations: int = 5  # the process-scaling table: timed RMFT iterations per layout (the median is kept)
    proc_repeats: int = 3  # the process-scaling table: timed rollout calls per layout (the best is kept)


FULL = Sizes()
# Quick mode is a smoke test of every code path (the test suite runs it): the smallest sizes,
# and the same run counts everywhere (64), so that the throughput rows reuse the programs
# compiled for the rows before them.
QUICK = Sizes(
    base_horizon=100, base_runs=64, base_repeats=2, iteration_parts=False, tf_horizon=25, tf_runs=64, tf_recompute_runs=16,
    tf_numpy_runs=64, tf_repeats=2, matmul_n=256, quick_train=True, iter_repeats=2, long_iterations=20,
    eval_runs=64, curves=False, scale_runs=64, generators=False, gen_repeats=2, processes=False, proc_iterations=2,
    proc_repeats=2,
)
