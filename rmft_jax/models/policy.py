"""The Transformer as a :class:`rmft_jax.types.Policy`, and the matching SFT objectives.

Rollouts (``rmft_jax.rollout``) drive the model one token per round through its
key/value cache, so a rollout of ``T`` rounds costs ``T`` decode steps:

    init:    decode(start token, pos 0)              -> out_1
    round t: act from out_t (+ the policy's bulk noise)
             update: decode(token(a_t, feedback_t), pos t) -> out_{t+1}

A decode step attends over every slot of its (static-length) cache, so the
engine grows the cache in segments (:func:`decode_segments`): after the first
segment no step attends over more than 1.5 times its filled prefix; the outputs
are those of one cache of the whole horizon, to float rounding.

The policies are frozen, hashable dataclasses (valid static ``jit`` arguments: the
``nnx.GraphDef`` hashes and compares by value); the weights travel as ``params``
(the ``nnx.State`` from :func:`rmft_jax.models.transformer.init_model`).

Sampling and the SFT objectives are consistent by construction:

* bandit: ``act`` draws ``argmax(logits/τ + Gumbel)``, i.e. a sample of
  ``softmax(logits/τ)``; :func:`bandit_log_probs` returns ``log_softmax(logits/τ)``
  of the teacher-forced pass, and :func:`bandit_nll` its mean negative
  log-likelihood on the played arms. ``τ = 0`` is greedy ``argmax(logits)``.
* online: ``act`` plays ``map_Π(y_t + σ ε_t)``; :func:`online_outputs` returns the
  noise-free ``map_Π(y_t)`` of the teacher-forced pass (what ``act`` plays at
  ``σ = 0``), and :func:`online_policy_loss` compares it with the played policies.
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import chex
import jax
import jax.numpy as jnp
from flax import nnx, struct

from rmft_jax import checks
from rmft_jax.domain import DOMAINS, preimage, to_domain
from rmft_jax.models import transformer as tfm
from rmft_jax.models.transformer import KVCache, TransformerConfig
from rmft_jax.types import BANDIT, FULL, ActionSpace, Array, Policy, PyTree


@struct.dataclass
class DecodeState:
    """Policy state between rounds.

    Attributes:
      cache: the key/value cache (per layer ``(heads, horizon, head_dim)``).
      pos: ``()`` int32, position of the last token written.
      out: ``(actions,)`` the model output for the coming round (logits or ``y_t``).
    """

    cache: KVCache
    pos: Array
    out: Array


# Decode segments: the first cache holds SEGMENT_FIRST slots, each next one
# SEGMENT_GROWTH times more (rounded up), the last the horizon.
SEGMENT_FIRST = 32
SEGMENT_GROWTH = 1.5
# The per-round activations one CPU tile of rollouts may hold (see batch_tile).
TILE_BYTES = 512 * 1024


def decode_segments(horizon: int, first: int = SEGMENT_FIRST) -> tuple[tuple[int, int], ...]:
    """How a rollout of ``horizon`` rounds grows its key/value cache: ``((end_round, length), ...)``.

    A decode step attends over every slot of its cache (static shapes), so a
    single cache of ``horizon`` slots makes every step pay for the whole horizon:
    ``T²`` slot reads per rollout where the filled prefixes hold ``T²/2``. In
    segments, rounds ``[previous end, end)`` run on a cache of ``length`` slots:
    the first ``first`` slots, each next cache ``SEGMENT_GROWTH = 1.5`` times longer
    (rounded up), the last ``horizon``. A non-final segment of cache length ``n``
    ends at round ``n - 1``, since the update after its last round writes slot
    ``n - 1``. Then no step attends over more than 1.5 times its filled prefix
    (``first`` slots at the start) and the number of segments, each a separately
    compiled scan, grows like ``log T``. At ``T = 100``: caches of 32, 48, 72 and
    100 slots, 64% of the single cache's slot reads. ``first = 0``, or a horizon
    of at most ``first``, gives one segment.
    """
    horizon = checks.integer("horizon", horizon, 1)
    first = checks.integer("decode_segment", first, 0)
    plan, length = [], first
    if first:
        while length < horizon:
            plan.append((length - 1, length))
            length = math.ceil(length * SEGMENT_GROWTH)
    plan.append((horizon, horizon))
    return tuple(plan)


def _fit_slots(x: Array, length: int) -> Array:
    """``x`` ``(..., L, head_dim)`` cut or zero-padded along the slot axis to ``length``."""
    n = x.shape[-2]
    if length <= n:
        return x[..., :length, :]
    pad = [(0, 0)] * x.ndim
    pad[-2] = (0, length - n)
    return jnp.pad(x, pad)


class _TransformerPolicy(Policy):
    """Shared plumbing: validation, the start token, one decode step per update."""

    cfg: TransformerConfig
    graphdef: nnx.GraphDef | None
    horizon: int | None

    def _validate(self):
        if not isinstance(self.cfg, TransformerConfig):
            checks.fail("cfg", "a TransformerConfig", type(self.cfg).__name__)
        if self.cfg.feedback != self.feedback:
            checks.fail("cfg.feedback", f"'{self.feedback}' for {type(self).__name__}", self.cfg.feedback)
        # Derived: the graph of the model cfg describes, unless given.
        if self.graphdef is None:
            object.__setattr__(self, "graphdef", tfm.graphdef_for(self.cfg))
        checks.validate(
            self,
            # the cache horizon; None: the model's max_horizon
            horizon=lambda field, value: self.cfg.max_horizon if value is None else checks.integer(field, value, 1),
            decode_segment=checks.at_least(0),
            tile=checks.optional(checks.at_least(0)),
        )
        self.cfg.check_horizon(self.horizon)

    def _check_rollout(self, horizon: int) -> None:
        # Runs while tracing: a too-long rollout fails before any compilation.
        self.cfg.check_horizon(horizon)
        if horizon > self.horizon:
            checks.fail("horizon", f"<= the policy's cache horizon = {self.horizon}", horizon)

    def _token(self, action: Array, feedback: Array) -> Array:
        raise NotImplementedError

    def init(self, params: PyTree, length: int | None = None) -> DecodeState:
        """The state after reading the start token, with a cache of ``length`` slots (default ``horizon``)."""
        cache = tfm.init_cache(self.cfg, self.horizon if length is None else length)
        pos = jnp.zeros((), jnp.int32)
        out, cache = tfm.decode(self.graphdef, params, cache, tfm.start_token(self.cfg.token_dim), pos)
        return DecodeState(cache, pos, out)

    @property
    def batch_tile(self) -> int:
        """Rollouts per tile of a batched rollout on CPU (``Policy.batch_tile``, used by :func:`rmft_jax.rollout._batch_tile`).

        The ``tile`` field when set (``0``: no tiles); by default the largest power
        of two (at least 64) whose MLP activations, ``tile × mlp_ratio·width``
        floats, fit in TILE_BYTES = 512 KiB, so a decode step's elementwise passes
        stay in a core's cache: 512 rollouts at width 64 (``benchmarks/README.md``
        measures the gain).
        """
        if self.tile is not None:
            return self.tile
        floats = TILE_BYTES // 4 // (self.cfg.mlp_ratio * self.cfg.width)
        return max(64, 1 << max(floats, 1).bit_length() - 1)

    def segments(self, horizon: int) -> tuple[tuple[int, int], ...]:
        """The rollout engine's segments ``(end_round, cache_length)`` (see :func:`decode_segments`)."""
        return decode_segments(horizon, self.decode_segment)

    def resize(self, state: DecodeState, length: int) -> DecodeState:
        """The state with its cache cut or zero-padded to ``length`` slots (filled slots kept)."""
        return dataclasses.replace(state, cache=jax.tree.map(lambda x: _fit_slots(x, length), state.cache))

    def state_batch_axes(self, state: DecodeState) -> DecodeState:
        """``vmap`` axes of the state in a batch of rollouts: ``pos`` is shared (``None``).

        Every rollout of a batch writes its cache at the same position, so the
        engine keeps ``pos`` a scalar; the cache update is then one
        ``dynamic_update_slice`` of the batched cache instead of a scatter.
        """
        return DecodeState(cache=jax.tree.map(lambda _: 0, state.cache), pos=None, out=0)

    def update(self, params: PyTree, state: DecodeState, action: Array, feedback: Array) -> DecodeState:
        # After the last round pos + 1 == horizon: dynamic_update_slice clamps the
        # write to the last slot and the output is never used, so no branch is needed.
        pos = state.pos + 1
        out, cache = tfm.decode(self.graphdef, params, state.cache, self._token(action, feedback), pos)
        return DecodeState(cache, pos, out)


