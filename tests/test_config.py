"""TrainConfig: validated and resolved once into the environment and the model's config."""

import dataclasses

import pytest

from rmft_jax import envs
from rmft_jax.config import TrainConfig
from rmft_jax.training import train
from rmft_jax.types import BANDIT, FULL

BANDIT_SPEC = {
    "env": {"name": "mab", "arms": 3, "horizon": 6, "noise": 0.5},
    "model": {"layers": 1, "heads": 1, "width": 8},
    "rmft": {"tasks": 4, "rollouts": 4, "keep": 2, "iterations": 2, "sft_steps": 1},
    "seed": 0,
}


def counting(monkeypatch, cls):
    """Count the environments of ``cls`` built from here on (every construction runs ``__post_init__``)."""
    built = []
    original = cls.__post_init__

    def post_init(self):
        built.append(self)
        original(self)

    monkeypatch.setattr(cls, "__post_init__", post_init)
    return built


def test_a_training_run_builds_its_environment_once(monkeypatch):
    built = counting(monkeypatch, envs.BanditEnv)
    cfg = TrainConfig.from_dict(BANDIT_SPEC)
    assert len(built) == 1
    _, _, rows = train(cfg, None, progress=False)
    assert len(rows) == 2
    assert len(built) == 1  # the run used cfg.environment; nothing derived it again
    assert cfg.env_at(6) is cfg.environment
    assert cfg.env_at(40).horizon == 40 and len(built) == 2


def test_the_model_config_is_derived_from_the_environment():
    bandit = TrainConfig.from_dict(BANDIT_SPEC)
    assert (bandit.transformer.feedback, bandit.transformer.actions) == (BANDIT, 3)
    online = TrainConfig.from_dict({"env": {"name": "fol-ball", "dim": 4, "radius": 2.0}})
    assert (online.transformer.feedback, online.transformer.actions) == (FULL, 4)
    assert (online.transformer.domain, online.transformer.radius) == ("ball", 2.0)
    # the environment's horizon is written into the sections (saved configs carry it)
    assert dict(online.env)["horizon"] == online.environment.horizon


def test_resolved_objects_do_not_enter_equality_or_hash():
    a, b = TrainConfig.from_dict(BANDIT_SPEC), TrainConfig.from_dict(BANDIT_SPEC)
    assert a == b and hash(a) == hash(b) and a.environment is not b.environment
    assert "environment" not in repr(a)
    c = dataclasses.replace(a, seed=1)  # re-resolved on construction
    assert c != a and c.transformer == a.transformer


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"model": {"feedback": "full"}}, "^config.model.feedback: must be left out"),
        ({"model": {"actions": 4}}, "^config.model.actions: must be left out"),
        ({"model": {"heads": 3, "width": 8}}, "^config.model.heads: must be a divisor of width = 8"),
        ({"env": {"name": "mab", "arms": 1}}, "^config.env.arms: must be an integer >= 2"),
        ({"env": {"name": "mab", "colour": 1}}, "^config.env.colour: not a setting of env 'mab'"),
        ({"env": {"name": "mab"}, "rmft": {"online_target": "outputs"}}, "^config.rmft.online_target: must be 'outputs' only"),
    ],
)
def test_one_line_errors_name_the_section(spec, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig.from_dict(spec)
