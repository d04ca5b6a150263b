"""The numerical Transformer, its policies and SFT objectives (rmft_jax.models)."""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from rmft_jax import rollout
from rmft_jax.envs.bandit import BanditEnv
from rmft_jax.envs.online import OnlineEnv
from rmft_jax.models import (
    BanditPrefixPolicy,
    BanditTransformerPolicy,
    OnlineTransformerPolicy,
    TransformerConfig,
    apply,
    bandit_log_probs,
    bandit_nll,
    bandit_tokens,
    decode,
    init_cache,
    init_model,
    online_output_loss,
    online_outputs,
    online_policy_loss,
    online_raw_outputs,
    online_tokens,
)
from rmft_jax.domain import preimage, to_domain
from rmft_jax.models.policy import SEGMENT_GROWTH, decode_segments

SMALL = dict(layers=1, heads=2, width=16, mlp_ratio=2)


def small_cfg(feedback="bandit", layers=1, **kw):
    return TransformerConfig(feedback=feedback, actions=kw.pop("actions", 4 if feedback == "bandit" else 3), **{**SMALL, "layers": layers, **kw})


def scan_decode(graphdef, params, tokens):
    """Incremental decoding of a whole token sequence, one token per step."""
    T = tokens.shape[0]
    cfg = nnx.merge(graphdef, params).cfg

    def step(cache, xs):
        tok, pos = xs
        out, cache = decode(graphdef, params, cache, tok, pos)
        return cache, out

    return jax.lax.scan(step, init_cache(cfg, T), (tokens, jnp.arange(T)))[1]


def build(cfg, seed=0):
    return init_model(cfg, jax.random.key(seed))


# --- the network -----------------------------------------------------------------------


@pytest.mark.parametrize("feedback", ["bandit", "full"])
@pytest.mark.parametrize("layers", [1, 2])
def test_incremental_decode_equals_full_pass(feedback, layers):
    cfg = small_cfg(feedback, layers)
    g, p = build(cfg)
    T, k1, k2 = 12, jax.random.key(1), jax.random.key(2)
    if feedback == "bandit":
        tokens = bandit_tokens(jax.random.randint(k1, (T,), 0, cfg.actions), jax.random.normal(k2, (T,)), cfg.actions)
    else:
        tokens = online_tokens(jax.random.normal(k1, (T, cfg.actions)))
    assert tokens.shape == (T, cfg.token_dim)
    full = jax.jit(apply, static_argnums=0)(g, p, tokens)
    inc = jax.jit(scan_decode, static_argnums=0)(g, p, tokens)
    assert full.shape == inc.shape == (T, cfg.actions)
    np.testing.assert_allclose(inc, full, atol=1e-5, rtol=1e-5)


def test_tokens_layout():
    toks = bandit_tokens(jnp.array([2, 0, 1]), jnp.array([0.5, -1.0, 3.0]), 3)
    np.testing.assert_array_equal(toks, [[0, 0, 0, 0, 1], [0, 0, 1, 0.5, 0], [1, 0, 0, -1.0, 0]])
    otoks = online_tokens(jnp.array([[1.0, 2.0], [3.0, 4.0]]))
    np.testing.assert_array_equal(otoks, [[0, 0, 1], [1, 2, 0]])
    per_arm = bandit_tokens(jnp.array([2, 0, 1]), jnp.array([0.5, -1.0, 3.0]), 3, "per_arm")
    np.testing.assert_array_equal(per_arm, [[0, 0, 0, 0, 0, 0, 1], [0, 0, 1, 0, 0, 0.5, 0], [1, 0, 0, -1.0, 0, 0, 0]])


