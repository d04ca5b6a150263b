"""Exact one-hot selection along the last axis, the CPU-friendly form of ``x[..., i]``.

``pick(x, i)`` returns ``x[..., i]`` for an integer index ``i`` (per row under
``vmap``). It is written as a masked sum, ``Σ_k where(k == i, x_k, 0)``, which
adds one value to zeros and so returns that value exactly (``-0.0`` comes back
as ``+0.0``); an index outside ``[0, K)`` gives NaN for floating ``x``, so a bad
action cannot pass for a free one. Under
``vmap`` it stays an elementwise, fusible expression, where the equivalent
gather lowers on XLA:CPU to a scalar gather loop: the exact pseudo-regret of
4096 runs of ``T = 1000`` took 24 ms through the gather and 5 ms this way on the
2-core development machine (``benchmarks/README.md``). The loop is unrolled
over the last axis, meant for a handful of arms: beyond :data:`UNROLL_LIMIT` arms
it is a gather (``take_along_axis``; same value, except that ``-0.0`` stays
``-0.0``), whose compile time does not grow with ``K`` (20,000 unrolled selects
took minutes to compile).
"""

from __future__ import annotations

import jax.numpy as jnp

from rmft_jax.types import Array

UNROLL_LIMIT = 64


def pick(x: Array, index: Array) -> Array:
    """``x[..., index]``: the entry of the last axis at integer ``index`` (broadcast against ``x[..., 0]``)."""
    index = jnp.asarray(index)
    zero = jnp.zeros((), x.dtype)
    if x.shape[-1] > UNROLL_LIMIT:
        shape = jnp.broadcast_shapes(x.shape[:-1], index.shape)
        idx = jnp.broadcast_to(index, shape)
        xb = jnp.broadcast_to(x, (*shape, x.shape[-1]))
        out = jnp.take_along_axis(xb, jnp.clip(idx, 0, x.shape[-1] - 1)[..., None], axis=-1)[..., 0]
        if jnp.issubdtype(x.dtype, jnp.inexact):
            out = jnp.where((idx < 0) | (idx >= x.shape[-1]), jnp.nan, out)
        return out
    # Unrolled over the (static, small) last axis: a reduction over a short minor
    # axis is itself slow on XLA:CPU, K elementwise selects are not.
    out = jnp.where(index == 0, x[..., 0], zero)
    for k in range(1, x.shape[-1]):
        out = out + jnp.where(index == k, x[..., k], zero)
    if jnp.issubdtype(x.dtype, jnp.inexact):
        out = jnp.where((index < 0) | (index >= x.shape[-1]), jnp.nan, out)
    return out
