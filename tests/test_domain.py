"""The decision sets (rmft_jax.domain): one projection for FTRL, the Transformer and the theory."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rmft_jax import domain, rollout
from rmft_jax.envs import make_env
from rmft_jax.policies import make_policy


def points(seed, n=400, d=3, scale=3.0):
    """Rows from the origin out to ``scale`` in norm, the origin itself first."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)) * np.linspace(0.0, scale, n)[:, None]
    return x.astype(np.float32)


@pytest.mark.parametrize("radius", [0.5, 1.0, 2.5])
def test_projection_is_the_nearest_point_of_the_ball(radius):
    x = points(0)
    p = np.asarray(jax.jit(lambda v: domain.project_ball(v, radius))(x))
    n = np.linalg.norm(x, axis=-1)
    inside = n <= radius
    np.testing.assert_array_equal(p[inside], x[inside])  # inside: unchanged, bit for bit
    np.testing.assert_allclose(np.linalg.norm(p[~inside], axis=-1), radius, rtol=1e-6)  # outside: on the sphere
    # the variational inequality of the projection: <x − p, q − p> <= 0 for every q in the ball
    rng = np.random.default_rng(1)
    u = rng.standard_normal((2000, 3))
    q = radius * u / np.linalg.norm(u, axis=-1, keepdims=True) * rng.uniform(0, 1, (2000, 1)) ** (1 / 3)
    slack = np.einsum("nd,nmd->nm", x - p, q[None] - p[:, None])
    assert slack.max() <= 1e-4 * radius * max(1.0, n.max())


def test_projection_gradient_is_finite_and_the_identity_at_the_origin():
    g = jax.grad(lambda v: jnp.sum(domain.project_ball(v, 1.0) * jnp.arange(1.0, 4.0)))(jnp.zeros(3))
    np.testing.assert_array_equal(g, np.arange(1.0, 4.0))
    # outside the ball the map is R·y/‖y‖, whose Jacobian annihilates y
    y = jnp.array([3.0, -4.0, 0.0])
    jac = jax.jacobian(lambda v: domain.project_ball(v, 2.0))(y)
    np.testing.assert_allclose(jac @ y, np.zeros(3), atol=1e-6)


def test_to_domain_simplex_and_unknown_map():
    y = jnp.asarray(points(2, n=50))
    s = domain.to_domain(y, "simplex")
    np.testing.assert_allclose(np.sum(np.asarray(s), -1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(domain.to_domain(y, "ball", 1.5), domain.project_ball(y, 1.5))


def test_ftrl_plays_the_projection_of_its_scaled_reward_sum():
    """FTRL's action is ``Proj(η S_{t-1})`` with the shared projection: the same floats."""
    env = make_env("fol-ball", dim=3, horizon=30, radius=1.5, mean_scale=2.0)
    pol = make_policy("ftrl", env)
    tr = rollout.run(env, pol, jax.random.key(0), 8)
    totals = jnp.cumsum(tr.feedback, axis=1) - tr.feedback  # S_{t-1}
    want = jax.vmap(jax.vmap(lambda s: domain.project_ball(pol.rate * s, pol.radius)))(totals)
    np.testing.assert_allclose(np.asarray(tr.actions), np.asarray(want), rtol=1e-6, atol=1e-7)
