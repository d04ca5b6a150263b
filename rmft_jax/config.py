"""The training configuration: environment, model and RMFT settings in one frozen, validated object.

A config file is JSON with four sections and a seed::

    {"env":   {"name": "mab", "arms": 5, "horizon": 25, "reward": "gaussian", "noise": 1.0},
     "model": {"layers": 2, "heads": 2, "width": 64},
     "rmft":  {"tasks": 128, "rollouts": 32, "keep": 2, "iterations": 100},
     "eval":  {"horizon": 100, "runs": 1000},
     "seed":  0,
     "rng":   "threefry2x32"}

Missing keys take the defaults of :class:`rmft_jax.envs` /
:class:`rmft_jax.models.transformer.TransformerConfig` / :class:`rmft_jax.rmft.RMFTConfig`;
unknown keys and values of the wrong type are one-line ``ValueError``s that name
the key (``config.rmft.keep: ...``). The model's ``feedback`` and ``actions`` are
derived from the environment. ``rng`` names the generator the run draws with
(:mod:`rmft_jax.generator`); left out, it is the active one (``threefry2x32`` unless
``--rng`` / :func:`rmft_jax.generator.use` chose another), and it is written out only
when it is not ``threefry2x32``, so configs saved before it existed keep their hash.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from rmft_jax import checks, generator
from rmft_jax.envs import ENV_NAMES, make_env
from rmft_jax.models.transformer import TransformerConfig
from rmft_jax.rmft import RMFTConfig
from rmft_jax.types import FULL, Environment

SECTIONS = ("env", "model", "rmft", "eval", "seed", "rng")
LATER_DEFAULTS = {"shared_env_noise": False, "selection": "final", "selection_horizon": 0, "online_target": "policy"}


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    """How a trained model is evaluated: at ``horizon`` (``0``: the training horizon) over ``runs`` runs."""

    horizon: int = 0
    runs: int = 1000

    def __post_init__(self):
        checks.validate(self, horizon=checks.at_least(0), runs=checks.at_least(1))


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything ``rmft train`` needs; equal configs hash equal (it is a static jit argument).

    Resolved once, on construction: the environment is built from ``env`` and the
    model's :class:`TransformerConfig` from ``model`` and that environment (its
    ``feedback`` and ``actions``, and for online learning its ``domain`` and ``radius``
    unless given), every field checked on the way; an invalid section is a one-line
    ``ValueError`` naming ``config.<section>.<key>``. :attr:`environment` and
    :attr:`transformer` are those objects (not fields: equality and hashing see the
    sections only).
    """

    env: tuple[tuple[str, Any], ...]  # (("name", "mab"), ("arms", 5), ...) hashable form
    model: tuple[tuple[str, Any], ...]
    rmft: RMFTConfig
    eval: EvalConfig
    seed: int
    rng: str = generator.DEFAULT  # the generator's name (rmft_jax.generator.GENERATORS)
    # resolved from the sections in __post_init__ (not compared, hashed or printed)
    environment: Environment = dataclasses.field(init=False, compare=False, repr=False)
    transformer: TransformerConfig = dataclasses.field(init=False, compare=False, repr=False)

    def __post_init__(self):
        env = {"name": "mab", **dict(self.env)}
        environment = _resolve_env(dict(env))
        env.setdefault("horizon", environment.horizon)  # saved with the name and horizon it runs at
        object.__setattr__(self, "env", tuple(sorted(env.items())))
        transformer = _resolve_model(dict(self.model), environment)
        if self.rmft.online_target == "outputs" and (
            transformer.feedback != FULL or transformer.domain == "ball" and transformer.ball_map != "tanh"
        ):
            checks.fail(
                "config.rmft.online_target",
                "'outputs' only for an online model on the simplex, or on the ball with model.ball_map = 'tanh'",
                self.rmft.online_target,
            )
        object.__setattr__(self, "environment", environment)
        object.__setattr__(self, "transformer", transformer)

    # --- the resolved objects ---------------------------------------------------------
    def env_at(self, horizon: int) -> Environment:
        """The run's environment (:attr:`environment`) at another ``horizon``."""
        if horizon == self.environment.horizon:
            return self.environment
        fields = dict(self.env)
        return make_env(fields.pop("name"), **{**fields, "horizon": horizon})

    @property
    def eval_horizon(self) -> int:
        return self.eval.horizon or self.environment.horizon

    # --- (de)serialisation ---------------------------------------------------------
    def to_dict(self) -> dict:
        rmft = dataclasses.asdict(self.rmft)
        # Settings added after runs were saved are written only when they differ from
        # their default, so saved run directories keep matching (and hashing to) their config.
        for key, default in LATER_DEFAULTS.items():
            if rmft.get(key) == default:
                rmft.pop(key)
        d = {
            "env": dict(self.env),
            "model": dict(self.model),
            "rmft": rmft,
            "eval": dataclasses.asdict(self.eval),
            "seed": self.seed,
        }
        if self.rng != generator.DEFAULT:  # like LATER_DEFAULTS: runs saved before the setting keep their hash
            d["rng"] = self.rng
        return d

    @classmethod
    def from_dict(cls, d: Any) -> "TrainConfig":
        if not isinstance(d, dict):
            checks.fail("config", "a JSON object with keys " + ", ".join(SECTIONS), type(d).__name__)
        for key in d:
            if key not in SECTIONS:
                checks.fail(f"config.{key}", "one of the sections " + ", ".join(SECTIONS), key)
        env = _section(d, "env")
        if "means" in env and isinstance(env["means"], list):
            env["means"] = tuple(env["means"])  # hashable, as the config is a static jit argument
        model = _section(d, "model")
        rmft = _build(RMFTConfig, _section(d, "rmft"), "rmft")
        ev = _build(EvalConfig, _section(d, "eval"), "eval")
        seed = checks.seed("config.seed", d.get("seed", 0))
        rng = generator.check(d["rng"] if "rng" in d else generator.current(), "config.rng")
        return cls(env=tuple(sorted(env.items())), model=tuple(sorted(model.items())), rmft=rmft, eval=ev, seed=seed,
                   rng=rng)

    @classmethod
    def load(cls, path: str | Path) -> "TrainConfig":
        return cls.from_dict(read_json(path))

    def with_overrides(self, overrides: dict[str, Any]) -> "TrainConfig":
        """A copy with ``{"rmft.keep": 4, "env.noise": 0.5, "seed": 3}``-style overrides applied."""
        d = self.to_dict()
        for dotted, value in overrides.items():
            section, _, key = dotted.partition(".")
            if section in ("seed", "rng") and not key:
                d[section] = value
                continue
            if section not in SECTIONS or section in ("seed", "rng") or not key:
                checks.fail("set", "of the form section.key=value with section in env, model, rmft, eval", dotted)
            d[section][key] = value
        return TrainConfig.from_dict(d)