@dataclasses.dataclass(frozen=True)
class BanditTransformerPolicy(_TransformerPolicy):
    """The Transformer as a K-armed bandit policy (bandit feedback).

    Attributes:
      cfg: a ``feedback='bandit'`` :class:`TransformerConfig`.
      graphdef: the model's graphdef (default: built from ``cfg``).
      horizon: the longest rollout this policy serves (default
        ``cfg.max_horizon``); a rollout sizes the cache to its own horizon.
      temperature: sampling temperature ``τ >= 0``; ``0`` is greedy.
      decode_segment: cache length of the first decode segment, ``>= 0``: longer
        rollouts grow the cache between segments (:func:`decode_segments`), so the
        cost of a step follows its filled prefix; ``0`` keeps one cache of the
        rollout horizon.
      tile: rollouts per tile when a batch runs on one CPU device
        (:func:`rmft_jax.rollout._batch_tile`): ``None`` chooses by the model's
        width (:attr:`batch_tile`), ``0`` runs the batch at once.

    ``decode_segment`` and ``tile`` change shapes, not the algorithm: outputs agree
    to float rounding (XLA:CPU rounds matrix products differently at other
    sizes), which a greedy policy (``τ = 0``) can turn into a different action
    where its two best logits are within rounding of each other.
    """

    feedback: ClassVar[str] = BANDIT

    cfg: TransformerConfig
    graphdef: nnx.GraphDef | None = None
    horizon: int | None = None
    temperature: float = 1.0
    decode_segment: int = SEGMENT_FIRST
    tile: int | None = None

    def __post_init__(self):
        self._validate()
        checks.validate(self, temperature=checks.number(low=0.0))

    @property
    def arms(self) -> int:
        return self.cfg.actions

    @property
    def action_space(self) -> ActionSpace:
        return ActionSpace(self.feedback, self.cfg.actions)

    def noise(self, key: Array, horizon: int) -> Array:
        """Standard Gumbel noise ``(T, K)`` (``(T, 0)`` when greedy)."""
        self._check_rollout(horizon)
        if self.temperature == 0.0:
            return jnp.zeros((horizon, 0))
        return jax.random.gumbel(key, (horizon, self.arms))

    def act(self, params: PyTree, state: DecodeState, noise: Array) -> Array:
        if self.temperature == 0.0:
            return jnp.argmax(state.out).astype(jnp.int32)
        return jnp.argmax(state.out / self.temperature + noise).astype(jnp.int32)

    def _token(self, action: Array, feedback: Array) -> Array:
        return tfm.bandit_token(action, feedback, self.arms, self.cfg.bandit_token)