def test_an_average_of_per_arm_tokens_holds_each_arms_statistics():
    """Uniform attention over per-arm tokens gives (n_a/t, S_a/t) for every arm; over shared tokens the reward
    part is the overall mean only (so the per-arm means cannot be read off an average)."""
    K, T = 4, 50
    a = jax.random.randint(jax.random.key(0), (T,), 0, K)
    r = jax.random.normal(jax.random.key(1), (T,)) + a
    avg = jnp.mean(bandit_tokens(a, r, K, "per_arm")[1:], axis=0)  # the history of rounds 1..T-1
    counts = np.bincount(np.asarray(a[:-1]), minlength=K)
    sums = np.bincount(np.asarray(a[:-1]), weights=np.asarray(r[:-1]), minlength=K)
    np.testing.assert_allclose(avg[:K], counts / (T - 1), rtol=1e-6)
    np.testing.assert_allclose(avg[K:2 * K], sums / (T - 1), rtol=1e-5, atol=1e-6)
    shared = jnp.mean(bandit_tokens(a, r, K)[1:], axis=0)
    np.testing.assert_allclose(shared[K], sums.sum() / (T - 1), rtol=1e-5, atol=1e-6)
    assert TransformerConfig(actions=K, bandit_token="per_arm").token_dim == 2 * K + 1
    assert TransformerConfig(actions=K).token_dim == K + 2


def test_per_arm_token_decode_equals_full_pass():
    cfg = TransformerConfig(actions=3, layers=1, heads=1, width=8, bandit_token="per_arm", max_horizon=16)
    g, p = build(cfg)
    tokens = bandit_tokens(jax.random.randint(jax.random.key(1), (10,), 0, 3), jax.random.normal(jax.random.key(2), (10,)),
                           3, "per_arm")
    np.testing.assert_allclose(scan_decode(g, p, tokens), apply(g, p, tokens), atol=1e-5, rtol=1e-5)


def test_graphdef_is_a_valid_static_argument():
    cfg = small_cfg()
    g1, _ = init_model(cfg, jax.random.key(0))
    g2, _ = init_model(cfg, jax.random.key(1))
    assert g1 == g2 and hash(g1) == hash(g2)
    a, b = BanditTransformerPolicy(cfg, g1, horizon=8), BanditTransformerPolicy(cfg, horizon=8)
    assert a == b and hash(a) == hash(b)


# --- policies through the rollout engine ------------------------------------------------


def test_greedy_rollout_is_argmax_of_teacher_forced_log_probs():
    cfg = small_cfg(layers=2)
    g, p = build(cfg)
    env = BanditEnv(arms=cfg.actions, horizon=16)
    pol = BanditTransformerPolicy(cfg, g, horizon=16, temperature=0.0)
    tasks = rollout.sample_tasks(env, jax.random.key(4), 3)
    tt = rollout.rollout_tasks(env, pol, jax.random.key(5), tasks, 3, p)
    logp = jax.vmap(jax.vmap(lambda a, r: bandit_log_probs(g, p, a, r)))(tt.actions, tt.rewards)
    np.testing.assert_array_equal(jnp.argmax(logp, -1), tt.actions)


def test_sampled_actions_are_gumbel_argmax_of_log_probs():
    """act samples from exactly softmax(logits/τ): with the policy's own Gumbel noise,
    the teacher-forced log-probs reproduce every sampled action."""
    cfg = small_cfg()
    g, p = build(cfg)
    env = BanditEnv(arms=cfg.actions, horizon=20)
    pol = BanditTransformerPolicy(cfg, g, horizon=20, temperature=0.7)
    episode = env.realize(jax.random.key(6), env.sample_task(jax.random.key(7)))
    k_pol = jax.random.key(8)
    traj = jax.jit(rollout.rollout_episode, static_argnums=(0, 1))(env, pol, episode, k_pol, p)
    gumbel = pol.noise(k_pol, env.horizon)
    logp = bandit_log_probs(g, p, traj.actions, traj.rewards, temperature=0.7)
    np.testing.assert_array_equal(jnp.argmax(logp + gumbel, -1), traj.actions)
    nll = bandit_nll(g, p, traj.actions, traj.rewards, 0.7)
    np.testing.assert_allclose(nll, -jnp.mean(logp[jnp.arange(20), traj.actions]), rtol=1e-6)


