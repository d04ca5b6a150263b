"""``rmft train``: Iterative RMFT from a config file, with flag overrides, progress and resumable checkpoints."""

from __future__ import annotations

import argparse
import json
import sys

from rmft_jax import generator

OVERRIDES = {  # flag -> config key
    "iterations": "rmft.iterations",
    "tasks": "rmft.tasks",
    "rollouts": "rmft.rollouts",
    "keep": "rmft.keep",
    "lr": "rmft.learning_rate",
    "horizon": "env.horizon",
    "seed": "seed",
    "rng": "rng",
}


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="run Iterative RMFT on the numerical Transformer")
    p.add_argument("--config", help="JSON config file (sections env, model, rmft, eval, seed); defaults if omitted")
    p.add_argument("--out", required=True, help="run directory for config, metrics.jsonl and checkpoints")
    p.add_argument("--resume", action="store_true", help="continue the run in --out (its config must match)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override a config value")
    p.add_argument("--iterations", type=int)
    p.add_argument("--tasks", type=int, help="M, instances per iteration")
    p.add_argument("--rollouts", type=int, help="L, rollouts per instance")
    p.add_argument("--keep", type=int, help="k, lowest-regret rollouts kept per instance")
    p.add_argument("--lr", type=float, help="SFT learning rate")
    p.add_argument("--horizon", type=int, help="training horizon")
    p.add_argument("--seed", type=int)
    p.add_argument("--rng", choices=tuple(generator.GENERATORS), default=None,
                   help="the random generator (rmft_jax.generator; default threefry2x32; recorded in the run's config)")
    p.add_argument("--devices", type=int, help="data-parallel over the first N devices (default: all visible)")
    p.add_argument("--processes", type=int, metavar="N",
                   help="run as N local processes of one job (JAX's distributed runtime; process 0 writes metrics)")
    p.add_argument("--distributed", action="store_true",
                   help="join a multi-process job: coordinator and process ids from $JAX_COORDINATOR_ADDRESS, "
                        "$RMFT_NUM_PROCESSES, $RMFT_PROCESS_ID, else from the cluster (SLURM, Open MPI)")
    p.add_argument("--checkpoint-every", type=int, default=10)
    p.add_argument("--keep-checkpoints", type=int, default=2, help="how many of the latest checkpoints to keep")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def build_config(args: argparse.Namespace):
    from rmft_jax.config import TrainConfig, parse_value

    cfg = TrainConfig.load(args.config) if args.config else TrainConfig.from_dict({})
    overrides = {}
    for item in args.set:
        key, eq, value = item.partition("=")
        if not eq:
            raise ValueError(f"set: must be of the form section.key=value (got {item!r})")
        overrides[key.strip()] = parse_value(value)
    for flag, key in OVERRIDES.items():
        value = getattr(args, flag)
        if value is not None:
            overrides[key] = value
    return cfg.with_overrides(overrides) if overrides else cfg


def run(args: argparse.Namespace) -> int:
    from rmft_jax import distributed

    if args.checkpoint_every < 1:
        raise ValueError(f"checkpoint-every: must be an integer >= 1 (got {args.checkpoint_every})")
    if args.keep_checkpoints < 1:
        raise ValueError(f"keep-checkpoints: must be an integer >= 1 (got {args.keep_checkpoints})")
    if args.processes is not None and args.processes < 1:
        raise ValueError(f"processes: must be an integer >= 1 (got {args.processes})")
    if args.processes is not None and args.distributed:
        raise ValueError("processes: launches a job of local processes; not together with --distributed (joining one)")
    if args.config:
        from rmft_jax.config import read_json
        from rmft_jax.generalist import is_generalist

        data = read_json(args.config)
        if isinstance(data, dict) and is_generalist(data):
            return _train_generalist(args, data)
    cfg = build_config(args)  # bad flags and configs fail here, once, before any process starts
    generator.use(cfg.rng)  # once, before any key is made: the run draws with its config's generator
    if args.processes is not None and args.processes > 1:
        from rmft_jax import checks
        from rmft_jax.training import check_before_start

        if args.devices is not None:
            checks.integer("devices", args.devices, 1)
        check_before_start(cfg, args.out, args.resume)  # once, here: no process starts on input it would refuse
        return distributed.launch_local(distributed.module_command(*_child_argv(args)), args.processes)
    if args.distributed:
        distributed.initialize()
    return _train(args, cfg, distributed.is_primary())


