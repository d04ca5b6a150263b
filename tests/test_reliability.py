"""Issue 13, point 3: bad input, damaged files and interruptions keep the CLI's promises.

Every refused case: exit code 2, one line naming the field, no traceback, nothing
written. Checkpoints are tamper-evident, a torn metrics line does not stop
``--resume`` (which stays bit-identical), Ctrl-C exits 130 and leaves a
resumable run, result files are written atomically.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from rmft_jax import checkpoint, results
from conftest import assert_refused, cli, snapshot
from rmft_jax.config import TrainConfig
from rmft_jax.training import train

TINY = {
    "env": {"name": "mab", "arms": 3, "horizon": 6, "noise": 0.5},
    "model": {"layers": 1, "heads": 1, "width": 8},
    "rmft": {"tasks": 4, "rollouts": 4, "keep": 2, "iterations": 4, "sft_steps": 2},
    "seed": 0,
}
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def place(tmp_path, monkeypatch):
    """A scratch folder with a plain file ``FILE``, a read-only folder ``ro``, two config files and
    a folder holding somebody's ``metrics.jsonl``. ``ro`` refuses new files even for root: the
    temporary-file probe is made to fail there as a read-only mount would."""
    (tmp_path / "FILE").write_text("not a directory")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    real_mkstemp = tempfile.mkstemp

    def mkstemp(*args, dir=None, **kwargs):
        if dir is not None and Path(dir).resolve() == ro.resolve():
            raise PermissionError(13, "Permission denied", str(dir))
        return real_mkstemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(results.tempfile, "mkstemp", mkstemp)
    (tmp_path / "someone").mkdir()
    (tmp_path / "someone" / "metrics.jsonl").write_text('{"iteration": 1}\n')
    (tmp_path / "bin.json").write_bytes(bytes(range(256)))
    for name, cfg in {
        "means5.json": {"env": {"means": 5}},
        "seed.json": {"seed": 2**64},
        "tasks.json": {"rmft": {"tasks": 100_000_000}},
        "width.json": {"model": {"width": 100_000_000}},
    }.items():
        (tmp_path / name).write_text(json.dumps(cfg))
    big = np.zeros((3000, 3))
    np.save(tmp_path / "long.npy", big)
    big[0, 0] = 1e300
    np.save(tmp_path / "huge.npy", big)
    yield tmp_path
    ro.chmod(0o755)


E = ["evaluate", "--quiet"]
T = ["train", "--no-progress"]
# (table case, expected field, argv); "{d}" is the scratch folder.
CASES = [
    ("1", "noise", [*E, "--horizon", "10", "--noise", "1e308"]),
    ("2", "seed", [*E, "--horizon", "10", "--seed", str(2**64)]),
    ("2", "seed", [*E, "--horizon", "10", "--seed", str(2**63)]),
    ("2", "config.seed", [*T, "--out", "{d}/run", "--seed", str(2**64)]),
    ("2", "config.seed", [*T, "--out", "{d}/run", "--config", "{d}/seed.json"]),
    ("2", "seed", ["theory", "--quick", "--out", "{d}/theory", "--seed", str(2**64)]),
    ("3", "out", [*E, "--horizon", "10", "--out", "{d}/ro/o.json"]),
    ("4", "plot", [*E, "--horizon", "10", "--out", "{d}/a.json", "--plot", "{d}/ro/p.png"]),
    ("5", "out", [*E, "--horizon", "10", "--out", "/proc/rmft-x.json"]),
    ("6", "runs", [*E, "--runs", "1000000000"]),
    ("6", "horizon", [*E, "--horizon", "1000000000"]),
    ("6", "bootstrap", [*E, "--bootstrap", "1000000000"]),
    ("6", "runs", [*E, "--env", "fol-ball", "--sequence", "{d}/long.npy"]),  # with RMFT_MEMORY_LIMIT=1 MB
    ("7", "dim", [*E, "--env", "fol-simplex", "--dim", "1000000000", "--runs", "5"]),
    ("9", "means", [*E, "--means", "1e39,0.4"]),
    ("9", "sequence", [*E, "--env", "fol-ball", "--sequence", "{d}/huge.npy"]),
    ("10", "base", [*E, "--base"]),
    ("11", "config.env.means", [*T, "--out", "{d}/run", "--config", "{d}/means5.json"]),
    ("11", "config.env.means", [*T, "--out", "{d}/run", "--set", "env.means=5"]),
    ("12", "devices", [*T, "--out", "{d}/run", "--devices", "0"]),
    ("12", "devices", [*T, "--out", "{d}/run", "--devices", "-1"]),
    ("12", "devices", [*T, "--out", "{d}/run", "--devices", "5000"]),
    ("13", "config.rmft.tasks", [*T, "--out", "{d}/run", "--config", "{d}/tasks.json"]),
    ("13", "config.model.width", [*T, "--out", "{d}/run", "--config", "{d}/width.json"]),
    ("14", "out", [*T, "--out", "{d}/ro/run"]),
    ("14", "out", [*T, "--out", "{d}/FILE/run"]),
    ("15", "out", [*T, "--out", "{d}/FILE"]),
    ("15", "config", [*T, "--out", "{d}/run", "--config", "{d}/bin.json"]),
    ("16", "out", [*T, "--out", "{d}/someone", "--iterations", "0"]),
    ("21", "out", ["figure", "fig2", "--quick", "--out", "{d}/FILE"]),
    ("21", "out", ["figure", "fig2", "--quick", "--out", "{d}/ro/figures"]),
    ("22", "out", ["theory", "--quick", "--out", "{d}/FILE"]),
    ("22", "out", ["bench", "--quick", "--out", "{d}/FILE/b.json"]),
    ("22", "figure", ["bench", "--quick", "--out", "{d}/b.json", "--figure", "{d}/cc"]),
    ("also", "prior_low", [*E, "--reward", "gamma"]),
    ("also", "--seed", [*E, "--seed", "1", "--seed", "2"]),
    ("also", "--out", [*T, "--out", "{d}/a", "--out", "{d}/b"]),
]


@pytest.mark.parametrize("case, field, argv", CASES, ids=[f"{c}-{i}-{f}" for i, (c, f, _) in enumerate(CASES)])
def test_refused_with_one_line_and_nothing_written(case, field, argv, place, capsys, monkeypatch):
    if "/proc/" in " ".join(argv) and not Path("/proc/self").is_dir():
        pytest.skip("no /proc here")
    if case == "6" and "--sequence" in argv:
        monkeypatch.setenv("RMFT_MEMORY_LIMIT", "1e6")
    before = snapshot(place)
    code, out, err = cli([a.format(d=place) for a in argv], capsys)
    assert_refused(code, out, err, field)
    if field in ("runs", "horizon", "bootstrap", "dim", "config.rmft.tasks", "config.model.width"):
        assert "fit in memory (about" in err  # the estimate is in the message
    assert snapshot(place) == before


def test_os_errors_are_one_line(monkeypatch, capsys):
    import rmft_jax.cli.evaluate as evaluate

    def full_disk(args):
        raise OSError(28, "No space left on device", "/data/r.json")

    monkeypatch.setattr(evaluate, "run", full_disk)
    code, out, err = cli(["evaluate"], capsys)
    assert code == 2 and err.count("\n") == 1 and "No space left on device" in err and "/data/r.json" in err


def test_gamma_rewards_with_a_prior_range(tmp_path, capsys):
    out = tmp_path / "g.json"
    argv = ["evaluate", "--reward", "gamma", "--prior-low", "0.5", "--prior-high", "2", "--arms", "3",
            "--horizon", "5", "--runs", "4", "--bootstrap", "10", "--quiet", "--out", out]
    code, _, err = cli(argv, capsys)
    assert code == 0, err
    env = json.loads(out.read_text())["config"]["env"]
    assert env["reward"] == "gamma" and env["prior_low"] == 0.5 and env["prior_high"] == 2.0


def test_many_arms_select_by_gather(tmp_path, capsys):
    """Case 8: 20,000 arms no longer unroll 20,000 selects (minutes of compiling)."""
    import jax.numpy as jnp

    from rmft_jax._select import UNROLL_LIMIT, pick

    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, UNROLL_LIMIT + 7)).astype(np.float32)
    idx = rng.integers(0, x.shape[1], 50)
    got = np.asarray(jax.vmap(pick)(jnp.asarray(x), jnp.asarray(idx)))
    np.testing.assert_array_equal(got, x[np.arange(50), idx])
    assert np.isnan(np.asarray(pick(jnp.asarray(x[0]), jnp.array([-1, x.shape[1]])))).all()
    t0 = time.perf_counter()
    code, _, err = cli(["evaluate", "--arms", "20000", "--horizon", "10", "--runs", "5", "--bootstrap", "10",
                        "--quiet", "--out", tmp_path / "k.json"], capsys)
    assert code == 0, err
    assert time.perf_counter() - t0 < 120


# ----- checkpoints and metrics --------------------------------------------------------------


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """``full``: 4 iterations uninterrupted; ``half``: the same run stopped after 2 (checkpointed)."""
    root = tmp_path_factory.mktemp("runs")
    cfg = TrainConfig.from_dict(TINY)
    state, _, rows = train(cfg, root / "full", progress=False, checkpoint_every=1)
    train(cfg, root / "half", progress=False, checkpoint_every=1, stop_after=2)
    return root, cfg, state, rows


def copy_run(runs, tmp_path, name="half") -> Path:
    root = runs[0]
    dst = tmp_path / name
    shutil.copytree(root / name, dst)
    return dst


def without_run_id(run: Path) -> None:
    """Make ``run``'s config.json one from before run ids (as with every run that has a checkpoint.msgpack)."""
    saved = json.loads((run / checkpoint.CONFIG).read_text())
    del saved[checkpoint.RUN_ID]
    (run / checkpoint.CONFIG).write_text(json.dumps(saved))


