"""rmft-jax: Iterative Regret-Minimization Fine-Tuning (arXiv 2511.04393) in JAX and Flax.

The curated public API; everything else lives in its module (``rmft_jax.metrics``,
``rmft_jax.theory``, ``rmft_jax.sharding``, ...).
"""

from rmft_jax import _signals

_signals.install_if_program()  # first: Ctrl-C while JAX is imported exits 130 too (see rmft_jax._signals)

from rmft_jax.envs import BanditEnv, DriftingBanditEnv, OnlineEnv, make_env, variation_budget  # noqa: E402
from rmft_jax.policies import POLICIES, make_policy, policy_names  # noqa: E402
from rmft_jax.regret import dynamic_regret, pseudo_regret, static_regret  # noqa: E402
from rmft_jax.rmft import RMFTConfig, iteration, make_iteration, single_round, train_scan  # noqa: E402
from rmft_jax.rollout import rollout_tasks, run, sample_tasks  # noqa: E402 (not `rollout`: the module of that name)
from rmft_jax.types import Episode, Environment, Policy, Trajectory  # noqa: E402

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