def test_prefix_recompute_policy_matches_decoding():
    cfg = small_cfg()
    g, p = build(cfg)
    env = BanditEnv(arms=cfg.actions, horizon=10)
    key = jax.random.key(9)
    a = rollout.run(env, BanditTransformerPolicy(cfg, g, horizon=10), key, 4, p)
    b = rollout.run(env, BanditPrefixPolicy(cfg, g, horizon=10), key, 4, p)
    np.testing.assert_array_equal(a.actions, b.actions)


@pytest.mark.parametrize("horizon,first", [(1, 32), (25, 32), (40, 8), (100, 32), (400, 32), (50, 0)])
def test_decode_segments_cover_the_horizon_with_bounded_slack(horizon, first):
    plan = decode_segments(horizon, first)
    assert plan[-1] == (horizon, horizon)
    ends = [0] + [end for end, _ in plan]
    assert all(a < b for a, b in zip(ends, ends[1:]))
    for end, length in plan[:-1]:
        assert length == end + 1  # the update after the segment's last round writes slot end
    if first == 0 or horizon <= first:
        assert len(plan) == 1
    else:
        assert plan[0][1] == first
        # Each cache is at most SEGMENT_GROWTH (rounded up) times the previous one.
        lengths = [length for _, length in plan]
        assert all(b <= math.ceil(SEGMENT_GROWTH * a) for a, b in zip(lengths, lengths[1:]))


def test_decode_segment_errors():
    cfg = small_cfg()
    with pytest.raises(ValueError, match="^decode_segment: must be"):
        BanditTransformerPolicy(cfg, horizon=10, decode_segment=-1)
    with pytest.raises(ValueError, match="^tile: must be"):
        BanditTransformerPolicy(cfg, horizon=10, tile=-8)


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_segmented_decoding_matches_one_full_cache(temperature):
    """Growing the cache in segments changes the shapes, not the policy: the actions of one cache of
    the whole horizon, through both engine paths (greedy: up to rounding ties, see _assert_greedy_agree)."""
    cfg = small_cfg(layers=2)
    g, p = build(cfg)
    env = BanditEnv(arms=cfg.actions, horizon=40)
    one = BanditTransformerPolicy(cfg, g, horizon=40, temperature=temperature, decode_segment=0)
    seg = BanditTransformerPolicy(cfg, g, horizon=40, temperature=temperature, decode_segment=8)
    assert len(seg.segments(40)) == 5
    key = jax.random.key(14)
    a, b = rollout.run(env, one, key, 16, p), rollout.run(env, seg, key, 16, p)
    episode = env.realize(jax.random.key(15), env.sample_task(jax.random.key(16)))
    one_ep = jax.jit(rollout.rollout_episode, static_argnums=(0, 1))(env, one, episode, key, p)
    seg_ep = jax.jit(rollout.rollout_episode, static_argnums=(0, 1))(env, seg, episode, key, p)
    if temperature == 0.0:  # greedy play may part where rounding decides between two logits
        _assert_greedy_agree(g, p, a, b)
        _assert_greedy_agree(g, p, jax.tree.map(lambda x: x[None], one_ep), jax.tree.map(lambda x: x[None], seg_ep))
        return
    np.testing.assert_array_equal(a.actions, b.actions)
    np.testing.assert_array_equal(one_ep.actions, seg_ep.actions)


def _assert_greedy_agree(g, p, a, b):
    """Two greedy rollouts of one model on one episode agree, or part where the model's two best
    logits (teacher-forced on their common history) are within float rounding of each other."""
    same = np.all(np.asarray(a.actions) == np.asarray(b.actions), axis=-1)
    for r in np.flatnonzero(~same):
        t = int(np.argmax(np.asarray(a.actions[r]) != np.asarray(b.actions[r])))
        logp = np.sort(np.asarray(bandit_log_probs(g, p, a.actions[r], a.rewards[r]))[t])
        assert logp[-1] - logp[-2] < 1e-4, (r, t, logp)