@dataclasses.dataclass(frozen=True)
class OnlineTransformerPolicy(_TransformerPolicy):
    """The Transformer as a full-information online learner over ``Π``.

    Attributes:
      cfg: a ``feedback='full'`` :class:`TransformerConfig` (its ``domain``, ``radius``
        define ``Π``).
      graphdef, horizon: as for :class:`BanditTransformerPolicy`.
      explore_std: ``σ >= 0`` of the Gaussian exploration added to ``y_t`` before
        the map onto ``Π`` during rollouts; ``0`` is deterministic.
      decode_segment, tile: as for :class:`BanditTransformerPolicy` (outputs agree to float rounding).
    """

    feedback: ClassVar[str] = FULL

    cfg: TransformerConfig
    graphdef: nnx.GraphDef | None = None
    horizon: int | None = None
    explore_std: float = 0.1
    decode_segment: int = SEGMENT_FIRST
    tile: int | None = None

    def __post_init__(self):
        self._validate()
        checks.validate(self, explore_std=checks.number(low=0.0))

    @property
    def dim(self) -> int:
        return self.cfg.actions

    @property
    def domain(self) -> str:
        return self.cfg.domain

    @property
    def radius(self) -> float:
        return self.cfg.radius

    @property
    def action_space(self) -> ActionSpace:
        """``d`` coordinates on the config's ``Π`` (its domain and radius must be the environment's)."""
        return ActionSpace(self.feedback, self.cfg.actions, self.cfg.domain, self.cfg.radius)

    def noise(self, key: Array, horizon: int) -> Array:
        """Standard normal noise ``(T, d)`` (``(T, 0)`` when deterministic)."""
        self._check_rollout(horizon)
        if self.explore_std == 0.0:
            return jnp.zeros((horizon, 0))
        return jax.random.normal(key, (horizon, self.dim))

    def act(self, params: PyTree, state: DecodeState, noise: Array) -> Array:
        y = state.out if self.explore_std == 0.0 else state.out + self.explore_std * noise
        return to_domain(y, self.cfg.domain, self.cfg.radius, self.cfg.ball_map)

    def _token(self, action: Array, feedback: Array) -> Array:
        return tfm.online_token(feedback)


