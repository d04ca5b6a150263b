"""What best-of-L selection optimises, measured: diagnostics of RMFT on the LSA (``theory/no_regret.md`` §11).

RMFT ranks rollouts by pseudo-regret, whose minimiser over ``map_Π(η S)`` need not be
``η*`` (:func:`pseudo_regret_curve`, :func:`pseudo_regret_and_loss`); one exact RMFT step
inside the structured family shows where the loop moves ``η*`` (:func:`one_step_map`).
With independent rewards, best-of-L selection also picks *histories*: the kept rollouts
are those whose reward noise happened to point along ``μ`` early on (the selection tilt,
§2); :func:`selection_tilt` measures it, and with shared rewards it is exactly zero.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from rmft_jax import checks
from rmft_jax.regret import static_regret
from rmft_jax.rmft import select_lowest
from rmft_jax.rollout import rollout_tasks, sample_tasks
from rmft_jax.theory.induced import induced_policies
from rmft_jax.theory.loss import family_loss, pointwise_loss
from rmft_jax.domain import to_domain
from rmft_jax.theory.model import lsa_outputs
from rmft_jax.theory.rmft_lsa import LSARunConfig, training_env
from rmft_jax.theory.setting import TheorySetting, make_labels, sample_batch
from rmft_jax.types import Array, PyTree


@functools.partial(jax.jit, static_argnames=("setting", "batch"))
def pseudo_regret_curve(etas: Array, key: Array, setting: TheorySetting, batch: int) -> tuple[Array, Array]:
    """Mean final pseudo-regret and loss-for-theory of ``map_Π(η S)`` for each ``η`` (common random numbers).

    Returns ``(regret (len(etas),), loss (len(etas),))``: the selection ranks by the first,
    the loss-for-theory (pseudo labels) is the second; their minimisers need not agree.
    """
    mu, R = sample_batch(key, setting, batch)
    y = jax.vmap(lambda m, r: make_labels(m, r, setting.replace(labels="pseudo")))(mu, R)

    def at(eta):
        pi = jax.vmap(lambda r: induced_policies(r, eta, setting.domain, setting.radius))(R)
        means = jnp.broadcast_to(mu[:, None, :], R.shape)
        reg = jax.vmap(lambda m, p: static_regret(m, p, setting.domain, setting.radius)[-1])(means, pi)
        loss = jax.vmap(lambda r, yy: family_loss(eta, r, yy, setting.domain, setting.radius))(R, y)
        return jnp.mean(reg), jnp.mean(loss)

    return jax.lax.map(at, etas)


@functools.partial(jax.jit, static_argnames=("setting", "rollouts", "keep", "batch", "shared_rewards"))
def one_step_map(eta: Array, key: Array, setting: TheorySetting, rollouts: int, keep: int, explore_std: float,
                 batch: int, shared_rewards: bool = False) -> Array:
    """One exact RMFT step inside the structured family ``map_Π(η S)``: ``T(η)``.

    Roll out ``map_Π(η S_{t−1} + σ_x ξ_t)`` ``rollouts`` times on each of ``batch`` tasks
    (each rollout its own rewards, or with ``shared_rewards`` one reward sequence per task,
    as :func:`rmft_jax.rollout.rollout_tasks` does), keep the
    ``keep`` of lowest pseudo-regret, and return the ``η'`` minimising the SFT loss
    ``ℓ(map_Π(η' S), π^kept)`` over a log grid on ``[η/4, 4η]`` (resolution 0.7 %). A fixed point
    of RMFT that is the theory's needs ``T(η*) = η*``; ``T(η*) > η*`` means RMFT leaves η* upwards.
    """
    d, T, dom = setting.dim, setting.horizon, setting.domain
    k1, k2, k3 = jax.random.split(key, 3)
    mu = setting.mean_scale * jax.random.normal(k1, (batch, 1, 1, d))
    R = mu + setting.noise * jax.random.normal(k2, (batch, 1 if shared_rewards else rollouts, T, d))
    R = jnp.broadcast_to(R, (batch, rollouts, T, d))
    S = jnp.cumsum(R, axis=2) - R
    pi = to_domain(eta * S + explore_std * jax.random.normal(k3, R.shape), dom, setting.radius)
    means = jnp.broadcast_to(mu, R.shape)
    reg = jax.vmap(jax.vmap(lambda m, p: static_regret(m, p, dom, setting.radius)[-1]))(means, pi)
    idx = jax.lax.top_k(-reg, keep)[1][:, :, None, None]
    S_k = jnp.take_along_axis(S, idx, axis=1)
    pi_k = jnp.take_along_axis(pi, idx, axis=1)
    grid = eta * jnp.exp(jnp.linspace(jnp.log(0.25), jnp.log(4.0), 201))
    losses = jax.lax.map(lambda e: jnp.mean(pointwise_loss(e * S_k, pi_k, dom, setting.radius)), grid)
    return grid[jnp.argmin(losses)]


@functools.partial(jax.jit, static_argnames=("cfg", "tasks", "rounds"))
def selection_tilt(params: PyTree, key: Array, cfg: LSARunConfig, tasks: int, rounds: int = 5) -> tuple[Array, Array]:
    """What best-of-L selection does to the *histories*: the reward noise of kept vs all rollouts.

    One RMFT selection step of ``cfg`` (its ranking, ``L``, ``k``, ``σ_x`` and reward sharing)
    with the policy ``params`` on ``tasks`` fresh tasks. For rollout ``l`` of task ``m``,
    ``along[m, l] = (1/rounds) Σ_{t ≤ rounds} ⟨R_t − μ, μ/‖μ‖⟩``: its mean reward noise along
    ``μ`` in the first ``rounds`` rounds (``N(0, σ²/rounds)`` for a rollout chosen blindly).
    With independent rewards the kept rollouts are biased towards positive values (the
    selection tilt of ``theory/no_regret.md`` §2); with shared rewards the ``L`` values of a
    task are the same number and the kept ones cannot differ. :func:`tilt_summary` reduces.

    Returns:
      ``along`` ``(tasks, L)`` and ``idx`` ``(tasks, k)``, the kept rollouts (as
      :func:`rmft_jax.rmft.select_lowest` picks them).
    """
    if checks.integer("rounds", rounds, 1) > cfg.horizon:
        checks.fail("rounds", f"<= the horizon {cfg.horizon}", rounds)
    env = training_env(cfg.setting())
    k_task, k_roll = jax.random.split(key)
    batch = sample_tasks(env, k_task, tasks)
    traj = rollout_tasks(env, cfg.policy(), k_roll, batch, cfg.rollouts, params, cfg.shared_rewards)
    idx = select_lowest(traj.regret[..., -1], cfg.keep)
    mu = batch.means[:, 0, :]  # (M, d): the stochastic family's mean is the same every round
    unit = mu / jnp.linalg.norm(mu, axis=-1, keepdims=True)
    eps = traj.feedback[:, :, :rounds, :] - mu[:, None, None, :]
    along = jnp.mean(jnp.einsum("mltd,md->mlt", eps, unit), axis=-1)
    return along, idx


def tilt_summary(along: Array, idx: Array) -> dict[str, float]:
    """Means of :func:`selection_tilt`'s ``along`` over kept, all and unselected rollouts (float64).

    ``tilt = mean_m (mean_kept − mean_all)`` with ``tilt_se`` its standard error over
    tasks, and ``gap = mean_m (mean_kept − mean_unselected)`` (``nan`` when ``k = L``).
    Computed in float64 on the host, where the mean of equal float32 numbers is that
    number exactly, so shared rewards give ``tilt = gap = 0`` exactly, not to rounding.
    """
    a = np.asarray(along, np.float64)
    idx = np.asarray(idx)
    if a.ndim != 2 or idx.ndim != 2 or idx.shape[0] != a.shape[0]:
        checks.fail("along, idx", "shaped (M, L) and (M, k)", (a.shape, idx.shape))
    m, n = a.shape
    kept = np.take_along_axis(a, idx, axis=1).mean(axis=1)
    all_ = a.mean(axis=1)
    rest = np.ones(a.shape, bool)
    np.put_along_axis(rest, idx, False, axis=1)
    k_rest = rest.sum(axis=1)
    unsel = np.where(k_rest > 0, (a * rest).sum(axis=1) / np.maximum(k_rest, 1), np.nan)
    diff = kept - all_
    return {
        "kept": float(kept.mean()), "all": float(all_.mean()), "unselected": float(unsel.mean()),
        "tilt": float(diff.mean()), "tilt_se": float(diff.std(ddof=1) / np.sqrt(m)) if m > 1 else float("nan"),
        "gap": float((kept - unsel).mean()), "tasks": m, "rollouts": n,
    }


@functools.partial(jax.jit, static_argnames=("setting", "batch"))
def pseudo_regret_and_loss(params: PyTree, key: Array, setting: TheorySetting, batch: int):
    """Loss-for-theory (pseudo labels) and mean final pseudo-regret of the noise-free LSA policy."""
    mu, R = sample_batch(key, setting, batch)
    y = jax.vmap(lambda m, r: make_labels(m, r, setting.replace(labels="pseudo")))(mu, R)
    g = jax.vmap(lambda r: lsa_outputs(params, r))(R)
    pi = to_domain(g, setting.domain, setting.radius)
    loss = jnp.mean(pointwise_loss(g, y, setting.domain, setting.radius))
    means = jnp.broadcast_to(mu[:, None, :], R.shape)
    reg = jax.vmap(lambda m, p: static_regret(m, p, setting.domain, setting.radius)[-1])(means, pi)
    return loss, jnp.mean(reg)
