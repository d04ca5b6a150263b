"""Paradigms side by side (issue 12): Iterative RMFT against optimal-action pretraining (DPT),
algorithm distillation, the regret-loss and policy gradient, on one model, one prior, one budget.

Setting: Figure 2's (K = 5, means ~ U[0, 1], Gaussian rewards σ = 0.5, trained at
T = 25; the 1-layer, width-32, 2-head Transformer with per-arm reward slots).
Every paradigm (:mod:`rmft_jax.paradigms`) runs the Figure 2 recipe's iteration
budget — per iteration M = 128 instances, L = 16 rollouts of 25 rounds
(51,200 environment rounds), then 16 AdamW steps (lr 1e-3, clip 1) on batches of
M·k = 1024 trajectories — for the same number of iterations, from the same base
weights and on the same instances per seed, three training seeds each
(``jit(lax.map)`` over seeds on CPU, ``jit(vmap)`` on an accelerator; see
:func:`rmft_jax.paradigms.common.train_seeds`).

Full mode runs ``FULL_ITERATIONS = 16`` iterations, not Figure 2's 100, so that the
seven trainings × three seeds fit the 30-minute budget of a shared 2-core CPU
(measured there, with other jobs running: 2.4 s per iteration and seed for RMFT,
3.4 s for the KL variant of policy gradient, the dearest; 4–7 s under heavier
load); every paradigm gets the same 16.
Tuning budget: none, for every paradigm. The optimiser settings are the Figure 2
recipe's, and each paradigm's own constants are fixed a priori from its source
(DPT's roll-in, PPO's ε = 0.2, GRPO's β = 0.04).

Evaluation: every trained model (every seed) and the references (the base models,
Thompson sampling, UCB, Greedy) on the same fresh instances, sampling at
temperature 1 as trained: the training prior at T = 25, 100 and 1000, and two
shifted priors at T = 100 — Bernoulli rewards (means ~ U[0, 1]) and Gaussian
rewards with means ~ U[0.4, 0.6] (small gaps). Per paradigm: regret (mean over
seeds of the per-seed mean; spread = standard deviation over seeds),
SuffFailFreq(T/2), β̂ at T = 1000, K·MinFrac(t), the budget and the wall time.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import jax
import numpy as np

from rmft_jax import paradigms, results
from rmft_jax.config import TrainConfig
from rmft_jax.envs import BanditEnv
from rmft_jax.evaluation import evaluate_policy
from rmft_jax.experiments import common, fig2, plots
from rmft_jax.models.policy import BanditTransformerPolicy
from rmft_jax.paradigms.common import budget, train_seeds
from rmft_jax.policies import make_policy
from rmft_jax.training import build_learner
from rmft_jax.models.transformer import init_model

NAME = "paradigms"
SEEDS = (0, 1, 2)
FULL_ITERATIONS = 16
TRAIN = {**fig2.TRAIN, "rmft": dict(fig2.TRAIN["rmft"], iterations=FULL_ITERATIONS)}
TRAIN_QUICK = {
    "env": fig2.TRAIN["env"],
    "model": {"layers": 1, "heads": 1, "width": 8, "bandit_token": "per_arm"},
    "rmft": {"tasks": 16, "rollouts": 8, "keep": 4, "iterations": 2, "sft_steps": 2, "learning_rate": 3e-3,
             "shared_env_noise": True},
    "seed": 0,
}
FULL_PARADIGMS = tuple(paradigms.PARADIGMS)
QUICK_PARADIGMS = paradigms.CORE
BASELINES = ("thompson", "ucb", "greedy")
QUICK_BASELINES = ("thompson",)  # each baseline compiles once per evaluation environment
HORIZONS = ("25", "100", "1000")
SHIFTED = ("bernoulli", "narrow")
# evaluation name -> runs per training seed (full, quick); every seed of every method sees the same instances
RUNS = {"25": (1000, 32), "100": (1000, 32), "1000": (200, 8), "bernoulli": (500, 32), "narrow": (500, 32)}
# evaluation name -> seed of its instances (the same for every method and training seed)
EVAL_SEEDS = {"25": 12_025, "100": 12_100, "1000": 13_000, "bernoulli": 12_200, "narrow": 12_300}
BOOTSTRAP = 200


def eval_envs(env: BanditEnv) -> dict[str, BanditEnv]:
    """The evaluation environments: the training prior at T = 25, 100, 1000 and the two shifted priors at T = 100."""
    out = {h: dataclasses.replace(env, horizon=int(h)) for h in HORIZONS}
    out["bernoulli"] = dataclasses.replace(env, horizon=100, reward="bernoulli")
    out["narrow"] = dataclasses.replace(env, horizon=100, prior_low=0.4, prior_high=0.6)
    return out


def eval_policy(cfg: TrainConfig, graphdef, horizon: int, quick: bool) -> BanditTransformerPolicy:
    """The model's rollout policy at ``horizon`` (temperature as trained).

    Quick mode keeps one decode segment (``decode_segment = 0``): slower per round
    at T = 1000, but one scan to compile instead of nine, which is what a smoke
    test pays for; the values agree to float rounding."""
    extra = {"decode_segment": 0} if quick else {}
    return BanditTransformerPolicy(cfg=cfg.transformer, graphdef=graphdef, temperature=cfg.rmft.temperature,
                                   horizon=horizon, **extra)


def _evaluate(env, policy, key: str, runs: int, params, name: str) -> dict:
    return evaluate_policy(env, policy, EVAL_SEEDS[key], runs, params, progress=False, name=name,
                           num_resamples=BOOTSTRAP)


def _log_rounds(T: int, n: int = 80) -> list[int]:
    return sorted({int(t) for t in np.unique(np.round(np.geomspace(1, T, n)))})


def summarise(per_seed: dict[str, list[dict]]) -> dict:
    """One method's entry from its per-seed evaluations ``{eval name: [result of seed s]}``."""
    mean = lambda key, ev: float(np.mean([common.summary_row(r)[key] for r in per_seed[ev]]))  # noqa: E731
    regret = {ev: [float(np.mean(r["final_regret"])) for r in per_seed[ev]] for ev in per_seed}
    sd = lambda xs: float(np.std(xs, ddof=1)) if len(xs) > 1 else 0.0  # noqa: E731
    entry = {
        "regret": {h: float(np.mean(regret[h])) for h in HORIZONS},
        "regret_spread": {h: sd(regret[h]) for h in HORIZONS},
        "suff_fail_freq_half": {h: mean("suff_fail_freq_half", h) for h in ("100", "1000")},
        "beta_hat": {"1000": mean("beta_hat", "1000")},
        "regret_seeds": {h: regret[h] for h in HORIZONS},
        "suff_fail_freq_half_25": mean("suff_fail_freq_half", "25"),
        "k_min_frac_end": {h: mean("k_min_frac_end", h) for h in HORIZONS},
        "shifted": {
            ev: {"regret": {"100": float(np.mean(regret[ev]))}, "regret_spread": {"100": sd(regret[ev])},
                 "suff_fail_freq_half": {"100": mean("suff_fail_freq_half", ev)}}
            for ev in SHIFTED
        },
    }
    return entry