def test_batch_tiles_change_rollouts_only_by_rounding():
    cfg = small_cfg(layers=2)
    g, p = build(cfg)
    env = BanditEnv(arms=cfg.actions, horizon=20)
    plain = BanditTransformerPolicy(cfg, g, horizon=20)
    tiled = dataclasses.replace(plain, tile=8)
    assert rollout._batch_tile(plain, 32) is None  # 32 rollouts of a width-16 model fit one tile
    assert rollout._batch_tile(dataclasses.replace(plain, tile=0), 10**6) is None
    if jax.device_count() == 1 and jax.default_backend() == "cpu":
        assert rollout._batch_tile(tiled, 32) == 8
        assert rollout._batch_tile(tiled, 36) == 6  # the largest divisor not above the hint
        assert rollout._batch_tile(tiled, 37) is None  # a prime batch: tiles of 1 would be too small
    key = jax.random.key(18)
    a, b = rollout.run(env, tiled, key, 32, p), rollout.run(env, plain, key, 32, p)
    np.testing.assert_array_equal(a.actions, b.actions)  # sampled play: rounding never decides here
    np.testing.assert_allclose(a.regret, b.regret, rtol=1e-6)
    greedy = dataclasses.replace(plain, temperature=0.0)
    _assert_greedy_agree(g, p, rollout.run(env, dataclasses.replace(greedy, tile=8), key, 32, p),
                         rollout.run(env, greedy, key, 32, p))
    tasks = rollout.sample_tasks(env, jax.random.key(19), 4)
    a, b = rollout.rollout_tasks(env, tiled, key, tasks, 8, p), rollout.rollout_tasks(env, plain, key, tasks, 8, p)
    np.testing.assert_array_equal(a.actions, b.actions)
    # Online play has no argmax to hide rounding in: outputs agree to float rounding.
    ocfg = small_cfg("full", domain="ball")
    og, op = build(ocfg)
    oenv = OnlineEnv(dim=3, horizon=15, domain="ball")
    opol = OnlineTransformerPolicy(ocfg, og, horizon=15)
    a = rollout.run(oenv, dataclasses.replace(opol, tile=8), key, 32, op)
    b = rollout.run(oenv, dataclasses.replace(opol, tile=0), key, 32, op)
    np.testing.assert_allclose(a.actions, b.actions, atol=1e-6)
    np.testing.assert_allclose(a.regret, b.regret, atol=1e-5)


def test_segmented_online_decoding_matches_one_full_cache():
    cfg = small_cfg("full", domain="simplex")
    g, p = build(cfg)
    env = OnlineEnv(dim=3, horizon=30, domain="simplex")
    key = jax.random.key(17)
    a = rollout.run(env, OnlineTransformerPolicy(cfg, g, horizon=30, decode_segment=0), key, 8, p)
    b = rollout.run(env, OnlineTransformerPolicy(cfg, g, horizon=30, decode_segment=6), key, 8, p)
    np.testing.assert_allclose(a.actions, b.actions, atol=1e-6)
    np.testing.assert_allclose(a.regret, b.regret, atol=1e-5)


@pytest.mark.parametrize("domain", ["ball", "simplex"])
def test_online_policy_lands_in_domain_and_matches_outputs(domain):
    cfg = small_cfg("full", domain=domain, radius=0.5)
    g, p = build(cfg)
    # Large weights push y_t far outside Π, so the projection is exercised.
    p = jax.tree.map(lambda x: 10.0 * x, p)
    env = OnlineEnv(dim=3, horizon=12, domain=domain, radius=0.5)
    traj = rollout.run(env, OnlineTransformerPolicy(cfg, g, horizon=12, explore_std=1.0), jax.random.key(10), 16, p)
    pi = traj.actions
    assert pi.shape == (16, 12, 3)
    if domain == "ball":
        assert float(jnp.max(jnp.linalg.norm(pi, axis=-1))) <= 0.5 + 1e-5
    else:
        assert float(jnp.min(pi)) >= 0.0
        np.testing.assert_allclose(jnp.sum(pi, -1), 1.0, atol=1e-5)
    # explore_std = 0: the rollout plays the teacher-forced mean policy.
    pol0 = OnlineTransformerPolicy(cfg, g, horizon=12, explore_std=0.0)
    episode = env.realize(jax.random.key(11), env.sample_task(jax.random.key(12)))
    tr = jax.jit(rollout.rollout_episode, static_argnums=(0, 1))(env, pol0, episode, jax.random.key(13), p)
    np.testing.assert_allclose(tr.actions, online_outputs(g, p, episode.xi), atol=1e-5)


