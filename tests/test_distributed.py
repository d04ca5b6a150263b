"""Two local processes on JAX's distributed runtime give the single-process run.

``rmft train --processes 2`` (two CPU processes of one device each, one job, gloo
collectives) against ``rmft train`` in one process over two (forced) CPU devices: the
same two-device mesh, so the same partitioned program, with the gradient all-reduce
crossing processes instead of staying in one. The kept rollouts (the SFT buffer) must be
bit-identical and the weights equal to float rounding (``atol 1e-5``; they came out
bit-identical on the development machine, the two sides of a two-way sum being added
in the same order either way). One device against several is ``test_sharding.py``'s subject.

Both runs start at once (three processes on a 2-core machine), the model is
``test_sharding``'s tiny one for 2 iterations, and both compile with XLA's cheaper code
generation (:data:`CHEAP_COMPILE`), so that the test costs about one compilation of wall time.
The run directory of the two-process job must hold the same entries as the single process's
(config and metrics from process 0 alone, each metrics line once; checkpoints through the Saver).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest
from test_sharding import TINY

from rmft_jax import checkpoint, distributed, rmft
from rmft_jax.cli import main
from rmft_jax.training import load_run

CONFIG = {**TINY, "rmft": {**TINY["rmft"], "iterations": 2}}
PARAM_ATOL, METRIC_ATOL = 1e-5, 1e-6


# Compile time is most of this test's cost: both sides compile with XLA's cheaper code generation
# (the same flags on both sides, so the comparison is of like with like), about half the CPU time.
CHEAP_COMPILE = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"


def _env(devices: int) -> dict[str, str]:
    flags = f"--xla_force_host_platform_device_count={devices} {CHEAP_COMPILE}"
    return dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS=flags)


def _summary(stdout: str) -> list[str]:
    """The JSON lines the command printed (gloo prints its own connection lines to stdout)."""
    return [line for line in stdout.splitlines() if line.startswith("{")]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("distributed")
    config = root / "config.json"
    config.write_text(json.dumps(CONFIG))
    common = ["train", "--config", str(config), "--no-progress", "--checkpoint-every", "1"]
    single = subprocess.Popen(
        distributed.module_command(*common, "--out", str(root / "single")), env=_env(2),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    job = subprocess.Popen(
        distributed.module_command(*common, "--out", str(root / "job"), "--processes", "2"), env=_env(1),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    outs = {}
    for name, proc in (("single", single), ("job", job)):
        stdout, stderr = proc.communicate(timeout=600)
        assert proc.returncode == 0, f"{name}: {stderr[-3000:]}"
        outs[name] = stdout
    return root, outs


def test_two_processes_equal_one_process(runs):
    root, outs = runs
    # One summary line: process 0's (process 1 prints nothing).
    job_lines, single_lines = _summary(outs["job"]), _summary(outs["single"])
    assert len(job_lines) == 1 and job_lines[0] == single_lines[0].replace("single", "job")
    cfg, single, learner = load_run(root / "single")
    job = checkpoint.load_state(root / "job", rmft.init_state(cfg.environment, cfg.rmft, learner))  # load_run's read
    np.testing.assert_array_equal(job.buffer.actions, single.buffer.actions)
    np.testing.assert_array_equal(job.buffer.feedback, single.buffer.feedback)
    assert int(job.iteration) == int(single.iteration) == CONFIG["rmft"]["iterations"]
    for a, b in zip(jax.tree.leaves(job.params), jax.tree.leaves(single.params), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=PARAM_ATOL, rtol=0)
    # The weights moved (equality of two runs that did nothing would pass too).
    moved = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
                for a, b in zip(jax.tree.leaves(job.params), jax.tree.leaves(learner.base_params)))
    assert moved > 100 * PARAM_ATOL
    rows = {name: checkpoint.read_metrics(root / name) for name in ("single", "job")}
    assert [r["iteration"] for r in rows["job"]] == [1, 2]
    for r_job, r_single in zip(rows["job"], rows["single"], strict=True):
        for k in r_single:
            if k != "seconds":
                assert abs(r_job[k] - r_single[k]) <= METRIC_ATOL, k
    # The same entries as one process writes (metrics lines were checked above: each once).
    assert sorted(p.name for p in (root / "job").iterdir()) == sorted(p.name for p in (root / "single").iterdir())


def test_launcher_stops_the_others_when_one_fails():
    # Process 1 fails at once; process 0 would sleep for a minute: the launcher returns 3 and stops it.
    script = "import os, sys, time\nif os.environ['RMFT_PROCESS_ID'] == '1': sys.exit(3)\ntime.sleep(60)"
    t0 = time.monotonic()
    assert distributed.launch_local([sys.executable, "-c", script], 2, grace_s=5) == 3
    assert time.monotonic() - t0 < 30
    ok = "import os; assert os.environ['RMFT_NUM_PROCESSES'] == '2' and os.environ['JAX_COORDINATOR_ADDRESS']"
    assert distributed.launch_local([sys.executable, "-c", ok], 2) == 0


@pytest.mark.parametrize(
    "flags, message",
    [(["--processes", "0"], "processes: must be an integer >= 1"),
     (["--processes", "2", "--distributed"], "processes: launches a job of local processes")],
)
def test_process_flags_are_validated(tmp_path, capsys, flags, message):
    assert main(["train", "--out", str(tmp_path / "run"), *flags]) == 2
    assert f"rmft: error: {message}" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_joining_without_a_job_is_a_one_line_error(tmp_path, capsys, monkeypatch):
    # No coordinator anywhere (and, in this process, a backend already started): refused, nothing written.
    for var in (distributed.COORDINATOR_VAR, distributed.NUM_PROCESSES_VAR, distributed.PROCESS_ID_VAR):
        monkeypatch.delenv(var, raising=False)
    jax.devices()
    assert main(["train", "--out", str(tmp_path / "run"), "--distributed"]) == 2
    assert "rmft: error: distributed: cannot join the multi-process job" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
    with pytest.raises(ValueError, match="^process_id: must be < num_processes = 2"):
        distributed.initialize("127.0.0.1:1", 2, 2)


# ----- issue 20, point 5: distributed start-up --------------------------------------------------


@pytest.mark.parametrize("address", ["garbage", "127.0.0.1:http", "127.0.0.1:", ":1234", "127.0.0.1:0",
                                     "127.0.0.1:70000", "::1:1234", "a b:1234", "127.0.0.1:１２"])
def test_a_malformed_coordinator_address_is_one_line_before_jax(address, tmp_path, capsys, monkeypatch):
    """A garbage address once gave an IndexError traceback, a port that is not a number a SIGSEGV."""
    monkeypatch.setenv(distributed.COORDINATOR_VAR, address)
    monkeypatch.setenv(distributed.NUM_PROCESSES_VAR, "2")
    monkeypatch.setenv(distributed.PROCESS_ID_VAR, "1")
    monkeypatch.setattr(jax.distributed, "initialize", lambda *a, **k: pytest.fail("JAX saw the address"))
    assert main(["train", "--out", str(tmp_path / "run"), "--distributed"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"rmft: error: {distributed.COORDINATOR_VAR}: must be host:port") and err.count("\n") == 1
    assert not (tmp_path / "run").exists()
    assert distributed.coordinator("[::1]:1234") == ("::1", 1234)


@pytest.mark.parametrize("variable, value", [(distributed.PROCESS_ID_VAR, "x"), (distributed.PROCESS_ID_VAR, "-1"),
                                             (distributed.NUM_PROCESSES_VAR, "0"), (distributed.TIMEOUT_VAR, "soon"),
                                             (distributed.TIMEOUT_VAR, "0")])
def test_malformed_process_settings_are_one_line(variable, value, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(distributed.COORDINATOR_VAR, "127.0.0.1:1234")
    monkeypatch.setenv(distributed.NUM_PROCESSES_VAR, "2")
    monkeypatch.setenv(distributed.PROCESS_ID_VAR, "1")
    monkeypatch.setenv(variable, value)
    monkeypatch.setattr(jax.distributed, "initialize", lambda *a, **k: pytest.fail("JAX saw the settings"))
    assert main(["train", "--out", str(tmp_path / "run"), "--distributed"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rmft: error: ") and err.count("\n") == 1 and "Traceback" not in err


def test_a_coordinator_that_does_not_answer_is_one_line_within_the_timeout(tmp_path, capsys, monkeypatch):
    """Once: 300 s of waiting, then an abort (exit 134) with a native stack trace."""
    monkeypatch.setenv(distributed.COORDINATOR_VAR, f"127.0.0.1:{distributed.free_port()}")  # nobody listens
    monkeypatch.setenv(distributed.NUM_PROCESSES_VAR, "2")
    monkeypatch.setenv(distributed.PROCESS_ID_VAR, "1")
    monkeypatch.setenv(distributed.TIMEOUT_VAR, "2")
    monkeypatch.setattr(jax.distributed, "initialize", lambda *a, **k: pytest.fail("JAX was left to wait"))
    t0 = time.monotonic()
    assert main(["train", "--out", str(tmp_path / "run"), "--distributed"]) == 2
    assert time.monotonic() - t0 < 10
    err = capsys.readouterr().err
    assert err.startswith("rmft: error: distributed: the coordinator 127.0.0.1:") and "within 2 s" in err
    assert err.count("\n") == 1 and not (tmp_path / "run").exists()


# ----- issue 20, point 4: the launcher as one command --------------------------------------------


@pytest.mark.parametrize("case", ["others", "missing", "locked", "devices", "memory"])
def test_the_launcher_checks_flags_and_the_run_folder_before_starting_any_process(case, tmp_path, capsys, monkeypatch):
    """Once, both processes started and each printed its own refusal (``--devices 0``, a folder holding other
    files, ...). Now the launcher refuses in one line and starts nothing."""
    monkeypatch.setattr(distributed, "launch_local", lambda *a, **k: pytest.fail("a process was started"))
    (tmp_path / "c.json").write_text(json.dumps(CONFIG))
    out = tmp_path / "run"
    argv = ["train", "--config", str(tmp_path / "c.json"), "--out", str(out), "--processes", "2", "--no-progress"]
    field = {"others": "out", "missing": "resume", "locked": "out", "devices": "devices", "memory": "config.rmft.tasks"}
    if case == "others":
        out.mkdir()
        (out / "notes.txt").write_text("somebody's")
    elif case == "missing":
        argv.append("--resume")
    elif case == "devices":
        argv += ["--devices", "0"]
    elif case == "memory":
        argv += ["--tasks", "100000000"]
    if case == "locked":  # another command is writing the run
        out = tmp_path / "locked-run"
        argv[argv.index(str(tmp_path / "run"))] = str(out)
    with checkpoint.run_lock(out) if case == "locked" else contextlib.nullcontext():
        assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"rmft: error: {field[case]}: ") and err.count("\n") == 1, err
    assert not out.exists() or case in ("others", "locked")


def test_a_refusal_in_the_processes_is_one_line(capfd):
    """Each process's refusal went to stderr on its own (once run together on one line); now the launcher
    raises the first process's, and the processes print none."""
    with pytest.raises(ValueError, match=r"^runs: must be an integer >= 1 \(got 0\)$"):
        distributed.launch_local(distributed.module_command("evaluate", "--runs", "0", "--quiet"), 2)
    assert "rmft: error" not in capfd.readouterr().err


