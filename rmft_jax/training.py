"""Running Iterative RMFT on the numerical Transformer: learner construction and the resumable loop.

:func:`build_learner` turns a :class:`~rmft_jax.config.TrainConfig` into the model
side of RMFT (rollout policy, teacher-forced SFT loss, base weights);
:func:`train` runs the jitted iteration of :mod:`rmft_jax.rmft` in a Python loop
that saves metrics as they come, shows progress, and checkpoints so that an
interrupted run resumes to exactly the parameters of an uninterrupted one.

The *base model* is the randomly initialised Transformer drawn from the config's
seed: it is what RMFT starts from and what figures call "base".

In a multi-process job (:mod:`rmft_jax.distributed`) every process runs
:func:`train` with the same arguments: each checks the run directory and reads a
resumed run, then (after a barrier) only process 0 writes the config and metrics
(and only it holds the folder's writer lock, :func:`claim_run_dir`),
and only it shows progress. Checkpoints are saved by every process
(:class:`rmft_jax.checkpoint.Saver`: each writes its shards, process 0 seals), which
they all reach since they run the same loop.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
from tqdm.auto import tqdm

from rmft_jax import checks, checkpoint, distributed, generator, sharding
from rmft_jax.config import TrainConfig
from rmft_jax.models.policy import (
    BanditTransformerPolicy,
    OnlineTransformerPolicy,
    bandit_log_probs,
    online_output_loss,
    online_outputs,
    online_policy_loss,
    online_raw_outputs,
)
from rmft_jax.models.transformer import TransformerConfig, init_model
from rmft_jax.results import check_directory, probe_directory, to_jsonable
from rmft_jax.rmft import Learner, RMFTConfig, TrainState, init_state
from rmft_jax.types import BANDIT, Array, Environment


def seed_keys(seed) -> tuple[Array, Array]:
    """A run's two keys from its seed: the base model's weights, ``fold_in(key(seed), 0)``, and the
    training key every iteration folds its index into, ``fold_in(key(seed), 1)``. ``seed`` may be
    traced, so seed sweeps (:mod:`rmft_jax.sweeps`, :mod:`rmft_jax.paradigms`) give each seed what
    :func:`train` gives the config with that seed."""
    root = jax.random.key(seed)
    return jax.random.fold_in(root, 0), jax.random.fold_in(root, 1)


def seed_learner(model_cfg, policy, loss, seed) -> tuple[Learner, Array]:
    """The learner of one seed (``policy`` and ``loss`` with that seed's base weights) and its training key."""
    k_init, k_train = seed_keys(seed)
    _, base = init_model(model_cfg, k_init)
    return Learner(policy=policy, loss=loss, base_params=base), k_train


def seed_array(seeds) -> Array:
    """``(S,)`` uint32 seeds of a sweep, or a one-line error."""
    seeds = jnp.asarray(seeds, jnp.uint32)
    if seeds.ndim != 1:
        raise ValueError(f"seeds: must be a 1-D sequence of integers (got shape {seeds.shape})")
    return seeds


def base_params(cfg: TrainConfig):
    """``(graphdef, params)`` of the base (untrained) model for this config's seed."""
    return init_model(cfg.transformer, seed_keys(cfg.seed)[0])


def model_policy(
    cfg: TrainConfig,
    graphdef,
    *,
    horizon: int | None = None,
    temperature: float | None = None,
    explore_std: float | None = None,
):
    """The model's rollout policy for rollouts of ``horizon`` rounds (default: the training horizon).

    It samples at the RMFT temperature / exploration noise unless told otherwise.
    The key/value cache is sized to the horizon, so a decode step costs what the
    rollout needs and no more.
    """
    horizon = cfg.environment.horizon if horizon is None else horizon
    t = cfg.rmft.temperature if temperature is None else temperature
    s = cfg.rmft.explore_std if explore_std is None else explore_std
    return _transformer_policy(cfg.transformer, graphdef, horizon, t, s)


def _transformer_policy(mcfg, graphdef, horizon: int, temperature: float, explore_std: float):
    if mcfg.feedback == BANDIT:
        return BanditTransformerPolicy(cfg=mcfg, graphdef=graphdef, temperature=temperature, horizon=horizon)
    return OnlineTransformerPolicy(cfg=mcfg, graphdef=graphdef, explore_std=explore_std, horizon=horizon)


def build_learner(cfg: TrainConfig) -> Learner:
    """Policy, SFT loss and base weights for ``cfg`` (see :class:`rmft_jax.rmft.Learner`)."""
    return learner_for(cfg.environment, cfg.transformer, cfg.rmft, cfg.seed)


def learner_for(env: Environment, model: TransformerConfig, rmft: RMFTConfig, seed: int = 0) -> Learner:
    """The Transformer's learner for any environment behind the :class:`~rmft_jax.types.Environment`
    contract, including one that is not in the registry (what :func:`build_learner` builds for a config).

    Args:
      env: the environment it will be trained on (its horizon sizes the rollout policy's cache).
      model: the model's shape; its ``feedback`` and ``actions`` must be the environment's.
      rmft: the RMFT settings the loss and the rollout policy read (``temperature``,
        ``explore_std``, ``entropy_bonus``, ``online_target``).
      seed: the base model's weights are those :func:`train` draws for this seed.
    Returns:
      a :class:`rmft_jax.rmft.Learner` for :func:`rmft_jax.rmft.make_iteration` /
      :func:`rmft_jax.rmft.train_scan`. Raises a one-line ``ValueError`` on a mismatch.
    """
    if (model.feedback, model.actions) != (env.feedback, env.num_actions):
        raise ValueError(
            f"model: must be built for the environment's {env.feedback} feedback with {env.num_actions} actions "
            f"(got {model.feedback} feedback with {model.actions})"
        )
    graphdef, params = init_model(model, seed_keys(seed)[0])
    mcfg = model
    policy = _transformer_policy(model, graphdef, env.horizon, rmft.temperature, rmft.explore_std)
    beta = rmft.entropy_bonus
    temperature = rmft.temperature

    if mcfg.feedback == BANDIT:

        def loss(params, actions, rewards):
            logp = jax.vmap(lambda a, r: bandit_log_probs(graphdef, params, a, r, temperature))(actions, rewards)
            nll = -jnp.mean(jnp.take_along_axis(logp, actions[..., None], axis=-1))
            entropy = -jnp.mean(jnp.sum(jnp.exp(logp) * logp, axis=-1))
            return nll - beta * entropy, {"nll": nll, "entropy": entropy}

    elif rmft.online_target == "outputs":

        def loss(params, policies, rewards):
            raw = jax.vmap(lambda r: online_raw_outputs(graphdef, params, r))(rewards)
            value = online_output_loss(raw, policies, mcfg)
            return value, {"matching": value}

    else:

        def loss(params, policies, rewards):
            pred = jax.vmap(lambda r: online_outputs(graphdef, params, r))(rewards)
            value = online_policy_loss(pred, policies, mcfg.domain)
            return value, {"matching": value}

    return Learner(policy=policy, loss=loss, base_params=params)


def _row(i: int, metrics: dict, seconds: float) -> dict:
    row = {"iteration": i}
    row.update({k: float(v) for k, v in metrics.items()})
    row["seconds"] = seconds
    return row


def train(
    cfg: TrainConfig,
    run_dir: str | Path | None,
    *,
    resume: bool = False,
    checkpoint_every: int = 10,
    keep_checkpoints: int = checkpoint.KEEP,
    progress: bool = True,
    stop_after: int | None = None,
    learner: Learner | None = None,
    devices=None,
):
    """Run (or resume) Iterative RMFT. Returns ``(final TrainState, learner, list of metric rows)``.

    Args:
      cfg: the training config.
      run_dir: where config, metrics and checkpoints go (``None``: keep nothing on disk).
        A directory that already holds a run is refused unless ``resume``, and one
        that holds other files is refused always (never emptied). Devices, memory
        (:func:`check_memory`) and the directory are checked before anything is
        built or written; temporary files of interrupted writes are removed. The
        folder's writer lock is held for the whole call (:func:`claim_run_dir`): a
        folder another command is writing is refused, naming its process id.
      resume: continue the run in ``run_dir``; its config must equal ``cfg``.
        The run's generator (``cfg.rng``, and the saved run's) must be the active one
        (:func:`rmft_jax.generator.use`): the same seed draws other numbers under another.
      checkpoint_every: iterations between checkpoints (and one at the end).
      keep_checkpoints: how many of the latest checkpoints to keep (older ones are deleted).
      stop_after: stop after this many iterations *in this call* (to test resumption).
      devices: where the iterations run, data-parallel (:mod:`rmft_jax.sharding`):
        ``None`` is every visible device (one device: the plain path), an int the
        first that many, or a sequence of devices / a ``Mesh``. In a multi-process
        job, every process's devices (see the module docstring); the returned state
        is then split across processes like the iterations' (``distributed.to_host`` reads it).
    """
    # Every check comes before anything is built or written: devices, memory, the folder.
    env = cfg.environment
    sharding.resolve_mesh(devices)
    check_memory(cfg)
    primary = distributed.is_primary()  # the one process that writes (every process when there is one)
    if run_dir is not None:
        run_dir = Path(run_dir)
        saver = checkpoint.Saver(run_dir, keep_checkpoints)  # checks keep_checkpoints; writes nothing yet
    with claim_run_dir(run_dir, resume, primary):
        if run_dir is not None and resume:
            check_resume(cfg, run_dir)
        generator.check_matches(cfg.rng, "the config")
        learner = build_learner(cfg) if learner is None else learner
        # Laid out for the iterations first, so that a checkpoint is restored straight into that layout: each
        # process reads its own shards (moving a restored local array onto a mesh that spans processes would
        # be a cross-host transfer, which the CPU backend does not do).
        state = sharding.place_state(init_state(env, cfg.rmft, learner), devices)
        rows: list[dict] = []
        if run_dir is not None:
            if resume:
                if checkpoint.has_state(run_dir):  # else it stopped before its first checkpoint
                    state = checkpoint.load_state(run_dir, state)
                done = int(state.iteration)
                rows = checkpoint.read_metrics(run_dir)
                if len(rows) < done or [r.get("iteration") for r in rows[:done]] != list(range(1, done + 1)):
                    raise ValueError(
                        f"metrics: {run_dir / checkpoint.METRICS} must hold iterations 1..{done} (the checkpoint's); "
                        "restore it, or start a new run in another directory"
                    )
                rows = rows[:done]
            # Every process has checked (and read) the directory before process 0 writes to it.
            distributed.barrier("rmft-train-run-dir-checked")
            if primary:  # (after the barrier: the others' directory probes are temporary files too)
                checkpoint.remove_stray_files(run_dir)
            if primary and resume:
                checkpoint.write_metrics(run_dir, rows)  # drop rows written after the last checkpoint
            elif primary:
                run_dir.mkdir(parents=True, exist_ok=True)
                checkpoint.save_config(run_dir, cfg.to_dict())
                checkpoint.write_metrics(run_dir, [])

        step = sharding.make_iteration(env, cfg.rmft, learner, devices)
        key = iteration_key(cfg)
        start = int(state.iteration)
        end = cfg.rmft.iterations if stop_after is None else min(cfg.rmft.iterations, start + stop_after)
        bar = _progress(range(start, end), progress and primary, total=cfg.rmft.iterations, initial=start)
        try:
            for i in bar:
                t0 = time.perf_counter()
                state, metrics = step(state, key, learner.base_params)
                metrics = jax.device_get(metrics)
                row = _row(i + 1, metrics, time.perf_counter() - t0)
                rows.append(row)
                if run_dir is not None:
                    if primary:
                        checkpoint.append_metrics(run_dir, row)  # resume trusts the checkpoint, not this line
                    if (i + 1) % checkpoint_every == 0 or i + 1 == end:
                        saver.save(state)  # on every process: each writes its shards, process 0 seals
                if hasattr(bar, "set_postfix"):
                    bar.set_postfix(regret=f"{row['rollout_regret_mean']:.2f}", loss=f"{row['sft_loss_last']:.3f}")
        finally:
            if run_dir is not None:
                saver.close()  # joins Orbax's background deletion of old steps
        return state, learner, rows


def check_resume(cfg: TrainConfig, run_dir: Path) -> None:
    """Refuse to resume the run in ``run_dir`` with ``cfg`` unless its saved config is ``cfg`` and its
    generator the active one (one-line ``ValueError``)."""
    saved = checkpoint.load_config_dict(run_dir)
    generator.check_matches(saved_generator(saved), f"the run in {run_dir}")
    given = _jsonish(cfg.to_dict())
    if saved != given:
        diff = _first_difference(saved, given)
        raise ValueError(f"config: differs from the checkpoint's config ({diff}); resume with the same config")


def check_before_start(cfg: TrainConfig, run_dir: str | Path, resume: bool) -> None:
    """The checks of :func:`train` that need no JAX backend, for a launcher to make once before it starts
    any process (``rmft train --processes N``): memory, the run folder (not being written by another
    command, usable for a new run or for ``resume``, writable) and, for ``resume``, the saved config.
    Writes nothing. (``devices`` needs the processes' devices: each process checks it, first thing.)"""
    check_memory(cfg)
    run_dir = Path(run_dir)
    checkpoint.check_unlocked(run_dir)
    _check_run_dir(run_dir, resume)
    if resume:
        check_resume(cfg, run_dir)


@contextlib.contextmanager
def claim_run_dir(run_dir: Path | None, resume: bool, primary: bool = True):
    """Check ``run_dir`` (:func:`_check_run_dir`), then hold its writer's lock for the block
    (:func:`checkpoint.run_lock`) and check it again under the lock (another writer may have
    finished between the two). In a multi-process job only process 0 (``primary``), the one
    that writes the run's files, takes the lock; the others only check. ``None``: no folder.

    A folder another command is writing is refused first, naming that command's process id;
    every refusal before the lock writes nothing.
    """
    if run_dir is None:
        yield
        return
    if primary:
        checkpoint.check_unlocked(run_dir)
    _check_run_dir(run_dir, resume)
    if not primary:
        yield
        return
    with checkpoint.run_lock(run_dir):
        _check_run_dir(run_dir, resume)
        yield


def _check_run_dir(run_dir: Path, resume: bool) -> None:
    """Refuse a run directory that cannot be used, before anything is built or written.

    A new run needs a directory that does not exist or is empty (apart from our lock
    and temporary files of our own interrupted writes, :func:`checkpoint.is_bookkeeping`):
    a folder holding other files is somebody's data and is never emptied. ``resume`` needs a folder holding a run.
    Either way it must be writable (probed with a temporary file).
    """
    field = "resume" if resume else "out"
    if run_dir.exists() and not run_dir.is_dir():
        checks.fail("out", "a directory for the run (this is a file)", str(run_dir))
    if resume and not run_dir.exists():
        checks.fail("resume", "given for an existing run directory", f"{run_dir} does not exist")
    has_run = (run_dir / checkpoint.CONFIG).exists()
    if resume and not has_run:
        checks.fail("resume", f"given for a run directory holding {checkpoint.CONFIG}", str(run_dir))
    if not resume:
        if has_run or (run_dir / checkpoint.STATE).exists() or (run_dir / checkpoint.MSGPACK).exists():
            raise ValueError(
                f"out: {str(run_dir)!r} already holds a run; pass --resume to continue it or choose another directory"
            )
        if run_dir.is_dir():
            others = sorted(p.name for p in run_dir.iterdir() if not checkpoint.is_bookkeeping(p.name))
            if others:
                checks.fail(
                    "out", "a new or empty directory (it holds files that are not a run: "
                    + ", ".join(others[:3]) + (", ..." if len(others) > 3 else "") + "); choose another directory",
                    str(run_dir),
                )
    check_directory(run_dir, field)
    if resume and (run_dir / checkpoint.STATE).is_dir():  # where the next checkpoints go and old ones are deleted
        probe_directory(run_dir / checkpoint.STATE, field, str(run_dir / checkpoint.STATE))


def memory_estimate(cfg: TrainConfig) -> tuple[int, str, str]:
    """``(bytes, how they were counted, the config field to change)`` for one RMFT iteration.

    Counted, 4 bytes a value: the rollouts' key/value caches (``M·L · layers · 2 · T ·
    width``) and trajectories (``M·L · T · (actions + 4)``); the SFT batch's
    activations and attention scores (``B · T · (2·mlp_ratio·width·layers +
    heads·T)``, ``B`` the batch size or the buffer's ``buffer_iterations·M·k``);
    the weights with their gradient and AdamW moments (``4 · layers · (4 +
    2·mlp_ratio) · width²``). A rough lower bound of the peak, enough to refuse
    sizes that cannot fit before anything is allocated.
    """
    r, mc = cfg.rmft, cfg.transformer
    horizon = cfg.environment.horizon
    actions, layers, heads, width, ratio = mc.actions, mc.layers, mc.heads, mc.width, mc.mlp_ratio
    rollouts = r.tasks * r.rollouts
    batch = r.batch_size or r.buffer_size
    terms = {
        "config.rmft.tasks": rollouts * horizon * (layers * 2 * width + actions + 4)
        + batch * horizon * (2 * ratio * width * layers + heads * horizon),
        "config.model.width": 4 * layers * (4 + 2 * ratio) * width * width,
    }
    field = max(terms, key=terms.get)
    what = (
        f"tasks={r.tasks} x rollouts={r.rollouts} x horizon={horizon} rollouts of a {layers}-layer, width-{width} "
        f"model, an SFT batch of {batch}, and the weights with their optimiser state, 4 bytes a value"
    )
    return 4 * sum(terms.values()), what, field


def check_memory(cfg: TrainConfig) -> None:
    """Refuse a config whose :func:`memory_estimate` exceeds the memory limit (one-line ``ValueError``)."""
    nbytes, what, field = memory_estimate(cfg)
    checks.fits_in_memory(field, nbytes, what)


def iteration_key(cfg: TrainConfig) -> Array:
    """The key every iteration of a training run receives (the iteration folds in its own index)."""
    return seed_keys(cfg.seed)[1]


def saved_generator(config_dict: dict) -> str:
    """The generator a saved run's config names (runs saved before the setting: ``threefry2x32``)."""
    return config_dict.get("rng", generator.DEFAULT)


def load_run(run_dir: str | Path, step: int | None = None) -> tuple[TrainConfig, TrainState, Learner]:
    """The config, final state (or that of checkpoint ``step``) and learner of a saved run (refused under
    another generator than its own)."""
    saved = checkpoint.load_config_dict(run_dir)
    generator.check_matches(saved_generator(saved), f"the run in {run_dir}")
    cfg = TrainConfig.from_dict({**saved, "rng": saved_generator(saved)})
    learner = build_learner(cfg)
    state = checkpoint.load_state(run_dir, init_state(cfg.environment, cfg.rmft, learner), step)
    return cfg, state, learner


def load_policy_from_checkpoint(run_dir: str | Path, env: Environment, *, base: bool = False, step: int | None = None):
    """``(policy, params)`` of the model saved in ``run_dir`` (its newest sealed checkpoint, or ``step``),
    checked against ``env``.

    ``base=True`` gives the untrained model of the same config instead.
    """
    cfg, state, learner = load_run(run_dir, step)
    mcfg = cfg.transformer
    if mcfg.feedback != env.feedback or mcfg.actions != env.num_actions:
        raise ValueError(
            f"checkpoint: the model was trained for {mcfg.feedback} feedback with {mcfg.actions} actions; "
            f"this environment has {env.feedback} feedback with {env.num_actions}"
        )
    if env.horizon > mcfg.max_horizon:
        raise ValueError(f"horizon: must be <= the model's max_horizon = {mcfg.max_horizon} (got {env.horizon})")
    params = learner.base_params if base else state.params
    return model_policy(cfg, learner.policy.graphdef, horizon=env.horizon), params


def _progress(it, enabled: bool, **kw):
    if not enabled:
        return it
    return tqdm(it, desc="rmft", file=sys.stderr, dynamic_ncols=True, leave=False, **kw)


def _jsonish(d):
    return json.loads(json.dumps(to_jsonable(d)))


def _first_difference(a, b, prefix="") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if a.get(k) != b.get(k):
                return _first_difference(a.get(k), b.get(k), f"{prefix}{k}.")
    return f"{prefix.rstrip('.')}: saved {a!r}, given {b!r}"


__all__ = ["build_learner", "learner_for", "check_memory", "memory_estimate", "train", "load_run", "load_policy_from_checkpoint", "base_params", "model_policy"]