def test_online_policy_loss():
    pred = jnp.array([[0.5, 0.5], [1.0, 0.0]])
    target = jnp.array([[1.0, 0.0], [1.0, 0.0]])
    np.testing.assert_allclose(online_policy_loss(pred, target, "ball"), 0.25)
    np.testing.assert_allclose(online_policy_loss(pred, target, "simplex"), np.log(2) / 2, rtol=1e-6)
    with pytest.raises(ValueError, match="^domain: must be one of"):
        online_policy_loss(pred, target, "cube")


def test_online_output_loss_by_hand():
    # played p = softmax(z): the loss is the squared distance of the centred outputs, whatever constant z carries
    simplex = TransformerConfig(feedback="full", actions=3, domain="simplex")
    y = jnp.array([[1.0, -1.0, 0.0], [2.0, 2.0, 2.0]])
    z = jnp.array([[0.0, 0.0, 3.0], [5.0, 1.0, 1.0]])
    c = lambda x: x - x.mean(-1, keepdims=True)  # noqa: E731
    want = np.mean(np.sum((c(np.asarray(y)) - c(np.asarray(z))) ** 2, -1))  # rows: 2²+0²+2², then (8/3)²+2·(4/3)²
    np.testing.assert_allclose(want, (8.0 + 96.0 / 9.0) / 2.0, rtol=1e-6)
    np.testing.assert_allclose(online_output_loss(y, jax.nn.softmax(z + 7.0), simplex), want, rtol=1e-5)
    # zero when the model's output is the played output up to a constant
    np.testing.assert_allclose(online_output_loss(z - 4.0, jax.nn.softmax(z), simplex), 0.0, atol=1e-10)
    # its gradient in y is −2/T × (centred played − centred y): the Gaussian log-likelihood's
    g = jax.grad(lambda y_: online_output_loss(y_, jax.nn.softmax(z), simplex))(y)
    np.testing.assert_allclose(g, -(c(np.asarray(z)) - c(np.asarray(y))), rtol=1e-5, atol=1e-6)
    # the ball with the tanh map: plain squared error against the output that played the point
    ball = TransformerConfig(feedback="full", actions=3, domain="ball", radius=2.0, ball_map="tanh")
    played = jnp.array([[0.3, -1.2, 0.4], [0.0, 0.0, 0.0]])
    point = to_domain(played, "ball", 2.0, "tanh")
    np.testing.assert_allclose(online_output_loss(y, point, ball), np.mean(np.sum((np.asarray(y) - np.asarray(played)) ** 2, -1)), rtol=1e-5)


