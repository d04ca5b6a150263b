"""Re-export of :mod:`rmft_jax.bench_numpy.bandits` (the NumPy UCB / Thompson reference), kept at its old path."""

from rmft_jax.bench_numpy.bandits import run_on, simulate, thompson_actions, ucb_actions  # noqa: F401
