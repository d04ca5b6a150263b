"""Pure-functional decision-making environments: sample a task, realise it, score it."""

from rmft_jax.envs.bandit import BanditEnv, BanditTask
from rmft_jax.envs.nonstationary import DriftingBanditEnv, DriftTask, variation_budget
from rmft_jax.envs.online import OnlineEnv, OnlineTask

__all__ = [
    "BanditEnv",
    "BanditTask",
    "DriftingBanditEnv",
    "DriftTask",
    "OnlineEnv",
    "OnlineTask",
    "variation_budget",
]
