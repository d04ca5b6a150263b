"""Classical baselines as pure policies, and the registry the CLI resolves names with.

``make_policy(name, env)`` builds the baseline ``name`` with defaults tuned to
``env`` where the textbook says how; ``policy_names(env)`` lists the names that fit.

Defaults:

* ``ucb``: ``c = 2σ²`` for Gaussian rewards with noise ``σ`` (the σ-sub-Gaussian
  radius), ``c = 2`` (UCB1) for Bernoulli and for drifting bandits with bounded
  rewards, and ``c = 2 m²/α`` for mean-``m`` gamma rewards of shape ``α`` (variance
  ``m²/α``; ``m`` the largest mean the prior allows; a heuristic, gamma rewards are
  not sub-Gaussian).
* ``thompson``: Beta(1, 1)–Bernoulli TS for Bernoulli rewards, otherwise Gaussian TS
  whose prior is the env's task prior (``prior_mean``/``prior_std`` for a Gaussian
  prior, the mean and standard deviation of ``U[prior_low, prior_high]`` for a
  uniform one, ``U[0, 1]``'s for fixed and drifting means) and whose noise is the
  env's ``σ`` (gamma: the standard deviation ``m/sqrt(α)`` at the prior mean).
* ``epsilon_greedy``: ``ε = min(1, (K ln T / T)^{1/3})``.
* ``exp3``: the horizon-tuned ``η = sqrt(ln K / (T K))``.
* ``ftrl``: ``η = R/(G sqrt(T))`` with ``G`` from the env's reward bound
  (``sqrt(d)·sup‖R_t‖_∞``), or ``G = sqrt(d)(|μ| scale + 3 noise)`` as a
  high-probability proxy for Gaussian families.
* ``hedge``: ``η = sqrt(8 ln d / T)/range`` with ``range`` the spread of the rewards
  (1 for ``uniform`` and ``alternating``, ``max − min`` of a custom sequence,
  ``2·sup‖R_t‖_∞`` otherwise); ``hedge_anytime``: ``η_t = sqrt(8 ln d / t)/range``.
* ``sw_ucb``, ``discounted_ucb``, ``discounted_thompson``: Garivier and Moulines'
  tuning ``τ = 2 sqrt(T ln T / Υ)``, ``γ = 1 − sqrt(Υ/T)/4`` with ``Υ`` the number of
  change points of a piecewise drift (else 1); padding constants ``c = ξB²`` and
  ``4ξB²`` with ``ξ = 0.6`` and ``B² = c_UCB/2`` (``B = 1`` for bounded rewards,
  ``σ`` for Gaussian).
* ``bayes_ucb`` (Bayes-UCB, ``c = 0``) and ``kg`` (the finite-horizon knowledge
  gradient with KG(*) lookahead, horizon ``T``), both on the env's true prior
  (:mod:`rmft_jax.policies.bayes`): Bernoulli rewards with a ``U[prior_low,
  prior_high]`` prior: ``Beta(1, 1)`` truncated to that range (exact); Gaussian
  rewards with noise ``σ``: the exact truncated-normal posterior of a uniform
  prior, the conjugate Gaussian one of a Gaussian prior. Where the env has no such
  prior (fixed or drifting means, a clipped Gaussian prior on Bernoulli means)
  they fall back to Thompson sampling's priors (``Beta(1, 1)``;
  ``N(0.5, 1/12)``); gamma rewards use the Gaussian likelihood with Thompson
  sampling's noise ``m/sqrt(α)`` (an approximation).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from rmft_jax.domain import UNIFORM_STD
from rmft_jax.policies.bandit import (
    UCB,
    BetaThompson,
    EpsilonGreedy,
    Exp3,
    GammaThompson,
    GaussianThompson,
    Greedy,
    Uniform,
)
from rmft_jax.policies.bayes import ArmPrior, BayesUCB, KnowledgeGradient
from rmft_jax.policies.nonstationary import (
    DiscountedThompson,
    DiscountedUCB,
    SlidingWindowUCB,
    default_discount,
    default_window,
)
from rmft_jax.policies.online import FTRL, FollowTheLeader, Hedge, OnlineUniform
from rmft_jax.rollout import check_compatible
from rmft_jax.types import BANDIT, FULL, Environment, Policy



def _is_bandit(env: Environment) -> bool:
    return env.feedback == BANDIT


def _domain(env: Environment) -> str | None:
    return env.action_space.domain


def _largest_mean(env: Environment) -> float:
    prior = getattr(env, "prior", None)
    if prior == "fixed":
        return max(env.means)
    if prior == "uniform":
        return env.prior_high
    if prior == "gaussian":
        return env.prior_mean + 2.0 * env.prior_std
    return 1.0  # drifting means live in [0, 1]


def _ucb_c(env: Environment) -> float:
    reward = getattr(env, "reward", "bernoulli")
    if reward == "gaussian":
        return 2.0 * env.noise**2
    if reward == "gamma":
        return 2.0 * _largest_mean(env) ** 2 / env.gamma_shape
    return 2.0


def _prior(env: Environment) -> tuple[float, float]:
    """``(mean, std)`` of the env's task prior over an arm mean."""
    prior = getattr(env, "prior", None)
    if prior == "uniform":
        return 0.5 * (env.prior_low + env.prior_high), (env.prior_high - env.prior_low) * UNIFORM_STD
    if prior == "gaussian" and env.prior_std > 0:
        return env.prior_mean, env.prior_std
    return 0.5, UNIFORM_STD


