"""Issue 20: one writer per run folder, checkpoints bound to their run, and the run folder's small leftovers.

Every refusal is one line (exit code 2 from the CLI) and writes nothing; a lock left by a
dead process blocks nobody; a step copied from another run is refused; ``evaluate`` says
which step of which run it read.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from rmft_jax import checkpoint
from rmft_jax.cli import main
from rmft_jax.config import TrainConfig
from rmft_jax.training import claim_run_dir, train

CONFIG = {
    "env": {"name": "mab", "arms": 3, "horizon": 5, "noise": 0.5},
    "model": {"layers": 1, "heads": 1, "width": 8},
    "rmft": {"tasks": 4, "rollouts": 4, "keep": 2, "iterations": 2, "sft_steps": 1},
    "seed": 0,
}
# A process that holds a run folder's lock as any other writer would (a plain flock, no JAX to import).
HOLDER = ("import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
          "fcntl.flock(fd, fcntl.LOCK_EX); os.ftruncate(fd, 0); os.write(fd, b'%d\\n' % os.getpid()); "
          "print('held', flush=True); time.sleep(120)")


def cli(argv, capsys):
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:  # argparse's own errors
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else b"<dir>") for p in sorted(root.rglob("*"))}


def assert_refused(code, out, err, field):
    assert code == 2, err
    assert err.startswith(f"rmft: error: {field}") and err.count("\n") == 1, err
    assert "Traceback" not in err and out == ""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A finished two-iteration run, and its config file."""
    root = tmp_path_factory.mktemp("run-folder")
    (root / "c.json").write_text(json.dumps(CONFIG))
    train(TrainConfig.from_dict(CONFIG), root / "run", progress=False, checkpoint_every=1)
    return root / "run", root / "c.json"


@pytest.fixture
def holder(tmp_path):
    """Start a process holding the lock of a folder: ``holder(folder) -> Popen`` (killed at the end)."""
    procs = []

    def start(folder: Path) -> subprocess.Popen:
        folder.mkdir(parents=True, exist_ok=True)
        proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder / checkpoint.LOCK)],
                                stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        assert proc.stdout.readline().strip() == "held"
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def copy(run: Path, dst: Path) -> Path:
    shutil.copytree(run, dst)
    return dst


# ----- point 1: one writer per run folder ------------------------------------------------------


def test_a_second_writer_is_refused_naming_the_holder(run, holder, tmp_path, capsys):
    """Two ``rmft train --out R`` at once (and a ``--resume`` while the run trains) once wrote into the
    same metrics.jsonl; now the second is refused in one line, before it writes anything."""
    src, config = run
    for argv, folder in [
        (["--out", tmp_path / "new"], tmp_path / "new"),  # a new run being written by another command
        (["--out", tmp_path / "old", "--resume"], copy(src, tmp_path / "old")),  # a run being resumed
    ]:
        proc = holder(folder)
        before = snapshot(folder)
        code, out, err = cli(["train", "--config", config, "--no-progress", *argv], capsys)
        assert_refused(code, out, err, "out")
        assert f"locked by process {proc.pid}" in err
        assert snapshot(folder) == before


def test_the_lock_is_held_for_the_whole_command_and_released(run, tmp_path):
    src, _ = run
    folder = copy(src, tmp_path / "r")
    with checkpoint.run_lock(folder):
        assert (folder / checkpoint.LOCK).read_text() == f"{os.getpid()}\n"
        with pytest.raises(ValueError, match=rf"^out: .* locked by process {os.getpid()}"):
            train(TrainConfig.from_dict(CONFIG), folder, resume=True, progress=False)
    # released: the same command now runs, and a finished run's lock file holds no process id
    train(TrainConfig.from_dict(CONFIG), folder, resume=True, progress=False)
    assert (folder / checkpoint.LOCK).read_text() == ""


def test_a_lock_left_by_a_killed_process_blocks_nobody(run, holder, tmp_path):
    """The kernel releases a flock when its holder dies: the lock file (with the dead pid) stays, harmlessly,
    and neither counts as "other files" in a new folder nor stops a resume."""
    src, _ = run
    cfg = TrainConfig.from_dict(CONFIG)
    for folder, resume in [(tmp_path / "new", False), (copy(src, tmp_path / "old"), True)]:
        proc = holder(folder)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert (folder / checkpoint.LOCK).read_text() == f"{proc.pid}\n"  # stale
        _, _, rows = train(cfg, folder, resume=resume, progress=False)
        assert [r["iteration"] for r in rows] == [1, 2]


def test_only_the_writing_process_of_a_job_takes_the_lock(tmp_path):
    """In a multi-process job process 0 holds the lock; the others check the folder without it."""
    folder = tmp_path / "job"
    with checkpoint.run_lock(folder):  # process 0
        with claim_run_dir(folder, resume=False, primary=False):  # process 1: not refused
            pass
        with pytest.raises(ValueError, match=r"^out: .* locked by process"):
            with claim_run_dir(folder, resume=False, primary=True):
                pass


def test_a_generalist_run_takes_the_same_lock(tmp_path):
    from rmft_jax import generalist as gl

    cfg = gl.GeneralistConfig(mix=gl.TaskMix(arms=(2,), horizons=(4,), rounds=8))
    folder = tmp_path / "g"
    with checkpoint.run_lock(folder):
        with pytest.raises(ValueError, match=rf"^out: .* locked by process {os.getpid()}"):
            gl.train(cfg, folder, progress=False)
    assert sorted(p.name for p in folder.iterdir()) == [checkpoint.LOCK]
