"""How far does the Figure 2 model class carry an anytime algorithm past its training horizon?

Issue 9's T = 1000 targets ask a model trained at T = 25 to play like Thompson
sampling forty times further out. This experiment separates what the *training
signal* limits from what the *model class and its training data* limit: instead of
RMFT it trains the same Transformer by algorithm distillation (AD,
:mod:`rmft_jax.paradigms.distill`) of Thompson sampling — the teacher is anytime
and no-regret by construction, and the loss (the teacher's action distribution at
every round of its own histories) says nothing about a horizon — and measures
where the student stops following its teacher. Two factors:

* **training horizon** — histories of T_train = 25, 100 and 200 rounds, with
  the same teacher rounds per iteration (``M·T_train`` fixed: M = 128, 32, 16);
* **heads** — the Figure 2 model's 2 heads, or 5 (one per arm, width 40): with
  per-arm reward slots, a head whose keys select one arm's tokens and the start
  token reads that arm's reward sum and pull count *shrunk* by the start token's
  weight, ``e^b/(e^b + n_a)``: a bounded feature that still falls with the
  absolute count ``n_a``, which a uniform average over the history (pull
  *frequencies*) does not give.

Every student: 40 iterations of the Figure 2 optimiser settings (16 AdamW steps at
1e-3 on M·k rows), seed 0, the teacher's reward tapes drawn as in the recipe;
evaluated at T = 25, 100 and 1000 on the instances and seeds of the exploration
ablation (:mod:`rmft_jax.experiments.exploration`), beside the shipped RMFT model
(reused from ``OUT/runs``), Thompson sampling and Greedy. One training seed per
student: differences between students of a few percent are within seed noise.
Our construction; no number here is the paper's.
"""

from __future__ import annotations

import time
from pathlib import Path

import jax

from rmft_jax import paradigms, results
from rmft_jax.config import TrainConfig
from rmft_jax.experiments import common, exploration, fig2, plots
from rmft_jax.training import build_learner

NAME = "extrapolation"
TEACHER = "ad"  # algorithm distillation of Thompson sampling (true prior and noise)
ITERATIONS = 40
ROUNDS_PER_ITERATION = 128 * 25  # M·T_train, the Figure 2 recipe's
TRAIN_HORIZONS = (25, 100, 200)
HEADS = {"Figure 2 model": {}, "one head per arm, width 40": {"heads": 5, "width": 40}}
HORIZONS = exploration.HORIZONS  # ((25, 1000), (100, 1000), (1000, 500)): (T, runs)
BASELINES = ("thompson", "greedy")
RMFT_LABEL = {"full": "the shipped Figure 2 model", "quick": "quick stand-in, a few iterations"}
QUICK = {"train_horizons": (10, 20), "iterations": 3, "horizons": ((25, 100), (100, 100))}