def _child_argv(args: argparse.Namespace) -> list[str]:
    """This command for each launched process: the same flags, ``--processes N`` replaced by ``--distributed``."""
    argv = ["train", "--out", args.out, "--checkpoint-every", str(args.checkpoint_every),
            "--keep-checkpoints", str(args.keep_checkpoints), "--distributed"]
    if args.config:
        argv += ["--config", args.config]
    for item in args.set:
        argv += ["--set", item]
    for flag in (*OVERRIDES, "devices"):
        value = getattr(args, flag)
        if value is not None:
            argv += [f"--{flag}", str(value)]
    argv += ["--resume"] * args.resume + ["--no-progress"] * args.no_progress
    return argv


def _train(args: argparse.Namespace, cfg, primary: bool) -> int:
    from rmft_jax.training import train

    _, _, rows = train(
        cfg, args.out, resume=args.resume, checkpoint_every=args.checkpoint_every, progress=not args.no_progress,
        devices=args.devices, keep_checkpoints=args.keep_checkpoints,
    )
    if rows and primary:
        last = rows[-1]
        print(json.dumps({"run": args.out, "iterations": last["iteration"], "rollout_regret_mean": last["rollout_regret_mean"],
                          "sft_loss_last": last["sft_loss_last"]}), file=sys.stdout)
    return 0


# The flags a generalist config takes (rmft_jax.generalist: its task distribution replaces env and horizon).
GENERALIST_OVERRIDES = {"iterations": "rmft.iterations", "rollouts": "rmft.rollouts", "keep": "rmft.keep",
                        "lr": "rmft.learning_rate", "seed": "seed"}


def _train_generalist(args: argparse.Namespace, data: dict) -> int:
    """``rmft train --config G.json`` with a generalist config (``"kind": "generalist"``): one process, one device."""
    from rmft_jax.config import parse_value
    from rmft_jax.generalist import GeneralistConfig, train

    for flag in ("tasks", "horizon", "rng", "devices", "processes"):
        if getattr(args, flag) is not None:
            raise ValueError(f"{flag}: not for a generalist config (its mix section gives arms, horizons and rounds)")
    if args.distributed:
        raise ValueError("distributed: not for a generalist config (it trains in one process)")
    if args.keep_checkpoints != 2:
        raise ValueError("keep-checkpoints: not for a generalist config (it keeps the last 2)")
    d = json.loads(json.dumps(data))
    items = [item.partition("=") for item in args.set]
    for key, eq, _ in items:
        section, _, name = key.strip().partition(".")
        if not (eq and (section in ("model", "mix", "rmft") and name or key.strip() == "seed")):
            raise ValueError(f"set: must be of the form section.key=value with section in model, mix, rmft (got {key!r})")
    overrides = [(key.strip(), parse_value(value)) for key, _, value in items]
    overrides += [(k, getattr(args, f)) for f, k in GENERALIST_OVERRIDES.items() if getattr(args, f) is not None]
    for key, value in overrides:
        section, _, name = key.partition(".")
        if name:
            if not isinstance(d.get(section, {}), dict):
                raise ValueError(f"config.{section}: must be a JSON object")
            d[section] = {**d.get(section, {}), name: value}
        else:
            d[section] = value
    cfg = GeneralistConfig.from_dict(d)
    _, rows = train(cfg, args.out, resume=args.resume, checkpoint_every=args.checkpoint_every,
                    progress=not args.no_progress)
    if rows:
        last = rows[-1]
        print(json.dumps({"run": args.out, "iterations": last["iteration"], "kind": "generalist",
                          "rollout_regret_mean": last["rollout_regret_mean"]}), file=sys.stdout)
    return 0