MAX_JSON_BYTES = 16 * 2**20  # a config is a few hundred bytes (a means list of 20,000 arms about 400 kB)
MAX_JSON_DEPTH = 32  # a config nests 2 deep (a section, a list of means)


def read_json(path: str | Path) -> Any:
    """The JSON value of a config file, or a one-line ``config: ...`` error (missing, larger than
    :data:`MAX_JSON_BYTES`, not UTF-8, not JSON, or not :func:`loads`'s strict JSON)."""
    path = Path(path)
    if not path.is_file():
        checks.fail("config", "an existing JSON file", str(path))
    if path.stat().st_size > MAX_JSON_BYTES:
        checks.fail("config", f"a JSON file of at most {MAX_JSON_BYTES} bytes", f"{path}: {path.stat().st_size} bytes")
    try:
        return loads(path.read_text(), "config")
    except json.JSONDecodeError as e:
        raise ValueError(f"config: must be valid JSON ({path}: {e.msg} at line {e.lineno})") from None
    except UnicodeDecodeError:
        checks.fail("config", "a UTF-8 JSON file", f"{path} holds other bytes")


def loads(text: str, field: str) -> Any:
    """``json.loads``, stricter: an object with a key given twice (JSON keeps the last, silently), or a
    value nested deeper than :data:`MAX_JSON_DEPTH`, is a one-line ``ValueError`` naming ``field``.
    Malformed JSON raises ``json.JSONDecodeError`` as ``json.loads`` does."""

    def unique(pairs):
        seen = set()
        for key, _ in pairs:
            if key in seen:
                checks.fail(field, "JSON whose objects give each key once", f"{key!r} twice")
            seen.add(key)
        return dict(pairs)

    try:
        value = json.loads(text, object_pairs_hook=unique)
    except RecursionError:  # the decoder's own limit, hundreds deep
        checks.fail(field, f"JSON nested at most {MAX_JSON_DEPTH} deep", "deeper than Python's recursion limit")
    stack = [(value, 0)]
    while stack:  # without recursion: the structure may be deep
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            checks.fail(field, f"JSON nested at most {MAX_JSON_DEPTH} deep", f"{depth} levels or more")
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        stack.extend((child, depth + 1) for child in children)
    return value


