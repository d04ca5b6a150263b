"""A causal Transformer over numerical tokens, with incremental (key/value-cache) decoding.

The model of Iterative RMFT (paper §3, §5): a decoder-only, pre-LayerNorm Transformer
whose input is a sequence of numerical tokens (no text, no vocabulary) and whose
output at round ``t`` is the decision for round ``t``:

* **bandit** (``K`` arms): the token read before round ``t`` is
  ``[one_hot(a_{t-1}) (K), r_{t-1}, start_flag]`` (``bandit_token = "shared"``) or
  ``[one_hot(a_{t-1}), r_{t-1}·one_hot(a_{t-1}), start_flag]`` (``"per_arm"``, the
  reward in the pulled arm's slot), and the head gives ``K`` logits;
* **online** (dimension ``d``): the token is ``[R_{t-1} (d), start_flag]`` and the head
  gives ``y_t ∈ R^d``, mapped onto ``Π`` by :func:`rmft_jax.domain.to_domain` (projection onto the
  ball, softmax onto the simplex).

Round 1 reads a *start token* (zeros but ``start_flag = 1``), so ``T`` rounds read
exactly ``T`` tokens: :func:`bandit_tokens` / :func:`online_tokens` build the whole
teacher-forced sequence from a trajectory, and :meth:`Transformer.decode` reads one
token at a time against a static-length cache.

Position handling: **no positional encoding ("NoPE")**. The quick trials of
``RMFT-NOTES.md`` used it, and it is the choice that is defined at every length:

* learned absolute embeddings have no entry past the training horizon, and
  sinusoidal or rotary encodings feed the model phases it never saw in training;
  a model trained at ``T = 25`` and run at ``T = 400`` would read out-of-distribution
  inputs at 94% of its rounds;
* with causal attention, the model still knows *order* (each token only sees its
  past) and can recover an implicit clock: the attention weight it puts on the
  unique start token shrinks like ``1/t``;
* for the tasks here the sufficient statistics (arm counts and reward sums; the
  cumulative reward vector) are permutation-invariant sums over the history, which
  attention (an average over the past) represents without any position signal —
  for bandits only with the ``"per_arm"`` token: an average of ``"shared"`` tokens
  holds the arm frequencies and the *overall* mean reward, and per-arm reward
  sums then need attention weights that single out one arm (the exploration
  ablation, ``rmft figure exploration``, measures what this costs).

So nothing in the network depends on the absolute index except through the data;
serving a longer horizon only needs a longer cache (up to ``max_horizon``, the
length the configuration certifies, which bounds memory).

Functional use: :func:`init_model` splits the module once (``nnx.split``); the
pure functions :func:`apply` and :func:`decode` merge it back inside ``jit`` with the
parameters as a traced pytree (``nnx.State``), so optimisers and ``vmap`` see plain
arrays.

The untrained **base model** of the paper is the randomly initialised network:
LeCun-normal kernels, zero biases, unit LayerNorm scales, and an output head with
``N(0, 0.02²)`` kernels, so the base bandit policy is close to (but not exactly)
uniform over arms and the base online policy is close to the centre of ``Π``.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
from flax import nnx, struct

from rmft_jax import checks
from rmft_jax.domain import BALL_MAPS, DOMAINS
from rmft_jax.types import BANDIT, FEEDBACKS, FULL, Array, PyTree

# Bandit token layouts (see bandit_tokens): the reward in one shared slot, or in the pulled arm's slot.
BANDIT_TOKENS = ("shared", "per_arm")
# Masked attention logits: finite (not -inf) so the masked softmax stays NaN-free
# under autodiff; exp() of it underflows to exactly 0.
_MASKED = -1e30


@dataclasses.dataclass(frozen=True)
class TransformerConfig:
    """Static shape of the model (frozen, validated, hashable).

    Attributes:
      feedback: ``"bandit"`` (:data:`~rmft_jax.types.BANDIT`: a categorical head over
        ``actions`` arms) or ``"full"`` (:data:`~rmft_jax.types.FULL`, online learning:
        a ``d = actions`` vector mapped onto ``Π``), the feedback of the environment it plays.
      actions: arms ``K`` or dimension ``d``, ``>= 2``.
      layers: Transformer blocks, ``>= 1`` (1 is the single-layer model).
      heads: attention heads, ``>= 1``, dividing ``width``.
      width: residual-stream width.
      mlp_ratio: hidden width of each MLP as a multiple of ``width``.
      max_horizon: the longest sequence (horizon) the model serves; caches and
        full passes longer than this are refused.
      domain: ``"ball"`` (Env I) or ``"simplex"`` (Env II); online only (ignored for bandits).
      radius: radius of the ball ``Π``, ``> 0`` (online, ``ball`` only).
      ball_map: how ``y`` is mapped onto the ball (:data:`BALL_MAPS`, online, ``ball``
        only): ``"project"``, the Euclidean projection, or ``"tanh"``,
        ``R tanh(‖y‖/R) y/‖y‖``, which maps ``R^d`` one-to-one onto the open ball,
        so a played point determines the output that played it
        (:func:`rmft_jax.domain.preimage`).
      bandit_token: layout of a bandit token (:func:`bandit_tokens`): ``"shared"``,
        ``[one_hot(a), r, start]``, or ``"per_arm"``, ``[one_hot(a), r·one_hot(a), start]``,
        the reward written in the pulled arm's slot (bandit only).
    """

    feedback: str = BANDIT
    actions: int = 5
    layers: int = 2
    heads: int = 2
    width: int = 64
    mlp_ratio: int = 4
    max_horizon: int = 1024
    domain: str = "ball"
    radius: float = 1.0
    bandit_token: str = "shared"
    ball_map: str = "project"

    def __post_init__(self):
        checks.validate(
            self,
            feedback=checks.one_of(FEEDBACKS),
            actions=checks.at_least(2),
            layers=checks.at_least(1),
            heads=checks.at_least(1),
            width=checks.at_least(1),
            mlp_ratio=checks.at_least(1),
            max_horizon=checks.at_least(1),
            domain=checks.one_of(DOMAINS),
            radius=checks.number(low=0.0, low_open=True),
            bandit_token=checks.one_of(BANDIT_TOKENS),
            ball_map=checks.one_of(BALL_MAPS),
        )
        if self.width % self.heads:
            checks.fail("heads", f"a divisor of width = {self.width}", self.heads)

    @property
    def token_dim(self) -> int:
        """``K + 2`` (bandit, shared reward slot), ``2K + 1`` (bandit, per-arm reward slots) or ``d + 1`` (online)."""
        if self.feedback == FULL:
            return self.actions + 1
        return self.actions + 2 if self.bandit_token == "shared" else 2 * self.actions + 1

    @property
    def head_dim(self) -> int:
        return self.width // self.heads

    def check_horizon(self, horizon: int) -> None:
        """Raise the standard error if ``horizon`` exceeds what the model serves."""
        if horizon > self.max_horizon:
            checks.fail("horizon", f"<= max_horizon = {self.max_horizon}", horizon)


# --- tokens ------------------------------------------------------------------------


def bandit_tokens(actions: Array, rewards: Array, arms: int, layout: str = "shared") -> Array:
    """The teacher-forced input of a bandit trajectory.

    Args:
      actions: ``(T,)`` int arms ``a_1..a_T``.
      rewards: ``(T,)`` rewards ``r_1..r_T``.
      arms: ``K``.
      layout: ``"shared"`` or ``"per_arm"`` (:func:`bandit_token`).
    Returns:
      ``(T, token_dim)``: row ``t`` (0-based) is the token read before deciding round
      ``t + 1``: the start token (zeros, ``start_flag = 1``) for ``t = 0``, else the
      token of the previous round, :func:`bandit_token` ``(a_t, r_t)``. The last
      round's action and reward are not read: nothing is decided after them.
    """
    prev = jax.vmap(lambda a, r: bandit_token(a, r, arms, layout))(actions[:-1], rewards[:-1])
    return jnp.concatenate([start_token(prev.shape[1])[None], prev], axis=0)


def bandit_token(action: Array, reward: Array, arms: int, layout: str = "shared") -> Array:
    """One bandit token: ``[one_hot(a), r, 0]`` (``"shared"``, ``K + 2``) or
    ``[one_hot(a), r·one_hot(a), 0]`` (``"per_arm"``, ``2K + 1``).

    With the per-arm layout an average over the history (uniform attention) holds
    every arm's pull frequency *and* reward sum, ``(n_a/t, S_a/t)``; with the shared
    slot it holds the frequencies and the overall mean reward only, and per-arm
    reward statistics need attention weights that pick out one arm.
    """
    onehot = jax.nn.one_hot(action, arms)
    r = jnp.reshape(reward, (1,)).astype(jnp.float32)
    slot = r if layout == "shared" else r * onehot
    return jnp.concatenate([onehot, slot, jnp.zeros((1,))])


def online_tokens(rewards: Array) -> Array:
    """The teacher-forced input of an online-learning trajectory.

    Args:
      rewards: ``(T, d)`` reward vectors ``R_1..R_T``.
    Returns:
      ``(T, d + 1)``: the start token, then ``[R_{t-1}, 0]``.
    """
    T, d = rewards.shape
    prev = jnp.concatenate([rewards[:-1].astype(jnp.float32), jnp.zeros((T - 1, 1))], axis=1)
    return jnp.concatenate([start_token(d + 1)[None], prev], axis=0)


def online_token(reward: Array) -> Array:
    """One online token ``[R, 0]``, ``(d + 1,)``."""
    return jnp.concatenate([reward.astype(jnp.float32), jnp.zeros((1,))])


def start_token(token_dim: int) -> Array:
    """The token read before round 1: zeros with ``start_flag = 1`` (last entry)."""
    return jnp.zeros((token_dim,)).at[-1].set(1.0)


# --- the network ---------------------------------------------------------------------


@struct.dataclass
class KVCache:
    """Keys and values of every layer, static length ``L``.

    One array per layer (a tuple, not a stacked array): each decode step then
    updates each buffer in place, where slicing and re-stacking a
    ``(layers, ...)`` array would copy the whole cache every step.

    Attributes:
      keys: ``layers`` arrays ``(heads, L, head_dim)``.
      values: ``layers`` arrays ``(heads, L, head_dim)``.
    """

    keys: tuple[Array, ...]
    values: tuple[Array, ...]


def _masked_softmax(scores: Array, mask: Array) -> Array:
    return jax.nn.softmax(jnp.where(mask, scores, _MASKED), axis=-1)


class Attention(nnx.Module):
    """Multi-head causal self-attention (fused QKV projection)."""

    def __init__(self, width: int, heads: int, *, rngs: nnx.Rngs):
        self.heads = heads
        self.qkv = nnx.Linear(width, 3 * width, rngs=rngs)
        self.out = nnx.Linear(width, width, rngs=rngs)

    def _split(self, x: Array) -> tuple[Array, Array, Array]:
        """``(..., W)`` -> three ``(..., heads, head_dim)``."""
        q, k, v = jnp.split(self.qkv(x), 3, axis=-1)
        shape = x.shape[:-1] + (self.heads, -1)
        return q.reshape(shape), k.reshape(shape), v.reshape(shape)

    def __call__(self, x: Array) -> Array:
        """Full causal pass, ``(T, W) -> (T, W)``."""
        T = x.shape[0]
        q, k, v = self._split(x)  # (T, h, dh)
        scores = jnp.einsum("qhd,khd->hqk", q, k) / math.sqrt(q.shape[-1])
        causal = jnp.tril(jnp.ones((T, T), bool))
        att = _masked_softmax(scores, causal)
        return self.out(jnp.einsum("hqk,khd->qhd", att, v).reshape(T, -1))

    def decode(self, x: Array, keys: Array, values: Array, pos: Array) -> tuple[Array, Array, Array]:
        """One token ``x`` ``(W,)`` at position ``pos`` against ``(h, L, dh)`` caches."""
        q, k, v = self._split(x)  # (h, dh)
        # An out-of-range pos is clamped by dynamic_update_slice (the policies rely on it
        # for the discarded update after the last round).
        keys = jax.lax.dynamic_update_slice(keys, k[:, None, :], (0, pos, 0))
        values = jax.lax.dynamic_update_slice(values, v[:, None, :], (0, pos, 0))
        # All L static slots are read and the unfilled ones masked: slicing the
        # filled prefix by bucket (lax.switch over static lengths) measured slower on
        # CPU, as the branches copy their cache operands.
        scores = jnp.einsum("hd,hld->hl", q, keys) / math.sqrt(q.shape[-1])
        att = _masked_softmax(scores, jnp.arange(keys.shape[1]) <= pos)
        return self.out(jnp.einsum("hl,hld->hd", att, values).reshape(-1)), keys, values


class Block(nnx.Module):
    """Pre-LN block: ``x + attn(LN(x))``, then ``x + MLP(LN(x))`` (tanh-GELU MLP)."""

    def __init__(self, cfg: TransformerConfig, *, rngs: nnx.Rngs):
        w = cfg.width
        # Two-pass variance: the NumPy reference and the full/incremental paths agree
        # to rounding, not to the cancellation error of E[x²] − E[x]².
        self.ln1 = nnx.LayerNorm(w, use_fast_variance=False, rngs=rngs)
        self.attn = Attention(w, cfg.heads, rngs=rngs)
        self.ln2 = nnx.LayerNorm(w, use_fast_variance=False, rngs=rngs)
        self.mlp_in = nnx.Linear(w, cfg.mlp_ratio * w, rngs=rngs)
        self.mlp_out = nnx.Linear(cfg.mlp_ratio * w, w, rngs=rngs)

    def mlp(self, x: Array) -> Array:
        return x + self.mlp_out(jax.nn.gelu(self.mlp_in(self.ln2(x)), approximate=True))

    def __call__(self, x: Array) -> Array:
        return self.mlp(x + self.attn(self.ln1(x)))

    def decode(self, x: Array, keys: Array, values: Array, pos: Array) -> tuple[Array, Array, Array]:
        a, keys, values = self.attn.decode(self.ln1(x), keys, values, pos)
        return self.mlp(x + a), keys, values


class Transformer(nnx.Module):
    """Causal pre-LN Transformer with a numerical embedding and a decision head.

    ``__call__`` is the full causal (teacher-forced) pass; ``init_cache`` /
    ``decode`` the incremental one. Both compute the same function: output ``t``
    depends on tokens ``0..t`` only.
    """

    def __init__(self, cfg: TransformerConfig, *, rngs: nnx.Rngs):
        self.cfg = cfg
        self.embed = nnx.Linear(cfg.token_dim, cfg.width, rngs=rngs)
        self.blocks = nnx.List([Block(cfg, rngs=rngs) for _ in range(cfg.layers)])
        self.ln_f = nnx.LayerNorm(cfg.width, use_fast_variance=False, rngs=rngs)
        # A small head keeps the base policy near uniform / near the centre of Π.
        self.head = nnx.Linear(cfg.width, cfg.actions, kernel_init=nnx.initializers.normal(0.02), rngs=rngs)

    def __call__(self, tokens: Array) -> Array:
        """Full causal pass.

        Args:
          tokens: ``(T, token_dim)`` with ``T <= max_horizon``.
        Returns:
          ``(T, actions)``: logits (bandit) or ``y_t`` (online) for every round.
        """
        cfg = self.cfg
        if tokens.ndim != 2 or tokens.shape[1] != cfg.token_dim:
            checks.fail("tokens", f"an array of shape (T, {cfg.token_dim})", f"shape {tokens.shape}")
        cfg.check_horizon(tokens.shape[0])
        x = self.embed(tokens)
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))

    def init_cache(self, length: int) -> KVCache:
        """An empty cache for ``length <= max_horizon`` tokens."""
        return init_cache(self.cfg, length)

    def decode(self, cache: KVCache, token: Array, pos: Array) -> tuple[Array, KVCache]:
        """Read ``token`` ``(token_dim,)`` at position ``pos`` (int scalar, may be traced).

        Writes its keys and values at ``pos`` and attends over positions ``<= pos``.
        Returns ``(out (actions,), cache)`` with ``out`` equal to row ``pos`` of the
        full pass over the tokens written so far.
        """
        x = self.embed(token)
        keys, values = [], []
        for i, block in enumerate(self.blocks):
            x, k, v = block.decode(x, cache.keys[i], cache.values[i], pos)
            keys.append(k)
            values.append(v)
        return self.head(self.ln_f(x)), KVCache(tuple(keys), tuple(values))


# --- functional interface -----------------------------------------------------------


def init_cache(cfg: TransformerConfig, length: int) -> KVCache:
    """Zeros, one ``(heads, length, head_dim)`` buffer per layer; ``length <= max_horizon``."""
    length = checks.integer("length", length, 1)
    cfg.check_horizon(length)
    zeros = tuple(jnp.zeros((cfg.heads, length, cfg.head_dim)) for _ in range(cfg.layers))
    return KVCache(zeros, zeros)


def init_model(cfg: TransformerConfig, key: Array) -> tuple[nnx.GraphDef, nnx.State]:
    """A freshly initialised (base) model, split into ``(graphdef, params)``.

    ``graphdef`` is hashable and equal across keys for one ``cfg`` (a static jit
    argument); ``params`` is the pytree of weights.
    """
    if not isinstance(cfg, TransformerConfig):
        checks.fail("cfg", "a TransformerConfig", type(cfg).__name__)
    return nnx.split(Transformer(cfg, rngs=nnx.Rngs(params=key)))


@functools.lru_cache(maxsize=None)
def graphdef_for(cfg: TransformerConfig) -> nnx.GraphDef:
    """The graphdef of ``cfg``'s model without initialising any weights."""
    abstract = nnx.eval_shape(lambda: Transformer(cfg, rngs=nnx.Rngs(0)))
    return nnx.graphdef(abstract)


def apply(graphdef: nnx.GraphDef, params: PyTree, tokens: Array) -> Array:
    """Pure full causal pass: ``(T, token_dim) -> (T, actions)``."""
    return nnx.merge(graphdef, params)(tokens)


def decode(graphdef: nnx.GraphDef, params: PyTree, cache: KVCache, token: Array, pos: Array) -> tuple[Array, KVCache]:
    """Pure incremental step: ``(out (actions,), cache)`` (see :meth:`Transformer.decode`)."""
    return nnx.merge(graphdef, params).decode(cache, token, pos)
