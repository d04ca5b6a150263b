"""The arm-equivariant model: exact equivariance, one set of weights for any K, decode = teacher-forced pass,
and the compressed attention equal to the dense (rounds × arms) grid it replaces."""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from rmft_jax.envs.bandit import BanditEnv
from rmft_jax.models import equivariant as eqm
from rmft_jax.models.equivariant_policy import EquivariantBanditPolicy, log_probs, sft_loss
from rmft_jax.rollout import run
from rmft_jax.types import ActionSpace

CFG = eqm.EquivariantConfig(width=16, heads=2, mlp_ratio=2, max_horizon=64)
# Jitted once per (model, K): eager op-by-op passes made these tests slow.
apply = jax.jit(eqm.apply, static_argnums=(0, 4))


FORMS = {"token": {"time_query": "token"}, "pooled": {"time_query": "pooled"},
         "decay": {"time_query": "pooled", "recency": "decay"}}


def _perturbed(form: str):
    """Random weights, pushed away from the near-uniform initialisation so that every path matters."""
    graphdef, params = eqm.init_model(dataclasses.replace(CFG, **FORMS[form]), jax.random.key(0))
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.key(1), len(leaves))
    params = jax.tree.unflatten(tree, [x + 0.3 * jax.random.normal(k, x.shape) for x, k in zip(leaves, keys)])
    return graphdef, params


@pytest.fixture(scope="module", params=["token", "pooled"])
def model(request):
    """Both kinds of time-attention query."""
    return _perturbed(request.param)


@pytest.fixture(scope="module", params=list(FORMS))
def any_form(request):
    """Both kinds of query and pooled queries with the learned recency decay: for the exactness tests (the
    dense-grid reference, decode = teacher-forced, equivariance)."""
    return _perturbed(request.param)


def _history(K, T, seed=2):
    k1, k2 = jax.random.split(jax.random.key(seed))
    return jax.random.randint(k1, (T,), 0, K), jax.random.normal(k2, (T,))


@functools.partial(jax.jit, static_argnums=(0, 4))
def _dense_grid(graphdef, params, actions, rewards, K):
    """The model written as the plain (rounds × arms) grid: every token of every arm's stream, causal attention
    over rounds within each stream, no compression. An independent reference for the fast pass."""
    m = nnx.merge(graphdef, params)
    T = actions.shape[0]
    onehot = jax.nn.one_hot(actions[:-1], K)
    tokens = jnp.zeros((T, K, 3)).at[0, :, 2].set(1.0)
    tokens = tokens.at[1:, :, 0].set(onehot).at[1:, :, 1].set(onehot * rewards[:-1, None])
    e = m.embed(tokens)
    q, k, v = m.time_qkv_of(e)  # (T, K, h, dh)
    if m.cfg.time_query == "pooled":  # every token queries with the null token's query
        q = jnp.broadcast_to(m.time_qkv_of(m.embed(jnp.zeros(3)))[0], q.shape)
    scores = jnp.einsum("takd,uakd->aktu", q, k) / np.sqrt(m.cfg.head_dim)
    rows = jnp.arange(T, dtype=jnp.float32)  # ALiBi-style recency: -m_h (t - u), zero without it
    scores = scores - m.slopes()[:, None, None] * (rows[:, None] - rows[None, :])
    causal = jnp.tril(jnp.ones((T, T), bool))
    att = jax.nn.softmax(jnp.where(causal, scores, -jnp.inf), axis=-1)
    return m.after_time(e, jnp.einsum("aktu,uakd->takd", att, v))


@pytest.mark.parametrize("K", [2, 7])
def test_teacher_forced_pass_equals_the_dense_grid(any_form, K):
    a, r = _history(K, 40)
    fast = apply(*any_form, a, r, K)
    assert fast.shape == (40, K)
    np.testing.assert_allclose(fast, _dense_grid(*any_form, a, r, K), atol=2e-5)


@pytest.mark.parametrize("K", [3, 11])
def test_decode_equals_the_teacher_forced_pass(any_form, K):
    graphdef, params = any_form
    T = 33
    a, r = _history(K, T, seed=K)

    @jax.jit
    def decoded(params, a, r):
        def step(state, ar):
            state = eqm.decode(graphdef, params, state, *ar)
            return state, state.out

        first = eqm.init_decode(graphdef, params, K, T)
        return jnp.concatenate([first.out[None], jax.lax.scan(step, first, (a[:-1], r[:-1]))[1]])

    np.testing.assert_allclose(decoded(params, a, r), apply(graphdef, params, a, r, K), atol=2e-5)