def _resolve_env(fields: dict) -> Environment:
    """The environment of a config's ``env`` section, or a one-line ``config.env.*`` error."""
    name = fields.pop("name")
    if name not in ENV_NAMES:
        checks.fail("config.env.name", "one of " + ", ".join(ENV_NAMES), name)
    if fields.get("means") is not None and not isinstance(fields["means"], (list, tuple)):
        checks.fail("config.env.means", "a list of numbers, one per arm", fields["means"])
    try:
        return make_env(name, **fields)
    except ValueError as e:
        raise ValueError(f"config.env.{e}") from None
    except TypeError as e:  # a value of a type no check expected
        raise ValueError(f"config.env: must hold known keys with values of the right type ({e})") from None


def _resolve_model(fields: dict, env: Environment) -> TransformerConfig:
    """The model's config: the ``model`` section with what the environment decides (feedback,
    actions; for online learning the domain and radius unless given), or a ``config.model.*`` error."""
    for derived in ("feedback", "actions"):
        if derived in fields:
            checks.fail(f"config.model.{derived}", "left out (it is derived from the environment)", fields[derived])
    fields.update(feedback=env.feedback, actions=env.num_actions)
    if env.feedback == FULL:
        fields.setdefault("domain", env.domain)
        fields.setdefault("radius", env.radius)
    try:
        return TransformerConfig(**fields)
    except ValueError as e:
        raise ValueError(f"config.model.{e}") from None
    except TypeError as e:
        raise ValueError(f"config.model: unknown setting ({e})") from None


def _section(d: dict, name: str) -> dict:
    sec = d.get(name, {})
    if not isinstance(sec, dict):
        checks.fail(f"config.{name}", "a JSON object", sec)
    return dict(sec)


def _build(cls, fields: dict, section: str):
    known = {f.name: f for f in dataclasses.fields(cls)}
    for key, value in fields.items():
        if key not in known:
            checks.fail(f"config.{section}.{key}", "a known key: " + ", ".join(sorted(known)), key)
        if known[key].type in ("bool",) and not isinstance(value, bool):
            checks.fail(f"config.{section}.{key}", "true or false", value)
        if known[key].type in ("int",) and (isinstance(value, bool) or not isinstance(value, int)):
            checks.fail(f"config.{section}.{key}", "an integer", value)
        if known[key].type in ("float",) and (isinstance(value, bool) or not isinstance(value, (int, float))):
            checks.fail(f"config.{section}.{key}", "a number", value)
    try:
        return cls(**fields)
    except ValueError as e:
        raise ValueError(f"config.{section}.{e}") from None


def parse_value(text: str) -> Any:
    """A ``--set`` value: JSON if it parses (numbers, true/false, lists; :func:`loads`'s strict JSON),
    else the string."""
    try:
        return loads(text, "set")
    except json.JSONDecodeError:
        return text
