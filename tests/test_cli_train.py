"""``rmft train`` and ``rmft evaluate --checkpoint``: config files, overrides, bad input, no overwrites."""

from __future__ import annotations

import json

import pytest

from rmft_jax.cli import main

CONFIG = {
    "env": {"name": "mab", "arms": 3, "horizon": 5, "noise": 0.5},
    "model": {"layers": 1, "heads": 1, "width": 8},
    "rmft": {"tasks": 4, "rollouts": 4, "keep": 2, "iterations": 2, "sft_steps": 1},
    "seed": 0,
}


def cli(args, capsys):
    try:
        code = main(args)
    except SystemExit as e:  # argparse's own errors
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


def saved_files(run):
    """Every file of the run's checkpoints, by path, with its bytes."""
    return {p.relative_to(run): p.read_bytes() for p in sorted((run / "checkpoints").rglob("*")) if p.is_file()}


def write_config(path, cfg):
    path.write_text(json.dumps(cfg))
    return str(path)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    cfg = write_config(root / "c.json", CONFIG)
    assert main(["train", "--config", cfg, "--out", str(root / "run"), "--no-progress"]) == 0
    return root


def test_train_writes_a_run_directory(trained):
    run = trained / "run"
    assert {p.name for p in run.iterdir()} >= {"config.json", "metrics.jsonl", "checkpoints"}
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["2"]  # one checkpoint, at the end
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in rows] == [1, 2]
    assert {"rollout_regret_mean", "rollout_regret_best", "sft_loss_last", "sft_entropy"} <= set(rows[0])
    assert "versions" in json.loads((run / "config.json").read_text())


def test_evaluate_checkpoint_has_the_baseline_schema(trained, tmp_path, capsys):
    out = tmp_path / "m.json"
    code, _, err = cli(
        ["evaluate", "--checkpoint", str(trained / "run"), "--env", "mab", "--arms", "3", "--horizon", "12",
         "--runs", "8", "--out", str(out), "--quiet"], capsys)
    assert code == 0, err
    res = json.loads(out.read_text())
    for key in ("config", "versions", "regret_mean", "regret_ci_low", "regret_ci_high", "final_regret",
                "suff_fail_freq", "k_min_frac", "greedy_frac", "beta_hat", "p_reg", "p_trend"):
        assert key in res
    assert len(res["regret_mean"]) == 12 and len(res["final_regret"]) == 8


def test_evaluate_checkpoint_for_the_wrong_env(trained, tmp_path, capsys):
    code, _, err = cli(["evaluate", "--checkpoint", str(trained / "run"), "--env", "mab", "--arms", "4",
                        "--horizon", "5", "--runs", "2", "--out", str(tmp_path / "x.json")], capsys)
    assert code == 2 and err.startswith("rmft: error: checkpoint:") and err.count("\n") == 1
    assert not (tmp_path / "x.json").exists()


def test_evaluate_beyond_max_horizon(trained, tmp_path, capsys):
    code, _, err = cli(["evaluate", "--checkpoint", str(trained / "run"), "--env", "mab", "--arms", "3",
                        "--horizon", "5000", "--runs", "2"], capsys)
    assert code == 2 and err.startswith("rmft: error: horizon:")


def test_existing_run_is_not_overwritten(trained, capsys):
    run = trained / "run"
    before = saved_files(run)
    code, _, err = cli(["train", "--config", str(trained / "c.json"), "--out", str(run), "--no-progress"], capsys)
    assert code == 2 and "already holds a run" in err
    code, _, err = cli(["train", "--config", str(trained / "c.json"), "--out", str(run), "--resume", "--keep", "1",
                        "--no-progress"], capsys)
    assert code == 2 and err.startswith("rmft: error: config: differs") and err.count("\n") == 1
    assert saved_files(run) == before


@pytest.mark.parametrize(
    "change, field",
    [
        ({"rmft": {"keep": 9, "rollouts": 4}}, "config.rmft.keep"),
        ({"rmft": {"keep": 0}}, "config.rmft.keep"),
        ({"rmft": {"tasks": 0}}, "config.rmft.tasks"),
        ({"rmft": {"bogus": 1}}, "config.rmft.bogus"),
        ({"rmft": {"tasks": "many"}}, "config.rmft.tasks"),
        ({"model": {"width": 10, "heads": 3}}, "config.model.heads"),
        ({"model": {"depth": 2}}, "config.model"),
        ({"env": {"name": "casino"}}, "config.env.name"),
        ({"env": {"arms": 1}}, "config.env.arms"),
        ({"extra": {}}, "config.extra"),
        ({"seed": -1}, "config.seed"),
    ],
)
def test_bad_config_is_one_line_exit_2(tmp_path, capsys, change, field):
    cfg = json.loads(json.dumps(CONFIG))
    for section, values in change.items():
        if isinstance(values, dict) and isinstance(cfg.get(section), dict):
            cfg[section].update(values)
        else:
            cfg[section] = values
    path = write_config(tmp_path / "bad.json", cfg)
    code, _, err = cli(["train", "--config", path, "--out", str(tmp_path / "run")], capsys)
    assert code == 2, err
    assert err.startswith(f"rmft: error: {field}") and err.count("\n") == 1, err
    assert "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_unparseable_config(tmp_path, capsys):
    path = tmp_path / "c.json"
    path.write_text("{not json")
    code, _, err = cli(["train", "--config", str(path), "--out", str(tmp_path / "run")], capsys)
    assert code == 2 and err.startswith("rmft: error: config: must be valid JSON")


def test_set_overrides(tmp_path, capsys):
    from rmft_jax.cli import build_parser
    from rmft_jax.cli.train import build_config

    args = build_parser().parse_args(
        ["train", "--config", write_config(tmp_path / "c.json", CONFIG), "--out", "x", "--set", "rmft.sft_steps=3",
         "--keep", "1", "--set", "env.noise=0.25"])
    cfg = build_config(args)
    assert cfg.rmft.sft_steps == 3 and cfg.rmft.keep == 1 and dict(cfg.env)["noise"] == 0.25
