"""The induced algorithm ``π_t = map_Π(η Σ_{s<t} R_s)``: its regret bound and its regret, measured.

FTRL with the regulariser ``‖x‖²/(2η)`` on the ball, Hedge on the simplex
(``theory/no_regret.md`` §6): closed forms for thousands of sequences at once, and the
regret at ``η*(T)`` on the training distribution, trends and the adversarial
oscillating sequence, with the growth exponent and trend tests of :mod:`rmft_jax.metrics`.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from rmft_jax.envs import make_env
from rmft_jax.metrics import fit_growth_exponent, trend_test
from rmft_jax.regret import static_regret
from rmft_jax.domain import to_domain
from rmft_jax.theory.setting import TheorySetting
from rmft_jax.types import Array


def induced_policies(rewards: Array, eta: Array, domain: str, radius: float = 1.0) -> Array:
    """The induced algorithm ``π_t = map_Π(η Σ_{s<t} R_s)``, ``(T, d)`` from ``(T, d)``.

    On the ball this is FTRL with regulariser ``‖x‖²/(2η)`` (lazy projected online
    gradient ascent); on the simplex it is Hedge (FTRL with the entropy ``/η``): the
    same algorithms as :class:`rmft_jax.policies.online.FTRL` and ``Hedge`` with a fixed
    ``eta`` (a test checks it), written here in closed form, without a scan, because the
    theory differentiates through ``map_Π`` and evaluates thousands of sequences at once.
    """
    S = jnp.cumsum(rewards, axis=0) - rewards
    return to_domain(eta * S, domain, radius)


def regret_bound(rewards: Array, eta: Array, domain: str, radius: float = 1.0) -> Array:
    """Regret bound of the induced algorithm for every prefix, valid on *any* sequence (§6).

    Ball (FTRL, ``‖x‖²/(2η)``): ``R_Π²/(2η) + (η/2) Σ_{s≤t} ‖R_s‖²``.
    Simplex (Hedge): ``ln d/η + (η/8) Σ_{s≤t} (max_i R_{s,i} − min_i R_{s,i})²``.
    Returns ``(T,)``.
    """
    if domain == "ball":
        return radius**2 / (2 * eta) + 0.5 * eta * jnp.cumsum(jnp.sum(rewards**2, axis=-1))
    span = jnp.max(rewards, axis=-1) - jnp.min(rewards, axis=-1)
    return math.log(rewards.shape[-1]) / eta + eta / 8.0 * jnp.cumsum(span**2)


FAMILIES = ("stochastic", "alternating", "random_sign", "linear_trend", "sine_trend", "oscillating")


def oscillating_sequence(horizon: int, dim: int) -> np.ndarray:
    """``R_1 = e_1/2``, then ``R_t = (−1)^{t+1} e_1``: the leader is always wrong (worst case of FTRL with a fixed η)."""
    r = np.zeros((horizon, dim))
    r[:, 0] = (-1.0) ** np.arange(horizon)
    r[0, 0] = 0.5
    return r


@functools.partial(jax.jit, static_argnames=("env", "runs"))
def _realise(env, key: Array, runs: int) -> Array:
    def one(k):
        k1, k2 = jax.random.split(k)
        return env.realize(k2, env.sample_task(k1)).xi

    return jax.vmap(one)(jax.random.split(key, runs))


def family_sequences(setting: TheorySetting, family: str, horizon: int, runs: int, seed: int = 0) -> Array:
    """``(runs, horizon, d)`` reward sequences of one family, from the registry's ``fol-ball``/``fol-simplex``.

    ``stochastic`` is the training distribution; the trends use ``noise = 0.1``;
    ``oscillating`` (:func:`oscillating_sequence`) is deterministic and repeated.
    """
    if family == "oscillating":
        return jnp.broadcast_to(jnp.asarray(oscillating_sequence(horizon, setting.dim), jnp.float32), (runs, horizon, setting.dim))
    kw = {"noise": setting.noise, "mean_scale": setting.mean_scale} if family == "stochastic" else {"noise": 0.1}
    env = make_env(f"fol-{setting.domain}", dim=setting.dim, horizon=horizon, radius=setting.radius, sequence=family, **kw)
    return _realise(env, jax.random.key(seed, impl="rbg"), runs)


@functools.partial(jax.jit, static_argnames=("domain",))
def _regret_and_bound(R, eta, domain: str, radius: float):
    def one(r):
        pol = induced_policies(r, eta, domain, radius)
        return static_regret(r, pol, domain, radius), regret_bound(r, eta, domain, radius)

    return jax.vmap(one)(R)


def measure_regret(setting: TheorySetting, etas: dict[int, float], families=FAMILIES, runs: int = 200, seed: int = 0) -> dict:
    """Regret of the induced algorithm ``map_Π(η S)`` at each horizon in ``etas`` (``{T: η}``).

    For each family and horizon: the mean regret at ``T`` (over ``runs`` sequences), its
    standard error, the mean bound of :func:`regret_bound`, and on the mean regret curve the
    growth exponent ``β̂`` with ``p_reg`` (``H0: β >= 1``) and the trend test ``p_trend``
    (:mod:`rmft_jax.metrics`).
    """
    out: dict[str, dict] = {}
    t_max = max(etas)
    for fi, fam in enumerate(families):
        out[fam] = {}
        # One draw at the longest horizon; shorter horizons use its prefixes, so every
        # family compiles once. (For linear_trend a prefix is a trend of the same slope
        # per round, observed for T rounds.)
        R_all = family_sequences(setting, fam, t_max, runs, seed=1000 * seed + fi)
        for T, eta in sorted(etas.items()):
            reg, bnd = _regret_and_bound(R_all[:, :T], jnp.float32(eta), setting.domain, setting.radius)
            curve = np.asarray(reg, np.float64).mean(0)
            beta, p_reg = fit_growth_exponent(curve)
            final = np.asarray(reg[:, -1], np.float64)
            out[fam][str(T)] = {
                "eta": float(eta),
                "regret": float(final.mean()),
                "regret_se": float(final.std(ddof=1) / math.sqrt(len(final))) if len(final) > 1 else 0.0,
                "bound": float(np.asarray(bnd[:, -1]).mean()),
                "beta_hat": beta,
                "p_reg": p_reg,
                "p_trend": trend_test(curve),
                "max_regret_over_bound": float(np.max(np.asarray(reg) - np.asarray(bnd))),
            }
    return out


def across_horizon_exponent(by_horizon: dict) -> float:
    """Least-squares slope of ``log Regret_T`` on ``log T`` over the horizons of one family.

    This is the theorem's growth rate: each horizon uses its own minimizer ``η*(T)``, so
    the within-curve ``β̂`` (one fixed ``η`` for ``t = 1..T``) can differ from it.
    """
    T = np.array([float(t) for t in by_horizon])
    r = np.array([v["regret"] for v in by_horizon.values()])
    if len(T) < 2 or np.any(r <= 0):
        return float("nan")
    return float(np.polyfit(np.log(T), np.log(r), 1)[0])