def curves(per_seed: dict[str, list[dict]]) -> dict:
    """Seed-averaged curves at T = 1000 on log-spaced rounds (regret, SuffFailFreq, K·MinFrac)."""
    rs = per_seed["1000"]
    idx = np.asarray(_log_rounds(len(rs[0]["regret_mean"]))) - 1
    avg = lambda k: np.mean([np.asarray(r[k], float)[idx] for r in rs], axis=0)  # noqa: E731
    return {"t": (idx + 1).tolist(), "regret_mean": avg("regret_mean"), "suff_fail_freq": avg("suff_fail_freq"),
            "k_min_frac": avg("k_min_frac")}


def run(out_dir="figures", quick: bool = False, overwrite: bool = False, progress: bool = True) -> dict:
    paths = common.output_paths(out_dir, NAME, overwrite)
    t0 = time.perf_counter()
    cfg = TrainConfig.from_dict(TRAIN_QUICK if quick else TRAIN)
    env = cfg.environment
    learner = build_learner(cfg)
    graphdef = learner.policy.graphdef
    envs = eval_envs(env)
    runs = {k: v[1 if quick else 0] for k, v in RUNS.items()}
    policies = {k: eval_policy(cfg, graphdef, e.horizon, quick) for k, e in envs.items()}
    names = QUICK_PARADIGMS if quick else FULL_PARADIGMS
    spend = budget(env, cfg.rmft)
    out, curve, training = {}, {}, {}

    def evaluate_seeds(params, name):
        per_seed = {k: [] for k in envs}
        for s in range(len(SEEDS)):
            p = jax.tree.map(lambda x, s=s: x[s], params)
            for k, e in envs.items():
                per_seed[k].append(_evaluate(e, policies[k], k, runs[k], p, name))
        return per_seed

    for name in names:
        t1 = time.perf_counter()
        params, metrics = train_seeds(cfg.transformer, paradigms.trainer(name, env, cfg.rmft), learner, SEEDS)
        params = jax.block_until_ready(params)
        wall = time.perf_counter() - t1
        t2 = time.perf_counter()
        per_seed = evaluate_seeds(params, name)
        entry = summarise(per_seed)
        entry.update({"seeds": len(SEEDS), "env_rounds": spend["env_rounds"], "sft_or_grad_steps": spend["grad_steps"],
                      "supervised_tokens": spend["supervised_tokens"], "wall_s": wall,
                      "eval_s": time.perf_counter() - t2})
        out[name] = entry
        curve[name] = curves(per_seed)
        training[name] = {k: np.mean(np.asarray(v), axis=0) for k, v in jax.device_get(metrics).items()}
        if progress:
            print(f"{name}: trained in {wall:.0f} s, regret T=25 {entry['regret']['25']:.2f}", flush=True)

    # references on the same instances: the base models of the three seeds, and the baselines
    bases = jax.tree.map(lambda *xs: np.stack(xs), *[
        init_model(cfg.transformer, jax.random.fold_in(jax.random.key(s), 0))[1] for s in SEEDS])
    refs = {"base": summarise(base_eval := evaluate_seeds(bases, "base"))}
    curve["base"] = curves(base_eval)
    for b in QUICK_BASELINES if quick else BASELINES:
        per = {k: [_evaluate(e, make_policy(b, e), k, runs[k], None, b)] for k, e in envs.items()}
        refs[b] = summarise(per)
        curve[b] = curves(per)
    ts = refs["thompson"]
    for entry in [*out.values(), *refs.values()]:
        entry["ratio_to_thompson"] = {h: entry["regret"][h] / ts["regret"][h] for h in HORIZONS}
    for entry in out.values():
        entry["below_base_at_25"] = 1.0 - entry["regret"]["25"] / refs["base"]["regret"]["25"]

    payload = {
        **common.header(NAME, quick),
        "config": {
            "train_config": cfg.to_dict(),
            "seeds": list(SEEDS),
            "budget_per_seed": spend,
            "evaluation": {k: {"horizon": e.horizon, "reward": e.reward, "prior": [e.prior_low, e.prior_high],
                               "noise": e.noise, "runs_per_seed": runs[k], "seed": EVAL_SEEDS[k]}
                           for k, e in envs.items()},
            "wall_s": "training wall time of all seeds, compilation included; eval_s the evaluation's",
            "constants": {"ppo_clip": paradigms.policy_gradient.CLIP, "kl_coef": paradigms.policy_gradient.KL_COEF,
                          "dpt_mixing": list(paradigms.dpt.MIXING)},
            "tuning_budget": "none: the Figure 2 optimiser settings for every paradigm, paradigm constants a priori",
        },
        "paradigms": out,
        "references": refs,
        "curves": curve,
        "training": training,
        "timing": {"total_s": time.perf_counter() - t0, "device": common.device_summary()},
    }
    results.save_json(paths["json"], payload, overwrite=overwrite)
    plot(paths["json"], out_dir)
    return {"results": str(paths["json"]), "table": str(paths["md"]),
            "regret": {n: e["regret"] for n, e in out.items()}, "timing": payload["timing"]}