def test_tanh_ball_map_and_preimages():
    # outputs from ‖y‖/R ≈ 0.01 to ≈ 5 (tanh 1 − 1e-4: float32 keeps 3 digits of artanh there), and y = 0
    scale = jnp.tile(jnp.array([0.005, 0.15, 0.5, 0.8]), 16)[:, None]
    y = jnp.concatenate([jax.random.normal(jax.random.key(5), (64, 3)) * scale, jnp.zeros((1, 3))])
    p = to_domain(y, "ball", 0.5, "tanh")
    # inside the open ball, and the norm is R tanh(‖y‖/R)
    norms = np.linalg.norm(np.asarray(p), axis=-1)
    assert norms.max() < 0.5
    np.testing.assert_allclose(norms, 0.5 * np.tanh(np.linalg.norm(np.asarray(y), axis=-1) / 0.5), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(preimage(p, "ball", 0.5, "tanh"), y, rtol=2e-3, atol=1e-5)
    # far out tanh saturates in float32: the point lies on the sphere, and its preimage stays finite
    far = to_domain(jnp.array([40.0, 0.0, 0.0]), "ball", 0.5, "tanh")
    assert float(jnp.linalg.norm(far)) <= 0.5
    assert np.all(np.isfinite(preimage(far, "ball", 0.5, "tanh")))
    np.testing.assert_allclose(jax.grad(lambda v: to_domain(v, "ball", 0.5, "tanh").sum())(jnp.zeros(3)), np.ones(3), rtol=1e-6)
    # the simplex: the preimage is the centred output
    q = to_domain(y, "simplex")
    np.testing.assert_allclose(preimage(q, "simplex"), y - y.mean(-1, keepdims=True), rtol=1e-4, atol=1e-4)
    # the projection is the default and is not one-to-one on the sphere
    np.testing.assert_array_equal(to_domain(y, "ball", 0.5), to_domain(y, "ball", 0.5, "project"))
    with pytest.raises(ValueError, match="^ball_map: must be 'tanh'"):
        preimage(p, "ball", 0.5)
    with pytest.raises(ValueError, match="^ball_map: must be one of project, tanh"):
        TransformerConfig(feedback="full", actions=3, ball_map="clip")


def test_online_raw_outputs_are_the_outputs_before_the_map():
    for domain, extra in (("simplex", {}), ("ball", {"ball_map": "tanh", "radius": 0.5})):
        cfg = small_cfg("full", domain=domain, **extra)
        g, p = build(cfg)
        p = jax.tree.map(lambda x: 10.0 * x, p)
        rewards = jax.random.normal(jax.random.key(3), (7, 3))
        mapped = to_domain(online_raw_outputs(g, p, rewards), domain, cfg.radius, cfg.ball_map)
        np.testing.assert_allclose(mapped, online_outputs(g, p, rewards), atol=1e-6)


def test_horizon_generalisation_trained_at_25_runs_at_100_and_400():
    cfg = small_cfg(max_horizon=400)
    g, p = build(cfg)
    env25 = BanditEnv(arms=cfg.actions, horizon=25, noise=0.1)
    traj = rollout.run(env25, BanditTransformerPolicy(cfg, g, horizon=25), jax.random.key(14), 16, p)

    # A few SFT steps at T = 25 (a model "trained at 25").
    opt = optax.adam(1e-2)

    @jax.jit
    def sft(p, s):
        loss, grad = jax.value_and_grad(
            lambda p: jnp.mean(jax.vmap(lambda a, r: bandit_nll(g, p, a, r))(traj.actions, traj.rewards))
        )(p)
        upd, s = opt.update(grad, s, p)
        return optax.apply_updates(p, upd), s, loss

    s = opt.init(p)
    for _ in range(3):
        p, s, loss = sft(p, s)
    assert np.isfinite(loss)
    for T in (100, 400):
        env = BanditEnv(arms=cfg.actions, horizon=T, noise=0.1)
        tr = rollout.run(env, BanditTransformerPolicy(cfg, g, horizon=T), jax.random.key(T), 2, p)
        assert tr.actions.shape == (2, T)
        assert int(tr.actions.min()) >= 0 and int(tr.actions.max()) < cfg.actions
        assert bool(jnp.all(jnp.isfinite(tr.regret)))
    # The cache is exact at the longest horizon too.
    toks = bandit_tokens(tr.actions[0], tr.rewards[0], cfg.actions)
    full = jax.jit(apply, static_argnums=0)(g, p, toks)
    np.testing.assert_allclose(jax.jit(scan_decode, static_argnums=0)(g, p, toks), full, atol=1e-4, rtol=1e-4)


def test_second_run_with_new_params_does_not_recompile():
    cfg = small_cfg()
    g, p = build(cfg)
    _, p2 = init_model(cfg, jax.random.key(99))
    env = BanditEnv(arms=cfg.actions, horizon=6)
    pol = BanditTransformerPolicy(cfg, g, horizon=6)
    rollout.run(env, pol, jax.random.key(0), 3, p)
    before = rollout.run._cache_size()
    # A policy rebuilt from cfg (a fresh graphdef) is the same static argument.
    rollout.run(env, BanditTransformerPolicy(cfg, horizon=6), jax.random.key(1), 3, p2)
    assert rollout.run._cache_size() == before


# --- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(width=10, heads=3), "^heads: must be a divisor of width = 10"),
        (dict(feedback="text"), "^feedback: must be one of bandit, full"),
        (dict(domain="cube"), "^domain: must be one of ball, simplex"),
        (dict(actions=1), "^actions: must be an integer >= 2"),
        (dict(layers=0), "^layers: must be an integer >= 1"),
        (dict(radius=0.0), "^radius: must be a number > 0"),
        (dict(bandit_token="arm"), "^bandit_token: must be one of shared, per_arm"),
    ],
)
def test_config_errors(kw, match):
    with pytest.raises(ValueError, match=match):
        TransformerConfig(**kw)


