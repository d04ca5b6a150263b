"""An arm-equivariant, K-agnostic numerical Transformer for bandits (the generalist's model).

The Figure 2 model (:mod:`rmft_jax.models.transformer`) reads one token per round with
``K`` one-hot slots and emits ``K`` logits, so its weights fix ``K``. This model reads
the history as a **(rounds × arms) grid** of numerical tokens and computes one score
per arm with weights shared by every arm, so

* relabelling the arms permutes its policy exactly (every operation is either per
  arm with shared weights, or a symmetric attention over the arms of a round);
* one set of weights runs any ``K >= 2`` (nothing has a size that depends on ``K``).

Tokens: row ``s = 0`` is the start row, ``x[0, a] = [0, 0, 1]`` for every arm; row
``s >= 1`` holds round ``s``'s outcome, ``x[s, a] = [1, r_s, 0]`` for the pulled arm
``a = a_s`` and ``[0, 0, 0]`` for the others. Row ``s`` gives the logits of round ``s + 1``.

One block (a reconstruction of the design trialled in ``RMFT-NOTES.md``, its model M2;
pre-LayerNorm, tanh-GELU MLPs, no positional encoding)::

    x      = embed(token)                         (T, K, W)
    x     += time_attention(LN(x))                causal over rounds, within each arm's stream,
                                                  the same weights for every arm
    x     += MLP(LN(x))
    x     += arm_attention(LN(x))                 full over the arms of the same round
    x     += MLP(LN(x))
    logits = head(LN(x))                          one scalar per (round, arm); softmax over arms

What it reads about time: nothing but the data. The start token's share of an arm's
time attention falls like ``1/(s + 1)`` and the pulled tokens' like ``n_a/(s + 1)``, so
the counts and the round are recoverable from attention weights, as with NoPE; no
absolute index enters, which is what lets it run at horizons it was not trained on.

**Why it is cheap at long horizons.** In an arm's stream every "not pulled" token is
the same vector ``[0, 0, 0]``, so its key, value and (where it is the query) query are
constants of the weights. Hence, exactly:

* the ``n0`` identical null tokens enter any attention as one logit plus ``log n0``;
* the query of a not-pulled arm is one constant vector ``q0`` for every row and every
  arm, so its attention over an arm's pulled tokens is a running (online-softmax)
  sum over that arm's pulls: ``O(K)`` per round to update, ``O(T·K)`` teacher-forced;
* only the pulled arm's query (one per round) attends over its arm's pulled tokens.

With ``time_query = "pooled"`` (one learned query per head for every token) the pulled
arm reads with ``q0`` too: no key/value cache at all, ``O(K)`` per decoded round and
``O(T·K)`` per teacher-forced pass. Otherwise (``"token"``), the teacher-forced pass costs ``O(T²)`` per head (the pulled queries; the dense grid
would cost ``O(K·T²)``), and a decode step ``O(T + K)`` attention reads, with one key/value
cache of the pulled tokens (labelled by arm) shared by all arms. This holds for one block:
past the first block the "not pulled" rows are no longer identical (the arm attention
mixes them), so the model has exactly one block by construction.

The untrained **base model** is the randomly initialised network (LeCun-normal kernels,
zero biases, unit LayerNorm scales, a ``N(0, 0.02²)`` head), whose policy is close to
uniform over arms.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
from flax import nnx, struct

from rmft_jax import checks
from rmft_jax.types import Array, PyTree

TOKEN_DIM = 3  # [pulled, reward·pulled, start]
TIME_QUERIES = ("token", "pooled")
RECENCIES = ("none", "decay")
# Masked or empty logits: finite, so that exp(masked - max) is exactly 0 without NaNs in gradients.
_MASKED = -1e30


@dataclasses.dataclass(frozen=True)
class EquivariantConfig:
    """Static shape of the arm-equivariant model (frozen, validated, hashable).

    The number of arms is *not* a field: one set of weights serves every ``K >= 2``;
    the policy (:class:`rmft_jax.models.equivariant_policy.EquivariantBanditPolicy`)
    names the ``K`` it plays.

    Attributes:
      width: residual-stream width.
      heads: attention heads (time and arm attention alike), dividing ``width``.
      mlp_ratio: hidden width of each MLP as a multiple of ``width``.
      max_horizon: the longest rollout (rounds) the model serves; caches and
        teacher-forced passes longer than this are refused.
      time_query: what the time attention's query is (:data:`TIME_QUERIES`):
        ``"token"``, computed from the arm's token of the row (the pulled arm's
        query depends on its reward, as in a standard Transformer), or ``"pooled"``,
        one learned query per head for every row and arm (attention pooling: each
        arm reads its stream with the same weights whatever it just saw). With
        ``"pooled"`` every read-out is a running softmax, so the model keeps no
        key/value cache: ``O(K)`` per decoded round and ``O(T·K)`` per
        teacher-forced pass, whatever the horizon.
      recency: :data:`RECENCIES`: ``"none"`` (no positional information, the
        generalist's and every model before it), or ``"decay"``: an ALiBi-style bias
        ``−m_h·(s − u)`` on the time-attention logit of row ``u`` read at row ``s``, with
        one learned slope ``m_h = softplus(ρ_h) >= 0`` per head (initialised at
        ``2^{−4−3h}``: memories of about 16, 128, ... rounds; a head can learn ``m → 0``,
        no forgetting). Relative, so still no absolute round enters. Needs
        ``time_query = "pooled"``: with one query for every row the bias factorises,
        and each read-out is a **discounted** running softmax, ``S_s = e^{−m}·S_{s−1} +
        w_s·v_s`` (D-UCB's statistics, with learned weights), still ``O(K)`` per
        decoded round.
    """

    width: int = 32
    heads: int = 2
    mlp_ratio: int = 4
    max_horizon: int = 4096
    time_query: str = "token"
    recency: str = "none"

    def __post_init__(self):
        checks.validate(
            self,
            width=checks.at_least(1),
            heads=checks.at_least(1),
            mlp_ratio=checks.at_least(1),
            max_horizon=checks.at_least(1),
            time_query=checks.one_of(TIME_QUERIES),
            recency=checks.one_of(RECENCIES),
        )
        if self.recency != "none" and self.time_query != "pooled":
            checks.fail("recency", f"'none' unless time_query is 'pooled' (time_query = {self.time_query!r})",
                        self.recency)
        if self.width % self.heads:
            checks.fail("heads", f"a divisor of width = {self.width}", self.heads)

    @property
    def head_dim(self) -> int:
        return self.width // self.heads

    def check_horizon(self, horizon: int) -> None:
        """Raise the standard error if ``horizon`` exceeds what the model serves."""
        if horizon > self.max_horizon:
            checks.fail("horizon", f"<= max_horizon = {self.max_horizon}", horizon)


def pulled_token(reward: Array) -> Array:
    """``[1, r, 0]``, the token of the pulled arm in the row of its round (broadcasts over ``reward``)."""
    r = jnp.asarray(reward, jnp.float32)[..., None]
    return jnp.concatenate([jnp.ones_like(r), r, jnp.zeros_like(r)], axis=-1)


NULL_TOKEN = (0.0, 0.0, 0.0)  # an arm that was not pulled in that round
START_TOKEN = (0.0, 0.0, 1.0)  # every arm's row 0


@struct.dataclass
class Constants:
    """What the weights fix for the two constant tokens: embeddings ``e`` ``(W,)``,
    and for the time attention the not-pulled query ``q0`` and the keys/values of the
    null (``k0, v0``) and start (``ks, vs``) tokens, each ``(heads, head_dim)``."""

    e_null: Array
    e_start: Array
    q0: Array
    k0: Array
    v0: Array
    qs: Array
    ks: Array
    vs: Array


class EquivariantTransformer(nnx.Module):
    """The network; :func:`apply` (teacher-forced) and :func:`decode_step` use it functionally."""

    def __init__(self, cfg: EquivariantConfig, *, rngs: nnx.Rngs):
        w, h = cfg.width, cfg.mlp_ratio * cfg.width
        ln = functools.partial(nnx.LayerNorm, w, use_fast_variance=False, rngs=rngs)
        self.cfg = cfg
        self.embed = nnx.Linear(TOKEN_DIM, w, rngs=rngs)
        self.ln_time = ln()
        self.time_qkv = nnx.Linear(w, 3 * w, rngs=rngs)
        self.time_out = nnx.Linear(w, w, rngs=rngs)
        self.ln_mlp1 = ln()
        self.mlp1_in = nnx.Linear(w, h, rngs=rngs)
        self.mlp1_out = nnx.Linear(h, w, rngs=rngs)
        self.ln_arm = ln()
        self.arm_qkv = nnx.Linear(w, 3 * w, rngs=rngs)
        self.arm_out = nnx.Linear(w, w, rngs=rngs)
        self.ln_mlp2 = ln()
        self.mlp2_in = nnx.Linear(w, h, rngs=rngs)
        self.mlp2_out = nnx.Linear(h, w, rngs=rngs)
        self.ln_f = ln()
        self.head = nnx.Linear(w, 1, kernel_init=nnx.initializers.normal(0.02), rngs=rngs)
        if cfg.recency == "decay":  # softplus(ρ_h) = 2^(-4-3h): the inverse softplus, log(e^m - 1)
            m = 2.0 ** (-4.0 - 3.0 * jnp.arange(cfg.heads, dtype=jnp.float32))
            self.recency_rho = nnx.Param(jnp.log(jnp.expm1(m)))

    def slopes(self) -> Array:
        """``(heads,)`` the recency slopes ``m_h >= 0`` (zeros without ``recency = "decay"``)."""
        if self.cfg.recency == "decay":
            return jax.nn.softplus(self.recency_rho[...])
        return jnp.zeros((self.cfg.heads,))

    # --- pieces ----------------------------------------------------------------------
    def _split_heads(self, qkv: nnx.Linear, x: Array) -> tuple[Array, Array, Array]:
        """``q, k, v`` ``(..., heads, head_dim)`` of the (normalised) residual ``x`` ``(..., W)``."""
        q, k, v = jnp.split(qkv(x), 3, axis=-1)
        shape = x.shape[:-1] + (self.cfg.heads, self.cfg.head_dim)
        return q.reshape(shape), k.reshape(shape), v.reshape(shape)

    def time_qkv_of(self, e: Array) -> tuple[Array, Array, Array]:
        """Time-attention ``q, k, v`` ``(..., heads, head_dim)`` of embeddings ``e`` ``(..., W)``."""
        return self._split_heads(self.time_qkv, self.ln_time(e))

    def constants(self) -> Constants:
        e_null = self.embed(jnp.asarray(NULL_TOKEN))
        e_start = self.embed(jnp.asarray(START_TOKEN))
        q0, k0, v0 = self.time_qkv_of(e_null)
        qs, ks, vs = self.time_qkv_of(e_start)
        return Constants(e_null, e_start, q0, k0, v0, qs, ks, vs)

    def after_time(self, e: Array, attended: Array) -> Array:
        """Logits ``(..., K)`` from each arm's embedding ``e`` ``(..., K, W)`` and its
        time-attention read-out ``attended`` ``(..., K, heads, head_dim)``: the rest of the block."""
        x = e + self.time_out(attended.reshape(attended.shape[:-2] + (-1,)))
        x = x + self.mlp1_out(jax.nn.gelu(self.mlp1_in(self.ln_mlp1(x)), approximate=True))
        q, k, v = self._split_heads(self.arm_qkv, self.ln_arm(x))
        scores = jnp.einsum("...ahd,...bhd->...hab", q, k) / math.sqrt(self.cfg.head_dim)
        mixed = jnp.einsum("...hab,...bhd->...ahd", jax.nn.softmax(scores, axis=-1), v)
        x = x + self.arm_out(mixed.reshape(x.shape))
        x = x + self.mlp2_out(jax.nn.gelu(self.mlp2_in(self.ln_mlp2(x)), approximate=True))
        return self.head(self.ln_f(x))[..., 0]

    # --- the teacher-forced pass ------------------------------------------------------
    def __call__(self, actions: Array, rewards: Array, arms: int) -> Array:
        """Logits ``(T, K)`` of every round of a trajectory, teacher-forced.

        Args:
          actions: ``(T,)`` int arms ``a_1..a_T``; rewards: ``(T,)`` the rewards earned.
          arms: ``K >= 2`` (static).
        Returns:
          ``(T, K)``: row ``t`` (0-based) is the policy's logits for round ``t + 1``, from
          rounds ``1..t``; the last round's outcome is not read.
        """
        T = actions.shape[0]
        self.cfg.check_horizon(T)
        c = self.constants()
        scale = 1.0 / math.sqrt(self.cfg.head_dim)
        first = self.after_time(jnp.broadcast_to(c.e_start, (1, arms, c.e_start.shape[0])),
                                jnp.broadcast_to(c.vs, (1, arms) + c.vs.shape))
        if T == 1:
            return first
        a = actions[:-1].astype(jnp.int32)  # rows s = 1..T-1 read rounds 1..T-1
        e_pull = self.embed(pulled_token(rewards[:-1]))  # (S, W), S = T - 1
        qp, kp, vp = self.time_qkv_of(e_pull)  # (S, h, dh)
        onehot = jax.nn.one_hot(a, arms)  # (S, K)
        rows = jnp.arange(1, T, dtype=jnp.float32)  # s
        nulls = rows[:, None] - jnp.cumsum(onehot, axis=0)  # (S, K): not-pulled rows 1..s of each arm

        # Not-pulled query q0 (one vector for all rows and arms): running sums over each arm's pulls,
        # stabilised by one max per head over every logit the query can meet.
        l_pull = jnp.einsum("hd,shd->sh", c.q0, kp) * scale  # (S, h)
        l_start = jnp.sum(c.q0 * c.ks, -1) * scale  # (h,)
        l_null = jnp.sum(c.q0 * c.k0, -1) * scale
        top = jax.lax.stop_gradient(jnp.maximum(jnp.max(l_pull, axis=0), jnp.maximum(l_start, l_null)))
        w_pull = jnp.exp(l_pull - top)  # (S, h)
        w_start, w_null = jnp.exp(l_start - top), jnp.exp(l_null - top)
        if self.cfg.recency == "decay":
            read_null = self._decayed_reads(c, onehot, w_pull, vp, w_start, w_null)
        else:
            num = jnp.cumsum(onehot[:, :, None, None] * (w_pull[:, :, None] * vp)[:, None], axis=0)  # (S, K, h, dh)
            den = jnp.cumsum(onehot[:, :, None] * w_pull[:, None, :], axis=0)  # (S, K, h)
            num = num + w_start[:, None] * c.vs + nulls[..., None, None] * (w_null[:, None] * c.v0)
            den = den + w_start + nulls[..., None] * w_null
            read_null = num / den[..., None]

        e = jnp.where(onehot[..., None] > 0, e_pull[:, None], c.e_null)  # (S, K, W)
        if self.cfg.time_query == "pooled":  # every arm reads with q0, the pulled one included
            return jnp.concatenate([first, self.after_time(e, read_null)], axis=0)

        # The pulled arm's query (one per row): its arm's pulls so far, the start token and the nulls.
        s_idx = jnp.arange(T - 1)
        same = (a[None, :] == a[:, None]) & (s_idx[None, :] <= s_idx[:, None])  # (S rows, S keys)
        logits = jnp.einsum("shd,uhd->hsu", qp, kp) * scale
        logits = jnp.where(same, logits, _MASKED)
        l_ps = jnp.einsum("shd,hd->hs", qp, c.ks) * scale
        n0 = jnp.take_along_axis(nulls, a[:, None], axis=1)[:, 0]  # (S,)
        l_pn = jnp.where(n0 > 0, jnp.einsum("shd,hd->hs", qp, c.k0) * scale + jnp.log(jnp.maximum(n0, 1.0)), _MASKED)
        att = jax.nn.softmax(jnp.concatenate([logits, l_ps[..., None], l_pn[..., None]], axis=-1), axis=-1)
        read_pull = (
            jnp.einsum("hsu,uhd->shd", att[..., : T - 1], vp)
            + att[..., T - 1].T[..., None] * c.vs
            + att[..., T].T[..., None] * c.v0
        )  # (S, h, dh)

        pulled = onehot[..., None, None] > 0
        attended = jnp.where(pulled, read_pull[:, None], read_null)  # (S, K, h, dh)
        return jnp.concatenate([first, self.after_time(e, attended)], axis=0)


    def _decayed_reads(self, c: Constants, onehot: Array, w_pull: Array, vp: Array, w_start: Array,
                       w_null: Array) -> Array:
        """``(S, K, h, dh)``: each arm's pooled read-out at rows ``1..S`` with the recency decay.

        Row ``u`` of an arm's stream (the start token at ``u = 0``, then its pulled or null
        token) enters the read at row ``s`` with weight ``w_u·e^{−m(s−u)}``: the linear
        recurrence ``S_s = e^{−m}·S_{s−1} + w_s·v_s`` (and the same for the normaliser), run
        as an associative scan. Every term is ``<= 1`` (``w = exp(logit − max)``, ``e^{−m} <= 1``),
        so nothing overflows; forgotten mass underflows to 0.
        """
        S, K = onehot.shape
        h, dh = vp.shape[1:]
        pulled = onehot[:, :, None]  # (S, K, 1)
        b_den = pulled * w_pull[:, None, :] + (1.0 - pulled) * w_null  # (S, K, h)
        b_num = (pulled[..., None] * (w_pull[..., None] * vp)[:, None]
                 + (1.0 - pulled)[..., None] * (w_null[:, None] * c.v0))  # (S, K, h, dh)
        b_den = jnp.concatenate([jnp.broadcast_to(w_start, (1, K, h)), b_den], axis=0)
        b_num = jnp.concatenate([jnp.broadcast_to(w_start[:, None] * c.vs, (1, K, h, dh)), b_num], axis=0)
        decay = jnp.broadcast_to(jnp.exp(-self.slopes())[:, None], (S + 1, 1, h, 1))

        def combine(x, y):  # (a1, b1) then (a2, b2): s -> a2·(a1·s + b1) + b2
            return x[0] * y[0], (y[0] * x[1][0] + y[1][0], y[0][..., 0] * x[1][1] + y[1][1])

        _, (num, den) = jax.lax.associative_scan(combine, (decay, (b_num, b_den)), axis=0)
        return num[1:] / den[1:, ..., None]


# --- incremental decoding -----------------------------------------------------------------


@struct.dataclass
class EquivariantState:
    """Policy state between rounds (one rollout; the engine vmaps it).

    Attributes:
      keys, values: ``(heads, L, head_dim)`` time-attention keys/values of the pulled
        tokens, slot ``s - 1`` holding round ``s``'s.
      labels: ``(L,)`` int32 arm of each filled slot, ``-1`` where empty.
      counts: ``(K,)`` pulls of each arm so far.
      run_max, run_den: ``(K, heads)``; run_num: ``(K, heads, head_dim)``: the online
        softmax of the not-pulled query ``q0`` over each arm's pulled tokens.
      pos: ``()`` int32, rounds read so far (``s``).
      out: ``(K,)`` logits for the coming round.
    """

    keys: Array
    values: Array
    labels: Array
    counts: Array
    run_max: Array
    run_den: Array
    run_num: Array
    pos: Array
    out: Array


def init_state(model: EquivariantTransformer, arms: int, length: int) -> EquivariantState:
    """The state before round 1 (the start row read), with room for ``length`` pulled tokens
    (none with ``time_query = "pooled"``, which keeps no cache)."""
    cfg = model.cfg
    length = 0 if cfg.time_query == "pooled" else length
    c = model.constants()
    out = model.after_time(jnp.broadcast_to(c.e_start, (arms, cfg.width)), jnp.broadcast_to(c.vs, (arms,) + c.vs.shape))
    h, dh = cfg.heads, cfg.head_dim
    if cfg.recency == "decay":  # the running softmax holds every token, the start token first
        l_start = jnp.sum(c.q0 * c.ks, -1) / math.sqrt(dh)
        run = (jnp.broadcast_to(l_start, (arms, h)), jnp.ones((arms, h)), jnp.broadcast_to(c.vs, (arms, h, dh)))
    else:  # only the pulled tokens; the start and null tokens enter in closed form
        run = (jnp.full((arms, h), _MASKED), jnp.zeros((arms, h)), jnp.zeros((arms, h, dh)))
    return EquivariantState(
        keys=jnp.zeros((h, length, dh)),
        values=jnp.zeros((h, length, dh)),
        labels=jnp.full((length,), -1, jnp.int32),
        counts=jnp.zeros((arms,)),
        run_max=run[0],
        run_den=run[1],
        run_num=run[2],
        pos=jnp.zeros((), jnp.int32),
        out=out,
    )


def decode_step(model: EquivariantTransformer, state: EquivariantState, action: Array, reward: Array) -> EquivariantState:
    """Read round ``s + 1``'s outcome (``action``, ``reward``) and compute the next logits.

    Equal, to float rounding, to row ``s + 1`` of the teacher-forced pass. A write past
    the cache (the update after the last round) is clamped to the last slot, and its
    output is never used.
    """
    cfg = model.cfg
    arms = state.counts.shape[0]
    scale = 1.0 / math.sqrt(cfg.head_dim)
    c = model.constants()
    a = action.astype(jnp.int32)
    s = state.pos + 1
    mine = jnp.arange(arms) == a  # (K,)
    e_pull = model.embed(pulled_token(reward))
    qp, kp, vp = model.time_qkv_of(e_pull)  # (h, dh)
    counts = state.counts + mine
    if cfg.recency == "decay":
        return _decode_decayed(model, c, state, mine, e_pull, kp, vp, counts, s)

    # Arm a's running softmax of q0 takes the new key (online softmax: exact, stable).
    l_new = jnp.sum(c.q0 * kp, -1) * scale  # (h,)
    new_max = jnp.where(mine[:, None], jnp.maximum(state.run_max, l_new), state.run_max)
    keep = jnp.exp(state.run_max - new_max)
    add = jnp.where(mine[:, None], jnp.exp(l_new - new_max), 0.0)  # (K, h)
    run_den = state.run_den * keep + add
    run_num = state.run_num * keep[..., None] + add[..., None] * vp

    nulls = s.astype(jnp.float32) - counts  # (K,)
    l_start = jnp.sum(c.q0 * c.ks, -1) * scale
    l_null = jnp.sum(c.q0 * c.k0, -1) * scale
    top = jnp.maximum(new_max, jnp.maximum(l_start, l_null))  # (K, h)
    w_run, w_start, w_null = jnp.exp(new_max - top), jnp.exp(l_start - top), nulls[:, None] * jnp.exp(l_null - top)
    num = run_num * w_run[..., None] + w_start[..., None] * c.vs + w_null[..., None] * c.v0
    read_null = num / (run_den * w_run + w_start + w_null)[..., None]  # (K, h, dh)

    e = jnp.where(mine[:, None], e_pull, c.e_null)
    if cfg.time_query == "pooled":  # every arm reads with q0: no cache
        out = model.after_time(e, read_null)
        return EquivariantState(state.keys, state.values, state.labels, counts, new_max, run_den, run_num, s, out)

    # The pulled arm's query over its own pulls (slots < s labelled a), the start token, its nulls.
    keys = jax.lax.dynamic_update_slice(state.keys, kp[:, None], (0, s - 1, 0))
    values = jax.lax.dynamic_update_slice(state.values, vp[:, None], (0, s - 1, 0))
    labels = jax.lax.dynamic_update_slice(state.labels, a[None], (s - 1,))
    slots = jnp.arange(labels.shape[0])
    valid = (labels == a) & (slots < s)
    logits = jnp.where(valid, jnp.einsum("hd,hld->hl", qp, keys) * scale, _MASKED)
    n0 = nulls[a]
    l_pn = jnp.where(n0 > 0, jnp.sum(qp * c.k0, -1) * scale + jnp.log(jnp.maximum(n0, 1.0)), _MASKED)
    l_ps = jnp.sum(qp * c.ks, -1) * scale
    att = jax.nn.softmax(jnp.concatenate([logits, l_ps[:, None], l_pn[:, None]], axis=-1), axis=-1)
    L = labels.shape[0]
    read_pull = jnp.einsum("hl,hld->hd", att[:, :L], values) + att[:, L, None] * c.vs + att[:, L + 1, None] * c.v0

    attended = jnp.where(mine[:, None, None], read_pull, read_null)
    out = model.after_time(e, attended)
    return EquivariantState(keys, values, labels, counts, new_max, run_den, run_num, s, out)


def _decode_decayed(model: EquivariantTransformer, c: Constants, state: EquivariantState, mine: Array, e_pull: Array,
                    kp: Array, vp: Array, counts: Array, s: Array) -> EquivariantState:
    """:func:`decode_step` with ``recency = "decay"``: every arm's stream takes this row's token
    (pulled or null) into its discounted online softmax. ``run_max`` is the reference logit
    with the decay applied (``ref_s = max(ref_{s−1} − m, l_s)``), so every weight stays ``<= 1``."""
    scale = 1.0 / math.sqrt(model.cfg.head_dim)
    l_tok = jnp.where(mine[:, None], jnp.sum(c.q0 * kp, -1) * scale, jnp.sum(c.q0 * c.k0, -1) * scale)  # (K, h)
    v_tok = jnp.where(mine[:, None, None], vp, c.v0)  # (K, h, dh)
    ref = state.run_max - model.slopes()
    new_ref = jnp.maximum(ref, l_tok)
    keep, add = jnp.exp(ref - new_ref), jnp.exp(l_tok - new_ref)
    run_den = state.run_den * keep + add
    run_num = state.run_num * keep[..., None] + add[..., None] * v_tok
    out = model.after_time(jnp.where(mine[:, None], e_pull, c.e_null), run_num / run_den[..., None])
    return EquivariantState(state.keys, state.values, state.labels, counts, new_ref, run_den, run_num, s, out)


# --- functional interface ---------------------------------------------------------------


def init_model(cfg: EquivariantConfig, key: Array) -> tuple[nnx.GraphDef, nnx.State]:
    """A freshly initialised (base) model, split into ``(graphdef, params)``."""
    if not isinstance(cfg, EquivariantConfig):
        checks.fail("cfg", "an EquivariantConfig", type(cfg).__name__)
    return nnx.split(EquivariantTransformer(cfg, rngs=nnx.Rngs(params=key)))


@functools.lru_cache(maxsize=None)
def graphdef_for(cfg: EquivariantConfig) -> nnx.GraphDef:
    """The graphdef of ``cfg``'s model without initialising any weights."""
    return nnx.graphdef(nnx.eval_shape(lambda: EquivariantTransformer(cfg, rngs=nnx.Rngs(0))))


def apply(graphdef: nnx.GraphDef, params: PyTree, actions: Array, rewards: Array, arms: int) -> Array:
    """Pure teacher-forced pass: ``(T,) actions, (T,) rewards -> (T, K)`` logits."""
    return nnx.merge(graphdef, params)(actions, rewards, arms)


def slopes(graphdef: nnx.GraphDef, params: PyTree) -> Array:
    """``(heads,)`` the model's recency slopes ``m_h`` (zeros without ``recency = "decay"``)."""
    return nnx.merge(graphdef, params).slopes()


def init_decode(graphdef: nnx.GraphDef, params: PyTree, arms: int, length: int) -> EquivariantState:
    """Pure :func:`init_state`."""
    return init_state(nnx.merge(graphdef, params), arms, length)


def decode(graphdef: nnx.GraphDef, params: PyTree, state: EquivariantState, action: Array, reward: Array) -> EquivariantState:
    """Pure :func:`decode_step`."""
    return decode_step(nnx.merge(graphdef, params), state, action, reward)
