"""Re-export of :mod:`rmft_jax.bench_numpy.transformer` (the NumPy KV-cache Transformer rollout), kept at its old path."""

from rmft_jax.bench_numpy.transformer import bandit_rollouts, decode_step, init_cache, numpy_params  # noqa: F401