@struct.dataclass
class PrefixState:
    """State of :class:`BanditPrefixPolicy`: the token history ``(horizon, token_dim)``."""

    tokens: Array
    pos: Array
    out: Array


@dataclasses.dataclass(frozen=True)
class BanditPrefixPolicy(BanditTransformerPolicy):
    """Reference/benchmark only: the same policy recomputing the full prefix each round.

    Keeps the (zero-padded) token history and runs the full causal pass over all
    ``horizon`` slots at every round, reading row ``pos``; causal masking makes the
    padding irrelevant, so it samples exactly what :class:`BanditTransformerPolicy`
    samples, at ``O(T)`` full passes per rollout instead of ``O(T)`` token steps.
    """

    def segments(self, horizon: int) -> None:
        """One scan (the default of ``Policy``): the token history is not a cache to grow."""
        return None

    def state_batch_axes(self, state: PrefixState) -> PrefixState:
        return PrefixState(tokens=0, pos=None, out=0)

    def init(self, params: PyTree, length: int | None = None) -> PrefixState:
        tokens = jnp.zeros((self.horizon, self.cfg.token_dim)).at[0].set(tfm.start_token(self.cfg.token_dim))
        pos = jnp.zeros((), jnp.int32)
        return PrefixState(tokens, pos, tfm.apply(self.graphdef, params, tokens)[0])

    def update(self, params: PyTree, state: PrefixState, action: Array, feedback: Array) -> PrefixState:
        pos = jnp.minimum(state.pos + 1, self.horizon - 1)
        tokens = jax.lax.dynamic_update_slice(state.tokens, self._token(action, feedback)[None], (pos, 0))
        out = jax.lax.dynamic_index_in_dim(tfm.apply(self.graphdef, params, tokens), pos, keepdims=False)
        return PrefixState(tokens, pos, out)


# --- SFT objectives (unbatched; vmap over trajectories) ------------------------------


def bandit_log_probs(graphdef: nnx.GraphDef, params: PyTree, actions: Array, rewards: Array, temperature: float = 1.0) -> Array:
    """Log-probabilities of the sampling policy at every round, teacher-forced.

    Args:
      graphdef, params: the model (``feedback='bandit'``).
      actions: ``(T,)`` int arms played; rewards: ``(T,)`` rewards earned.
      temperature: ``τ > 0`` of the sampling policy.
    Returns:
      ``(T, K)`` ``log_softmax(logits_t / τ)``, with ``logits_t`` the model output
      after reading rounds ``1..t-1``: the distribution ``act`` samples round ``t`` from.
    """
    if temperature <= 0:
        checks.fail("temperature", "> 0 for log-probabilities (0 is greedy, no density)", temperature)
    chex.assert_rank([actions, rewards], 1)
    chex.assert_equal_shape([actions, rewards])
    model = nnx.merge(graphdef, params)
    logits = model(tfm.bandit_tokens(actions, rewards, model.cfg.actions, model.cfg.bandit_token))
    return jax.nn.log_softmax(logits / temperature, axis=-1)


