"""The speed benchmark behind ``rmft bench``: ratios against references and the machine, in one run.

What one run measures (every JAX call ends in ``block_until_ready``; run times are
the best of several repeats, JAX and its reference interleaved so that load from
other processes hits both alike; compile time is measured apart, with
``jit(...).lower(...).compile()``), one module each:

* :mod:`~rmft_jax.bench.baselines` — ``baseline_vs_numpy`` / ``baseline_vs_numpy_small``: UCB
  and Gaussian Thompson rollouts through :func:`rmft_jax.rollout.run` (task sampling, bulk
  noise, the scan, exact regret) against :mod:`rmft_jax.bench_numpy.bandits` (same
  algorithms, float32) on a Gaussian bandit, ``K = 5``, ``T = 1000``, at 4096 and 64 runs.
  The headline is the **smaller** of the two policies' ratios; both are in ``rows``, with
  the bound that drawing the run's random numbers alone puts on the ratio. The active
  generator (``rmft bench --rng``) draws them.
* :mod:`~rmft_jax.bench.generators` — the generator table: the project's bulk draws and the
  baseline rollouts under each typed-key implementation (:mod:`rmft_jax.generator`).
  Its sharded column (:mod:`~rmft_jax.bench.generator_sharding`): each offered generator's draws
  and baseline rollouts with the batch split over two devices, in a child process.
* :mod:`~rmft_jax.bench.transformer` — ``decode_vs_recompute`` / ``transformer_vs_numpy``:
  Transformer rollouts (``K = 5``, ``T = 100``, 2 layers, width 64, 2 heads) with KV-cache
  decoding (the cache grown in segments, the batch run in tiles on CPU: what
  ``rollout.run`` does by default) against the same policy recomputing the full prefix
  every round, and against the same incremental algorithm in NumPy
  (:mod:`rmft_jax.bench_numpy.transformer`), in rollout-steps/s; and, in the same run, the
  decoding on one static cache of ``T`` slots. ``fraction_of_matmul_peak``: the decode
  rollout's FLOP rate (matrix-product FLOPs of a decode step counted analytically,
  :func:`decode_step_flops`) over the rate of a large ``jnp.dot`` measured in the same run.
* :mod:`~rmft_jax.bench.scale` — throughput at 2^16 rollouts, plain and sharded (accelerators).
* :mod:`~rmft_jax.bench.iteration` — ``iteration``: one RMFT iteration of the Figure 2 config
  (:data:`rmft_jax.experiments.fig2.TRAIN`) split into rollout, selection and SFT, each its
  own jitted function, against the whole jitted iteration; ``recompiles``: XLA
  compilations (counted by a :mod:`jax.monitoring` listener) during repeated RMFT
  iterations and evaluation calls after warm-up (must be 0); the resident memory along a
  long run of iterations (it must not grow).
* :mod:`~rmft_jax.bench.curves` — ``cost_curves`` (full mode): rollout and iteration time
  against ``T``, the number of rollouts, ``K`` and the model width, with fitted log-log
  exponents (:mod:`~rmft_jax.bench.fits`).
* :mod:`~rmft_jax.bench.processes` — the process-scaling table (full mode): rollouts/s and RMFT
  iterations/s of the Figure 2 recipe per ``processes × devices`` layout, each a job of local
  processes (:mod:`~rmft_jax.bench.jobs`), and the SFT step's FLOP rate against a matmul's.
* ``compile_s``: the compile time of every entry point above; ``memory``: peak RSS and
  device memory stats where the backend has them (:mod:`~rmft_jax.bench.timing`).

:mod:`~rmft_jax.bench.suite` runs them all (:func:`run_all`); :mod:`~rmft_jax.bench.report`
turns a saved result into the Markdown table and the cost-curve figure.
"""

from rmft_jax.bench.baselines import baseline_policy, bench_baseline, bench_baselines
from rmft_jax.bench.curves import cost_curves
from rmft_jax.bench.generators import bench_generators, vmap_equals_loop
from rmft_jax.bench.fits import linear_quadratic_fit, loglog_exponent
from rmft_jax.bench.generator_sharding import bench_generator_sharding
from rmft_jax.bench.iteration import bench_iteration, bench_long_run, iteration_parts
from rmft_jax.bench.jobs import run_job
from rmft_jax.bench.processes import LAYOUTS, bench_processes, parse_layouts, sft_fraction
from rmft_jax.bench.report import generator_table, markdown, plot_cost_curves, process_table, sharded_table
from rmft_jax.bench.scale import bench_scale
from rmft_jax.bench.sizes import ARMS, FULL, PRIOR_MEAN, PRIOR_STD, QUICK, SIGMA, Sizes
from rmft_jax.bench.suite import run_all
from rmft_jax.bench.timing import (
    COMPILE_EVENT,
    compile_timed,
    count_compiles,
    device_memory,
    machine,
    peak_rss_mb,
    rss_mb,
    time_best,
)
from rmft_jax.bench.transformer import (
    attended_slots,
    bench_numpy_transformer,
    bench_policy_run,
    bench_transformer,
    decode_step_flops,
    matmul_rate,
    transformer_setup,
)

__all__ = [
    "FULL", "QUICK", "Sizes", "run_all", "markdown", "plot_cost_curves", "cost_curves", "bench_baselines",
    "bench_transformer", "bench_iteration", "bench_long_run", "decode_step_flops", "count_compiles", "time_best",
    "loglog_exponent", "linear_quadratic_fit", "attended_slots", "bench_baseline", "baseline_policy", "bench_scale",
    "iteration_parts", "compile_timed", "machine", "rss_mb", "peak_rss_mb", "device_memory", "transformer_setup",
    "bench_policy_run", "bench_numpy_transformer", "matmul_rate", "ARMS", "SIGMA", "PRIOR_MEAN", "PRIOR_STD",
    "COMPILE_EVENT", "bench_generators", "vmap_equals_loop", "bench_generator_sharding", "run_job", "LAYOUTS",
    "bench_processes", "parse_layouts", "sft_fraction", "generator_table", "sharded_table", "process_table",
]