def test_relabelling_the_arms_permutes_the_policy_exactly(any_form):
    K, T = 6, 30
    a, r = _history(K, T, seed=5)
    perm = jnp.array([3, 0, 5, 1, 4, 2])  # arm i is called perm[i]
    logits = apply(*any_form, a, r, K)
    relabelled = apply(*any_form, perm[a], r, K)
    np.testing.assert_allclose(relabelled[:, perm], logits, atol=1e-5)


def test_one_set_of_weights_plays_any_number_of_arms(model):
    graphdef, params = model
    cfg = nnx.merge(graphdef, params).cfg
    for K in (2, 20):
        policy = EquivariantBanditPolicy(cfg, K, graphdef, horizon=12)
        assert policy.action_space == ActionSpace("bandit", K)
        traj = run(BanditEnv(arms=K, horizon=12, noise=0.5), policy, jax.random.key(K), 4, params)
        assert traj.actions.shape == (4, 12)
        assert int(traj.actions.max()) < K


def test_the_first_round_is_uniform_and_log_probs_normalise(model):
    a, r = _history(4, 10)
    logp = jax.jit(log_probs, static_argnums=(0, 4))(*model, a, r, 4)
    np.testing.assert_allclose(jnp.exp(logp).sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(logp[0], jnp.full(4, -jnp.log(4.0)), atol=1e-6)  # nothing read yet: symmetric


def test_sft_loss_is_the_mean_nll_of_the_kept_actions(model):
    graphdef, params = model
    a, r = _history(3, 9)
    value, aux = jax.jit(sft_loss(graphdef, 3))(params, a[None], r[None])
    logp = jax.jit(log_probs, static_argnums=(0, 4))(graphdef, params, a, r, 3)
    np.testing.assert_allclose(value, -jnp.mean(logp[jnp.arange(9), a]), rtol=1e-6)
    assert aux["nll"] == value


def test_invalid_settings_are_one_line_errors():
    with pytest.raises(ValueError, match="heads: must be a divisor of width"):
        eqm.EquivariantConfig(width=10, heads=3)
    with pytest.raises(ValueError, match="time_query: must be one of token, pooled"):
        eqm.EquivariantConfig(time_query="mean")
    with pytest.raises(ValueError, match="recency: must be 'none' unless time_query is 'pooled'"):
        eqm.EquivariantConfig(time_query="token", recency="decay")
    with pytest.raises(ValueError, match="recency: must be one of none, decay"):
        eqm.EquivariantConfig(time_query="pooled", recency="alibi")
    with pytest.raises(ValueError, match="arms: must be"):
        EquivariantBanditPolicy(CFG, 1)
    with pytest.raises(ValueError, match="horizon: must be <= max_horizon = 64"):
        EquivariantBanditPolicy(CFG, 3, horizon=65)


def test_the_recency_slopes_start_geometric_and_zero_slopes_are_the_model_without_recency():
    """The decay model's slopes start at 2^(-4-3h), and with the slopes driven to 0 the model is the pooled
    model without recency (same other weights: same logits). That training moves them is checked in
    test_nonstationary_rmft (a drift bucket trains)."""
    decay_cfg = dataclasses.replace(CFG, time_query="pooled", recency="decay")
    graphdef, params = eqm.init_model(decay_cfg, jax.random.key(0))
    np.testing.assert_allclose(eqm.slopes(graphdef, params), [2.0**-4, 2.0**-7], rtol=1e-5)
    a, r = _history(3, 30, seed=9)
    g0, p0 = eqm.init_model(dataclasses.replace(CFG, time_query="pooled"), jax.random.key(0))
    flat = dict(nnx.to_flat_state(params))
    flat[("recency_rho",)] = nnx.Param(jnp.full((2,), -80.0))  # softplus(-80) ~ 1.8e-35
    np.testing.assert_allclose(apply(graphdef, nnx.from_flat_state(flat), a, r, 3), apply(g0, p0, a, r, 3), atol=1e-6)
    assert eqm.slopes(g0, p0).tolist() == [0.0, 0.0]
