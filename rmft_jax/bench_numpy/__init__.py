"""NumPy reference implementations the speed benchmark (:mod:`rmft_jax.bench`) races against.

* :mod:`~rmft_jax.bench_numpy.bandits`: UCB and Gaussian Thompson sampling over many runs;
* :mod:`~rmft_jax.bench_numpy.transformer`: the Transformer bandit rollout with KV-cache decoding.

Each is the same algorithm as its JAX counterpart, written the way a careful NumPy
user would (a Python loop over rounds, vectorised over runs); the tests check that
both give identical actions on identical inputs. They live in the package so that
``rmft bench`` runs from an installed copy; ``benchmarks/numpy_*.py`` re-export them.
"""