def resume(cfg, run, **kw):
    return train(cfg, run, resume=True, progress=False, checkpoint_every=1, **kw)


def test_torn_metrics_line_is_dropped_and_resume_is_bit_identical(runs, tmp_path):
    """Case 19: a kill during the append of iteration 3's line; --resume re-runs it."""
    _, cfg, full, rows_full = runs
    run = copy_run(runs, tmp_path)
    with open(run / checkpoint.METRICS, "a") as f:
        f.write(json.dumps(rows_full[2])[:25])  # torn: no closing brace, no newline
    resumed, _, rows = resume(cfg, run)
    for a, b in zip(jax.tree.leaves(full), jax.tree.leaves(resumed)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert [r["iteration"] for r in rows] == [1, 2, 3, 4]
    assert [r["rollout_regret_mean"] for r in rows] == [r["rollout_regret_mean"] for r in rows_full]
    assert [json.loads(line)["iteration"] for line in (run / checkpoint.METRICS).read_text().splitlines()] == [1, 2, 3, 4]


def test_damaged_metrics_line_is_a_field_named_error(runs, tmp_path, capsys):
    _, cfg, _, _ = runs
    run = copy_run(runs, tmp_path)
    lines = (run / checkpoint.METRICS).read_text().splitlines(keepends=True)
    (run / checkpoint.METRICS).write_text("{garbage\n" + "".join(lines[1:]))
    before = snapshot(run)
    with pytest.raises(ValueError, match=r"^metrics: line 1 of .* must be a JSON object \(delete that line"):
        resume(cfg, run, stop_after=0)
    assert snapshot(run) == before


def flip(path: Path, position: int, mask: int = 1) -> None:
    data = bytearray(path.read_bytes())
    data[position] ^= mask
    path.write_bytes(bytes(data))


def test_checkpoint_bit_flips_are_detected(runs, tmp_path):
    """Case 18: every single-bit flip (at 40 random places of the latest checkpoint's files) is
    refused, never loaded silently."""
    _, cfg, full, _ = runs
    run = copy_run(runs, tmp_path, "full")
    files = sorted(p for p in (run / checkpoint.STATE / "4").rglob("*") if p.is_file())
    good = {p: p.read_bytes() for p in files}
    ends = np.cumsum([len(good[p]) for p in files])
    rng = np.random.default_rng(18)
    for pos in rng.choice(int(ends[-1]), 40, replace=False):
        i = int(np.searchsorted(ends, pos, side="right"))
        path, offset = files[i], int(pos - (ends[i - 1] if i else 0))
        flip(path, offset, 1 << int(rng.integers(8)))
        with pytest.raises(ValueError, match=r"^checkpoint: .* must be an intact rmft checkpoint"):
            checkpoint.load_state(run, full)
        path.write_bytes(good[path])
    restored = checkpoint.load_state(run, full)
    for a, b in zip(jax.tree.leaves(full), jax.tree.leaves(restored)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("damage", ["xor-near-end", "truncated", "foreign", "empty", "wrong-checksum"])
def test_damaged_checkpoint_is_refused_by_resume_and_evaluate(damage, runs, tmp_path, capsys):
    """Case 17 and friends: exit 2, one line, through both ways of loading a checkpoint."""
    _, _, _, _ = runs
    run = copy_run(runs, tmp_path)
    step = run / checkpoint.STATE / "2"  # the latest checkpoint of the run stopped after 2 iterations
    files = [p for p in step.rglob("*") if p.is_file()]
    path = max(files, key=lambda p: p.stat().st_size)  # the largest file of the arrays
    data = path.read_bytes()
    if damage == "xor-near-end":
        path.write_bytes(data[:-40] + bytes(b ^ 0x5A for b in data[-40:]))
    elif damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "foreign":  # somebody else's files in place of the step
        shutil.rmtree(step)
        step.mkdir()
        np.save(step / "weights.npy", np.zeros(3))
    elif damage == "empty":
        for p in files:
            p.write_bytes(b"")
    else:
        seal = json.loads((step / checkpoint.SEAL).read_text())
        seal["files"][path.relative_to(step).as_posix()] = "0" * 64
        (step / checkpoint.SEAL).write_text(json.dumps(seal))
    cfg_path = tmp_path / "c.json"
    cfg_path.write_text(json.dumps(TINY))
    before = snapshot(run)
    code, out, err = cli(["train", "--config", cfg_path, "--out", run, "--resume", "--no-progress",
                          "--checkpoint-every", "1"], capsys)
    assert_refused(code, out, err, "checkpoint")
    code, out, err = cli(["evaluate", "--checkpoint", run, "--arms", "3", "--horizon", "6", "--runs", "2",
                          "--quiet", "--out", tmp_path / "e.json"], capsys)
    assert_refused(code, out, err, "checkpoint")
    assert snapshot(run) == before and not (tmp_path / "e.json").exists()


def test_checkpoint_without_checksum_still_loads(runs, tmp_path):
    """Checkpoints written before the checksum (the committed figures/runs) load, with the structural check."""
    from flax import serialization

    _, _, full, _ = runs
    run = copy_run(runs, tmp_path, "full")
    shutil.rmtree(run / checkpoint.STATE)  # a run from before Orbax: its state in checkpoint.msgpack
    without_run_id(run)
    leaves = [np.asarray(x) for x in jax.tree.leaves(full)]
    (run / checkpoint.MSGPACK).write_bytes(
        serialization.msgpack_serialize({"leaves": {str(i): x for i, x in enumerate(leaves)}}))
    restored = checkpoint.load_state(run, full)
    for a, b in zip(leaves, jax.tree.leaves(restored)):
        np.testing.assert_array_equal(a, np.asarray(b))
    bad = dict(enumerate(leaves))
    bad[0] = "text"
    (run / checkpoint.MSGPACK).write_bytes(
        serialization.msgpack_serialize({"leaves": {str(i): x for i, x in bad.items()}}))
    with pytest.raises(ValueError, match=r"^checkpoint: .*entry 0 is a str"):
        checkpoint.load_state(run, full)


def test_stray_temporary_files_are_removed_on_the_next_start(runs, tmp_path):
    _, cfg, _, _ = runs
    run = copy_run(runs, tmp_path)
    stray = [run / ".checkpoint.msgpack.k1l2m3.tmp", run / ".metrics.jsonl.x9.tmp"]
    for p in stray:
        p.write_bytes(b"partial")
    resume(cfg, run, stop_after=0)
    assert not any(p.exists() for p in stray)
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / ".config.json.abc.tmp").write_bytes(b"partial")  # killed during the very first write
    train(cfg, fresh, progress=False, stop_after=0)
    assert sorted(p.name for p in fresh.iterdir()) == [checkpoint.LOCK, "config.json", "metrics.jsonl"]


def test_only_the_latest_checkpoints_are_kept(runs):
    """Retention: Orbax keeps the last ``keep_checkpoints`` (default 2) of the checkpoints written every iteration."""
    root = runs[0]
    assert sorted(p.name for p in (root / "full" / checkpoint.STATE).iterdir()) == ["3", "4"]
    assert sorted(p.name for p in (root / "half" / checkpoint.STATE).iterdir()) == ["1", "2"]


def test_uncommitted_orbax_steps_are_removed_and_foreign_files_kept(runs, tmp_path):
    _, cfg, _, _ = runs
    run = copy_run(runs, tmp_path)
    steps = run / checkpoint.STATE
    stray = steps / "3.orbax-checkpoint-tmp"  # killed while Orbax wrote step 3
    (stray / "state").mkdir(parents=True)
    (stray / "state" / "_METADATA").write_bytes(b"partial")
    (steps / "notes.txt").write_text("not ours")
    resume(cfg, run, stop_after=0)
    assert sorted(p.name for p in steps.iterdir()) == ["1", "2", "notes.txt"]


def test_a_save_cut_short_before_its_seal_is_dropped_and_resume_is_bit_identical(runs, tmp_path):
    """A kill between Orbax's commit of step 4 and its seal: step 4 is not trusted, resume re-runs it from 3."""
    _, cfg, full, rows_full = runs
    run = copy_run(runs, tmp_path, "full")
    (run / checkpoint.STATE / "4" / checkpoint.SEAL).unlink()
    assert checkpoint.latest_step(run) == 3
    resumed, _, rows = resume(cfg, run)
    for a, b in zip(jax.tree.leaves(full), jax.tree.leaves(resumed)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert [r["rollout_regret_mean"] for r in rows] == [r["rollout_regret_mean"] for r in rows_full]
    assert (run / checkpoint.STATE / "4" / checkpoint.SEAL).is_file()


def test_an_old_msgpack_run_resumes_into_orbax_checkpoints(runs, tmp_path):
    """A run saved before Orbax (checkpoint.msgpack, checksummed): tamper-evident, and ``--resume`` continues
    it bit for bit, writing checkpoints/ and leaving the old file as it was."""
    import hashlib

    from flax import serialization

    _, cfg, full, rows_full = runs
    run = copy_run(runs, tmp_path)
    half = checkpoint.load_state(run, full)
    shutil.rmtree(run / checkpoint.STATE)
    without_run_id(run)
    payload = serialization.msgpack_serialize({"leaves": {str(i): np.asarray(x) for i, x in enumerate(jax.tree.leaves(half))}})
    old = serialization.msgpack_serialize({"format": checkpoint.FORMAT, "version": 2, "payload": payload,
                                           "sha256": hashlib.sha256(payload).hexdigest()})
    mid = len(old) // 2  # inside the payload
    (run / checkpoint.MSGPACK).write_bytes(old[:mid] + bytes([old[mid] ^ 4]) + old[mid + 1:])
    with pytest.raises(ValueError, match=r"^checkpoint: .* must be an intact rmft checkpoint.*SHA-256"):
        checkpoint.load_state(run, full)
    (run / checkpoint.MSGPACK).write_bytes(old)
    resumed, _, rows = resume(cfg, run)
    for a, b in zip(jax.tree.leaves(full), jax.tree.leaves(resumed)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert [r["rollout_regret_mean"] for r in rows] == [r["rollout_regret_mean"] for r in rows_full]
    assert (run / checkpoint.MSGPACK).read_bytes() == old
    assert sorted(p.name for p in (run / checkpoint.STATE).iterdir()) == ["3", "4"]
    assert int(checkpoint.load_state(run, full).iteration) == 4  # the newer format is the one loaded


# ----- atomic result files -----------------------------------------------------------------


def test_atomic_write_leaves_the_old_file_or_none(tmp_path, monkeypatch):
    target = tmp_path / "r.json"
    results.atomic_write_bytes(target, b"old")
    assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~results._UMASK)  # not mkstemp's 0600

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(results.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        results.atomic_write_bytes(target, b"new")
    with pytest.raises(KeyboardInterrupt):
        results.atomic_write_bytes(tmp_path / "fig.png", b"png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"] and target.read_bytes() == b"old"


def test_every_figure_is_written_through_the_atomic_writer():
    """No module saves a Matplotlib figure straight to its final path."""
    offenders = []
    for path in (REPO / "rmft_jax").rglob("*.py"):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if ".savefig(" in line and "buf" not in line:
                offenders.append(f"{path.relative_to(REPO)}:{n}")
    assert offenders == []


# ----- Ctrl-C ------------------------------------------------------------------------------


def start_program(argv):
    """``python -m rmft_jax ARGV`` as a user starts it, with SIGINT at its default (a shell may have
    started pytest with SIGINT ignored, which children inherit; no preexec_fn: forking a JAX process
    is unsafe, so a tiny launcher resets it and execs)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    launcher = "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); " \
        "os.execv(sys.executable, [sys.executable, '-m', 'rmft_jax', *sys.argv[1:]])"
    return subprocess.Popen([sys.executable, "-c", launcher, *map(str, argv)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def assert_interrupted(proc, err):
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "rmft: interrupted", err
    assert "Traceback" not in err and "Exception ignored" not in err


@pytest.mark.parametrize("delay", [1.0, 2.0])
def test_sigint_while_jax_is_imported_exits_130(delay, tmp_path):
    """Ctrl-C in the first seconds (importing JAX) once gave a traceback, or was swallowed (exit 0)."""
    proc = start_program(["evaluate", "--quiet", "--out", tmp_path / "r.json"])
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert_interrupted(proc, err)
    assert list(tmp_path.iterdir()) == []


def test_sigint_during_the_first_compile_exits_130_and_the_run_resumes(tmp_path):
    """Case 20: SIGINT right after the run folder is made (the first compile): exit 130, one line, resumable."""
    spec = json.loads(json.dumps(TINY))
    spec["rmft"]["iterations"] = 100_000  # never finishes by itself
    (tmp_path / "c.json").write_text(json.dumps(spec))
    run = tmp_path / "run"
    proc = start_program(["train", "--config", tmp_path / "c.json", "--out", run, "--no-progress",
                          "--checkpoint-every", "1"])
    try:
        deadline = time.monotonic() + 120
        while not (run / checkpoint.CONFIG).exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert_interrupted(proc, err)
    assert not [p.name for p in run.iterdir() if p.name.endswith(".tmp")]
    cfg = TrainConfig.from_dict(spec)
    done = len(checkpoint.read_metrics(run))
    _, _, rows = train(cfg, run, resume=True, progress=False, stop_after=1)
    assert rows[-1]["iteration"] == len(rows) and len(rows) <= done + 1


# "after 5 iterations" (about 20 s) runs in the figures tier, which CI runs after the default one
@pytest.mark.parametrize("moment", [pytest.param("after 5 iterations", marks=pytest.mark.figures), "during a file write"])
def test_sigkill_at_any_moment_resumes_bit_identical(moment, tmp_path):
    """Point 3: ``kill -9`` of ``rmft train`` mid-run (after some iterations, or while a temporary
    file of an atomic write exists), then ``--resume``: the same parameters and metrics as a run
    never interrupted."""
    spec = json.loads(json.dumps(TINY))
    spec["rmft"]["iterations"] = 40
    (tmp_path / "c.json").write_text(json.dumps(spec))
    cfg = TrainConfig.from_dict(spec)
    run = tmp_path / "run"
    proc = start_program(["train", "--config", tmp_path / "c.json", "--out", run, "--no-progress",
                          "--checkpoint-every", "1"])
    metrics = run / checkpoint.METRICS
    try:
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            lines = metrics.read_text().count("\n") if metrics.exists() else 0
            writing = any(p.name.endswith(".tmp") or checkpoint.is_stray_step(p.name)
                          for d in (run, run / checkpoint.STATE) if d.is_dir() for p in d.iterdir())
            if lines >= 30 or (lines >= 5 if moment == "after 5 iterations" else writing and lines >= 1):
                proc.send_signal(signal.SIGKILL)
                break
    finally:
        proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    killed_at = len(checkpoint.read_metrics(run)) if metrics.exists() else 0
    assert killed_at < 40
    resumed, _, rows = train(cfg, run, resume=True, progress=False, checkpoint_every=1)
    full, _, rows_full = train(cfg, None, progress=False)
    for a, b in zip(jax.tree.leaves(full), jax.tree.leaves(resumed)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    key = ("rollout_regret_mean", "kept_regret_mean", "sft_loss_last")
    assert [[r[k] for k in key] for r in rows] == [[r[k] for k in key] for r in rows_full]
    assert not [p.name for p in run.iterdir() if p.name.endswith(".tmp")]
    assert not [p.name for p in (run / checkpoint.STATE).iterdir() if checkpoint.is_stray_step(p.name)]
