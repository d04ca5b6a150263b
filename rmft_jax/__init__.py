"""rmft-jax: Iterative Regret-Minimization Fine-Tuning (arXiv 2511.04393) in JAX and Flax.

The curated public API; everything else lives in its module (``rmft_jax.metrics``,
``rmft_jax.theory``, ``rmft_jax.sharding``, ...).
"""

from rmft_jax.envs import BanditEnv, DriftingBanditEnv, OnlineEnv, make_env, variation_budget
from rmft_jax.policies import POLICIES, make_policy, policy_names
from rmft_jax.regret import dynamic_regret, pseudo_regret, static_regret
from rmft_jax.rmft import RMFTConfig, iteration, make_iteration, single_round, train_scan
from rmft_jax.rollout import rollout_tasks, run, sample_tasks  # (not `rollout`: the module of that name)
from rmft_jax.types import Episode, Environment, Policy, Trajectory

__version__ = "0.1.0"

__all__ = [
    "BanditEnv",
    "DriftingBanditEnv",
    "OnlineEnv",
    "make_env",
    "variation_budget",
    "POLICIES",
    "make_policy",
    "policy_names",
    "pseudo_regret",
    "static_regret",
    "dynamic_regret",
    "RMFTConfig",
    "iteration",
    "make_iteration",
    "single_round",
    "train_scan",
    "rollout_tasks",
    "run",
    "sample_tasks",
    "Episode",
    "Environment",
    "Policy",
    "Trajectory",
]