COLOURS = {"rmft": "#d62728", "dpt": "#9467bd", "ad": "#2ca02c", "ad_ucb": "#17becf", "regret_loss": "#ff7f0e",
           "policy_gradient": "#1f77b4", "policy_gradient_kl": "#8c564b", "base": "#7f7f7f", "thompson": "k",
           "ucb": "#bcbd22", "greedy": "#e377c2"}


def table_rows(data: dict) -> dict[str, dict]:
    rows = {}
    for group in ("paradigms", "references"):
        for name, e in data[group].items():
            pm = lambda h, e=e: plots.plus_minus(e["regret"][h], e["regret_spread"][h])  # noqa: E731
            sh = lambda ev, e=e: plots.plus_minus(  # noqa: E731
                e["shifted"][ev]["regret"]["100"], e["shifted"][ev]["regret_spread"]["100"])
            rows[name if group == "paradigms" else f"({name})"] = {
                "T=25": pm("25"), "T=100": pm("100"), "T=1000": pm("1000"),
                "÷TS T=1000": e["ratio_to_thompson"]["1000"],
                "SFF(50)": e["suff_fail_freq_half"]["100"], "SFF(500)": e["suff_fail_freq_half"]["1000"],
                "β̂ T=1000": e["beta_hat"]["1000"],
                "Bernoulli T=100": sh("bernoulli"), "U[0.4,0.6] T=100": sh("narrow"),
                "vs base T=25": f"{-100 * e['below_base_at_25']:+.0f}%" if "below_base_at_25" in e else None,
                "env rounds": e.get("env_rounds"), "grad steps": e.get("sft_or_grad_steps"),
                "wall s (3 seeds)": e.get("wall_s"),
            }
    return rows


