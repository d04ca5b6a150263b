"""Models: the numerical-I/O causal Transformer, the arm-equivariant model, and their policies (Flax NNX, used functionally)."""

from rmft_jax.models.equivariant import EquivariantConfig, EquivariantTransformer
from rmft_jax.models.equivariant_policy import EquivariantBanditPolicy
from rmft_jax.models.policy import (
    BanditPrefixPolicy,
    BanditTransformerPolicy,
    DecodeState,
    OnlineTransformerPolicy,
    bandit_log_probs,
    bandit_nll,
    online_output_loss,
    online_raw_outputs,
    online_outputs,
    online_policy_loss,
)
from rmft_jax.models.transformer import (
    KVCache,
    Transformer,
    TransformerConfig,
    apply,
    bandit_tokens,
    decode,
    graphdef_for,
    init_cache,
    init_model,
    online_tokens,
)

__all__ = [
    "BanditPrefixPolicy",
    "BanditTransformerPolicy",
    "DecodeState",
    "EquivariantBanditPolicy",
    "EquivariantConfig",
    "EquivariantTransformer",
    "KVCache",
    "OnlineTransformerPolicy",
    "Transformer",
    "TransformerConfig",
    "apply",
    "bandit_log_probs",
    "bandit_nll",
    "bandit_tokens",
    "decode",
    "graphdef_for",
    "init_cache",
    "init_model",
    "online_output_loss",
    "online_raw_outputs",
    "online_outputs",
    "online_policy_loss",
    "online_tokens",
]
