"""Why the Figure 2 model commits early, and what makes RMFT learn to explore: an ablation.

Issue 9's diagnosis, on the Figure 2 setting (K = 5, means ~ U[0, 1], Gaussian
rewards σ = 0.5, a 1-layer width-32 Transformer, 100 iterations, seed 0). Every
variant is evaluated on the same fresh instances at T = 25, 100 and 1000,
sampling at temperature 1 as trained, beside Thompson sampling, UCB and Greedy on
the same seeds. Four hypotheses, one group of variants each:

* **selection tilt** — with an independent reward draw per rollout, best-of-L
  selection keeps the rollouts whose early rewards were lucky, so the kept
  histories are not distributed like the policy's own and teach early commitment.
  Measured directly (:func:`selection_tilt`: the mean standardised reward noise of
  the best arm's pulls in rounds 1–5, kept vs all rollouts of the trained model)
  and removed by *common random numbers* (``rmft.shared_env_noise``: the ``L``
  rollouts of an instance share its reward tape, the base noise ``ξ_t`` of round
  ``t``), so the ranking compares decisions on the same rewards;
* **representation** — with the reward in one shared slot of the token
  (``[one_hot(a), r, start]``) an average over the history (uniform attention)
  holds the arms' pull frequencies and the overall mean reward, not the per-arm
  reward sums a bandit algorithm compares; ``model.bandit_token = "per_arm"``
  writes the reward into the pulled arm's slot;
* **horizon myopia** — ranking by regret at T = 25 rewards a 25-round budget, in
  which committing early to a near-best arm is cheap: training at T = 50 or 100
  with the same environment rounds per iteration (``M·T`` fixed), ranking by the
  mean regret over prefixes (``rmft.selection = "prefix_mean"``), and ranking by
  the regret *extrapolated* to H = 1000 rounds at the rollout's final per-round
  regret (``"extrapolated"``), which rewards having identified the best arm;
* **sharpening** — re-fitting the base model on a buffer every iteration
  (ReST-EM) instead of warm-starting, an entropy bonus, ``k/L``.

Losing variants stay in the table. All settings are ours (reconstruction); no
number here is the paper's.
"""

from __future__ import annotations

import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from rmft_jax import results
from rmft_jax.config import TrainConfig
from rmft_jax.experiments import common, fig2, plots
from rmft_jax.rmft import keep_lowest, roll_out

NAME = "exploration"
# The Figure 2 recipe before this ablation (independent rewards, trained at T = 25).
OLD = fig2.TRAIN_T25
CRN = {"shared_env_noise": True}
PER_ARM = {"bandit_token": "per_arm"}
T100 = ({"horizon": 100}, {"tasks": 32})  # same environment rounds per iteration as M = 128 at T = 25
T50 = ({"horizon": 50}, {"tasks": 64})
EXTRAPOLATED = {"selection": "extrapolated", "selection_horizon": 1000}
RECIPE = "CRN, per-arm reward slots, T=25: the shipped recipe"
# name -> (hypothesis, env changes, rmft changes, model changes) relative to OLD, or, where
# env changes are None, rmft changes relative to the shipped recipe (fig2.TRAIN)
VARIANTS = {
    "old recipe (independent rewards, T=25)": ("reference", {}, {}, {}),
    "CRN, T=25": ("tilt", {}, CRN, {}),
    "independent rewards, per-arm reward slots, T=25": ("representation", {}, {}, PER_ARM),
    RECIPE: ("recipe", None, None, None),
    "independent rewards, T=100 (M=32)": ("myopia", T100[0], T100[1], {}),
    "CRN, per-arm, T=100 (M=32)": ("myopia", T100[0], dict(CRN, **T100[1]), PER_ARM),
    "CRN, per-arm, T=50 (M=64)": ("myopia", T50[0], dict(CRN, **T50[1]), PER_ARM),
    "CRN, per-arm, prefix-mean ranking, T=25": ("myopia", {}, dict(CRN, selection="prefix_mean"), PER_ARM),
    "CRN, per-arm, extrapolated ranking (H=1000), T=25": ("myopia", {}, dict(CRN, **EXTRAPOLATED), PER_ARM),
    "recipe, re-fit from base on a 4-iteration buffer": (
        "sharpening", None, {"warm_start": False, "buffer_iterations": 4, "batch_size": 1024, "sft_steps": 32}, None),
    "recipe + entropy bonus 0.02": ("sharpening", None, {"entropy_bonus": 0.02}, None),
    "recipe, k=4 of L=16": ("sharpening", None, {"keep": 4}, None),
    "recipe, 2 layers": ("model size", {}, CRN, dict(PER_ARM, layers=2)),
    # ``rmft figure extrapolation``: distilling Thompson sampling, one head per arm carried it further past T_train
    "recipe, 5 heads (one per arm), width 40": ("model size", {}, CRN, dict(PER_ARM, heads=5, width=40)),
}
QUICK_VARIANTS = ("old recipe (independent rewards, T=25)", RECIPE)
HORIZONS = ((25, 1000), (100, 1000), (1000, 500))  # (T, runs)
QUICK_HORIZONS = ((25, 100),)
BASELINES = ("thompson", "ucb", "greedy")
TILT_ROUNDS = 5