def findings(data: dict) -> str:
    """Sentences read off the results: who wins where (no judgement beyond the numbers)."""
    P = data["paradigms"]
    lines = []
    for h in HORIZONS:
        best = min(P, key=lambda n: P[n]["regret"][h])
        ts = data["references"]["thompson"]["regret"][h]
        lines.append(f"- T = {h}: lowest regret **{best}** ({P[best]['regret'][h]:.2f} ± {P[best]['regret_spread'][h]:.2f}; "
                     f"Thompson sampling {ts:.2f}).")
    for ev, label in (("bernoulli", "Bernoulli rewards"), ("narrow", "means ~ U[0.4, 0.6]")):
        best = min(P, key=lambda n: P[n]["shifted"][ev]["regret"]["100"])
        lines.append(f"- {label}, T = 100: lowest regret **{best}** ({P[best]['shifted'][ev]['regret']['100']:.2f}).")
    sff = min(P, key=lambda n: P[n]["suff_fail_freq_half"]["1000"])
    lines.append(f"- Fewest suffix failures at T = 1000: **{sff}** (SuffFailFreq(500) = {P[sff]['suff_fail_freq_half']['1000']:.3f}).")
    failed = [n for n in P if P[n]["below_base_at_25"] < 0.3]
    lines.append("- Collapse check (regret at T = 25 at least 30% below the base model's): "
                 + ("every paradigm passes." if not failed else "not met by " + ", ".join(failed) + "."))
    return "\n".join(lines) + "\n"


MECHANISMS = """\
What each signal asks of the model (the minimiser of its loss at a history ``h``; the
argument is about the objectives, not a result):

- **dpt**: ``P(a* = a | h)`` under DPT's random roll-in histories, which is posterior
  (Thompson) sampling where the model's own histories resemble the roll-in's. Its labels
  need the means, so it trains only where the optimal arm is known.
- **ad / ad_ucb**: the teacher's action distribution. The student can at best match the
  teacher, and it learns on the teacher's histories, not its own.
- **regret_loss**: all mass on ``argmax_a E[μ_a | h]``, the posterior-greedy arm. The
  loss has no term for what an action reveals, so it pays for exploration only
  through sampling at temperature 1.
- **policy_gradient**: an unbiased estimate of the gradient of the expected regret over
  the whole horizon. Exploration that pays off within T = 25 rounds is rewarded, and
  only that. The KL variant holds the policy near the (uniform) base model.
- **rmft**: imitation of the best k of L own rollouts ranked by regret at T. It has
  neither a baseline nor negative examples: every action of a kept rollout is
  reinforced, the lucky ones included.
"""


