"""Regret curves against independent NumPy references, brute force and properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rmft_jax import domain, regret

PROPS = settings(max_examples=25, deadline=None)


def ref_pseudo_regret(means, actions):
    """Loop over rounds; ``means`` is ``(T, K)`` or ``(1, K)``."""
    total, out = 0.0, []
    for t, a in enumerate(actions):
        mu = means[0] if means.shape[0] == 1 else means[t]
        total += max(mu) - mu[a]
        out.append(total)
    return np.array(out)


def ref_static_regret(rewards, policies, domain, radius):
    out = []
    for t in range(1, len(rewards) + 1):
        s = rewards[:t].sum(axis=0)
        best = radius * np.sqrt(np.sum(s**2)) if domain == "ball" else s.max()
        earned = sum(float(np.dot(policies[i], rewards[i])) for i in range(t))
        out.append(best - earned)
    return np.array(out)


def random_ball_points(rng, t, d, radius):
    x = rng.standard_normal((t, d))
    return radius * x / np.linalg.norm(x, axis=1, keepdims=True) * rng.random((t, 1))


def random_simplex_points(rng, t, d):
    return rng.dirichlet(np.ones(d), size=t)


@pytest.mark.parametrize("stationary", [True, False])
def test_pseudo_and_dynamic_regret_match_reference(stationary):
    rng = np.random.default_rng(0)
    T, K = 40, 5
    means = rng.random((1 if stationary else T, K)).astype(np.float32)
    actions = rng.integers(0, K, T)
    ref = ref_pseudo_regret(means.astype(np.float64), actions)
    np.testing.assert_allclose(regret.pseudo_regret(means, actions), ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(regret.dynamic_regret(means, actions), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("domain", ["ball", "simplex"])
def test_static_regret_matches_reference(domain):
    rng = np.random.default_rng(1)
    T, d, radius = 30, 4, 1.7
    rewards = rng.standard_normal((T, d)).astype(np.float32)
    pol = random_ball_points(rng, T, d, radius) if domain == "ball" else random_simplex_points(rng, T, d)
    pol = pol.astype(np.float32)
    ref = ref_static_regret(rewards.astype(np.float64), pol.astype(np.float64), domain, radius)
    np.testing.assert_allclose(regret.static_regret(rewards, pol, domain, radius), ref, rtol=1e-4, atol=1e-4)


def test_best_fixed_value_ball_brute_force():
    rng = np.random.default_rng(2)
    radius = 2.5
    for _ in range(5):
        s = rng.standard_normal(3)
        value = float(domain.best_fixed_value(s.astype(np.float32), "ball", radius))
        assert value == pytest.approx(radius * np.linalg.norm(s), rel=1e-5)
        # No point of the ball beats it: 20 000 random points on the sphere (the max is on it).
        pts = rng.standard_normal((20000, 3))
        pts = radius * pts / np.linalg.norm(pts, axis=1, keepdims=True)
        assert np.max(pts @ s) <= value * (1 + 1e-5)
        assert np.max(pts @ s) >= 0.99 * value  # and the sampled sphere gets close
        # The maximiser R·S/‖S‖ attains it.
        assert radius * s / np.linalg.norm(s) @ s == pytest.approx(value, rel=1e-5)


def test_best_fixed_value_simplex_vertices():
    rng = np.random.default_rng(3)
    for _ in range(5):
        s = rng.standard_normal(5)
        value = float(domain.best_fixed_value(s.astype(np.float32), "simplex"))
        # A linear function on the simplex is maximised at a vertex.
        assert value == pytest.approx(max(float(np.eye(5)[i] @ s) for i in range(5)), rel=1e-6)
        assert np.max(random_simplex_points(rng, 5000, 5) @ s) <= value + 1e-6


def test_unknown_domain():
    with pytest.raises(ValueError, match="domain"):
        domain.best_fixed_value(np.ones(3), "cube")


# ----- properties ------------------------------------------------------------------

cases = st.tuples(st.integers(0, 2**31 - 1), st.sampled_from([(1, 2), (12, 3), (12, 7)]), st.booleans())


@PROPS
@given(cases)
def test_pseudo_regret_properties(case):
    seed, (T, K), stationary = case
    rng = np.random.default_rng(seed)
    means = rng.random((1 if stationary else T, K)).astype(np.float32)
    actions = rng.integers(0, K, T)
    curve = np.asarray(regret.pseudo_regret(means, actions), np.float64)
    assert np.all(curve >= 0)
    assert np.all(np.diff(curve) >= -1e-6)
    gap_max = float(np.max(means.max(axis=1, keepdims=True) - means))
    assert np.all(curve <= np.arange(1, T + 1) * gap_max + 1e-5)
    # The curve's increments are the instantaneous regrets.
    mu = np.broadcast_to(means, (T, K))
    inst = mu.max(axis=1) - mu[np.arange(T), actions]
    np.testing.assert_allclose(np.diff(curve, prepend=0.0), inst, atol=1e-5)


@PROPS
@given(cases, st.sampled_from(["ball", "simplex"]))
def test_static_regret_is_best_fixed_minus_earned(case, domain):
    seed, (T, d), _ = case
    d = max(d, 2)
    rng = np.random.default_rng(seed)
    rewards = rng.uniform(-1, 1, (T, d)).astype(np.float32)
    pol = random_ball_points(rng, T, d, 1.0) if domain == "ball" else random_simplex_points(rng, T, d)
    pol = pol.astype(np.float32)
    curve = np.asarray(regret.static_regret(rewards, pol, domain), np.float64)
    for t in range(T):
        s_t = rewards[: t + 1].astype(np.float64).sum(axis=0)
        best = np.linalg.norm(s_t) if domain == "ball" else s_t.max()
        earned = float(np.sum(pol[: t + 1].astype(np.float64) * rewards[: t + 1]))
        assert curve[t] == pytest.approx(best - earned, abs=1e-4)
    # The best fixed policy is at least as good as any fixed point of Π, e.g. the learner's first.
    fixed = np.cumsum(rewards.astype(np.float64) @ pol[0].astype(np.float64))
    earned = np.cumsum(np.sum(pol.astype(np.float64) * rewards, axis=1))
    assert np.all(curve >= fixed - earned - 1e-4)


def test_pick_is_the_gather_bit_for_bit_and_refuses_bad_indices():
    import jax
    import jax.numpy as jnp

    from rmft_jax._select import pick

    rng = np.random.default_rng(7)
    x = (rng.standard_normal((200, 7)) * 10.0 ** rng.integers(-30, 30, (200, 7))).astype(np.float32)
    x[::17, 3] = np.inf
    x[::23, 1] = -np.inf
    idx = rng.integers(0, 7, 200)
    want = np.take_along_axis(x, idx[:, None], axis=1)[:, 0]
    got = np.asarray(jax.jit(jax.vmap(pick))(jnp.asarray(x), jnp.asarray(idx)))
    np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))  # the same bits
    assert np.isnan(np.asarray(pick(jnp.ones(4), jnp.array([4, -1, 9])))).all()
    # The pseudo-regret built on it equals a left-to-right float32 sum of the gaps exactly.
    means = rng.uniform(size=(1, 7)).astype(np.float32)
    actions = rng.integers(0, 7, 300)
    gaps = (means.max(axis=1, keepdims=True) - means)[0, actions]
    np.testing.assert_array_equal(np.asarray(regret.pseudo_regret(jnp.asarray(means), jnp.asarray(actions))),
                                  np.cumsum(gaps, dtype=np.float32))