def variant_config(env_change, rmft_change, model_change, quick: bool) -> TrainConfig:
    """A variant's training config: changes to the old recipe, or (``env_change is None``) to the shipped one.

    Quick mode (a smoke test of the code path): fig2's quick sizes for the shipped recipe, small
    sizes for the others, and a few iterations each.
    """
    if env_change is None:
        base = fig2.QUICK_TRAIN if quick else fig2.TRAIN
        spec = {**base, "rmft": dict(base["rmft"], **(rmft_change or {}))}
        if quick:
            spec["rmft"].update(iterations=4)
        return TrainConfig.from_dict(spec)
    rmft = dict(OLD["rmft"], **rmft_change)
    model = dict(OLD["model"], **model_change)
    if quick:
        rmft.update(tasks=max(rmft["tasks"] // 4, 8), iterations=6, sft_steps=4)
        model.update(heads=1, width=16)
    return TrainConfig.from_dict({"env": dict(OLD["env"], **env_change), "model": model, "rmft": rmft, "seed": OLD["seed"]})


def selection_tilt(cfg: TrainConfig, learner, params, key, rounds: int = TILT_ROUNDS) -> dict[str, float]:
    """How lucky the kept rollouts' early rewards were, in one RMFT iteration's rollouts.

    Rolls out ``cfg``'s ``M`` instances ``L`` times each with ``params`` (its reward
    tapes independent or shared as ``cfg`` says), keeps the ``k`` lowest by the
    configured criterion, and returns the mean standardised noise
    ``(r − μ_best)/σ`` of the best arm's pulls in rounds ``1..rounds``, over the kept
    rollouts and over all of them (Gaussian rewards). Under the policy's own
    distribution it is 0; ``kept > all`` is the selection tilt.
    """
    env, rc = cfg.environment, cfg.rmft
    tasks, traj = roll_out(env, rc, learner.policy, params, *jax.random.split(key))
    idx, _, _ = keep_lowest(env, rc, traj)
    kept = jnp.zeros(traj.regret.shape[:2], bool).at[jnp.arange(rc.tasks)[:, None], idx].set(True)
    noise = (traj.rewards[..., :rounds] - jnp.max(tasks.means, axis=-1)[:, None, None]) / env.noise
    on_best = traj.actions[..., :rounds] == traj.best[..., :rounds]
    mean = lambda w: float(jnp.sum(noise * w) / jnp.maximum(jnp.sum(w), 1))  # noqa: E731
    return {"kept": mean(on_best & kept[..., None]), "all": mean(on_best), "dropped": mean(on_best & ~kept[..., None])}


def run(out_dir="figures", quick: bool = False, overwrite: bool = False, progress: bool = True) -> dict:
    paths = common.output_paths(out_dir, NAME, overwrite)
    t0 = time.perf_counter()
    horizons = QUICK_HORIZONS if quick else HORIZONS
    references = {}
    for T, runs in horizons:
        env = fig2_env(T)
        refs = common.evaluate_baselines(env, list(BASELINES), 4000 + T, runs, progress)
        references[str(T)] = {n: common.summary_row(r) for n, r in refs.items()}
    rows, curves = {}, {}
    for i, (name, (hypothesis, env_change, rmft_change, model_change)) in enumerate(VARIANTS.items()):
        if quick and name not in QUICK_VARIANTS:
            continue
        cfg = variant_config(env_change, rmft_change, model_change, quick)
        # The shipped and the old recipe are Figure 2 runs (now and before): trained once, shared with fig2 / horizons.
        run_name = fig2.NAME if hypothesis in ("recipe", "reference") else f"{NAME}-{i}"
        learner, params, hist, train_s = common.train_model(cfg, progress, out_dir, run_name)
        tilt_key = jax.random.key(7000)
        row = {
            "hypothesis": hypothesis,
            "train_horizon": cfg.environment.horizon,
            "train_s": train_s,
            "train_s_recorded": float(sum(h["seconds"] for h in hist)),
            "entropy_end": hist[-1]["sft_entropy"],
            # the base model's policy ignores rewards, so its tilt is 0 up to sampling error (full mode only)
            "tilt_base": None if quick else selection_tilt(cfg, learner, learner.base_params, tilt_key),
            "tilt_trained": selection_tilt(cfg, learner, params, tilt_key),
            "config": cfg.to_dict(),
            "eval": {},
        }
        for T, runs in horizons:
            res = common.evaluate_model(cfg, learner, params, fig2_env(T), 4000 + T, runs, name, progress)
            row["eval"][str(T)] = common.ratio_to_thompson(common.summary_row(res), references[str(T)]["thompson"])
        rows[name] = row
        curves[name] = [h["rollout_regret_mean"] for h in hist]
    payload = {
        **common.header(NAME, quick),
        "setting": {"env": OLD["env"], "model": OLD["model"], "horizons": [list(h) for h in horizons]},
        "references": references,
        "variants": rows,
        "curves": curves,
        "timing": {"total_s": time.perf_counter() - t0, "device": common.device_summary()},
    }
    results.save_json(paths["json"], payload, overwrite=overwrite)
    plot(paths["json"], out_dir)
    return {"results": str(paths["json"]), "table": str(paths["md"])}


def fig2_env(horizon: int):
    """The Figure 2 evaluation environment at ``horizon`` rounds."""
    return TrainConfig.from_dict({"env": OLD["env"]}).env_at(horizon)


def table_rows(data: dict) -> dict[str, dict]:
    """One flat row per variant (and per reference baseline) for the markdown table."""
    hs = [str(h) for h, _ in data["setting"]["horizons"]]
    thompson = {h: data["references"][h]["thompson"] for h in hs}
    out = {}
    for name, v in data["variants"].items():
        head = {"train T": v["train_horizon"], "entropy": v["entropy_end"], "train s": v["train_s_recorded"],
                "tilt kept / all": f"{v['tilt_trained']['kept']:+.2f} / {v['tilt_trained']['all']:+.2f}"}
        out[name] = head | plots.horizon_cells({h: v["eval"][h] for h in hs}, thompson, hs)
    for b in BASELINES:
        out[f"({b})"] = plots.horizon_cells({h: data["references"][h][b] for h in hs}, thompson, hs)
    return out


def plot(results_path, out_dir="figures") -> None:
    """Regret ÷ Thompson's and SuffFailFreq(T/2) against the evaluation horizon, per variant; the table."""
    data = results.load_json(results_path)
    out = Path(out_dir)
    hs = [h for h, _ in data["setting"]["horizons"]]
    fig, axes = plots.subplots(1, 3, figsize=(15, 4.2))
    for name, v in data["variants"].items():
        axes[0].plot(hs, [v["eval"][str(h)]["ratio_to_thompson"] for h in hs], marker="o", label=name)
        axes[1].plot(hs, [v["eval"][str(h)]["suff_fail_freq_half"] for h in hs], marker="o", label=name)
        c = np.asarray(data["curves"][name])
        axes[2].plot(np.arange(1, len(c) + 1), c / v["train_horizon"], label=name)
    for b in BASELINES:
        ref = data["references"]
        axes[0].plot(hs, [ref[str(h)][b]["final_regret_mean"] / ref[str(h)]["thompson"]["final_regret_mean"] for h in hs],
                     "k:" if b == "thompson" else "--", marker="s", label=f"({b})")
        axes[1].plot(hs, [ref[str(h)][b]["suff_fail_freq_half"] for h in hs], "k:" if b == "thompson" else "--",
                     marker="s", label=f"({b})")
    for ax in axes[:2]:
        ax.set_xscale("log")
    axes[0].set(xlabel="evaluation horizon T", ylabel="regret(T) ÷ Thompson's", title="regret relative to Thompson sampling")
    axes[1].set(xlabel="evaluation horizon T", ylabel="SuffFailFreq(T/2)", title="runs that abandon the best arm")
    axes[2].set(xlabel="RMFT iteration", ylabel="rollout regret / training T", title="training (per-round rollout regret)")
    axes[0].legend(fontsize=6)
    fig.suptitle(f"Exploration ablation ({data['mode']} mode): Figure 2 setting, 1-layer Transformer", fontsize=10)
    plots.save_figure(fig, out, NAME)
    rows = table_rows(data)
    cols = list(dict.fromkeys(k for r in rows.values() for k in r))
    table = plots.markdown_table(rows, [(c, c) for c in cols])
    results.atomic_write_bytes(out / f"{NAME}.md", (f"# Exploration ablation ({data['mode']} mode)\n\n" + table).encode())
