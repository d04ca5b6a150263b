"""Iterative RMFT on drifting bandits: a model that forgets, ranked by dynamic regret (issue 19).

Training (:mod:`rmft_jax.generalist` with ``mix.drifts``): the arm-equivariant model with
pooled time queries and a learned **recency decay** (``recency = "decay"``: an ALiBi-style
bias ``−m_h (s − u)`` per head, ``m_h >= 0`` learned, so each read-out is a discounted running
softmax) is trained by Iterative RMFT on drifting ``K = 5`` bandits at ``T = 200``: a uniform
mixture of piecewise-constant means (a change every 50 rounds on average, every arm's mean
redrawn from ``U[0, 1]``), reflected random walks (step ``σ = 0.02`` per round) and sinusoids
(period 100, amplitude 0.4), Gaussian rewards ``σ = 0.5``. Each rollout is ranked by its
**dynamic regret** ``Σ_t (max_a μ_{t,a} − μ_{t,a_t})`` (the environment's regret), with common
random numbers across an instance's ``L`` rollouts.

Evaluation: each drift kind at the training horizon ``T = 200`` and at ``4T = 800`` (the same
drift *rates*: 15 changes instead of 3 for piecewise), 1000 runs, the same mean paths, reward
tapes and seeds for every method of a setting. Methods:

* ``rmft``: the trained model; ``base``: its untrained initialisation;
* ``fig2``: the stationary Figure 2 model (K = 5, trained at T = 25 on stationary Gaussian
  bandits); ``generalist``: the stationary generalist (issue 22's shipped model, no recency);
* ``thompson``: stationary Gaussian Thompson sampling on the true prior's moments;
* ``sw_ucb``, ``discounted_ucb``, ``discounted_thompson``, **theory-tuned**: piecewise drifts
  from ``T`` and the number of breakpoints ``Υ`` (Garivier and Moulines 2011: ``τ = 2 sqrt(T ln
  T / Υ)``, ``γ = 1 − ¼ sqrt(Υ/T)``); smooth drifts from ``T`` and the expected variation
  budget ``V_T`` of the setting (:func:`~rmft_jax.policies.nonstationary.budget_window`:
  ``τ = (K ln K)^{1/3} (T/V_T)^{2/3}``, ``γ = 1 − 1/τ``); discounted TS takes D-UCB's ``γ``;
* the same three **grid-tuned**: the best (lowest mean dynamic regret) of ``GRID`` (full mode) and the
  theory-tuned value on the very runs being scored — an oracle the model does not get; the
  values tried and their regrets are recorded.

Piecewise settings also get the switch latency (rounds from a change of the best arm until
the new best arm takes most pulls of a 10-round stretch; median and 90th percentile) and the
post-change failure frequency (the new best arm never pulled in the 50 rounds after a
change), :func:`rmft_jax.metrics.change_diagnostics`.

Everything here is our reconstruction; no number is the paper's.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import jax
import numpy as np

from rmft_jax import generalist, metrics, results, training
from rmft_jax.config import TrainConfig
from rmft_jax.envs.nonstationary import DriftingBanditEnv, variation_budget
from rmft_jax.evaluation import evaluate_policy
from rmft_jax.experiments import common, fig2, plots
from rmft_jax.experiments import generalist as gx
from rmft_jax.models import equivariant as eqm
from rmft_jax.policies import make_policy
from rmft_jax.policies.nonstationary import budget_window, default_discount, default_window

NAME = "nonstationary"
NOISE = 0.5
ARMS = 5
DRIFT_KINDS = ("piecewise", "random_walk", "sinusoidal")
TRAIN = {
    "kind": generalist.KIND,
    "model": {"width": 32, "heads": 2, "mlp_ratio": 4, "max_horizon": 4096, "time_query": "pooled",
              "recency": "decay"},
    "mix": {"arms": [ARMS], "horizons": [200], "rewards": ["gaussian"], "noise": NOISE, "rounds": 16384,
            "drifts": list(DRIFT_KINDS), "segment": 50, "walk_std": 0.02, "period": 100.0, "amplitude": 0.4},
    "rmft": {"rollouts": 8, "keep": 4, "sft_steps": 8, "learning_rate": 1e-3, "iterations": 300,
             "shared_env_noise": True},
    "seed": 0,
}
QUICK_TRAIN = {
    **TRAIN,
    "mix": dict(TRAIN["mix"], horizons=[50], segment=25, rounds=4096),
    "rmft": dict(TRAIN["rmft"], iterations=24),
}
# The ablation row: the same recipe and drift mix, the model without the recency decay (full mode only).
NO_RECENCY = {**TRAIN, "model": dict(TRAIN["model"], recency="none")}
RUNS, QUICK_RUNS = 1000, 100
STRETCH = 4  # evaluated at the training horizon and at STRETCH times it
# The non-stationary baselines and the setting their tuning sets (SW-UCB's window, the others' discount).
TUNED = {"sw_ucb": "window", "discounted_ucb": "gamma", "discounted_thompson": "gamma"}
# The grid of each setting (full mode; quick mode has no grid-tuned baselines: each value compiles its own rollout).
GRID = {"window": (10, 20, 40, 80, 160, 320, 640), "gamma": (0.8, 0.9, 0.95, 0.975, 0.99, 0.995, 0.999)}
WINDOW, SPAN = 10, 50  # change_diagnostics: the majority stretch and the post-change failure span
BUDGET_PATHS = 1000  # mean paths drawn (with their own key) to set V_T for the theory tuning


def setting_seed(drift: str, horizon: int) -> int:
    """The evaluation seed of a setting, shared by every method."""
    return 19_000 + 1000 * DRIFT_KINDS.index(drift) + horizon


def expected_budget(env: DriftingBanditEnv, seed: int) -> float:
    """The mean variation budget ``V_T`` of ``env``'s drift over ``BUDGET_PATHS`` paths of its own key
    (what a tuner knows of the drift; not the evaluation's paths)."""
    keys = jax.random.split(jax.random.key(seed + 500_000), BUDGET_PATHS)
    paths = jax.vmap(env.sample_task)(keys).means
    return float(np.mean(jax.vmap(variation_budget)(paths)))


def theory_tuning(env: DriftingBanditEnv, budget: float) -> dict:
    """SW-UCB's window and the discount of D-UCB and discounted TS from what theory says for ``env``."""
    T, K = env.horizon, env.num_actions
    if env.drift == "piecewise":
        breakpoints = max(env.changes, 1)
        return {"window": default_window(T, breakpoints), "gamma": default_discount(T, breakpoints),
                "basis": f"breakpoints Υ = {breakpoints} (Garivier & Moulines 2011)"}
    tau = budget_window(T, K, budget)
    return {"window": tau, "gamma": 1.0 - 1.0 / tau,
            "basis": f"variation budget V_T = {budget:.2f} (Besbes, Gur & Zeevi 2014 batch size)"}


def tuned(name: str, env: DriftingBanditEnv, field: str, value):
    """Registry baseline ``name`` for ``env`` with its window or discount set to ``value``."""
    return dataclasses.replace(make_policy(name, env), **{field: value})


def settings(quick: bool) -> list[tuple[str, int, int]]:
    """Every ``(drift, T, runs)`` evaluated: each drift kind at the training horizon and at ``STRETCH`` times it
    (quick mode: the longer horizon for piecewise drifts only, to stay within two minutes)."""
    horizon = (QUICK_TRAIN if quick else TRAIN)["mix"]["horizons"][0]
    runs = QUICK_RUNS if quick else RUNS
    return [(d, t, runs) for d in DRIFT_KINDS for t in (horizon, STRETCH * horizon)
            if not quick or t == horizon or d == "piecewise"]


def stationary_models(out_dir) -> dict:
    """The stationary comparison models, ``name -> loader(env) -> (policy, params)``: the Figure 2 model and
    the generalist, from their committed runs under ``out_dir/runs`` (absent runs are left out)."""
    found = {}
    fig2_run = common.run_dir_for(out_dir, "fig2", TrainConfig.from_dict(fig2.TRAIN))
    if fig2_run.exists():
        found["fig2"] = lambda env: training.load_policy_from_checkpoint(fig2_run, env)
    gen_run = gx.run_dir_for(out_dir, generalist.GeneralistConfig.from_dict(gx.TRAIN))
    if gen_run.exists():
        found["generalist"] = lambda env: generalist.load_policy(gen_run, env)
    return found


def evaluate_setting(learned: dict, base, drift: str, horizon: int, runs: int, quick: bool, stationary: dict,
                     progress: bool) -> dict:
    """Every method's result on one setting, plus the tuning and the grid's regrets. ``learned`` maps a
    name to ``(cfg, graphdef, params)`` of a model trained here, ``"rmft"`` (the shipped one) first;
    ``base`` is the shipped model's untrained weights."""
    cfg, graphdef, params = learned["rmft"]
    env = cfg.mix.drift_env(ARMS, horizon, "gaussian", drift)
    seed = setting_seed(drift, horizon)

    def diagnose(traj):
        if drift != "piecewise":
            return {}
        return metrics.change_diagnostics(traj.actions, traj.best, WINDOW, SPAN, regret=traj.regret)

    def ev(policy, name, p=None):
        return evaluate_policy(env, policy, seed, runs, p, progress=progress, name=name, extra=diagnose)

    out = {name: ev(generalist.policy_for(c, g, ARMS, horizon), name, p) for name, (c, g, p) in learned.items()}
    out["base"] = ev(generalist.policy_for(cfg, graphdef, ARMS, horizon), "base", base)
    for name, load in stationary.items():
        stationary_policy, stationary_params = load(env)
        out[name] = ev(stationary_policy, name, stationary_params)
    out["thompson"] = ev(make_policy("thompson", env), "thompson")
    budget = expected_budget(env, seed)
    theory = theory_tuning(env, budget)
    grid = {}
    for name, field in TUNED.items():
        out[f"{name} (theory)"] = ev(tuned(name, env, field, theory[field]), name)
        if quick:
            continue
        # the grid's values that fit the horizon, and the theory-tuned value: the oracle is never worse than theory
        values = sorted({v for v in GRID[field] if field != "window" or v <= horizon} | {theory[field]})
        scored = {v: ev(tuned(name, env, field, v), name) for v in values}
        best = min(scored, key=lambda v: scored[v]["final_regret_mean"])
        out[f"{name} (grid)"] = scored[best]
        grid[name] = {"field": field, "best": best,
                      "regret": {str(v): r["final_regret_mean"] for v, r in scored.items()}}
    rows = {}
    for name, res in out.items():
        row = common.summary_row(res)
        row["final_regret_median"] = float(np.median(res["final_regret"]))
        for key in ("switch_latency_median", "switch_latency_p90", "switch_censored_share", "changes_measured",
                    "post_change_fail_freq", "post_change_measured", "post_change_regret_failed",
                    "post_change_regret_switched", "post_change_fail_regret_share"):
            if key in res:
                row[key] = res[key]
        step = max(1, horizon // 100)
        row["curve"] = {"t": list(range(step, horizon + 1, step)),
                        "regret_mean": [float(x) for x in res["regret_mean"][step - 1 :: step]]}
        rows[name] = row
    best_theory = min(rows[f"{n} (theory)"]["final_regret_mean"] for n in TUNED)
    best_grid = min((rows[f"{n} (grid)"]["final_regret_mean"] for n in grid), default=None)
    for row in rows.values():
        row["ratio_to_best_theory"] = row["final_regret_mean"] / best_theory
        row["ratio_to_best_grid"] = None if best_grid is None else row["final_regret_mean"] / best_grid
    return {"runs": runs, "seed": seed, "variation_budget": out["rmft"]["variation_budget"],
            "expected_variation_budget": budget, "changes": env.changes if drift == "piecewise" else None,
            "theory_tuning": theory, "grid": grid, "methods": rows}


def run(out_dir="figures", quick: bool = False, overwrite: bool = False, progress: bool = True) -> dict:
    paths = common.output_paths(out_dir, NAME, overwrite)
    t0 = time.perf_counter()
    cfg = generalist.GeneralistConfig.from_dict(QUICK_TRAIN if quick else TRAIN)
    state, graphdef, base, rows, train_s = gx.train_or_load(cfg, None if quick else out_dir, progress, name=NAME)
    learned = {"rmft": (cfg, graphdef, state.params)}
    variants = {}
    if not quick:
        vcfg = generalist.GeneralistConfig.from_dict(NO_RECENCY)
        vstate, vgraph, _, vrows, vtrain_s = gx.train_or_load(vcfg, out_dir, progress, name=NAME)
        learned["rmft_no_recency"] = (vcfg, vgraph, vstate.params)
        variants["rmft_no_recency"] = {"config": vcfg.to_dict(), "run": str(gx.run_dir_for(out_dir, vcfg, NAME)),
                                       "iterations": len(vrows), "train_s": vtrain_s,
                                       "recorded_train_s": sum(r["seconds"] for r in vrows)}
    stationary = {} if quick else stationary_models(out_dir)
    table = {}
    for drift, horizon, runs in settings(quick):
        t1 = time.perf_counter()
        cell = evaluate_setting(learned, base, drift, horizon, runs, quick, stationary, progress)
        cell["wall_s"] = time.perf_counter() - t1
        table.setdefault(drift, {})[str(horizon)] = cell
        jax.clear_caches()  # each setting compiles its own programs; keep the process's memory maps bounded
        if progress:
            m = cell["methods"]["rmft"]
            grid_part = "" if m["ratio_to_best_grid"] is None else f", {m['ratio_to_best_grid']:.2f}x best grid-tuned"
            print(f"{drift} T={horizon}: rmft {m['final_regret_mean']:.2f} ({m['ratio_to_best_theory']:.2f}x best "
                  f"theory-tuned{grid_part})", flush=True)
    payload = {
        **common.header(NAME, quick),
        "train": {"config": cfg.to_dict(), "iterations": len(rows), "train_s": train_s,
                  "run": None if quick else str(gx.run_dir_for(out_dir, cfg, NAME)),
                  "slopes": [float(x) for x in learned_slopes(graphdef, state.params)],
                  "curve": [{k: r[k] for k in ("iteration", "drift", "rollout_regret_mean", "sft_nll", "sft_entropy",
                                               "seconds")} for r in rows],
                  "variants": variants},
        "setting": {"arms": ARMS, "noise": NOISE, "reward": "gaussian", "stretch": STRETCH,
                    "grid": {} if quick else {n: {"field": f, "values": list(GRID[f])} for n, f in TUNED.items()},
                    "diagnostics": {"window": WINDOW, "span": SPAN}},
        "results": table,
        "timing": {"total_s": time.perf_counter() - t0, "device": common.device_summary()},
    }
    results.save_json(paths["json"], payload, overwrite=overwrite)
    plot(paths["json"], out_dir)
    return {"results": str(paths["json"]), "table": str(paths["md"]), "figure": str(paths["png"]),
            "ratio_to_best_theory": {d: {t: c["methods"]["rmft"]["ratio_to_best_theory"] for t, c in ts.items()}
                                     for d, ts in table.items()}}


def learned_slopes(graphdef, params) -> np.ndarray:
    """The trained model's recency slopes ``m_h`` (zeros for a model without recency)."""
    return np.asarray(eqm.slopes(graphdef, params))


SHOWN = ("rmft", "rmft_no_recency", "base", "fig2", "generalist", "thompson", "sw_ucb (theory)", "discounted_ucb (theory)",
         "discounted_thompson (theory)", "sw_ucb (grid)", "discounted_ucb (grid)", "discounted_thompson (grid)")


def table_rows(data: dict) -> dict[str, dict]:
    """One row per (setting, method): dynamic regret, its ratios to the best theory- and grid-tuned
    baselines, β̂ and p_reg, and for piecewise drifts the switch latency and post-change failures."""
    out = {}
    for drift, ts in data["results"].items():
        for t, cell in ts.items():
            for name in SHOWN:
                m = cell["methods"].get(name)
                if m is None:
                    continue
                tuning = ""
                if name.endswith("(grid)"):
                    g = cell["grid"][name.split()[0]]
                    tuning = f"{g['field']} = {g['best']}"
                elif name.endswith("(theory)"):
                    th = cell["theory_tuning"]
                    tuning = f"window = {th['window']}" if name.startswith("sw") else f"gamma = {th['gamma']:.4f}"
                out[f"{drift}, T={t}: {name}"] = {
                    "regret": plots.plus_minus(m["final_regret_mean"], m["final_regret_sem"]),
                    "÷best theory": m["ratio_to_best_theory"],
                    "÷best grid": m["ratio_to_best_grid"],
                    "β̂": m["beta_hat"],
                    "p_reg": m["p_reg"],
                    "latency med": m.get("switch_latency_median"),
                    "latency p90": m.get("switch_latency_p90"),
                    "fail 50 after": m.get("post_change_fail_freq"),
                    "share of regret in failed spans": m.get("post_change_fail_regret_share"),
                    "tuning": tuning,
                }
    return out


def plot(results_path, out_dir="figures") -> None:
    """Mean dynamic regret curves, one panel per (drift, horizon), and the table."""
    data = results.load_json(results_path)
    out = Path(out_dir)
    drifts = list(data["results"])
    horizons = sorted({t for d in drifts for t in data["results"][d]}, key=int)
    fig, axes = plots.subplots(len(horizons), len(drifts), figsize=(4.2 * len(drifts), 3.3 * len(horizons)),
                               squeeze=False)
    styles = {"rmft": ("C3", "-", 2.0), "rmft_no_recency": ("C1", "-", 1.2), "base": ("0.6", ":", 1.2), "fig2": ("C4", "--", 1.2),
              "generalist": ("C5", "--", 1.2), "thompson": ("C0", "-.", 1.2)}
    for j, drift in enumerate(drifts):
        for i, t in enumerate(horizons):
            ax, cell = axes[i, j], data["results"][drift].get(t)
            if cell is None:
                ax.set_visible(False)
                continue
            m = cell["methods"]
            for name, (color, ls, lw) in styles.items():
                if name in m:
                    ax.plot(m[name]["curve"]["t"], m[name]["curve"]["regret_mean"], color=color, ls=ls, lw=lw, label=name)
            for kind, ls in (("theory", "-"), ("grid", "--")):
                tuned_names = [n for n in m if n.endswith(f"({kind})")]
                if not tuned_names:
                    continue
                best = min(tuned_names, key=lambda n: m[n]["final_regret_mean"])
                ax.plot(m[best]["curve"]["t"], m[best]["curve"]["regret_mean"], color="C2", ls=ls, lw=1.2,
                        label=f"best {kind}-tuned: {best.split()[0]}")
            ax.set(title=f"{drift}, T = {t} (V_T ≈ {cell['variation_budget']:.1f})", xlabel="round t",
                   ylabel="dynamic regret")
            ax.legend(fontsize=6)
    fig.suptitle(f"Iterative RMFT on drifting bandits, K = {data['setting']['arms']} ({data['mode']} mode)", fontsize=9)
    plots.save_figure(fig, out, NAME)
    rows = table_rows(data)
    tr = data["train"]
    plots.save_table(out, NAME, f"Iterative RMFT on drifting bandits ({data['mode']} mode)",
                     f"Command: `{data['command']}`. Trained by Iterative RMFT, ranked by dynamic regret, on "
                     f"{json.dumps(tr['config']['mix'])} with model {json.dumps(tr['config']['model'])} "
                     f"({tr['iterations']} iterations; {sum(r['seconds'] for r in tr['curve']):.0f} s of training as recorded by "
                     f"the run; learned recency slopes m = {', '.join(f'{s:.4f}' for s in tr['slopes'])}). Evaluation: the same "
                     "mean paths, reward tapes and seeds for every method of a setting. ÷best theory / ÷best grid: dynamic regret "
                     "÷ that of the best theory-tuned / grid-tuned (oracle) non-stationary baseline. Latency: rounds from a "
                     f"change of the best arm until it takes most pulls of a {data['setting']['diagnostics']['window']}-round "
                     f"stretch (empty: censored); fail 50 after: the new best arm never pulled in the "
                     f"{data['setting']['diagnostics']['span']} rounds after a change.",
                     rows, first="setting: method")


__all__ = ["run", "plot", "table_rows", "settings", "theory_tuning", "expected_budget", "TRAIN", "QUICK_TRAIN"]