# Written from the full run committed with figures/paradigms.json (16 iterations, 3 seeds; the numbers
# are quoted from it). Drawn into the table's page in full mode only.
DISCUSSION = """\
Which signal wins where, in this run (16 of Figure 2's 100 iterations for every paradigm,
3 seeds, no tuning):

- **Within the training horizon (T = 25) the two regret signals win**: the regret-loss
  (4.03 ± 0.18) and policy gradient (4.07 ± 0.04) both beat Thompson sampling (5.04) and
  UCB (4.65), and both halve the base model's regret. Greedy (3.71) is lower still,
  because at 25 rounds committing early is cheap. The imitation signals land on their
  teachers: AD 5.22 against Thompson's 5.04, AD-UCB 4.84 against UCB's 4.65. RMFT (5.18)
  and DPT (5.56) are the slowest learners at this budget, but both pass the 30% collapse
  check (−37%, −32%).
- **Beyond the horizon policy gradient wins**: 10.57 ± 0.37 at T = 100 (Thompson sampling
  10.49) and 79 ± 2 at T = 1000, still 3.3 times Thompson's 23.8, with no suffix failure
  at T = 1000. It also wins on Bernoulli rewards (9.38 against Thompson's 8.23). Its
  gradient credits an exploratory pull whenever the information pays off within 25
  rounds, which is the only signal here that rewards what an action reveals. No signal
  reaches past T, which is why every trained model's β̂ at T = 1000 lies between 0.87 and 0.99, against
  Thompson's 0.34. K·MinFrac(1000) shows how: RMFT, DPT and both AD models still give
  their least-pulled arm 0.23–0.34 of a uniform share after 1000 rounds, so they keep
  paying for exploration at a steady rate. Policy gradient gives it 0.11, and Thompson
  sampling 0.03.
- **The regret-loss learns Greedy, as its objective predicts**: SuffFailFreq(50) = 0.40 and
  SuffFailFreq(500) = 0.26, the failure profile of Greedy (0.36 / 0.34). Its T = 1000 mean
  (97 ± 16) carries the largest seed spread. It is best on the narrow prior
  (U[0.4, 0.6]: 5.10), where every gap is small and commitment costs little; there every
  method lies between 4.9 and 6.6.
- **Imitation does not extrapolate past its histories**: AD matches Thompson sampling at
  T = 25 but reaches 97 at T = 1000 (4 times Thompson's). It learned Thompson's 25-round
  behaviour, not its concentration law. DPT's optimal-action labels on non-adaptive
  roll-in histories are the weakest supervised signal at this budget (T = 1000: 151).
- **RMFT at 16 iterations** sits between the imitation and the regret signals at T = 100
  (16.7 ± 1.0) and T = 1000 (145 ± 15). Its rollout regret was still falling when training
  stopped, so this row is not the recipe's endpoint (Figure 2's 100-iteration model:
  `figures/fig2.md`).
- **policy_gradient_kl fails the collapse check (−7%)**. The β = 0.04 we borrowed from GRPO
  assumes advantages normalised to unit standard deviation; ours are raw differences of
  per-round regret, about 0.1 in size, so the KL to the uniform base model dominates.
  This is a mis-scaled constant, not evidence against the KL penalty. We did not retune
  it: the tuning budget was none for every paradigm.

At equal budget (819,200 environment rounds and 256 optimiser steps per seed) the wall
times are alike (99–140 s for three seeds, compilation included), because the optimiser
steps dominate the cost.
"""