def _noise_std(env: Environment) -> float:
    if getattr(env, "reward", None) == "gamma":
        return max(_prior(env)[0], 1e-3) / math.sqrt(env.gamma_shape)
    return max(getattr(env, "noise", 1.0), 1e-3)


def _thompson(env: Environment) -> Policy:
    if getattr(env, "reward", None) == "bernoulli":
        return BetaThompson(arms=env.num_actions)
    mean, std = _prior(env)
    return GaussianThompson(arms=env.num_actions, noise_std=_noise_std(env), prior_mean=mean, prior_std=std)


def _arm_prior(env: Environment) -> ArmPrior:
    """The env's true prior over an arm mean and its reward family, for the Bayesian policies."""
    prior, reward = getattr(env, "prior", None), getattr(env, "reward", None)
    if reward == "bernoulli":
        if prior == "uniform":
            return ArmPrior(family="bernoulli", prior="uniform", low=env.prior_low, high=env.prior_high)
        return ArmPrior(family="bernoulli", prior="beta")
    if prior == "uniform":
        return ArmPrior(prior="uniform", low=env.prior_low, high=env.prior_high, noise_std=_noise_std(env))
    mean, std = _prior(env)
    return ArmPrior(prior="gaussian", prior_mean=mean, prior_std=std, noise_std=_noise_std(env))


def _breakpoints(env: Environment) -> int:
    return max(getattr(env, "changes", 1), 1) if getattr(env, "drift", None) == "piecewise" else 1


def _b_squared(env: Environment) -> float:
    return _ucb_c(env) / 2.0


def _sup_abs(env: Environment) -> float:
    """A bound on ``|R_{t,i}|`` (exact for bounded families, ~3σ proxy for Gaussian ones)."""
    bound = env.reward_bound()
    if bound is not None:
        return max(bound, 1e-6)
    return env.mean_scale * 3.0 + 3.0 * env.noise if env.sequence == "stochastic" else 2.0 + 3.0 * env.noise


def _ftrl(env: Environment) -> Policy:
    g = math.sqrt(env.dim) * _sup_abs(env)
    return FTRL(dim=env.dim, radius=env.radius, horizon=env.horizon, grad_bound=g)


def _hedge_range(env: Environment) -> float:
    if env.sequence in ("uniform", "alternating"):
        return 1.0  # rewards in [0, 1]
    if env.sequence == "custom":
        return max(max(map(max, env.data)) - min(map(min, env.data)), 1e-6)
    return 2.0 * _sup_abs(env)


def _uniform(env: Environment) -> Policy:
    if _is_bandit(env):
        return Uniform(arms=env.num_actions)
    return OnlineUniform(dim=env.dim, domain=env.domain)


