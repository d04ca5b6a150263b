"""NumPy reference of the Transformer bandit rollout with incremental (KV-cache) decoding.

The same algorithm as :class:`rmft_jax.models.BanditTransformerPolicy` on a Gaussian
:class:`rmft_jax.envs.bandit.BanditEnv` (same weights, same tokens, same pre-LN
blocks, tanh-GELU, two-pass LayerNorm), written as a NumPy program a careful
researcher would write: a Python loop over rounds, every round vectorised over the
batch of rollouts, matrix products through BLAS (``@``), the cache a preallocated
array written in place. It attends over the filled prefix ``[: pos + 1]`` only
(slicing is free in NumPy), so it does no more attention work than the JAX policy,
whose static-shape caches grow in segments and hold at most 1.5 times the filled
prefix (:func:`rmft_jax.models.policy.decode_segments`); the ratio against it
measures the implementation, not the algorithm.

Used by :mod:`rmft_jax.bench` and checked against the JAX model in
``tests/test_transformer.py``.
"""

from __future__ import annotations

import math

import jax
import numpy as np
from flax import nnx


def numpy_params(params) -> dict:
    """The ``nnx.State`` of a :class:`rmft_jax.models.Transformer` as nested NumPy arrays."""
    return jax.tree.map(lambda x: np.asarray(x, np.float32), nnx.to_pure_dict(params))


def _linear(p: dict, x: np.ndarray) -> np.ndarray:
    return x @ p["kernel"] + p["bias"]


def _layer_norm(p: dict, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    xc = x - mu
    var = (xc * xc).mean(-1, keepdims=True)
    return xc / np.sqrt(var + eps) * p["scale"] + p["bias"]


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def init_cache(cfg, batch: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Keys and values ``(batch, layers, heads, length, head_dim)``."""
    shape = (batch, cfg.layers, cfg.heads, length, cfg.width // cfg.heads)
    return np.zeros(shape, np.float32), np.zeros(shape, np.float32)


def decode_step(P: dict, cfg, keys: np.ndarray, values: np.ndarray, tokens: np.ndarray, pos: int) -> np.ndarray:
    """Read ``tokens`` ``(B, token_dim)`` at position ``pos``; caches updated in place.

    Returns the model outputs ``(B, actions)``.
    """
    B = tokens.shape[0]
    h, dh = cfg.heads, cfg.width // cfg.heads
    scale = 1.0 / math.sqrt(dh)
    x = _linear(P["embed"], tokens)
    for i in range(cfg.layers):
        blk = P["blocks"][i]
        qkv = _linear(blk["attn"]["qkv"], _layer_norm(blk["ln1"], x))
        q, k, v = (a.reshape(B, h, dh) for a in np.split(qkv, 3, axis=-1))
        keys[:, i, :, pos] = k
        values[:, i, :, pos] = v
        K = keys[:, i, :, : pos + 1]  # (B, h, pos+1, dh)
        V = values[:, i, :, : pos + 1]
        s = (K @ q[..., None])[..., 0] * scale  # (B, h, pos+1)
        s -= s.max(-1, keepdims=True)
        w = np.exp(s)
        w /= w.sum(-1, keepdims=True)
        a = (w[:, :, None, :] @ V)[:, :, 0, :].reshape(B, -1)  # (B, W)
        x = x + _linear(blk["attn"]["out"], a)
        x = x + _linear(blk["mlp_out"], _gelu(_linear(blk["mlp_in"], _layer_norm(blk["ln2"], x))))
    return _linear(P["head"], _layer_norm(P["ln_f"], x))


def bandit_rollouts(
    P: dict,
    cfg,
    means: np.ndarray,
    xi: np.ndarray,
    gumbel: np.ndarray | None,
    temperature: float = 1.0,
    noise: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """``B`` Gaussian-bandit rollouts of the Transformer policy.

    Args:
      P: :func:`numpy_params` of a ``feedback='bandit'`` model; cfg: its config.
      means: ``(B, K)`` arm means; xi: ``(B, T)`` standard normals (reward ``μ_a + noise·ξ``).
      gumbel: ``(B, T, K)`` standard Gumbel noise, or ``None`` for greedy play.
    Returns:
      ``actions (B, T)`` int32 and ``rewards (B, T)``.
    """
    B, T = xi.shape
    K = cfg.actions
    keys, values = init_cache(cfg, B, T)
    token = np.zeros((B, cfg.token_dim), np.float32)
    token[:, -1] = 1.0
    actions = np.empty((B, T), np.int32)
    rewards = np.empty((B, T), np.float32)
    rows = np.arange(B)
    for t in range(T):
        out = decode_step(P, cfg, keys, values, token, t)
        a = np.argmax(out if gumbel is None else out / temperature + gumbel[:, t], axis=-1)
        r = means[rows, a] + noise * xi[:, t]
        actions[:, t], rewards[:, t] = a, r
        token = np.zeros((B, cfg.token_dim), np.float32)
        token[rows, a] = 1.0
        token[:, K] = r
    return actions, rewards