def plot(results_path, out_dir="figures") -> None:
    """Regret ÷ Thompson's and SuffFailFreq(T/2) against T, K·MinFrac(t) at T = 1000, shifted priors; the table."""
    data = results.load_json(results_path)
    out = Path(out_dir)
    P, R = data["paradigms"], data["references"]
    methods = {**P, **{k: v for k, v in R.items() if k != "ucb"}}
    hs = [int(h) for h in HORIZONS]
    fig, axes = plots.subplots(1, 4, figsize=(18, 4.2))
    ts = R["thompson"]
    for name, e in methods.items():
        c, ref = COLOURS.get(name), name in R
        style = dict(color=c, marker="s" if ref else "o", ls=":" if ref else "-", label=f"({name})" if ref else name)
        ratio = [e["regret"][str(h)] / ts["regret"][str(h)] for h in hs]
        err = [e["regret_spread"][str(h)] / ts["regret"][str(h)] for h in hs]
        axes[0].errorbar(hs, ratio, yerr=err, capsize=3, **style)
        axes[1].plot([100, 1000], [e["suff_fail_freq_half"]["100"], e["suff_fail_freq_half"]["1000"]], **style)
        cv = data["curves"][name]
        axes[2].plot(cv["t"], cv["k_min_frac"], color=c, ls=":" if ref else "-", label=style["label"])
    shifted = [("25", "training prior\nT=25"), ("100", "training prior\nT=100"), ("bernoulli", "Bernoulli\nT=100"),
               ("narrow", "μ ~ U[0.4,0.6]\nT=100")]
    width = 0.8 / len(P)
    for i, (name, e) in enumerate(P.items()):
        vals = [(e["regret"][k] if k in HORIZONS else e["shifted"][k]["regret"]["100"])
                / (ts["regret"][k] if k in HORIZONS else ts["shifted"][k]["regret"]["100"]) for k, _ in shifted]
        axes[3].bar(np.arange(len(shifted)) + i * width, vals, width, color=COLOURS.get(name), label=name)
    axes[3].axhline(1.0, color="k", lw=0.8, ls=":")
    axes[3].set_xticks(np.arange(len(shifted)) + 0.4 - width / 2, [s for _, s in shifted], fontsize=8)
    axes[0].set(xscale="log", yscale="log", xlabel="evaluation horizon T", ylabel="regret(T) ÷ Thompson's",
                title="regret relative to Thompson sampling (± seed s.d.)")
    axes[1].set(xscale="log", xlabel="evaluation horizon T", ylabel="SuffFailFreq(T/2)", title="runs that abandon the best arm")
    axes[2].set(xscale="log", xlabel="round t (T = 1000)", ylabel="K·MinFrac(t)", title="least-pulled arm's share × K",
                ylim=(-0.02, 1.02))
    axes[3].set(ylabel="regret ÷ Thompson's", title="training prior vs shifted priors")
    for ax in axes[:2]:
        ax.axvline(data["config"]["train_config"]["env"]["horizon"], color="k", lw=0.6, ls=":")
    axes[0].legend(fontsize=7)
    axes[3].legend(fontsize=6)
    b = data["config"]["budget_per_seed"]
    fig.suptitle(f"Training paradigms side by side ({data['mode']} mode): same model, prior and budget "
                 f"({b['env_rounds']:,} environment rounds, {b['grad_steps']} optimiser steps per seed, "
                 f"{len(data['config']['seeds'])} seeds)", fontsize=10)
    plots.save_figure(fig, out, NAME)

    rows = table_rows(data)
    cols = list(dict.fromkeys(k for r in rows.values() for k in r))
    tc = data["config"]["train_config"]
    text = [
        f"# Training paradigms side by side ({data['mode']} mode)\n\n",
        f"Command: `{data['command']}`. Training: {tc['env']['name']} K = {tc['env']['arms']}, "
        f"{tc['env']['reward']} σ = {tc['env']['noise']}, means ~ U[0, 1], T = {tc['env']['horizon']}; model "
        f"{tc['model']}; per iteration M = {tc['rmft']['tasks']} instances × L = {tc['rmft']['rollouts']} rollouts, "
        f"{tc['rmft']['sft_steps']} AdamW steps (lr {tc['rmft']['learning_rate']}) on M·k = "
        f"{b['batch_trajectories']} trajectories; {tc['rmft']['iterations']} iterations; seeds "
        f"{data['config']['seeds']}. Per seed: {b['env_rounds']:,} environment rounds, {b['grad_steps']} optimiser "
        f"steps, {b['supervised_tokens']:,} supervised tokens. Tuning budget: {data['config']['tuning_budget']}.\n\n",
        "Regret: mean over training seeds of the per-seed mean ± the standard deviation over seeds; every seed and "
        "every reference on the same instances. SFF(T/2) = SuffFailFreq(T/2). Rows in parentheses are references "
        "(the base models of the three seeds, and the baselines, which know the prior and noise).\n\n",
        plots.markdown_table(rows, [(c, c) for c in cols]),
        "\n## Read off the numbers\n\n", findings(data),
        "\n## Why (the objectives)\n\n", MECHANISMS,
    ]
    if data["mode"] == "full":
        text += ["\n## Which signal wins where\n\n", DISCUSSION]
    results.atomic_write_bytes(out / f"{NAME}.md", "".join(text).encode())