def test_horizon_errors():
    cfg = small_cfg(max_horizon=30)
    g, p = build(cfg)
    with pytest.raises(ValueError, match="^horizon: must be <= max_horizon = 30"):
        BanditTransformerPolicy(cfg, g, horizon=31)
    with pytest.raises(ValueError, match="^horizon: must be <= max_horizon = 30"):
        apply(g, p, jnp.zeros((31, cfg.token_dim)))
    with pytest.raises(ValueError, match="^horizon: must be <= max_horizon = 30"):
        init_cache(cfg, 40)
    # An environment longer than the policy's cache fails before compiling.
    with pytest.raises(ValueError, match="^horizon: must be <= the policy's cache horizon = 20"):
        rollout.run(BanditEnv(arms=cfg.actions, horizon=25), BanditTransformerPolicy(cfg, g, horizon=20), jax.random.key(0), 2, p)
    with pytest.raises(ValueError, match="^cfg.feedback: must be 'full'"):
        OnlineTransformerPolicy(cfg, g)
    with pytest.raises(ValueError, match="^temperature: must be a number >= 0"):
        BanditTransformerPolicy(cfg, g, temperature=-1.0)
    with pytest.raises(ValueError, match=r"^tokens: must be an array of shape \(T, 6\)"):
        apply(g, p, jnp.zeros((5, 3)))
    with pytest.raises(ValueError, match="policy: must be built for 5 actions"):
        rollout.check_compatible(BanditEnv(arms=5), BanditTransformerPolicy(cfg, g, horizon=8))
    online = OnlineTransformerPolicy(small_cfg("full", domain="ball"), horizon=8)
    with pytest.raises(ValueError, match="^policy: must act on the simplex"):
        rollout.check_compatible(OnlineEnv(dim=3, domain="simplex"), online)


# --- the NumPy reference of the benchmark ----------------------------------------------


def _numpy_reference():
    path = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "numpy_transformer.py"
    spec = importlib.util.spec_from_file_location("numpy_transformer", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_numpy_reference_matches_jax():
    npt = _numpy_reference()
    cfg = small_cfg(layers=2)
    g, p = build(cfg)
    P = npt.numpy_params(p)
    env = BanditEnv(arms=cfg.actions, horizon=15, noise=1.0)
    B, T = 4, env.horizon
    tasks = rollout.sample_tasks(env, jax.random.key(20), B)
    episodes = jax.vmap(env.realize)(jax.random.split(jax.random.key(21), B), tasks)
    pol = BanditTransformerPolicy(cfg, g, horizon=T, temperature=0.0)
    traj = jax.jit(jax.vmap(rollout.rollout_episode, (None, None, 0, None, None)), static_argnums=(0, 1))(
        env, pol, episodes, jax.random.key(0), p
    )
    means, xi = np.asarray(episodes.means[:, 0]), np.asarray(episodes.xi[..., 0])
    actions, rewards = npt.bandit_rollouts(P, cfg, means, xi, None)
    np.testing.assert_array_equal(actions, traj.actions)
    np.testing.assert_allclose(rewards, traj.rewards, atol=1e-5)
    # And the outputs themselves, step by step, against the full pass.
    keys, values = npt.init_cache(cfg, B, T)
    toks = np.asarray(jax.vmap(lambda a, r: bandit_tokens(a, r, cfg.actions))(traj.actions, traj.rewards))
    outs = np.stack([npt.decode_step(P, cfg, keys, values, toks[:, t], t) for t in range(T)], axis=1)
    np.testing.assert_allclose(outs, jax.vmap(lambda x: apply(g, p, x))(toks), atol=1e-5)
