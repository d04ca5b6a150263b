"""rmft-jax: Iterative Regret-Minimization Fine-Tuning (arXiv 2511.04393) in JAX and Flax."""

__version__ = "0.1.0"
