"""Pure-functional decision-making environments: sample a task, realise it, score it."""

import dataclasses

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
    "make_env",
    "env_name",
    "ENV_NAMES",
]

ENV_NAMES = ("mab", "fol-ball", "fol-simplex", "nsmab")


def make_env(name: str, **fields):
    """Build an environment from its CLI/config name and fields.

    ``mab`` → :class:`BanditEnv`, ``fol-ball`` / ``fol-simplex`` → :class:`OnlineEnv`
    with that domain, ``nsmab`` → :class:`DriftingBanditEnv`. Unknown names or
    fields raise a one-line ``ValueError``.
    """
    classes = {"mab": BanditEnv, "fol-ball": OnlineEnv, "fol-simplex": OnlineEnv, "nsmab": DriftingBanditEnv}
    if name not in classes:
        raise ValueError(f"env: must be one of {', '.join(ENV_NAMES)} (got {name!r})")
    cls = classes[name]
    if cls is OnlineEnv:
        domain = "ball" if name == "fol-ball" else "simplex"
        if fields.setdefault("domain", domain) != domain:
            raise ValueError(f"domain: must be {domain!r} for env {name!r} (got {fields['domain']!r})")
    known = {f.name for f in dataclasses.fields(cls)}
    for key in fields:
        if key not in known:
            raise ValueError(f"{key}: not a setting of env {name!r}; allowed: {', '.join(sorted(known))}")
    return cls(**fields)


def env_name(env) -> str:
    """The inverse of :func:`make_env`'s name argument."""
    if isinstance(env, BanditEnv):
        return "mab"
    if isinstance(env, DriftingBanditEnv):
        return "nsmab"
    return "fol-ball" if env.domain == "ball" else "fol-simplex"
