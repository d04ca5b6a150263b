"""Iterative RMFT on a task distribution: one arm-equivariant model for many arm counts, horizons and rewards.

The Figure 2 recipe ranks rollouts of one environment (``K = 5``, ``T = 25``). Here every
iteration draws a **bucket** of the task distribution — a number of arms ``K``, a
horizon ``T`` and a reward process — and runs the ordinary jitted iteration of
:mod:`rmft_jax.rmft` on it: ``M`` instances, ``L`` rollouts each, the ``k`` lowest-regret
rollouts of each instance kept, SFT on them. The model
(:mod:`rmft_jax.models.equivariant`) has the same weights for every ``K``, so the
buckets share one set of parameters and one optimiser state; a bucket's shapes are
static, so each compiles once (no padding, no recompilation per iteration).

Within a bucket the instances come from a **mixture prior**: with probability
``1 − gap_share`` the means are ``U[0, 1]`` (the Figure 2 prior), else
``U[0.5 − gap_width, 0.5 + gap_width]`` (small gaps: instances where committing
early loses). Every bucket gets the same number of rollout rounds per iteration
(``M = max(1, rounds // (L·T))``), so long horizons are not starved of compute and
short ones do not dominate.

Why (``../shared/design/RMFT-NOTES.md``, last section): ranked at ``T <= 100`` on the
``U[0, 1]`` prior, RMFT moves this model class to a greedy-leaning algorithm, since
committing early *is* lower regret there; to get an anytime learner the ranking must
see horizons and instances where greed loses. Every setting here is our
reconstruction (the paper's training distribution is not available to us).

Randomness: iteration ``i`` draws its bucket and everything else from
``fold_in(key, i)``, so an interrupted run resumes to the same parameters.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from pathlib import Path
from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp

from rmft_jax import checkpoint, checks
from rmft_jax.envs.bandit import REWARDS, BanditEnv, BanditTask
from rmft_jax.envs.nonstationary import DRIFTS, DriftingBanditEnv
from rmft_jax.models import equivariant as eqm
from rmft_jax.models.equivariant import EquivariantConfig
from rmft_jax.models.equivariant_policy import EquivariantBanditPolicy, sft_loss
from rmft_jax.rmft import Learner, RMFTConfig, TrainState, empty_buffer, make_iteration, make_optimizer
from rmft_jax.training import _first_difference, _jsonish, _progress, _row, claim_run_dir, seed_keys
from rmft_jax.types import BANDIT, Array, Environment, PyTree

KIND = "generalist"  # config.json's "kind": what tells a generalist run folder from a TrainConfig one
LATER_MODEL_DEFAULTS = {"time_query": "token", "recency": "none"}
# task-distribution settings added later (drifting bandits, issue 19), written only where they differ
LATER_MIX_DEFAULTS = {"drifts": [], "segment": 50, "walk_std": 0.02, "period": 100.0, "amplitude": 0.4}
EVAL_SEGMENT = 32  # the first cache segment of an evaluation rollout (EquivariantBanditPolicy.decode_segment)


@dataclasses.dataclass(frozen=True)
class MixturePriorBandit(BanditEnv):
    """A :class:`BanditEnv` whose task prior mixes ``U[prior_low, prior_high]`` with a
    small-gap ``U[0.5 − gap_width, 0.5 + gap_width]`` (probability ``gap_share``)."""

    gap_share: float = 0.5
    gap_width: float = 0.1

    def __post_init__(self):
        super().__post_init__()
        checks.validate(self, gap_share=checks.number(low=0.0, high=1.0), gap_width=checks.number(low=0.0, high=0.5))
        if self.prior != "uniform":
            checks.fail("prior", "'uniform' for a mixture prior", self.prior)

    def sample_task(self, key: Array) -> BanditTask:
        k_pick, k_wide, k_gap = jax.random.split(key, 3)
        wide = jax.random.uniform(k_wide, (self.arms,), minval=self.prior_low, maxval=self.prior_high)
        narrow = jax.random.uniform(k_gap, (self.arms,), minval=0.5 - self.gap_width, maxval=0.5 + self.gap_width)
        return BanditTask(jnp.where(jax.random.uniform(k_pick) < self.gap_share, narrow, wide))


@dataclasses.dataclass(frozen=True)
class TaskMix:
    """The task distribution RMFT ranks on.

    Attributes:
      arms: the numbers of arms ``K`` trained on (each ``>= 2``).
      horizons: the training horizons ``T``.
      rewards: reward processes (``bernoulli``, ``gaussian``, ``gamma``).
      noise: ``σ`` of Gaussian rewards.
      gap_share, gap_width: the small-gap share of the mixture prior (:class:`MixturePriorBandit`).
      rounds: rollout rounds per iteration, ``M·L·T`` (sets ``M`` per bucket).
      gamma_low: the lower end of the ``U[gamma_low, 1]`` mean prior for gamma rewards (means must be ``> 0``).
      drifts: drift kinds (:data:`rmft_jax.envs.nonstationary.DRIFTS`); empty (the default) for stationary
        bandits. Non-empty: every bucket is a drifting bandit
        (:class:`~rmft_jax.envs.nonstationary.DriftingBanditEnv`, its means ``U[0, 1]``), ranked by
        **dynamic** regret, and the buckets are ``(K, T, reward, drift)``; ``gap_share`` is not used.
      segment: piecewise drifts: mean rounds between changes (``round(T/segment) − 1`` changes), so a
        longer horizon has more changes at the same rate.
      walk_std: random walks: the per-round step's standard deviation.
      period, amplitude: sinusoidal drifts.
    """

    arms: tuple[int, ...] = (2, 3, 5, 8)
    horizons: tuple[int, ...] = (100, 1000)
    rewards: tuple[str, ...] = ("gaussian",)
    noise: float = 0.5
    gap_share: float = 0.5
    gap_width: float = 0.1
    rounds: int = 32768
    gamma_low: float = 0.05
    drifts: tuple[str, ...] = ()
    segment: int = 50
    walk_std: float = 0.02
    period: float = 100.0
    amplitude: float = 0.4

    def __post_init__(self):
        for name in ("arms", "horizons", "rewards"):
            value = getattr(self, name)
            if not isinstance(value, (tuple, list)) or not value:
                checks.fail(name, "a non-empty list", value)
            object.__setattr__(self, name, tuple(value))
        if not isinstance(self.drifts, (tuple, list)):
            checks.fail("drifts", "a list of drift kinds (empty: stationary)", self.drifts)
        object.__setattr__(self, "drifts", tuple(self.drifts))
        for d in self.drifts:
            checks.choice("drifts", d, DRIFTS)
        for k in self.arms:
            checks.integer("arms", k, 2)
        for t in self.horizons:
            checks.integer("horizons", t, 2)
        for r in self.rewards:
            checks.choice("rewards", r, REWARDS)
        checks.validate(
            self,
            noise=checks.number(low=0.0),
            gap_share=checks.number(low=0.0, high=1.0),
            gap_width=checks.number(low=0.0, high=0.5),
            rounds=checks.at_least(1),
            gamma_low=checks.number(low=0.0, low_open=True, high=1.0, high_open=True),
            segment=checks.at_least(1),
            walk_std=checks.number(low=0.0),
            period=checks.number(low=0.0, low_open=True),
            amplitude=checks.number(low=0.0, high=0.5),
        )

    @property
    def buckets(self) -> tuple[tuple, ...]:
        """Every ``(K, T, reward)`` of the distribution (``(K, T, reward, drift)`` with drifts), in a fixed order."""
        if self.drifts:
            return tuple(itertools.product(self.arms, self.horizons, self.rewards, self.drifts))
        return tuple(itertools.product(self.arms, self.horizons, self.rewards))

    def env(self, arms: int, horizon: int, reward: str, drift: str | None = None) -> BanditEnv | DriftingBanditEnv:
        if drift is not None:
            return self.drift_env(arms, horizon, reward, drift)
        low = self.gamma_low if reward == "gamma" else 0.0
        return MixturePriorBandit(
            arms=arms, horizon=horizon, reward=reward, noise=self.noise, prior_low=low, prior_high=1.0,
            gap_share=self.gap_share, gap_width=self.gap_width,
        )

    def drift_env(self, arms: int, horizon: int, reward: str, drift: str) -> DriftingBanditEnv:
        """The drifting bandit of a bucket (and of an evaluation at any ``T``: the same drift rates)."""
        return DriftingBanditEnv(
            arms=arms, horizon=horizon, reward=reward, noise=self.noise, drift=drift,
            changes=max(0, round(horizon / self.segment) - 1), walk_std=self.walk_std, period=self.period,
            amplitude=self.amplitude,
        )

    def tasks(self, rollouts: int, horizon: int) -> int:
        """``M`` of a bucket of horizon ``T``: ``max(1, rounds // (L·T))``."""
        return max(1, self.rounds // (rollouts * horizon))

    def covers(self, arms: int, horizon: int, reward: str) -> bool:
        """Whether ``(K, T, reward)`` lies inside the training distribution (within its ranges of K and T)."""
        return min(self.arms) <= arms <= max(self.arms) and horizon <= max(self.horizons) and reward in self.rewards


@dataclasses.dataclass(frozen=True)
class GeneralistConfig:
    """A generalist training run: the model, the task distribution, RMFT's settings and the seed.

    ``rmft.tasks`` is not used (each bucket's ``M`` comes from :meth:`TaskMix.tasks`).
    """

    model: EquivariantConfig = EquivariantConfig()
    mix: TaskMix = TaskMix()
    rmft: RMFTConfig = RMFTConfig(rollouts=16, keep=4, sft_steps=8, learning_rate=1e-3, iterations=150)
    seed: int = 0

    kind: ClassVar[str] = KIND

    def __post_init__(self):
        checks.seed("seed", self.seed)
        for t in self.mix.horizons:
            self.model.check_horizon(t)
        if self.rmft.buffer_iterations != 1:
            checks.fail("rmft.buffer_iterations", "1 (buckets have different shapes)", self.rmft.buffer_iterations)

    def bucket_config(self, horizon: int) -> RMFTConfig:
        return dataclasses.replace(self.rmft, tasks=self.mix.tasks(self.rmft.rollouts, horizon))

    def to_dict(self) -> dict:
        return {
            "kind": KIND,
            # a model setting added later is written only when it differs from its default,
            # so runs saved before it keep matching (and hashing to) their config
            "model": {k: v for k, v in dataclasses.asdict(self.model).items()
                      if k not in LATER_MODEL_DEFAULTS or v != LATER_MODEL_DEFAULTS[k]},
            "mix": {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self.mix).items()
                    if k not in LATER_MIX_DEFAULTS or (list(v) if isinstance(v, tuple) else v) != LATER_MIX_DEFAULTS[k]},
            "rmft": dataclasses.asdict(self.rmft),
            "seed": self.seed,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "GeneralistConfig":
        if not isinstance(d, dict) or d.get("kind") != KIND:
            checks.fail("config.kind", f"'{KIND}'", d.get("kind") if isinstance(d, dict) else d)
        unknown = set(d) - {"kind", "model", "mix", "rmft", "seed"}
        if unknown:
            checks.fail("config", "sections kind, model, mix, rmft, seed", sorted(unknown))
        parts = {}
        for name, kind in (("model", EquivariantConfig), ("mix", TaskMix), ("rmft", RMFTConfig)):
            section = d.get(name, {})
            if not isinstance(section, dict):
                checks.fail(f"config.{name}", "a JSON object", section)
            try:
                parts[name] = kind(**section)
            except (TypeError, ValueError) as e:
                raise ValueError(f"config.{name}.{e}") from None
        return cls(**parts, seed=checks.seed("config.seed", d.get("seed", 0)))


def is_generalist(config_dict: dict) -> bool:
    """Whether a run folder's ``config.json`` (as a dict) is a generalist run's."""
    return config_dict.get("kind") == KIND


class GeneralistState(NamedTuple):
    """What a generalist checkpoint holds: weights, optimiser state, iterations completed."""

    params: PyTree
    opt_state: PyTree
    iteration: Array


def base_model(cfg: GeneralistConfig):
    """``(graphdef, params)`` of the base (untrained) model of ``cfg``'s seed."""
    return eqm.init_model(cfg.model, seed_keys(cfg.seed)[0])


def learner(cfg: GeneralistConfig, graphdef, base_params, arms: int, horizon: int) -> Learner:
    """The RMFT learner of one bucket: the policy at ``K = arms``, cache ``horizon``, and its SFT loss."""
    policy = EquivariantBanditPolicy(cfg.model, arms, graphdef, horizon=horizon, temperature=cfg.rmft.temperature)
    return Learner(policy, sft_loss(graphdef, arms, cfg.rmft.temperature, cfg.rmft.entropy_bonus), base_params)


def bucket_of(cfg: GeneralistConfig, key: Array, i: int) -> tuple[int, int, str]:
    """The bucket iteration ``i`` trains on, uniform over :attr:`TaskMix.buckets`, from ``fold_in(key, i)``."""
    buckets = cfg.mix.buckets
    pick = jax.random.randint(jax.random.fold_in(jax.random.fold_in(key, i), 7), (), 0, len(buckets))
    return buckets[int(pick)]


def train(cfg: GeneralistConfig, run_dir: str | Path | None, *, resume: bool = False, checkpoint_every: int = 10,
          progress: bool = True, stop_after: int | None = None, log=None):
    """Run (or resume) Iterative RMFT over the task distribution. Returns ``(GeneralistState, rows)``.

    The run folder is laid out as :func:`rmft_jax.training.train`'s (``config.json``,
    ``metrics.jsonl``, ``checkpoints/``), with the generalist config (``"kind":
    "generalist"``); ``resume`` continues it to the same parameters as an
    uninterrupted run. ``log(row)``, if given, sees each iteration's metrics row.
    """
    run_dir = None if run_dir is None else Path(run_dir)
    with claim_run_dir(run_dir, resume):  # one process: it checks the folder and holds its writer's lock
        return _train(cfg, run_dir, resume=resume, checkpoint_every=checkpoint_every, progress=progress,
                      stop_after=stop_after, log=log)


def _train(cfg: GeneralistConfig, run_dir: Path | None, *, resume: bool, checkpoint_every: int, progress: bool,
           stop_after: int | None, log):
    if run_dir is not None:
        saver = checkpoint.Saver(run_dir)
    graphdef, base = base_model(cfg)
    opt = make_optimizer(cfg.rmft)
    state = GeneralistState(jax.tree.map(jnp.copy, base), opt.init(base), jnp.zeros((), jnp.int32))
    rows: list[dict] = []
    if run_dir is not None:
        if resume:
            saved, given = checkpoint.load_config_dict(run_dir), _jsonish(cfg.to_dict())
            if saved != given:
                raise ValueError(f"config: differs from the checkpoint's config ({_first_difference(saved, given)}); "
                                 "resume with the same config")
            if checkpoint.has_state(run_dir):
                state = checkpoint.load_state(run_dir, state)
            rows = checkpoint.read_metrics(run_dir)[: int(state.iteration)]
            checkpoint.remove_stray_files(run_dir)
            checkpoint.write_metrics(run_dir, rows)
        else:
            checkpoint.remove_stray_files(run_dir)
            run_dir.mkdir(parents=True, exist_ok=True)
            checkpoint.save_config(run_dir, cfg.to_dict())
            checkpoint.write_metrics(run_dir, [])
    key = seed_keys(cfg.seed)[1]
    steps = {}  # one jitted iteration per bucket, compiled on first use

    def step_for(bucket):
        if bucket not in steps:
            arms, horizon = bucket[:2]
            env = cfg.mix.env(*bucket)
            steps[bucket] = (env, make_iteration(env, cfg.bucket_config(horizon), learner(cfg, graphdef, base, arms, horizon)))
        return steps[bucket]

    start = int(state.iteration)
    end = cfg.rmft.iterations if stop_after is None else min(cfg.rmft.iterations, start + stop_after)
    bar = _progress(range(start, end), progress, total=cfg.rmft.iterations, initial=start)
    try:
        for i in bar:
            bucket = bucket_of(cfg, key, i)
            env, step = step_for(bucket)
            t0 = time.perf_counter()
            rcfg = cfg.bucket_config(env.horizon)
            ts = TrainState(state.params, state.opt_state, empty_buffer(env, rcfg), state.iteration)
            ts, metrics = step(ts, key, base)
            state = GeneralistState(ts.params, ts.opt_state, ts.iteration)
            row = _row(i + 1, jax.device_get(metrics), time.perf_counter() - t0)
            row.update(zip(("arms", "horizon", "reward", "drift"), bucket))
            rows.append(row)
            if log is not None:
                log(row)
            if run_dir is not None:
                checkpoint.append_metrics(run_dir, row)
                if (i + 1) % checkpoint_every == 0 or i + 1 == end:
                    saver.save(state)
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(K=bucket[0], T=bucket[1], regret=f"{row['rollout_regret_mean']:.2f}")
    finally:
        if run_dir is not None:
            saver.close()
    return state, rows


def load(run_dir: str | Path, step: int | None = None) -> tuple:
    """``(cfg, state, graphdef, base_params)`` of a saved generalist run (its newest sealed checkpoint, or ``step``)."""
    cfg = GeneralistConfig.from_dict(checkpoint.load_config_dict(run_dir))
    graphdef, base = base_model(cfg)
    opt = make_optimizer(cfg.rmft)
    template = GeneralistState(base, opt.init(base), jnp.zeros((), jnp.int32))
    return cfg, checkpoint.load_state(run_dir, template, step), graphdef, base


def load_policy(run_dir: str | Path, env: Environment, *, base: bool = False,
                step: int | None = None) -> tuple[EquivariantBanditPolicy, PyTree]:
    """``(policy, params)`` of the generalist saved in ``run_dir`` (or its base model) for ``env``.

    It plays any bandit-feedback environment with any ``K >= 2`` and any horizon up to the
    model's ``max_horizon``; anything else is a one-line ``ValueError``.
    """
    cfg, state, graphdef, base_params = load(run_dir, step)
    if env.feedback != BANDIT:
        raise ValueError(f"checkpoint: the generalist model plays bandit feedback with any number of arms >= 2; "
                         f"this environment has {env.feedback} feedback")
    return policy_for(cfg, graphdef, env.num_actions, env.horizon), base_params if base else state.params


def policy_for(cfg: GeneralistConfig, graphdef, arms: int, horizon: int, temperature: float = 1.0) -> EquivariantBanditPolicy:
    """The trained model as a policy at ``K = arms`` for rollouts of ``horizon`` rounds (refused beyond
    ``max_horizon``), for evaluation: its cache grows in segments (``decode_segment``), same outputs to rounding."""
    cfg.model.check_horizon(horizon)
    return EquivariantBanditPolicy(cfg.model, arms, graphdef, horizon=horizon, temperature=temperature,
                                   decode_segment=EVAL_SEGMENT)


__all__ = ["GeneralistConfig", "GeneralistState", "MixturePriorBandit", "TaskMix", "bucket_of", "is_generalist", "load",
           "load_policy",
           "policy_for", "train"]