def student_config(train_horizon: int, model_change: dict, quick: bool) -> TrainConfig:
    """The student's config: the Figure 2 recipe at ``train_horizon`` with ``M·T`` fixed, 40 iterations."""
    base = fig2.QUICK_TRAIN if quick else fig2.TRAIN
    tasks = max(ROUNDS_PER_ITERATION // train_horizon, 1) if not quick else base["rmft"]["tasks"]
    return TrainConfig.from_dict({
        **base,
        "env": dict(base["env"], horizon=train_horizon),
        "model": dict(base["model"], **({} if quick else model_change)),
        "rmft": dict(base["rmft"], tasks=tasks, iterations=QUICK["iterations"] if quick else ITERATIONS),
    })


def train_student(cfg: TrainConfig):
    """``(learner, params, wall seconds)``: AD of Thompson sampling on ``cfg``'s environment, seed ``cfg.seed``."""
    env, learner = cfg.environment, build_learner(cfg)
    t0 = time.perf_counter()
    params, _ = paradigms.train_seeds(cfg.transformer, paradigms.trainer(TEACHER, env, cfg.rmft), learner, [cfg.seed])
    params = jax.block_until_ready(jax.tree.map(lambda x: x[0], params))
    return learner, params, time.perf_counter() - t0


def run(out_dir="figures", quick: bool = False, overwrite: bool = False, progress: bool = True) -> dict:
    paths = common.output_paths(out_dir, NAME, overwrite)
    t0 = time.perf_counter()
    horizons = QUICK["horizons"] if quick else HORIZONS
    train_horizons = QUICK["train_horizons"] if quick else TRAIN_HORIZONS
    seed = lambda T: 4000 + T  # noqa: E731  (the exploration ablation's evaluation seeds)
    references = {}
    for T, runs in horizons:
        env = exploration.fig2_env(T)
        refs = common.evaluate_baselines(env, list(BASELINES), seed(T), runs, progress)
        references[str(T)] = {n: common.summary_row(r) for n, r in refs.items()}

    def evaluate(cfg, learner, params, name):
        out = {}
        for T, runs in horizons:
            s = common.summary_row(common.evaluate_model(cfg, learner, params, exploration.fig2_env(T), seed(T), runs,
                                                         name, progress))
            out[str(T)] = common.ratio_to_thompson(s, references[str(T)]["thompson"])
        return out

    students = {}
    for heads, change in HEADS.items():
        if quick and change:
            continue
        for T_train in train_horizons:
            cfg = student_config(T_train, change, quick)
            learner, params, wall = train_student(cfg)
            name = f"AD of Thompson, T_train={T_train}, {cfg.transformer.heads} heads ({heads})"
            students[name] = {"train_horizon": T_train, "heads": cfg.transformer.heads, "train_s": wall,
                              "config": cfg.to_dict(), "eval": evaluate(cfg, learner, params, name)}
            if progress:
                print(f"{name}: trained in {wall:.0f} s, regret T={horizons[-1][0]} "
                      f"{students[name]['eval'][str(horizons[-1][0])]['final_regret_mean']:.1f}", flush=True)
    # the shipped Figure 2 model (reused from OUT/runs); quick mode: a 3-iteration stand-in, not saved
    spec = fig2.TRAIN if not quick else {**fig2.QUICK_TRAIN, "rmft": dict(fig2.QUICK_TRAIN["rmft"], iterations=QUICK["iterations"])}
    cfg = TrainConfig.from_dict(spec)
    learner, params, _, _ = common.train_model(cfg, progress, None if quick else out_dir, fig2.NAME)
    rmft_row = {"train_horizon": cfg.environment.horizon, "heads": cfg.transformer.heads, "config": cfg.to_dict(),
                "eval": evaluate(cfg, learner, params, "rmft")}
    payload = {
        **common.header(NAME, quick),
        "setting": {"teacher": "thompson (true prior and noise)", "iterations": QUICK["iterations"] if quick else ITERATIONS,
                    "rounds_per_iteration": "M·T_train = 128·25" if not quick else "M = 64 instances (quick)",
                    "seed": cfg.seed,
                    "horizons": [list(h) for h in horizons]},
        "references": references,
        "students": students,
        "rmft": rmft_row,
        "timing": {"total_s": time.perf_counter() - t0, "device": common.device_summary()},
    }
    results.save_json(paths["json"], payload, overwrite=overwrite)
    plot(paths["json"], out_dir)
    return {"results": str(paths["json"]), "table": str(paths["md"]),
            "regret": {n: {h: e["final_regret_mean"] for h, e in s["eval"].items()} for n, s in students.items()}}


def table_rows(data: dict) -> dict[str, dict]:
    """One flat row per student, the RMFT model and each baseline (ratios to Thompson sampling on the same runs)."""
    hs = [str(h) for h, _ in data["setting"]["horizons"]]
    thompson = {h: data["references"][h]["thompson"] for h in hs}

    def row(head: dict, evals: dict) -> dict:
        return head | plots.horizon_cells({h: evals[h] for h in hs}, thompson, detail=hs[-1:])

    rmft_name = f"RMFT, T_train={data['rmft']['train_horizon']} ({RMFT_LABEL[data['mode']]})"
    out = {name: row({"T_train": v["train_horizon"], "heads": v["heads"]}, v["eval"]) | {"train s": v.get("train_s")}
           for name, v in {**data["students"], rmft_name: data["rmft"]}.items()}
    for b in BASELINES:
        out[f"*{b}*"] = row({"T_train": "", "heads": ""}, {h: data["references"][h][b] for h in hs})
    return out


def plot(results_path, out_dir="figures") -> None:
    """Regret ÷ Thompson's against the evaluation horizon, one line per student; and the table."""
    data = results.load_json(results_path)
    out = Path(out_dir)
    hs = [str(h) for h, _ in data["setting"]["horizons"]]
    ts = [int(h) for h in hs]
    fig, ax = plots.subplots(figsize=(6.5, 4.2))
    rows = {**data["students"], f"RMFT ({RMFT_LABEL[data['mode']]})": data["rmft"]}
    for i, (name, v) in enumerate(rows.items()):
        ratio = [v["eval"][h]["ratio_to_thompson"] for h in hs]
        style = "-" if name.startswith("RMFT") else ("--" if v["heads"] == 2 else ":")
        ax.plot(ts, ratio, style, marker="o", color=plots._color(name, i), label=name, lw=2 if name.startswith("RMFT") else 1)
    ax.axhline(1.0, color="k", lw=0.6)
    ax.set(xscale="log", yscale="log", xlabel="evaluation horizon T", ylabel="regret(T) ÷ Thompson sampling's",
           title=f"Distilling Thompson sampling: how far the student follows ({data['mode']} mode)")
    ax.legend(fontsize=6.5)
    plots.save_figure(fig, out, NAME)
    cols = list(next(iter(table_rows(data).values())).keys())
    md = [f"# How far the model class carries an anytime algorithm ({data['mode']} mode)\n\n",
          f"Command: `{data['command']}`. Students: algorithm distillation of Thompson sampling, "
          f"{data['setting']['iterations']} iterations, seed {data['setting']['seed']}, "
          f"{data['setting']['rounds_per_iteration']} teacher rounds per iteration. "
          "Evaluation: the exploration ablation's instances and seeds; sampling at temperature 1.\n\n",
          plots.markdown_table(table_rows(data), [(c, c) for c in cols])]
    results.atomic_write_bytes(out / f"{NAME}.md", "".join(md).encode())


__all__ = ["run", "plot", "student_config", "train_student", "table_rows"]
