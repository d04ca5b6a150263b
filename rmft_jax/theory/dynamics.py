"""Parameter dynamics (Figure 1): gradient descent of every LSA parameter on the loss-for-theory.

From several random initialisations, trained in parallel, recording the effective
learning rate, the effective matrix and the terms that must vanish
(:func:`rmft_jax.theory.model.effective`) along the way (``theory/no_regret.md`` §8).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from rmft_jax import checks
from rmft_jax.theory.loss import loss_for_theory, sequence_loss
from rmft_jax.theory.model import effective, init_lsa
from rmft_jax.theory.setting import TheorySetting, make_labels, sample_batch
from rmft_jax.types import Array


@dataclasses.dataclass(frozen=True)
class DynamicsConfig:
    """Gradient descent on the loss-for-theory with fresh samples each step.

    Attributes:
      steps: optimisation steps (static).
      batch: fresh environments per step (static).
      num_inits: random initialisations, trained in parallel (``vmap``).
      lr: Adam's peak learning rate; cosine-decayed to ``lr·final_lr_frac`` so that
        the last iterates are not dominated by gradient noise.
      init_scale: standard deviation of the i.i.d. Gaussian initialisation.
      log_every: record the effective quantities every this many steps.
      seed: the root of all randomness.
    """

    steps: int = 3000
    batch: int = 256
    num_inits: int = 5
    lr: float = 0.01
    final_lr_frac: float = 0.01
    init_scale: float = 0.2
    log_every: int = 10
    seed: int = 0

    def __post_init__(self):
        checks.validate(
            self,
            steps=checks.at_least(1),
            batch=checks.at_least(1),
            num_inits=checks.at_least(1),
            log_every=checks.at_least(1),
            seed=checks.at_least(0),
            lr=checks.number(low=0.0, low_open=True),
            final_lr_frac=checks.number(low=0.0, high=1.0),
            init_scale=checks.number(low=0.0, low_open=True),
        )


@functools.partial(jax.jit, static_argnames=("setting", "config"))
def _train(key: Array, setting: TheorySetting, config: DynamicsConfig):
    opt = optax.adam(optax.cosine_decay_schedule(config.lr, config.steps, alpha=config.final_lr_frac))
    grad = jax.value_and_grad(lambda p, k: loss_for_theory(p, k, setting, config.batch))

    def one(key):
        k_init, k_data = jax.random.split(key)
        params = init_lsa(k_init, setting.dim, scale=config.init_scale)

        def step(carry, k):
            p, s = carry
            loss, g = grad(p, k)
            upd, s = opt.update(g, s, p)
            return (optax.apply_updates(p, upd), s), (loss, effective(p, setting.domain))

        keys = jax.random.split(k_data, config.steps)
        (p, _), (losses, eff) = jax.lax.scan(step, (params, opt.init(params)), keys)
        # the final loss on a large fresh batch, to rank the initialisations' end points
        mu, R = sample_batch(jax.random.fold_in(key, 7), setting, 16 * config.batch)
        y = jax.vmap(lambda m, r: make_labels(m, r, setting))(mu, R)
        per = jax.vmap(lambda r, yy: sequence_loss(p, r, yy, setting.domain, setting.radius))(R, y)
        final_loss = jnp.stack([per.mean(), per.std() / jnp.sqrt(per.shape[0])])
        return p, losses, eff, effective(p, setting.domain), final_loss

    return jax.vmap(one)(jax.random.split(key, config.num_inits))


def train_dynamics(setting: TheorySetting, config: DynamicsConfig) -> dict[str, Any]:
    """Train every LSA parameter from ``config.num_inits`` random initialisations (Figure 1).

    Returns a dict of NumPy arrays (leading axis: initialisation): ``step (S,)``,
    ``loss (I, S)``, ``eta (I, S)``, ``diag (I, S, d)``, ``offdiag (I, S, d(d−1))`` (entries of
    the visible effective matrix), ``offdiag_norm``, ``quad_norm``, ``drift_norm``,
    ``vanishing_norm`` ``(I, S)``, the final values of the four norms and ``eta`` ``(I,)``,
    and ``params`` (the final parameters, a dict of ``(I, …)`` arrays).
    """
    # rbg keys: XLA's RngBitGenerator compiles several times faster than threefry on CPU,
    # which is most of the quick mode's budget; its streams are ample for Monte Carlo.
    params, losses, eff, final, final_loss = _train(jax.random.key(config.seed, impl="rbg"), setting, config)
    idx = np.arange(0, config.steps, config.log_every)
    m = np.asarray(eff.matrix)[:, idx]
    d = setting.dim
    off_mask = ~np.eye(d, dtype=bool)
    # smooth the per-step loss over the logging window for the plot
    loss = np.asarray(losses).reshape(config.num_inits, -1)
    loss_s = np.stack([np.convolve(l, np.ones(config.log_every) / config.log_every, "same")[idx] for l in loss])
    return {
        "step": idx,
        "loss": loss_s,
        "eta": np.asarray(eff.eta)[:, idx],
        "diag": np.diagonal(m, axis1=-2, axis2=-1),
        "offdiag": m[..., off_mask],
        "offdiag_norm": np.asarray(eff.offdiag_norm)[:, idx],
        "quad_norm": np.asarray(eff.quad_norm)[:, idx],
        "drift_norm": np.asarray(eff.drift_norm)[:, idx],
        "vanishing_norm": np.asarray(eff.vanishing_norm)[:, idx],
        "final": {k: np.asarray(getattr(final, k)) for k in ("eta", "offdiag_norm", "quad_norm", "drift_norm", "vanishing_norm")}
        | {"loss": np.asarray(final_loss)[:, 0], "loss_se": np.asarray(final_loss)[:, 1]},
        "params": jax.tree.map(np.asarray, params),
    }
