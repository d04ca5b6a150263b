"""Training paradigms side by side: one model, one task prior, one budget, one evaluation.

Each paradigm trains the numerical Transformer of Iterative RMFT from the same base
weights, on the same task instances, for the same number of environment rounds
and optimiser steps (:mod:`rmft_jax.paradigms.common`); only the training signal
differs:

============================ ===================================================================
``rmft``                     Iterative RMFT as the project ships it (:func:`rmft_jax.rmft.train_scan`)
``dpt``                      optimal-action labels on DPT's random histories (:mod:`.dpt`)
``ad``, ``ad_ucb``           imitation of Thompson sampling's / UCB's actions (:mod:`.distill`)
``regret_loss``              expected pseudo-regret of the softmax policy (:mod:`.regret_loss`)
``policy_gradient``          REINFORCE with a leave-one-out group baseline, reward −regret (:mod:`.policy_gradient`)
``policy_gradient_kl``       the same with a KL penalty to the base model
============================ ===================================================================

:func:`trainer` gives the pure ``(learner, key) -> (params, metrics)`` of a
paradigm; :func:`rmft_jax.paradigms.common.train_seeds` runs it over seeds in one program.
"""

from __future__ import annotations

import functools

from rmft_jax.paradigms import distill, dpt, policy_gradient, regret_loss
from rmft_jax.paradigms.common import Paradigm, budget, train, train_seeds
from rmft_jax.rmft import train_scan

PARADIGMS: dict[str, Paradigm | None] = {
    "rmft": None,  # the project's own loop
    "dpt": dpt.PARADIGM,
    "ad": distill.THOMPSON,
    "ad_ucb": distill.UCB,
    "regret_loss": regret_loss.PARADIGM,
    "policy_gradient": policy_gradient.PARADIGM,
    "policy_gradient_kl": policy_gradient.WITH_KL,
}
CORE = ("rmft", "dpt", "ad", "regret_loss", "policy_gradient")


def _rmft(env, cfg, learner, key):
    state, metrics = train_scan(env, cfg, learner, key)
    return state.params, metrics


def trainer(name: str, env, cfg):
    """The pure trainer ``(learner, key) -> (params, metrics)`` of paradigm ``name`` for ``env`` and ``cfg``."""
    if name not in PARADIGMS:
        raise ValueError(f"paradigm: must be one of {', '.join(PARADIGMS)} (got {name!r})")
    if PARADIGMS[name] is None:
        return functools.partial(_rmft, env, cfg)
    return lambda learner, key: train(env, cfg, learner, PARADIGMS[name], key)


__all__ = ["PARADIGMS", "CORE", "Paradigm", "budget", "train", "train_seeds", "trainer"]