LAUNCHER = "import sys; from rmft_jax import distributed; sys.exit(distributed.launch_local(sys.argv[1:], 2, grace_s=20))"
CHILD = """
import os, signal, sys, time
folder, me = sys.argv[1], os.environ["RMFT_PROCESS_ID"]
def interrupted(signum, frame):
    with open(os.path.join(folder, me), "w") as f:
        f.write(os.environ.get("RMFT_QUIET_INTERRUPT", "0"))
    os._exit(130)
signal.signal(signal.SIGINT, interrupted)
open(os.path.join(folder, "ready-" + me), "w").close()
time.sleep(60)
"""


def test_stopping_the_launcher_interrupts_every_process(tmp_path):
    """SIGTERM (or Ctrl-C) to the launcher: every process gets SIGINT, so an ``rmft`` process finishes its
    checkpoint save before it exits (SIGTERM killed them wherever they were), and only process 0 says so."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                                       os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, "-c", LAUNCHER, sys.executable, "-c", CHILD, str(tmp_path)], env=env)
    try:
        deadline = time.monotonic() + 120
        while len(list(tmp_path.glob("ready-*"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
    assert (tmp_path / "0").read_text() == "0" and (tmp_path / "1").read_text() == "1"


# ----- issue 20, point 3: a multi-process run resumes as a multi-process run ---------------------


@pytest.mark.figures  # about 20 s of two processes: the figures tier (CI runs it after the default one)
def test_a_two_process_run_resumes_in_two_processes_bit_identical(runs, tmp_path):
    """Once: exit 2 with JAX's "does not support cross-host device transfers", twice, placeholders unfilled.
    The job interrupted after iteration 1 (its step 2 and metrics line 2 gone, as after a kill) resumes with
    ``--processes 2`` to exactly the uninterrupted job's state and metrics."""
    root, _ = runs
    run = tmp_path / "job"
    shutil.copytree(root / "job", run)
    shutil.rmtree(run / checkpoint.STATE / "2")
    lines = (run / checkpoint.METRICS).read_text().splitlines(keepends=True)
    (run / checkpoint.METRICS).write_text(lines[0])
    argv = ["train", "--config", str(root / "config.json"), "--no-progress", "--checkpoint-every", "1",
            "--out", str(run), "--processes", "2", "--resume"]
    proc = subprocess.run(distributed.module_command(*argv), env=_env(1), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    cfg, whole, learner = load_run(root / "job")
    template = rmft.init_state(cfg.environment, cfg.rmft, learner)
    resumed = checkpoint.load_state(run, template)
    assert int(resumed.iteration) == 2
    for a, b in zip(jax.tree.leaves(resumed), jax.tree.leaves(whole), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    key = ("rollout_regret_mean", "kept_regret_mean", "sft_loss_last")
    assert [[r[k] for k in key] for r in checkpoint.read_metrics(run)] == \
        [[r[k] for k in key] for r in checkpoint.read_metrics(root / "job")]