def bandit_nll(graphdef: nnx.GraphDef, params: PyTree, actions: Array, rewards: Array, temperature: float = 1.0) -> Array:
    """Teacher-forced cross-entropy on the played arms: mean over rounds of
    ``−log π_θ(a_t | history_{t−1})``, a scalar (the bandit SFT loss)."""
    logp = bandit_log_probs(graphdef, params, actions, rewards, temperature)
    return -jnp.mean(jnp.take_along_axis(logp, actions[:, None].astype(jnp.int32), axis=1))


def online_outputs(graphdef: nnx.GraphDef, params: PyTree, rewards: Array) -> Array:
    """The noise-free policy ``map_Π(y_t)`` at every round, teacher-forced.

    Args:
      rewards: ``(T, d)`` the reward vectors ``R_1..R_T`` of a trajectory.
    Returns:
      ``(T, d)`` points of ``Π``: what ``OnlineTransformerPolicy.act`` plays at
      ``explore_std = 0`` on that reward history.
    """
    chex.assert_rank(rewards, 2)
    model = nnx.merge(graphdef, params)
    y = model(tfm.online_tokens(rewards))
    return to_domain(y, model.cfg.domain, model.cfg.radius, model.cfg.ball_map)


def online_raw_outputs(graphdef: nnx.GraphDef, params: PyTree, rewards: Array) -> Array:
    """The noise-free model output ``y_t`` before the map onto ``Π``, every round, teacher-forced: ``(T, d)``."""
    chex.assert_rank(rewards, 2)
    model = nnx.merge(graphdef, params)
    return model(tfm.online_tokens(rewards))


def online_output_loss(raw: Array, target: Array, cfg: tfm.TransformerConfig) -> Array:
    """The online SFT loss on outputs: mean over rounds of ``‖y_t − y*_t‖²``, a scalar.

    ``y*_t`` is the output that played the kept point ``target_t``
    (:func:`rmft_jax.domain.preimage`): during a rollout that is
    ``y_t + σ ε_t``, so this is ``−2σ² ×`` the log-likelihood (up to a constant) of the
    played output under the exploration policy ``N(y_t, σ² I)``. On the simplex both
    sides are centred (softmax ignores shifts along ``1``); on the ball it needs the
    one-to-one ``ball_map = "tanh"``.

    Args:
      raw: ``(..., T, d)`` the model's ``y_t`` (:func:`online_raw_outputs`).
      target: ``(..., T, d)`` the played points of ``Π`` of the kept trajectories
        (the mean runs over every leading axis).
      cfg: the model's config (its ``domain``, ``radius``, ``ball_map``).
    """
    chex.assert_equal_shape([raw, target])
    played = preimage(target, cfg.domain, cfg.radius, cfg.ball_map)
    if cfg.domain == "simplex":
        raw = raw - jnp.mean(raw, axis=-1, keepdims=True)
    return jnp.mean(jnp.sum((raw - played) ** 2, axis=-1))


def online_policy_loss(pred: Array, target: Array, domain: str) -> Array:
    """The online-learning SFT loss between predicted and played policies, a scalar.

    Args:
      pred: ``(..., T, d)`` the model's ``map_Π(y_t)`` (:func:`online_outputs`).
      target: ``(..., T, d)`` the policies of the kept trajectories (the mean runs
        over every leading axis).
      domain: ``"ball"``: mean over rounds of the squared error ``‖pred − target‖²``;
        ``"simplex"``: mean over rounds of the cross-entropy
        ``H(target, pred) = −Σ_i target_i log pred_i`` (with ``pred = softmax(y)``).
    """
    checks.choice("domain", domain, DOMAINS)
    chex.assert_equal_shape([pred, target])
    if domain == "ball":
        return jnp.mean(jnp.sum((pred - target) ** 2, axis=-1))
    # The floor keeps log finite if softmax underflows; it never binds for |y| < 80.
    return -jnp.mean(jnp.sum(target * jnp.log(jnp.maximum(pred, 1e-30)), axis=-1))