# name -> (fits(env), constructor(env) -> Policy).
_ENTRIES: dict[str, tuple[Callable[[Environment], bool], Callable[[Environment], Policy]]] = {
    "ucb": (_is_bandit, lambda env: UCB(arms=env.num_actions, c=_ucb_c(env))),
    "thompson": (_is_bandit, _thompson),
    "gamma_thompson": (
        lambda env: _is_bandit(env) and getattr(env, "reward", None) == "gamma",
        lambda env: GammaThompson(arms=env.num_actions, shape=env.gamma_shape),
    ),
    "greedy": (_is_bandit, lambda env: Greedy(arms=env.num_actions)),
    "epsilon_greedy": (
        _is_bandit,
        lambda env: EpsilonGreedy(
            arms=env.num_actions,
            epsilon=min(1.0, (env.num_actions * math.log(max(env.horizon, 2)) / env.horizon) ** (1 / 3)),
        ),
    ),
    "bayes_ucb": (_is_bandit, lambda env: BayesUCB(arms=env.num_actions, horizon=env.horizon, prior=_arm_prior(env))),
    "kg": (
        _is_bandit,
        lambda env: KnowledgeGradient(arms=env.num_actions, horizon=env.horizon, prior=_arm_prior(env)),
    ),
    "exp3": (_is_bandit, lambda env: Exp3(arms=env.num_actions, horizon=env.horizon)),
    "uniform": (lambda env: True, _uniform),
    "ftrl": (lambda env: _domain(env) == "ball", _ftrl),
    "hedge": (
        lambda env: _domain(env) == "simplex",
        lambda env: Hedge(dim=env.dim, horizon=env.horizon, reward_range=_hedge_range(env)),
    ),
    "hedge_anytime": (
        lambda env: _domain(env) == "simplex",
        lambda env: Hedge(dim=env.dim, horizon=None, reward_range=_hedge_range(env)),
    ),
    "ftl": (lambda env: env.feedback == FULL, lambda env: FollowTheLeader(env.dim, env.domain, env.radius)),
    "sw_ucb": (
        _is_bandit,
        lambda env: SlidingWindowUCB(
            arms=env.num_actions, window=default_window(env.horizon, _breakpoints(env)), c=0.6 * _b_squared(env)
        ),
    ),
    "discounted_ucb": (
        _is_bandit,
        lambda env: DiscountedUCB(
            arms=env.num_actions, gamma=default_discount(env.horizon, _breakpoints(env)), c=2.4 * _b_squared(env)
        ),
    ),
    "discounted_thompson": (
        _is_bandit,
        lambda env: DiscountedThompson(
            arms=env.num_actions,
            gamma=default_discount(env.horizon, _breakpoints(env)),
            noise_std=_noise_std(env),
            prior_mean=_prior(env)[0],
            prior_std=_prior(env)[1],
        ),
    ),
}

# name -> constructor(env) -> Policy (constructors assume the env fits; use make_policy).
POLICIES: dict[str, Callable[[Environment], Policy]] = {name: build for name, (_, build) in _ENTRIES.items()}


def policy_names(env: Environment | None = None) -> list[str]:
    """The registry's names, sorted; only those that fit ``env`` when given."""
    return sorted(name for name, (fits, _) in _ENTRIES.items() if env is None or fits(env))


def make_policy(name: str, env: Environment) -> Policy:
    """The baseline called ``name``, configured for ``env``.

    Raises ``ValueError("policy: must be one of …")`` if ``name`` is unknown or does
    not fit ``env`` (e.g. ``ftrl`` on a bandit, ``hedge`` on the ball).
    """
    valid = policy_names(env)
    if name not in valid:
        where = "" if name not in _ENTRIES else f" for {type(env).__name__}"
        raise ValueError(f"policy: must be one of {', '.join(valid)}{where} (got {name!r})")
    policy = POLICIES[name](env)
    check_compatible(env, policy)
    return policy


__all__ = [
    "POLICIES",
    "make_policy",
    "policy_names",
    "UCB",
    "GammaThompson",
    "Greedy",
    "EpsilonGreedy",
    "Exp3",
    "Uniform",
    "GaussianThompson",
    "BetaThompson",
    "ArmPrior",
    "BayesUCB",
    "KnowledgeGradient",
    "FTRL",
    "Hedge",
    "FollowTheLeader",
    "OnlineUniform",
    "SlidingWindowUCB",
    "DiscountedUCB",
    "DiscountedThompson",
]
