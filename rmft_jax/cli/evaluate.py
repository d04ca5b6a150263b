"""``rmft evaluate``: run a baseline (or a trained model) on fresh tasks and report regret and metrics.

Every flag is validated, and the output paths are checked, before any computation;
bad input is a one-line ``ValueError`` (exit code 2) and writes nothing. The JSON
schema is documented in ``docs/evaluate.md``. On stdout: a table of the result and the
paths written (:mod:`rmft_jax.cli.report`); ``--json`` prints the JSON (what ``--out``
holds) instead, ``--quiet`` prints nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from rmft_jax import checks, generator
from rmft_jax.cli import report
from rmft_jax.envs import make_env
from rmft_jax.envs.bandit import PRIORS, REWARDS
from rmft_jax.envs.nonstationary import DRIFTS
from rmft_jax.envs.online import SEQUENCES, OnlineEnv, check_sequence
from rmft_jax.types import Environment, Policy

ENVS = ("mab", "fol-ball", "fol-simplex", "nsmab")
FAMILIES = tuple(s for s in SEQUENCES if s != "custom")
DEFAULT_POLICY = {"mab": "ucb", "nsmab": "ucb", "fol-ball": "ftrl", "fol-simplex": "hedge"}

# Flags that only make sense for some environments: given elsewhere they are an error,
# not silently ignored.
ONLY_FOR = {
    "arms": ("mab", "nsmab"),
    "reward": ("mab", "nsmab"),
    "means": ("mab",),
    "prior": ("mab",),
    "prior_low": ("mab",),
    "prior_high": ("mab",),
    "drift": ("nsmab",),
    "changes": ("nsmab",),
    "walk_std": ("nsmab",),
    "period": ("nsmab",),
    "amplitude": ("nsmab",),
    "dim": ("fol-ball", "fol-simplex"),
    "family": ("fol-ball", "fol-simplex"),
    "sequence": ("fol-ball", "fol-simplex"),
}


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "evaluate",
        help="evaluate a policy: regret curve with bootstrap CI, exploration metrics, sublinearity tests",
        description="Evaluate a baseline (or a checkpointed model) on fresh tasks; write a JSON result and a plot.",
    )
    p.add_argument("--env", default="mab", choices=ENVS, help="environment (default: mab)")
    p.add_argument("--arms", type=int, default=None, help="number of arms K >= 2 (bandits; default 5)")
    p.add_argument("--dim", type=int, default=None, help="dimension d >= 2 (fol; default 3)")
    p.add_argument("--reward", default=None, choices=REWARDS, help="reward process (bandits; default gaussian)")
    p.add_argument("--noise", type=float, default=None, help="noise scale >= 0 (default 1.0)")
    p.add_argument("--means", default=None, help="comma-separated arm means, one per arm (mab; fixes the instance)")
    p.add_argument("--prior", default=None, choices=PRIORS, help="task prior of the arm means (mab; default uniform)")
    p.add_argument("--prior-low", type=float, default=None,
                   help="lower end of the uniform prior of the means (mab; default 0; > 0 for --reward gamma)")
    p.add_argument("--prior-high", type=float, default=None, help="upper end of the uniform prior (mab; default 1)")
    p.add_argument("--drift", default=None, choices=DRIFTS, help="drift family (nsmab; default piecewise)")
    p.add_argument("--changes", type=int, default=None, help="change points of a piecewise drift >= 0 (nsmab; default 3)")
    p.add_argument("--walk-std", type=float, default=None, help="random-walk step std >= 0 (nsmab; default 0.02)")
    p.add_argument("--period", type=float, default=None, help="sinusoidal period > 0 in rounds (nsmab; default 50)")
    p.add_argument("--amplitude", type=float, default=None, help="sinusoidal amplitude in [0, 0.5] (nsmab; default 0.4)")
    p.add_argument(
        "--family", default=None, choices=FAMILIES, help="reward-vector sequence family (fol; default stochastic)"
    )
    p.add_argument("--sequence", default=None, metavar="FILE.npy", help="custom (T, d) reward sequence (fol)")
    p.add_argument("--horizon", type=int, default=None, help="horizon T >= 1 (default 100, or the --sequence length)")
    p.add_argument("--runs", type=int, default=100, help="independent runs (fresh tasks) >= 1 (default 100)")
    p.add_argument(
        "--policy", default=None, help="baseline name from the registry (default: ucb for bandits, ftrl/hedge for fol)"
    )
    p.add_argument("--checkpoint", default=None, metavar="DIR",
                   help="evaluate a trained model from this run directory (a generalist run plays any --arms and --horizon)")
    p.add_argument("--base", action="store_true", help="with --checkpoint: evaluate the untrained base model of that run")
    p.add_argument("--seed", type=int, default=0, help="random seed in [0, 2**63) (default 0)")
    p.add_argument("--rng", choices=tuple(generator.GENERATORS), default=None,
                   help="the random generator (rmft_jax.generator; default threefry2x32; a --checkpoint run needs its own)")
    p.add_argument("--chunk", type=int, default=None, help="runs per jitted batch (default: all at once)")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the 95%% CI (default 1000)")
    p.add_argument("--out", default=None, metavar="FILE.json", help="write the result here")
    p.add_argument("--plot", default=None, metavar="FILE.png", help="draw the result here (.png, .pdf or .svg)")
    p.add_argument("--overwrite", action="store_true", help="replace existing --out / --plot files")
    shown = p.add_mutually_exclusive_group()
    shown.add_argument("--json", action="store_true",
                       help="print the result as JSON (the --out file's content, for scripts) instead of a table")
    shown.add_argument("--quiet", action="store_true", help="no progress bar and nothing on stdout")
    p.set_defaults(func=run)
    return p


def parse_means(text: str) -> tuple[float, ...]:
    """``"0.6,0.4"`` -> ``(0.6, 0.4)``; ``ValueError`` naming ``means`` otherwise."""
    try:
        values = tuple(float(x) for x in text.split(","))
    except ValueError:
        checks.fail("means", "comma-separated numbers", text)
    return checks.reals("means", values)


def load_sequence(path: str) -> np.ndarray:
    """Read a ``.npy`` reward sequence; ``ValueError`` naming ``sequence`` if unreadable or not numeric."""
    p = Path(path)
    if not p.is_file():
        checks.fail("sequence", "an existing .npy file", path)
    try:
        # Memory-mapped first: the header gives dtype and shape, checked before the data is read.
        arr = np.load(p, allow_pickle=False, mmap_mode="r")
    except Exception as e:  # noqa: BLE001 - any unreadable file is the same user error
        raise ValueError(f"sequence: must be a readable .npy file ({path!r}: {type(e).__name__})") from None
    if not isinstance(arr, np.ndarray) or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        checks.fail("sequence", "a numeric .npy array", f"{path} with dtype {getattr(arr, 'dtype', type(arr))}")
    if np.iscomplexobj(arr):
        checks.fail("sequence", "a real-valued .npy array", f"{path} with dtype {arr.dtype}")
    checks.fits_in_memory("sequence", 8 * arr.size, f"the {arr.shape} sequence as float64")
    try:
        return np.array(arr)
    except OSError as e:  # the file changed or vanished under the map
        raise ValueError(f"sequence: must be a readable .npy file ({path!r}: {e.strerror})") from None


def build_env(args: argparse.Namespace) -> Environment:
    """The environment the flags describe (validated by its constructor)."""
    for flag, envs in ONLY_FOR.items():
        if getattr(args, flag) is not None and args.env not in envs:
            checks.fail(flag, f"given only with --env {' or '.join(envs)}", getattr(args, flag))
    common = {}
    if args.noise is not None:
        common["noise"] = args.noise
    if args.env in ("mab", "nsmab"):
        if args.horizon is not None:
            common["horizon"] = args.horizon
        if args.reward is not None:
            common["reward"] = args.reward
        means = parse_means(args.means) if args.means is not None else None
        arms = args.arms if args.arms is not None else (len(means) if means is not None else 5)
        if means is not None and len(means) != arms:
            checks.fail("means", f"a list of exactly --arms = {arms} numbers", args.means)
        if args.env == "nsmab":
            for name in ("changes", "walk_std", "period", "amplitude"):
                if getattr(args, name) is not None:
                    common[name] = getattr(args, name)
            return make_env("nsmab", arms=arms, drift=args.drift or "piecewise", **common)
        if means is not None:
            common["means"] = means
        if args.prior is not None:
            common["prior"] = args.prior
        if args.prior_low is not None:
            common["prior_low"] = args.prior_low
        if args.prior_high is not None:
            common["prior_high"] = args.prior_high
        if args.reward == "gamma" and means is None and args.prior in (None, "uniform") and args.prior_low is None:
            checks.fail("prior_low", "> 0 for gamma rewards: give --prior-low (and --prior-high) or --means", 0.0)
        return make_env("mab", arms=arms, **common)
    domain = args.env.removeprefix("fol-")
    if args.sequence is not None:
        if args.family is not None:
            checks.fail("family", "left out when --sequence gives a custom sequence", args.family)
        arr = check_sequence(load_sequence(args.sequence), args.horizon, args.dim)
        return OnlineEnv.from_array(arr, domain=domain, **common)
    return make_env(
        args.env,
        dim=3 if args.dim is None else args.dim,
        horizon=100 if args.horizon is None else args.horizon,
        sequence=args.family or "stochastic",
        **common,
    )


def load_checkpoint_policy(path: str, env: Environment, base: bool = False) -> tuple[Policy, Any, dict]:
    """``(policy, params, read)`` of the model trained in the run directory ``path`` (or its base model):
    a generalist run (:mod:`rmft_jax.generalist`, any ``K`` and horizon) or a :class:`TrainConfig` run.

    ``read`` names what was read, for the result's config: ``checkpoint_step`` (the newest sealed step;
    ``None`` for a run saved before Orbax, in one ``checkpoint.msgpack``) and ``run_id`` (``None`` for a
    run from before run ids). Newer steps without a seal (a save in progress, or cut short) are skipped,
    and said so on stderr."""
    from rmft_jax import checkpoint, generalist
    from rmft_jax.training import load_policy_from_checkpoint

    is_generalist = generalist.is_generalist(checkpoint.load_config_dict(path))
    step = checkpoint.latest_step(path)  # read once: a run being trained may seal a newer one meanwhile
    load = generalist.load_policy if is_generalist else load_policy_from_checkpoint
    policy, params = load(path, env, base=base, step=step)
    skipped = checkpoint.unsealed_steps(path)
    if skipped:
        print(f"rmft: note: checkpoint: step {skipped[-1]} of {path} has no seal (a save in progress or cut short); "
              + (f"evaluated step {step}, the newest sealed one" if step is not None else "evaluated the run's older "
                 f"{checkpoint.MSGPACK}"), file=sys.stderr)
    identity = checkpoint.run_identity(path)
    return policy, params, {"checkpoint_step": step, "run_id": identity and identity[checkpoint.RUN_ID]}


def check_output(field: str, path: str, overwrite: bool) -> None:
    """Refuse a directory, an existing file (unless ``overwrite``), or a place that cannot be
    written (probed with a temporary file); creates nothing."""
    from rmft_jax.results import check_writable

    check_writable(path, overwrite, field)


def run(args: argparse.Namespace) -> int:
    # Validation first: nothing is computed or written until every input is checked.
    if args.rng is not None:
        generator.use(args.rng)
    runs = checks.integer("runs", args.runs, 1)
    seed = checks.seed("seed", args.seed)
    chunk = None if args.chunk is None else checks.integer("chunk", args.chunk, 1)
    resamples = checks.integer("bootstrap", args.bootstrap, 1)
    if args.base and args.checkpoint is None:
        checks.fail("base", "given only with --checkpoint (it evaluates that run's untrained model)", True)
    env = build_env(args)
    from rmft_jax.evaluation import check_memory

    check_memory(env, runs, chunk, resamples)

    from rmft_jax import plotting, results

    for field in ("out", "plot"):
        path = getattr(args, field)
        if path is not None:
            check_output(field, path, args.overwrite)
    if args.plot is not None:
        plotting.check_figure_path(args.plot)
        if args.out is not None and Path(args.plot).resolve() == Path(args.out).resolve():
            checks.fail("plot", "a different file from --out", args.plot)

    if args.checkpoint is not None:
        if args.policy is not None:
            checks.fail("policy", "left out when --checkpoint gives the model", args.policy)
        policy, params, read = load_checkpoint_policy(args.checkpoint, env, base=args.base)
        from rmft_jax.rollout import check_compatible

        check_compatible(env, policy)
        name = "base" if args.base else "rmft"
    else:
        from rmft_jax.policies import make_policy

        name = args.policy or DEFAULT_POLICY[args.env]
        policy, params, read = make_policy(name, env), None, {"checkpoint_step": None, "run_id": None}

    from rmft_jax.evaluation import evaluate_policy

    result = evaluate_policy(
        env, policy, seed, runs, params, chunk, progress=not args.quiet, name=name, num_resamples=resamples
    )
    result["config"].update(
        env_name=args.env,
        sequence_file=None if args.sequence is None else str(Path(args.sequence).resolve()),
        checkpoint=None if args.checkpoint is None else str(Path(args.checkpoint).resolve()),
        **read,
    )
    saved = results.to_jsonable({**result, "versions": results.versions()})
    if args.out is not None:
        results.save_json(args.out, saved, overwrite=args.overwrite, field="out")
    if args.plot is not None:
        plotting.plot_evaluation(saved, args.plot)
    if args.json:
        print(json.dumps(saved, indent=1))
    elif not args.quiet:
        paths = [getattr(args, field) for field in ("out", "plot") if getattr(args, field) is not None]
        print(report.evaluation(saved, name, paths))
    return 0
