"""Classical baselines as pure policies, and the registry the CLI resolves names with."""

from __future__ import annotations

from collections.abc import Callable

from rmft_jax.policies.bandit import UCB, BetaThompson, GaussianThompson
from rmft_jax.types import Environment, Policy


def _thompson(env: Environment) -> Policy:
    if getattr(env, "reward", None) == "bernoulli":
        return BetaThompson(arms=env.num_actions)
    return GaussianThompson(arms=env.num_actions, noise_std=max(getattr(env, "noise", 1.0), 1e-3))


# name -> constructor(env) -> Policy, with defaults tuned to the environment where the
# textbook says how (e.g. UCB's c = 2σ² for σ-sub-Gaussian rewards).
POLICIES: dict[str, Callable[[Environment], Policy]] = {
    "ucb": lambda env: UCB(arms=env.num_actions, c=2.0 * max(getattr(env, "noise", 0.5), 0.5) ** 2),
    "thompson": _thompson,
}


def make_policy(name: str, env: Environment) -> Policy:
    """The baseline called ``name``, configured for ``env``; ``ValueError`` if unknown or incompatible."""
    from rmft_jax.rollout import check_compatible

    if name not in POLICIES:
        raise ValueError(f"policy: must be one of {', '.join(sorted(POLICIES))} (got {name!r})")
    policy = POLICIES[name](env)
    check_compatible(env, policy)
    return policy


__all__ = ["POLICIES", "make_policy", "UCB", "GaussianThompson", "BetaThompson"]
