"""The arm-equivariant model as a :class:`rmft_jax.types.Policy`, and its SFT log-likelihood.

One set of weights (:mod:`rmft_jax.models.equivariant`) plays any number of arms: the
policy names the ``K`` it plays (its :class:`~rmft_jax.types.ActionSpace`), the weights
travel as ``params`` and do not depend on it. Rollouts decode one round at a time
(``O(T + K)`` attention reads per round); the log-probabilities SFT fits come from the
teacher-forced pass, the same function to float rounding.

Sampling and SFT are consistent: ``act`` draws ``argmax(logits/τ + Gumbel)``, a sample of
``softmax(logits/τ)``, and :func:`log_probs` returns ``log_softmax(logits/τ)``.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import chex
import jax
import jax.numpy as jnp
from flax import nnx

from rmft_jax import checks
from rmft_jax.models import equivariant as eqm
from rmft_jax.models.equivariant import EquivariantConfig, EquivariantState
from rmft_jax.models.policy import decode_segments
from rmft_jax.types import BANDIT, ActionSpace, Array, Policy, PyTree


@dataclasses.dataclass(frozen=True)
class EquivariantBanditPolicy(Policy):
    """The arm-equivariant Transformer as a ``K``-armed bandit policy.

    Attributes:
      cfg: the model's :class:`EquivariantConfig`.
      arms: ``K >= 2``, the arms this policy plays (the weights serve any).
      graphdef: the model's graphdef (default: built from ``cfg``).
      horizon: the longest rollout this policy serves (default ``cfg.max_horizon``);
        the cache of pulled tokens holds this many.
      temperature: sampling temperature ``τ >= 0``; ``0`` is greedy.
      decode_segment: ``0`` (the default) keeps one cache of the rollout horizon; ``n > 0``
        grows it in segments from ``n`` slots (:func:`rmft_jax.models.policy.decode_segments`),
        so a round costs what its filled prefix needs: the same outputs to float rounding,
        about twice as fast at ``T = 1000``. Evaluation uses it; training keeps ``0``, which
        its committed runs were made with. Ignored with ``time_query = "pooled"`` (no cache).
    """

    feedback: ClassVar[str] = BANDIT

    cfg: EquivariantConfig
    arms: int
    graphdef: nnx.GraphDef | None = None
    horizon: int | None = None
    temperature: float = 1.0
    decode_segment: int = 0

    def __post_init__(self):
        if not isinstance(self.cfg, EquivariantConfig):
            checks.fail("cfg", "an EquivariantConfig", type(self.cfg).__name__)
        if self.graphdef is None:
            object.__setattr__(self, "graphdef", eqm.graphdef_for(self.cfg))
        checks.validate(
            self,
            arms=checks.at_least(2),
            horizon=lambda field, value: self.cfg.max_horizon if value is None else checks.integer(field, value, 1),
            temperature=checks.number(low=0.0),
            decode_segment=checks.at_least(0),
        )
        self.cfg.check_horizon(self.horizon)

    @property
    def action_space(self) -> ActionSpace:
        return ActionSpace(self.feedback, self.arms)

    def _check_rollout(self, horizon: int) -> None:
        if horizon > self.horizon:
            checks.fail("horizon", f"<= the policy's cache horizon = {self.horizon}", horizon)

    def noise(self, key: Array, horizon: int) -> Array:
        """Standard Gumbel noise ``(T, K)`` (``(T, 0)`` when greedy)."""
        self._check_rollout(horizon)
        if self.temperature == 0.0:
            return jnp.zeros((horizon, 0))
        return jax.random.gumbel(key, (horizon, self.arms))

    def init(self, params: PyTree, length: int | None = None) -> EquivariantState:
        return eqm.init_decode(self.graphdef, params, self.arms, self.horizon if length is None else length)

    def segments(self, horizon: int) -> tuple[tuple[int, int], ...] | None:
        """Cache segments ``(end_round, length)`` when ``decode_segment > 0`` and the model keeps a cache."""
        if not self.decode_segment or self.cfg.time_query == "pooled":
            return None
        return decode_segments(horizon, self.decode_segment)

    def resize(self, state: EquivariantState, length: int) -> EquivariantState:
        """The state with its cache of pulled tokens cut or padded to ``length`` slots (filled slots kept)."""
        n = state.labels.shape[0]
        if length <= n:
            return dataclasses.replace(state, keys=state.keys[:, :length], values=state.values[:, :length],
                                       labels=state.labels[:length])
        pad = length - n
        return dataclasses.replace(
            state, keys=jnp.pad(state.keys, ((0, 0), (0, pad), (0, 0))),
            values=jnp.pad(state.values, ((0, 0), (0, pad), (0, 0))),
            labels=jnp.pad(state.labels, (0, pad), constant_values=-1))

    def state_batch_axes(self, state: EquivariantState) -> EquivariantState:
        """``vmap`` axes of a batch of rollouts' states: ``pos`` is shared (``None``).

        Every rollout of a batch reads its round's outcome at the same position, so the
        cache writes are one ``dynamic_update_slice`` of the batched cache instead of a
        scatter (as for :class:`rmft_jax.models.policy.BanditTransformerPolicy`); the
        values are the same.
        """
        return dataclasses.replace(jax.tree.map(lambda _: 0, state), pos=None)

    def act(self, params: PyTree, state: EquivariantState, noise: Array) -> Array:
        if self.temperature == 0.0:
            return jnp.argmax(state.out).astype(jnp.int32)
        return jnp.argmax(state.out / self.temperature + noise).astype(jnp.int32)

    def update(self, params: PyTree, state: EquivariantState, action: Array, feedback: Array) -> EquivariantState:
        return eqm.decode(self.graphdef, params, state, action, feedback)


def log_probs(
    graphdef: nnx.GraphDef, params: PyTree, actions: Array, rewards: Array, arms: int, temperature: float = 1.0
) -> Array:
    """``(T, K)`` ``log_softmax(logits_t / τ)`` of every round, teacher-forced (what ``act`` samples from).

    Args:
      actions: ``(T,)`` int arms played; rewards: ``(T,)`` rewards earned; arms: ``K`` (static).
      temperature: ``τ > 0`` of the sampling policy.
    """
    if temperature <= 0:
        checks.fail("temperature", "> 0 for log-probabilities (0 is greedy, no density)", temperature)
    chex.assert_rank([actions, rewards], 1)
    chex.assert_equal_shape([actions, rewards])
    logits = eqm.apply(graphdef, params, actions, rewards, arms)
    return jax.nn.log_softmax(logits / temperature, axis=-1)


def sft_loss(graphdef: nnx.GraphDef, arms: int, temperature: float = 1.0, entropy_bonus: float = 0.0):
    """The RMFT SFT loss ``(params, actions (B, T), rewards (B, T)) -> (scalar, aux)`` at ``K = arms``:
    the kept actions' mean negative log-likelihood, minus ``entropy_bonus`` times the policy's
    mean entropy (:class:`rmft_jax.rmft.Learner`'s ``loss``)."""

    def loss(params, actions, rewards):
        logp = jax.vmap(lambda a, r: log_probs(graphdef, params, a, r, arms, temperature))(actions, rewards)
        nll = -jnp.mean(jnp.take_along_axis(logp, actions[..., None].astype(jnp.int32), axis=-1))
        entropy = -jnp.mean(jnp.sum(jnp.exp(logp) * logp, axis=-1))
        return nll - entropy_bonus * entropy, {"nll": nll, "entropy": entropy}

    return loss
