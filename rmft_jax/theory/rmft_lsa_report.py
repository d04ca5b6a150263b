"""The sweep behind ``rmft theory --rmft``: Iterative RMFT on the LSA against ``η*`` (issue 4, point 5).

For both environments, runs of :mod:`rmft_jax.theory.rmft_lsa` over ``L`` and ``k``,
with independent and with shared rewards, from a random start and from ``η*``, and the
diagnostics of :mod:`rmft_jax.theory.selection`; writes ``theory_rmft.json`` and draws
``theory_rmft.{png,pdf,md}`` from the saved JSON only (``theory/no_regret.md`` §11).
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure

from rmft_jax.domain import DOMAINS
from rmft_jax.results import atomic_write_bytes, check_writable, load_json, save_figure, save_json
from rmft_jax.theory.fixed_point import eta_star
from rmft_jax.theory.model import structured_params
from rmft_jax.theory.rmft_lsa import REWARDS, LSARunConfig, run_config
from rmft_jax.theory.selection import one_step_map, pseudo_regret_and_loss, pseudo_regret_curve, selection_tilt, tilt_summary
from rmft_jax.theory.setting import REPORT_KEYS, TheorySetting

OUTPUTS = ("theory_rmft.json", "theory_rmft.png", "theory_rmft.pdf", "theory_rmft.md")

FULL_MODE = {
    "tasks": 64, "iterations": 100, "seeds": 1, "sweep_L": (4, 16, 64), "sweep_k": (1, 4, 16), "L_for_k": 64,
    "explore_std": 0.2, "sft_steps": 8, "learning_rate": 0.03, "tail": 0.2, "eval_batch": 8192, "map_batch": 1024,
    "realised_check": True, "shared_L": (16, 64), "tilt_tasks": 1024, "tilt_rounds": 5,
    "map_sweep_L": (4, 16, 64, 256, 1024), "map_sweep_rollouts": 65536,
}
QUICK_MODE = {
    "tasks": 16, "iterations": 15, "seeds": 1, "sweep_L": (4, 16), "sweep_k": (1, 4), "L_for_k": 16,
    "explore_std": 0.2, "sft_steps": 8, "learning_rate": 0.03, "tail": 0.25, "eval_batch": 512, "map_batch": 128,
    "realised_check": False, "shared_L": (16,), "tilt_tasks": 128, "tilt_rounds": 5,
    "map_sweep_L": (4, 16), "map_sweep_rollouts": 2048,
}


def _configs(mode: dict, domain: str) -> list[tuple[str, LSARunConfig]]:
    base = dict(domain=domain, tasks=mode["tasks"], iterations=mode["iterations"], seeds=mode["seeds"],
                explore_std=mode["explore_std"], sft_steps=mode["sft_steps"], learning_rate=mode["learning_rate"])
    out = [(f"L{L}_k1", LSARunConfig(rollouts=L, keep=1, **base)) for L in mode["sweep_L"]]
    out += [(f"L{mode['L_for_k']}_k{k}", LSARunConfig(rollouts=mode["L_for_k"], keep=k, **base))
            for k in mode["sweep_k"] if (mode["L_for_k"], k) not in [(L, 1) for L in mode["sweep_L"]]]
    if mode["realised_check"]:
        out.append((f"L{mode['L_for_k']}_k1_realised", LSARunConfig(rollouts=mode["L_for_k"], keep=1, labels="realised", **base)))
    # The same loop with the L rollouts of a task on one reward sequence: no selection tilt.
    out += [(f"L{L}_k1_shared", LSARunConfig(rollouts=L, keep=1, shared_rewards=True, **base)) for L in mode["shared_L"]]
    if mode["realised_check"]:
        out.append((f"L{mode['L_for_k']}_k1_realised_shared",
                    LSARunConfig(rollouts=mode["L_for_k"], keep=1, labels="realised", shared_rewards=True, **base)))
    return out


def run_theory_rmft(out_dir: str | Path = "figures", quick: bool = False, overwrite: bool = False, seed: int = 0, log=print) -> dict:
    """Run the sweep and write ``theory_rmft.{json,png,pdf,md}`` into ``out_dir``.

    For both environments (d = 3, T = 25, σ_μ = σ = 1, exploration σ_x = 0.2):
    ``L ∈ {4, 16, 64}`` with ``k = 1`` and ``k ∈ {1, 4, 16}`` at ``L = 64``, ranked by
    pseudo-regret, and (full mode) one realised-regret run at ``L = 64, k = 1``, each
    rollout with its own rewards; then the same loop with the ``L`` rollouts of a task
    sharing one reward sequence (``L ∈ {16, 64}``, ``k = 1``, and in full mode the
    realised-regret ranking at ``L = 64``). Every configuration runs from a random
    initialisation and from the theory's fixed point (slightly perturbed). Also records
    the one-step RMFT map at η* in the structured family (:func:`one_step_map`), the
    selection tilt of the kept histories at η* and at the end of each run
    (:func:`selection_tilt`), and the pseudo-regret and loss-for-theory of
    ``map_Π(η S)`` against ``η`` (:func:`pseudo_regret_curve`), which explain the gap.
    Refuses to overwrite any output unless ``overwrite`` (checked before any work). The
    figure and table are drawn from the saved JSON only.
    """
    out = Path(out_dir)
    for name in OUTPUTS:
        check_writable(out / name, overwrite)
    mode = QUICK_MODE if quick else FULL_MODE
    t_start = time.perf_counter()
    report: dict[str, Any] = {
        "note": ("Issue 4 point 5: real Iterative RMFT (finite L, exploration noise, top-k, SFT) on the single-layer "
                 "LSA of rmft_jax/theory/model.py, compared with the fixed point of the loss-for-theory (our reconstruction "
                 "of Theorem 1, theory/no_regret.md). No number here is the paper's."),
        "mode": "quick" if quick else "full",
        "seed": seed,
        "settings": {k: (list(v) if isinstance(v, tuple) else v) for k, v in mode.items()},
        "summary_definition": (f"final values = mean over the last {mode['tail']:.0%} of iterations; norms in units of eta*; "
                               "loss_for_theory (pseudo labels) and pseudo_regret of the noise-free final policy on a fresh batch"),
        "tilt_definition": (f"selection tilt: mean over {mode['tilt_tasks']} fresh tasks of (kept - all rollouts) of each "
                            f"rollout's mean reward noise along mu/|mu| in rounds 1-{mode['tilt_rounds']} "
                            "(one selection step of the run's config; 0 without selection); at_eta_star: with the "
                            "structured policy map(eta* S); final: with the run's final parameters"),
    }
    eta_kw = {"nodes": 48, "log2_points": 12, "scrambles": 4} if quick else {"nodes": 96, "log2_points": 15, "scrambles": 8}
    for domain in DOMAINS:
        env_name = REPORT_KEYS[domain]
        setting = TheorySetting(domain=domain)
        es = eta_star(setting, seed=seed, **eta_kw)
        k_eval = jax.random.key(seed + 1000)
        l_star, r_star = pseudo_regret_and_loss(structured_params(es.value, setting.dim), k_eval, setting, mode["eval_batch"])
        grid = np.geomspace(0.05, 50.0, 31) * es.value
        reg_curve, loss_curve = pseudo_regret_curve(jnp.asarray(grid, jnp.float32), k_eval, setting, mode["eval_batch"])
        reg_curve, loss_curve = np.asarray(reg_curve), np.asarray(loss_curve)
        # One exact step from η* against L (k = 1), both reward settings, beyond the L of the runs.
        k_sweep = jax.random.fold_in(k_eval, 5)
        sweep_tasks = [min(mode["map_batch"], max(1, mode["map_sweep_rollouts"] // L)) for L in mode["map_sweep_L"]]
        map_sweep = {"L": list(mode["map_sweep_L"]), "tasks": sweep_tasks}
        for rewards in REWARDS:
            map_sweep[rewards] = [
                float(one_step_map(es.value, k_sweep, setting, L, 1, mode["explore_std"], b, rewards == "shared")) / es.value
                for L, b in zip(mode["map_sweep_L"], sweep_tasks)]
        env_rep: dict[str, Any] = {
            "eta_star": es.value, "eta_star_stderr": es.stderr,
            "loss_for_theory_at_eta_star": float(l_star), "pseudo_regret_at_eta_star": float(r_star),
            "eta_grid": grid, "pseudo_regret_vs_eta": reg_curve, "loss_for_theory_vs_eta": loss_curve,
            "one_step_map_vs_L": map_sweep,
            "runs": {},
        }
        log(f"{env_name}: eta* = {es.value:.5f}; pseudo-regret of map(eta S) at eta* {reg_curve[np.argmin(np.abs(grid - es.value))]:.3f}, "
            f"at 50 eta* {reg_curve[-1]:.3f}; T(eta*)/eta* for L = {map_sweep['L']}: independent "
            f"{[round(x, 3) for x in map_sweep['independent']]}, shared {[round(x, 3) for x in map_sweep['shared']]}")
        for name, cfg in _configs(mode, domain):
            t0 = time.perf_counter()
            res = run_config(cfg, seed=seed, eta_star_value=es.value)
            n_tail = max(1, int(round(mode["tail"] * cfg.iterations)))
            t_map = float(one_step_map(es.value, jax.random.fold_in(k_eval, 3), setting.replace(labels="pseudo"),
                                       cfg.rollouts, cfg.keep, cfg.explore_std, mode["map_batch"],
                                       cfg.shared_rewards)) if cfg.labels == "pseudo" else None
            k_tilt = jax.random.fold_in(k_eval, 4)
            tilt = lambda p: tilt_summary(*selection_tilt(p, k_tilt, cfg, mode["tilt_tasks"], mode["tilt_rounds"]))  # noqa: E731
            tilt_star = tilt(structured_params(es.value, setting.dim))
            per_start = {}
            for i, start in enumerate(res["start"]):
                p_i = jax.tree.map(lambda x: x[i], res["params"])
                l_i, r_i = pseudo_regret_and_loss(p_i, k_eval, setting, mode["eval_batch"])
                tail = lambda k: res[k][i, -n_tail:]  # noqa: E731
                ratio = tail("eta") / es.value
                per_start[f"{start}" if cfg.seeds == 1 else f"{start}_{i % cfg.seeds}"] = {
                    "eta0_over_eta_star": float(res["eta0"][i] / es.value),
                    "eta_over_eta_star": float(ratio.mean()),
                    "eta_over_eta_star_tail_std": float(ratio.std()),
                    "abs_rel_error": float(abs(ratio.mean() - 1.0)),
                    "offdiag_norm_over_eta_star": float(tail("offdiag_norm").mean() / es.value),
                    "vanishing_norm_over_eta_star": float(tail("vanishing_norm").mean() / es.value),
                    "rollout_regret": float(tail("rollout_regret").mean()),
                    "kept_regret": float(tail("kept_regret").mean()),
                    "loss_for_theory": float(l_i),
                    "pseudo_regret_noise_free": float(r_i),
                    "tilt_final": tilt(p_i),
                }
            run = {
                "config": dataclasses.asdict(cfg),
                "start": res["start"],
                "iteration": np.arange(1, cfg.iterations + 1),
                "eta0": res["eta0"],
                **{k: res[k] for k in ("eta", "offdiag_norm", "vanishing_norm", "quad_norm", "drift_norm",
                                        "rollout_regret", "kept_regret", "sft_loss")},
                "final": per_start,
                "rewards": REWARDS[cfg.shared_rewards],
                "one_step_map_at_eta_star_over_eta_star": None if t_map is None else t_map / es.value,
                "tilt_at_eta_star": tilt_star,
                "runtime_s": time.perf_counter() - t0,
            }
            env_rep["runs"][name] = run
            msg = "; ".join(
                f"{st}: eta/eta* {f['eta0_over_eta_star']:.2f} -> {f['eta_over_eta_star']:.3f}, off/eta* {f['offdiag_norm_over_eta_star']:.3f}, "
                f"van/eta* {f['vanishing_norm_over_eta_star']:.3f}, L_th {f['loss_for_theory']:.4f}, PR {f['pseudo_regret_noise_free']:.2f}"
                for st, f in per_start.items())
            tm = "" if t_map is None else f"T(eta*)/eta* = {t_map / es.value:.3f}; "
            tl = (f"tilt at eta* {tilt_star['tilt']:+.3f} (kept {tilt_star['kept']:+.3f}, all {tilt_star['all']:+.3f}); ")
            log(f"  {name:>22}: {tm}{tl}{msg} [{run['runtime_s']:.1f}s]")
        report[env_name] = env_rep
    report["runtime_s"] = time.perf_counter() - t_start
    save_json(out / "theory_rmft.json", report, overwrite)
    plot_theory_rmft(out / "theory_rmft.json", out)
    log(f"wrote {out / 'theory_rmft.json'}, .png, .pdf, .md in {report['runtime_s']:.1f}s")
    return report


# --------------------------------------------------------------------------------------
# Figure and table, from the saved JSON only
# --------------------------------------------------------------------------------------


def _shared(run: dict) -> bool:
    return bool(run["config"].get("shared_rewards", False))


def _sweeps(runs: dict, shared: bool = False) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """``(L, name)`` of the k = 1 pseudo runs, and ``(k, name)`` at the largest such L (one reward setting)."""
    pseudo = {n: r for n, r in runs.items() if r["config"]["labels"] == "pseudo" and _shared(r) == shared}
    by_L = sorted((r["config"]["rollouts"], n) for n, r in pseudo.items() if r["config"]["keep"] == 1)
    L_max = max(L for L, _ in by_L)
    by_k = sorted((r["config"]["keep"], n) for n, r in pseudo.items() if r["config"]["rollouts"] == L_max)
    return by_L, by_k


def _tilt_cell(t: dict | None) -> str:
    return "–" if t is None else f"{t['tilt']:+.3f} ± {t['tilt_se']:.3f}"


def _map_sweep_lines(e: dict) -> list[str]:
    sw = e.get("one_step_map_vs_L")
    if sw is None:
        return []
    row = lambda key: " | ".join(f"{x:.3f}" for x in sw[key])  # noqa: E731
    return [
        "One exact RMFT step from η* against L (k = 1; tasks per L as listed; grid resolution 1.4 %):",
        "",
        "| L | " + " | ".join(str(L) for L in sw["L"]) + " |",
        "|---|" + "---|" * len(sw["L"]),
        "| tasks | " + " | ".join(str(b) for b in sw["tasks"]) + " |",
        f"| T(η*)/η*, independent rewards | {row('independent')} |",
        f"| T(η*)/η*, shared rewards | {row('shared')} |",
        "",
    ]


def table_markdown(res: dict) -> str:
    """The results table (Markdown) from the saved report."""
    lines = [
        "# Iterative RMFT on the single-layer LSA vs the loss-for-theory's fixed point (issue 4, point 5)",
        "",
        f"Our reconstruction (`theory/no_regret.md` §11); no number here is the paper's. Mode: {res['mode']}. "
        f"{res['summary_definition']}. T(η*)/η*: one exact RMFT step from map_Π(η* S) inside the structured family "
        "(1 = η* is a fixed point of RMFT; > 1: RMFT leaves η* upwards). Rewards: *independent* = each of the L "
        "rollouts of a task draws its own reward sequence; *shared* = the L rollouts share one (common random numbers).",
        "",
        f"Tilt: {res.get('tilt_definition', '–')}.",
        "",
        f"Settings: `{json.dumps(res['settings'])}`.",
        "",
    ]
    for env_name, title in (("env1_ball", "Env I (ball)"), ("env2_simplex", "Env II (simplex)")):
        e = res[env_name]
        lines += [
            f"## {title}: η* = {e['eta_star']:.4f}; at η*: loss-for-theory {e['loss_for_theory_at_eta_star']:.4f}, "
            f"pseudo-regret of map_Π(η* S) {e['pseudo_regret_at_eta_star']:.3f} "
            f"(at 50 η*: {e['pseudo_regret_vs_eta'][-1]:.3f})",
            "",
            *_map_sweep_lines(e),
            "| run | ranking | rewards | L | k | T(η*)/η* | tilt at η* | start | η_eff/η* start → final | offdiag/η* | vanishing/η* "
            "| loss-for-theory | pseudo-regret (σ_x = 0) | kept regret | rollout regret | tilt at the end |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for name, r in e["runs"].items():
            c = r["config"]
            tm = r["one_step_map_at_eta_star_over_eta_star"]
            rewards = r.get("rewards", "independent")
            for st, f in r["final"].items():
                lines.append(
                    f"| {name} | {c['labels']} | {rewards} | {c['rollouts']} | {c['keep']} | {'–' if tm is None else f'{tm:.3f}'} | "
                    f"{_tilt_cell(r.get('tilt_at_eta_star'))} | {st} | "
                    f"{f['eta0_over_eta_star']:.2f} → **{f['eta_over_eta_star']:.3f}** | {f['offdiag_norm_over_eta_star']:.3f} | "
                    f"{f['vanishing_norm_over_eta_star']:.3f} | {f['loss_for_theory']:.4f} | {f['pseudo_regret_noise_free']:.3f} | "
                    f"{f['kept_regret']:.3f} | {f['rollout_regret']:.3f} | {_tilt_cell(f.get('tilt_final'))} |"
                )
        lines += ["", f"Selection tilt at η* ({title}): mean reward noise along μ/‖μ‖ in the first rounds, per rollout group.", "",
                  "| run | rewards | L | k | kept | all | unselected | kept − all | kept − unselected |", "|---|---|---|---|---|---|---|---|---|"]
        for name, r in e["runs"].items():
            t = r.get("tilt_at_eta_star")
            if t is None:
                continue
            c = r["config"]
            lines.append(f"| {name} | {r.get('rewards', 'independent')} | {c['rollouts']} | {c['keep']} | {t['kept']:+.4f} | "
                         f"{t['all']:+.4f} | {t['unselected']:+.4f} | {t['tilt']:+.4f} ± {t['tilt_se']:.4f} | {t['gap']:+.4f} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def _eta_ratio_axes(ax, title: str, line_label: str = "η*") -> None:
    """Finish a panel of ``η_eff / η*`` against the RMFT iteration: the line at ``η*``, log scale, labels, legend."""
    ax.axhline(1.0, color="k", ls=":", lw=1.2, label=line_label)
    ax.set(yscale="log", title=f"{title}\nsolid: random init; dashed: start at η*", xlabel="RMFT iteration", ylabel="η_eff / η*")
    ax.legend(fontsize=7)


def plot_theory_rmft(results_path: str | Path, out_dir: str | Path) -> list[Path]:
    """``theory_rmft.{png,pdf}`` and ``theory_rmft.md``, drawn only from the saved JSON."""
    res = load_json(results_path)
    out = Path(out_dir)
    fig = Figure(figsize=(33, 8.5))
    axes = fig.subplots(2, 7)
    styles = {"random": "-", "eta_star": "--"}
    for row, (env_name, title) in enumerate((("env1_ball", "Env I (ball)"), ("env2_simplex", "Env II (simplex)"))):
        e = res[env_name]
        es = e["eta_star"]
        runs = e["runs"]
        by_L, by_k = _sweeps(runs)
        has_shared = any(_shared(r) for r in runs.values())
        by_L_sh = _sweeps(runs, shared=True)[0] if has_shared else []
        ax = axes[row]

        def curves(a, name, label, color, key="eta", ls=None, lw=1.1):
            r = runs[name]
            it = np.asarray(r["iteration"])
            y = np.asarray(r[key], dtype=float) / es
            for j, st in enumerate(r["start"]):
                a.plot(it, y[j], color=color, ls=ls or styles[st], lw=lw, label=f"{label}" if j == 0 else None)

        def realised(a, shared: bool):
            # the realised-regret ranking's runs, with independent or with shared rewards
            prefix = "shared, " if shared else ""
            for n, r in runs.items():
                if r["config"]["labels"] == "realised" and _shared(r) == shared:
                    curves(a, n, f"{prefix}L = {r['config']['rollouts']}, k = 1, realised-regret ranking", "C7")

        for i, (L, n) in enumerate(by_L):
            curves(ax[0], n, f"L = {L}, k = 1", f"C{i}")
        _eta_ratio_axes(ax[0], f"{title}: η_eff/η* (k = 1), independent rewards", "η* (loss-for-theory)")
        for i, (k, n) in enumerate(by_k):
            curves(ax[1], n, f"L = {runs[n]['config']['rollouts']}, k = {k}", f"C{i + 3}")
        realised(ax[1], shared=False)
        _eta_ratio_axes(ax[1], f"{title}: η_eff/η* (vary k), independent rewards")
        for i, (L, n) in enumerate(by_L_sh):
            curves(ax[2], n, f"shared, L = {L}, k = 1", f"C{i}")
        realised(ax[2], shared=True)
        if by_L:
            curves(ax[2], by_L[-1][1], f"independent, L = {by_L[-1][0]}, k = 1 (for comparison)", "0.6", lw=0.8)
        _eta_ratio_axes(ax[2], f"{title}: η_eff/η*, SHARED rewards (no selection tilt)")
        for i, (L, n) in enumerate(by_L):
            curves(ax[3], n, f"offdiag, L = {L}", f"C{i}", key="offdiag_norm")
            curves(ax[3], n, f"vanishing, L = {L}", f"C{i}", key="vanishing_norm", ls=":")
        ax[3].set(yscale="log", title="offdiag/η* (solid/dashed as before) and vanishing/η* (dotted), k = 1, independent",
                  xlabel="RMFT iteration")
        ax[3].title.set_fontsize(8)
        ax[3].legend(fontsize=6)
        # final gap vs L (k = 1) and vs k, both starts
        for st, mk in (("random", "o"), ("eta_star", "s")):
            for sweep, color, lab in ((by_L, "C0", "independent"), (by_L_sh, "C2", "shared")):
                Ls = [L for L, _ in sweep]
                gap = [abs(runs[n]["final"][st]["eta_over_eta_star"] - 1) for _, n in sweep if st in runs[n]["final"]]
                if Ls and len(gap) == len(Ls):
                    ax[4].plot(Ls, gap, mk + "-", color=color, label=f"|η/η* − 1| vs L (k = 1, {lab}), start {st}")
            ks = [k for k, _ in by_k]
            gap = [abs(runs[n]["final"][st]["eta_over_eta_star"] - 1) for _, n in by_k if st in runs[n]["final"]]
            if len(gap) == len(ks):
                ax[4].plot(ks, gap, mk + "--", color="C3", label=f"|η/η* − 1| vs k (L = {runs[by_k[0][1]]['config']['rollouts']}), start {st}")
        sw = e.get("one_step_map_vs_L")
        for rewards, color in (("independent", "C0"), ("shared", "C2")):
            if sw is not None:
                ax[4].plot(sw["L"], np.abs(np.asarray(sw[rewards]) - 1) + 1e-3, "^:", color=color,
                           label=f"|T(η*)/η* − 1| vs L ({rewards} rewards; one exact step, +1e-3)")
        tm_k = [runs[n]["one_step_map_at_eta_star_over_eta_star"] for _, n in by_k]
        ax[4].plot([k for k, _ in by_k], np.abs(np.asarray(tm_k) - 1) + 1e-3, "v:", color="C3", label="|T(η*)/η* − 1| vs k")
        ax[4].set(xscale="log", yscale="log", title="final gap to η* vs L (k = 1) and vs k", xlabel="L or k")
        ax[4].legend(fontsize=6)
        for sweep, color, lab in ((by_L, "C0", "independent"), (by_L_sh, "C2", "shared")):
            ts = [runs[n].get("tilt_at_eta_star") for _, n in sweep]
            if sweep and all(t is not None for t in ts):
                Ls = [L for L, _ in sweep]
                ax[5].errorbar(Ls, [t["tilt"] for t in ts], yerr=[2 * t["tilt_se"] for t in ts], fmt="o-", color=color,
                               capsize=3, label=f"kept − all at η*, {lab} rewards")
                ax[5].plot(Ls, [t["kept"] for t in ts], "^:", color=color, label=f"kept at η*, {lab}")
                ax[5].plot(Ls, [t["unselected"] for t in ts], "v:", color=color, label=f"unselected at η*, {lab}")
        ax[5].axhline(0.0, color="k", lw=0.8)
        ticks = sorted({L for L, _ in by_L + by_L_sh})
        ax[5].set_xscale("log")
        ax[5].set_xticks(ticks, [str(L) for L in ticks])
        ax[5].minorticks_off()
        rounds = res["settings"].get("tilt_rounds", 5)
        ax[5].set(xlabel="L (k = 1)", ylabel=f"mean reward noise along μ/‖μ‖, rounds 1–{rounds}",
                  title="selection tilt of the kept histories (±2 s.e.)")
        ax[5].legend(fontsize=6)
        grid = np.asarray(e["eta_grid"], dtype=float) / es
        reg = np.asarray(e["pseudo_regret_vs_eta"], dtype=float)
        lft = np.asarray(e["loss_for_theory_vs_eta"], dtype=float)
        ax[6].semilogx(grid, reg, color="C0", label="pseudo-regret of map_Π(ηS): what RMFT ranks by")
        ax[6].set(xlabel="η / η*", ylabel="mean final pseudo-regret", title="why: selection criterion vs loss-for-theory")
        ax6b = ax[6].twinx()
        ax6b.semilogx(grid, lft, color="C3", label="loss-for-theory (min at η*)")
        ax6b.set_ylabel("loss-for-theory", color="C3")
        ax[6].axvline(1.0, color="k", ls=":", lw=1)
        h1, l1 = ax[6].get_legend_handles_labels()
        h2, l2 = ax6b.get_legend_handles_labels()
        ax[6].legend(h1 + h2, l1 + l2, fontsize=7, loc="upper center")
    fig.suptitle("Iterative RMFT on the single-layer LSA vs the loss-for-theory's fixed point η* "
                 f"(our reconstruction; d = 3, T = 25, σ_x = {res['settings']['explore_std']}; mode {res['mode']})", fontsize=11)
    fig.tight_layout()
    written = []
    for ext in ("png", "pdf"):
        p = out / f"theory_rmft.{ext}"
        save_figure(fig, p, dpi=110)
        written.append(p)
    md = out / "theory_rmft.md"
    atomic_write_bytes(md, table_markdown(res).encode())
    written.append(md)
    return written
