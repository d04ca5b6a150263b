"""``rmft evaluate`` end to end on tiny sizes: the JSON contract, bad input, overwrites, plots."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from rmft_jax.cli import main
from rmft_jax.envs import OnlineEnv

T, RUNS = 12, 6
TINY = ["--horizon", str(T), "--runs", str(RUNS), "--bootstrap", "100", "--quiet"]
SHOWN = TINY[:-1]  # the same sizes, printing its table
CONTRACT = (
    "config",
    "versions",
    "regret_mean",
    "regret_ci_low",
    "regret_ci_high",
    "final_regret",
    "suff_fail_freq",
    "k_min_frac",
    "greedy_frac",
    "median_reward",
    "beta_hat",
    "p_reg",
    "p_trend",
    "variation_budget",
    "wall_time_s",
)


def cli(argv, capsys):
    """``(exit code, stdout, stderr)`` of ``rmft argv`` run in-process."""
    try:
        code = main(argv)
    except SystemExit as e:  # argparse's own errors
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def full_info_policy(domain: str) -> str:
    """A registered full-information baseline for the domain (the registry is still growing)."""
    from rmft_jax.policies import POLICIES, make_policy

    env = OnlineEnv(dim=3, horizon=T, domain=domain)
    for name in ("ftrl", "hedge", *sorted(POLICIES)):
        try:
            make_policy(name, env)
            return name
        except ValueError:
            continue
    pytest.skip("no full-information baseline registered yet")


def load(path):
    return json.loads(path.read_text())


def test_mab_contract_and_plot(tmp_path, capsys):
    out, plot = tmp_path / "r.json", tmp_path / "r.png"
    argv = ["evaluate", "--env", "mab", "--reward", "bernoulli", "--means", "0.6,0.4,0.4", *TINY]
    code, stdout, err = cli([*argv, "--out", str(out), "--plot", str(plot)], capsys)
    assert code == 0, err
    r = load(out)
    for key in CONTRACT:
        assert key in r, key
    for key in ("regret_mean", "regret_ci_low", "regret_ci_high", "suff_fail_freq", "k_min_frac"):
        assert len(r[key]) == T, key
    assert len(r["final_regret"]) == RUNS
    assert np.mean(r["final_regret"]) == pytest.approx(r["regret_mean"][-1], rel=1e-5)
    low, mean, high = (np.array(r[k]) for k in ("regret_ci_low", "regret_mean", "regret_ci_high"))
    assert np.all(low <= mean + 1e-6) and np.all(mean <= high + 1e-6)
    assert 0 <= r["greedy_frac"] <= 1 and 0 <= r["median_reward"] <= 1
    assert r["variation_budget"] is None
    cfg = r["config"]
    assert cfg["policy"]["name"] == "ucb" and "c" in cfg["policy"]["hyperparameters"]
    assert cfg["env"]["means"] == [0.6, 0.4, 0.4] and cfg["env"]["arms"] == 3
    assert (cfg["horizon"], cfg["runs"], cfg["seed"], cfg["env_name"]) == (T, RUNS, 0, "mab")
    assert "jax" in r["versions"]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_stdout_is_a_table_and_the_paths_written(tmp_path, capsys):
    out, plot = tmp_path / "r.json", tmp_path / "r.png"
    argv = ["evaluate", "--env", "mab", "--arms", "3", "--policy", "thompson", *SHOWN]
    code, stdout, err = cli([*argv, "--out", str(out), "--plot", str(plot)], capsys)
    assert code == 0, err
    lines = stdout.splitlines()
    assert lines[0] == f"thompson on mab (K=3, T={T}, runs={RUNS}, seed=0)"
    assert lines[1].split()[:2] == ["method", "regret(T)"] and "SuffFailFreq(T/2)" in lines[1]
    assert lines[3].split()[:2] == ["thompson", f"{load(out)['final_regret_mean']:.4g}"]
    assert lines[4:] == ["wrote:", f"  {out}", f"  {plot}"]
    # Nothing saved: the table, and how to keep the result.
    code, stdout, err = cli(["evaluate", "--env", "fol-ball", "--dim", "2", "--policy", "ftrl", *SHOWN], capsys)
    assert code == 0, err
    assert "p_trend" in stdout.splitlines()[1] and stdout.splitlines()[-1].startswith("nothing saved")


def test_json_prints_the_result_file_and_quiet_prints_nothing(tmp_path, capsys):
    out = tmp_path / "r.json"
    argv = ["evaluate", "--env", "mab", "--arms", "3", *SHOWN]
    code, stdout, err = cli([*argv, "--out", str(out), "--json"], capsys)
    assert code == 0, err
    assert json.loads(stdout) == load(out)
    assert stdout == out.read_text()  # the same text, byte for byte
    code, stdout, err = cli([*argv, "--quiet", "--out", str(tmp_path / "q.json")], capsys)
    assert (code, stdout, err) == (0, "", "")
    code, stdout, err = cli([*argv, "--json", "--quiet"], capsys)
    assert code == 2 and stdout == "" and err.count("\n") == 1
    assert err.startswith("rmft: error: argument --quiet: not allowed with argument --json"), err


def test_same_seed_same_numbers_and_no_silent_overwrite(tmp_path, capsys):
    argv = ["evaluate", "--env", "mab", "--arms", "3", *TINY]
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert cli([*argv, "--seed", "7", "--out", str(a)], capsys)[0] == 0
    assert cli([*argv, "--seed", "7", "--out", str(b)], capsys)[0] == 0
    ra, rb = load(a), load(b)
    ra.pop("wall_time_s"), rb.pop("wall_time_s")
    assert ra == rb
    # An existing --out is refused, untouched, unless --overwrite.
    before = a.read_text()
    code, _, err = cli([*argv, "--seed", "8", "--out", str(a)], capsys)
    assert code == 2 and err.startswith("rmft: error: out:") and err.count("\n") == 1
    assert a.read_text() == before
    assert cli([*argv, "--seed", "8", "--out", str(a), "--overwrite"], capsys)[0] == 0
    assert load(a)["config"]["seed"] == 8


def test_existing_plot_is_refused(tmp_path, capsys):
    plot = tmp_path / "p.png"
    plot.write_bytes(b"keep")
    out = tmp_path / "r.json"
    code, _, err = cli(["evaluate", *TINY, "--out", str(out), "--plot", str(plot)], capsys)
    assert code == 2 and "plot:" in err
    assert plot.read_bytes() == b"keep" and not out.exists()


def test_nsmab_reports_variation_budget(tmp_path, capsys):
    out = tmp_path / "r.json"
    argv = ["evaluate", "--env", "nsmab", "--arms", "2", "--drift", "sinusoidal", *TINY, "--out", str(out)]
    code, _, err = cli(argv, capsys)
    assert code == 0, err
    r = load(out)
    assert r["variation_budget"] > 0 and len(r["suff_fail_freq"]) == T
    assert r["variation_budget"] == pytest.approx(np.mean(r["variation_budget_runs"]))
    slow = tmp_path / "slow.json"  # a longer period drifts less
    code, _, err = cli([*argv[:-1], str(slow), "--period", "400"], capsys)
    assert code == 0, err
    assert load(slow)["variation_budget"] < r["variation_budget"] and load(slow)["config"]["env"]["period"] == 400


def test_fol_family(tmp_path, capsys):
    out = tmp_path / "r.json"
    policy = full_info_policy("ball")
    argv = ["evaluate", "--env", "fol-ball", "--family", "alternating", "--dim", "2", "--policy", policy]
    code, _, err = cli([*argv, *TINY, "--out", str(out)], capsys)
    assert code == 0, err
    r = load(out)
    assert len(r["regret_mean"]) == T and len(r["final_regret"]) == RUNS
    for key in ("suff_fail_freq", "k_min_frac", "greedy_frac", "median_reward", "variation_budget"):
        assert r[key] is None, key
    assert r["config"]["env"]["sequence"] == "alternating" and r["config"]["env"]["domain"] == "ball"


def test_fol_sequence_file_sets_horizon(tmp_path, capsys):
    seq = tmp_path / "seq.npy"
    np.save(seq, np.random.default_rng(0).random((9, 3)))
    out = tmp_path / "r.json"
    policy = full_info_policy("simplex")
    argv = ["evaluate", "--env", "fol-simplex", "--sequence", str(seq), "--runs", "2", "--quiet", "--policy", policy]
    code, _, err = cli([*argv, "--out", str(out)], capsys)
    assert code == 0, err
    r = load(out)
    assert len(r["regret_mean"]) == 9
    assert r["config"]["env"]["sequence"] == "custom" and r["config"]["env"]["data_shape"] == [9, 3]
    assert r["config"]["sequence_file"].endswith("seq.npy")


# ----- bad input: exit 2, one line, nothing written -----------------------------------


@pytest.fixture(scope="module")
def npy(tmp_path_factory):
    d = tmp_path_factory.mktemp("inputs")
    files = {
        "vector": np.zeros(5),
        "cube": np.zeros((5, 3, 2)),
        "nan": np.array([[0.0, np.nan], [1.0, 1.0]]),
        "inf": np.array([[0.0, np.inf], [1.0, 1.0]]),
        "ok": np.zeros((5, 3)),
        "text": np.array([["a", "b"], ["c", "d"]]),
    }
    for name, arr in files.items():
        np.save(d / f"{name}.npy", arr)
    (d / "garbage.npy").write_text("not an array")
    return d


BAD = [
    ("arms", ["--arms", "1"]),
    ("horizon", ["--horizon", "0"]),
    ("runs", ["--runs", "0"]),
    ("means", ["--reward", "bernoulli", "--arms", "2", "--means", "0.5,1.5"]),
    ("means", ["--reward", "gamma", "--arms", "2", "--means", "0,1"]),
    ("means", ["--arms", "3", "--means", "0.1,0.2"]),
    ("means", ["--means", "0.1,abc"]),
    ("means", ["--means", "0.1,nan"]),
    ("noise", ["--noise", "-1"]),
    ("policy", ["--policy", "no-such-policy"]),
    ("policy", ["--env", "fol-ball", "--policy", "ucb"]),
    ("dim", ["--env", "mab", "--dim", "3"]),
    ("means", ["--env", "nsmab", "--means", "0.1,0.2"]),
    ("drift", ["--env", "mab", "--drift", "sinusoidal"]),
    ("changes", ["--env", "mab", "--changes", "3"]),
    ("changes", ["--env", "nsmab", "--changes", "-1"]),
    ("period", ["--env", "nsmab", "--drift", "sinusoidal", "--period", "0"]),
    ("amplitude", ["--env", "nsmab", "--drift", "sinusoidal", "--amplitude", "0.7"]),
    ("sequence", ["--env", "mab", "--sequence", "{npy}/ok.npy"]),
    ("sequence", ["--env", "fol-ball", "--sequence", "{npy}/vector.npy"]),
    ("sequence", ["--env", "fol-ball", "--sequence", "{npy}/cube.npy"]),
    ("sequence", ["--env", "fol-ball", "--sequence", "{npy}/nan.npy"]),
    ("sequence", ["--env", "fol-ball", "--sequence", "{npy}/inf.npy"]),
    ("sequence", ["--env", "fol-ball", "--sequence", "{npy}/text.npy"]),
    ("sequence", ["--env", "fol-ball", "--sequence", "{npy}/garbage.npy"]),
    ("sequence", ["--env", "fol-ball", "--sequence", "{npy}/missing.npy"]),
    ("sequence", ["--env", "fol-ball", "--sequence", "{npy}/ok.npy", "--horizon", "7"]),
    ("sequence", ["--env", "fol-ball", "--sequence", "{npy}/ok.npy", "--dim", "4"]),
    ("family", ["--env", "fol-ball", "--sequence", "{npy}/ok.npy", "--family", "uniform"]),
    ("dim", ["--env", "fol-ball", "--dim", "1"]),
    ("seed", ["--seed", "-1"]),
    ("chunk", ["--chunk", "0"]),
    ("bootstrap", ["--bootstrap", "0"]),
    ("plot", ["--plot", "{tmp}/figure.txt"]),
    ("policy", ["--checkpoint", "{tmp}/ckpt", "--policy", "ucb"]),
    # argparse's own checks: unknown names and non-numbers (same one-line form).
    ("--env", ["--env", "gridworld"]),
    ("--reward", ["--reward", "poisson"]),
    ("--prior", ["--prior", "beta"]),
    ("--drift", ["--env", "nsmab", "--drift", "jumpy"]),
    ("--family", ["--env", "fol-ball", "--family", "zigzag"]),
    ("--arms", ["--arms", "two"]),
]


@pytest.mark.parametrize("field,args", BAD, ids=[f"{i}-{f}" for i, (f, _) in enumerate(BAD)])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(field, args, npy, tmp_path, capsys):
    args = [a.format(npy=npy, tmp=tmp_path) for a in args]
    out, plot = tmp_path / "r.json", tmp_path / "r.png"
    argv = ["evaluate", "--horizon", "5", "--runs", "2", "--quiet", "--out", str(out)]
    if "--plot" not in args:
        argv += ["--plot", str(plot)]
    if "--horizon" in args:
        argv = [a for a in argv if a not in ("--horizon", "5")]
    if any(a.endswith(".npy") for a in args) and "--horizon" not in args:
        argv = [a for a in argv if a not in ("--horizon", "5")]
    code, stdout, err = cli([*argv, *args], capsys)
    assert code == 2
    assert err.startswith("rmft: error:") and err.count("\n") == 1, err
    assert field in err, err
    assert "Traceback" not in err and stdout == ""
    assert list(tmp_path.iterdir()) == []


def test_checkpoint_missing_run_dir(tmp_path, capsys):
    code, _, err = cli(["evaluate", "--checkpoint", str(tmp_path / "ckpt"), "--horizon", "5", "--runs", "2"], capsys)
    assert code == 2 and err.startswith("rmft: error: checkpoint:")
    assert list(tmp_path.iterdir()) == []


def test_subprocess_bad_input_has_no_traceback(tmp_path):
    out = tmp_path / "r.json"
    proc = subprocess.run(
        [sys.executable, "-m", "rmft_jax", "evaluate", "--arms", "1", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert proc.stderr.startswith("rmft: error: arms:")
    assert not out.exists()


def test_chunking_changes_batching_not_runs(tmp_path, capsys):
    """Each run has its own key, so chunks of 4 (the last one padded) give the same runs."""
    argv = ["evaluate", "--env", "mab", "--arms", "3", *TINY, "--seed", "7"]
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert cli([*argv, "--out", str(a)], capsys)[0] == 0
    assert cli([*argv, "--out", str(b), "--chunk", "4"], capsys)[0] == 0
    ra, rb = load(a), load(b)
    assert rb["config"]["chunk"] == 4
    np.testing.assert_allclose(ra["final_regret"], rb["final_regret"], rtol=1e-6)
    np.testing.assert_allclose(ra["regret_mean"], rb["regret_mean"], rtol=1e-6)
