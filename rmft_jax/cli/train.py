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
    from rmft_jax.training import train

    if args.checkpoint_every < 1:
        raise ValueError(f"checkpoint-every: must be an integer >= 1 (got {args.checkpoint_every})")
    if args.keep_checkpoints < 1:
        raise ValueError(f"keep-checkpoints: must be an integer >= 1 (got {args.keep_checkpoints})")
    cfg = build_config(args)
    generator.use(cfg.rng)  # once, before any key is made: the run draws with its config's generator
    _, _, rows = train(
        cfg, args.out, resume=args.resume, checkpoint_every=args.checkpoint_every, progress=not args.no_progress,
        devices=args.devices, keep_checkpoints=args.keep_checkpoints,
    )
    if rows:
        last = rows[-1]
        print(json.dumps({"run": args.out, "iterations": last["iteration"], "rollout_regret_mean": last["rollout_regret_mean"],
                          "sft_loss_last": last["sft_loss_last"]}), file=sys.stdout)
    return 0
