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
import tempfile
from pathlib import Path

import pytest

from rmft_jax import checkpoint, config, results
from rmft_jax import generalist as gl
from conftest import assert_refused, cli, snapshot
from rmft_jax.config import TrainConfig
from rmft_jax.training import claim_run_dir, load_run, train

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
    src, config_file = run
    for argv, folder in [
        (["--out", tmp_path / "new"], tmp_path / "new"),  # a new run being written by another command
        (["--out", tmp_path / "old", "--resume"], copy(src, tmp_path / "old")),  # a run being resumed
    ]:
        proc = holder(folder)
        before = snapshot(folder)
        code, out, err = cli(["train", "--config", config_file, "--no-progress", *argv], capsys)
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
    cfg = gl.GeneralistConfig(mix=gl.TaskMix(arms=(2,), horizons=(4,), rounds=8))
    folder = tmp_path / "g"
    with checkpoint.run_lock(folder):
        with pytest.raises(ValueError, match=rf"^out: .* locked by process {os.getpid()}"):
            gl.train(cfg, folder, progress=False)
    assert sorted(p.name for p in folder.iterdir()) == [checkpoint.LOCK]


# ----- point 2: checkpoints bound to their run -------------------------------------------------


@pytest.fixture(scope="module")
def others(run, tmp_path_factory):
    """Two runs whose checkpoints could be mistaken for ``run``'s: its config with another seed, and the
    very same config trained again (another run id)."""
    root = tmp_path_factory.mktemp("others")
    train(TrainConfig.from_dict({**CONFIG, "seed": 1}), root / "seed1", progress=False, checkpoint_every=1)
    train(TrainConfig.from_dict(CONFIG), root / "again", progress=False, checkpoint_every=1)
    return root


def evaluate(run, out, capsys):
    return cli(["evaluate", "--checkpoint", run, "--arms", "3", "--horizon", "5", "--runs", "2", "--bootstrap", "10",
                "--quiet", "--out", out], capsys)


@pytest.mark.parametrize("other", ["seed1", "again"])
def test_a_step_copied_from_another_run_is_refused(other, run, others, tmp_path, capsys):
    """``checkpoints/`` replaced by another run's: ``evaluate`` and ``--resume`` once used the foreign weights."""
    src, config_file = run
    folder = copy(src, tmp_path / "r")
    shutil.rmtree(folder / checkpoint.STATE)
    shutil.copytree(others / other / checkpoint.STATE, folder / checkpoint.STATE)
    before = snapshot(folder)
    code, out, err = evaluate(folder, tmp_path / "e.json", capsys)
    assert_refused(code, out, err, "checkpoint")
    assert "a step copied from another run" in err and not (tmp_path / "e.json").exists()
    code, out, err = cli(["train", "--config", config_file, "--out", folder, "--resume", "--no-progress"], capsys)
    assert_refused(code, out, err, "checkpoint")
    assert snapshot(folder) == before


def test_each_seal_names_its_run(run):
    src, _ = run
    identity = checkpoint.run_identity(src)
    saved = json.loads((src / checkpoint.CONFIG).read_text())
    assert identity["run_id"] == saved["run_id"] and len(saved["run_id"]) == 16
    for step in (src / checkpoint.STATE).iterdir():
        assert json.loads((step / checkpoint.SEAL).read_text())["run"] == identity
    assert "run_id" not in checkpoint.load_config_dict(src)  # not part of the config a resume compares


def test_seals_from_before_run_ids_load_only_in_folders_from_before(run, tmp_path):
    """The committed figures/runs have seals without the run's identity (and configs without a run id):
    they load; such a seal in a newer run's folder is refused."""
    src, _ = run
    folder = copy(src, tmp_path / "r")
    for seal in (folder / checkpoint.STATE).glob(f"*/{checkpoint.SEAL}"):
        data = json.loads(seal.read_text())
        del data["run"]
        seal.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"^checkpoint: .* must be a step of the run in .*its seal names no run"):
        load_run(folder)
    saved = json.loads((folder / checkpoint.CONFIG).read_text())
    del saved["run_id"]
    (folder / checkpoint.CONFIG).write_text(json.dumps(saved))
    assert int(load_run(folder)[1].iteration) == 2


def test_an_old_single_file_checkpoint_in_a_newer_run_is_refused(run, tmp_path):
    """Runs with ids never write ``checkpoint.msgpack``: one in such a folder was copied from an older run."""
    src, _ = run
    folder = copy(src, tmp_path / "r")
    shutil.rmtree(folder / checkpoint.STATE)
    shutil.copy(next(Path(__file__).resolve().parents[1].glob(f"figures/runs/*/{checkpoint.MSGPACK}")), folder)
    with pytest.raises(ValueError, match=r"^checkpoint: .*checkpoint.msgpack must be a checkpoint of the run in .*"
                                         r"from before run ids"):
        load_run(folder)


def test_evaluate_records_the_step_and_run_and_says_when_it_skips_an_unsealed_step(run, tmp_path, capsys):
    """With the newest step's seal gone, ``evaluate`` once read the step before without a word, and no result
    said which step it read. Now: the newest sealed step, a note on stderr, the step and run id in the result;
    a step Orbax is still writing (its temporary folder) is never read."""
    src, _ = run
    folder = copy(src, tmp_path / "r")
    run_id = json.loads((folder / checkpoint.CONFIG).read_text())["run_id"]
    (folder / checkpoint.STATE / "3.orbax-checkpoint-tmp" / "state").mkdir(parents=True)  # being written
    code, _, err = evaluate(folder, tmp_path / "a.json", capsys)
    assert code == 0 and err == ""
    config = json.loads((tmp_path / "a.json").read_text())["config"]
    assert (config["checkpoint_step"], config["run_id"]) == (2, run_id)
    (folder / checkpoint.STATE / "2" / checkpoint.SEAL).unlink()  # sealed later, or cut short
    code, _, err = evaluate(folder, tmp_path / "b.json", capsys)
    assert code == 0 and err.startswith("rmft: note: checkpoint: step 2 of ") and "evaluated step 1" in err
    config = json.loads((tmp_path / "b.json").read_text())["config"]
    assert (config["checkpoint_step"], config["run_id"]) == (1, run_id)


# ----- point 6: the small ones -------------------------------------------------------------------


@pytest.mark.parametrize("text, what", [
    ("[" * 5000 + "]" * 5000, "nested at most 32 deep"),  # once a RecursionError traceback
    ('{"env": {"arms": 3, "horizon": 5, "arms": 4}}', "each key once"),  # once the last "arms" silently won
    ('{"seed": 0, "seed": 1}', "each key once"),
    ('{"env": {"means": ' + "[" * 40 + "0.5" + "]" * 40 + "}}", "nested at most 32 deep"),
])
def test_deep_and_duplicate_key_configs_are_one_line(text, what, tmp_path, capsys):
    (tmp_path / "c.json").write_text(text)
    code, out, err = cli(["train", "--config", tmp_path / "c.json", "--out", tmp_path / "run"], capsys)
    assert_refused(code, out, err, "config")
    assert what in err and not (tmp_path / "run").exists()


def test_deep_set_values_and_oversized_configs_are_one_line(tmp_path, capsys):
    deep = "[" * 5000 + "]" * 5000
    code, out, err = cli(["train", "--out", tmp_path / "run", "--set", f"env.means={deep}"], capsys)
    assert_refused(code, out, err, "set")
    with open(tmp_path / "big.json", "w") as f:
        f.truncate(config.MAX_JSON_BYTES + 1)  # sparse: no disk used
    code, out, err = cli(["train", "--config", tmp_path / "big.json", "--out", tmp_path / "run"], capsys)
    assert_refused(code, out, err, "config")
    assert "at most 16777216 bytes" in err and not (tmp_path / "run").exists()


def test_resuming_a_folder_that_does_not_exist_says_so(tmp_path, capsys):
    code, out, err = cli(["train", "--out", tmp_path / "nowhere", "--resume"], capsys)
    assert_refused(code, out, err, "resume")
    assert "does not exist" in err and not (tmp_path / "nowhere").exists()


def test_a_read_only_checkpoints_folder_is_named_before_any_work(run, tmp_path, capsys, monkeypatch):
    """A read-only ``checkpoints/`` with an unsealed newest step once re-ran an iteration, then refused with
    "resume the run instead". It is probed first now (as root a chmod stops nothing, so the probe fails as on a
    read-only mount)."""
    src, config_file = run
    folder = copy(src, tmp_path / "r")
    (folder / checkpoint.STATE / "2" / checkpoint.SEAL).unlink()  # unsealed: resume would re-run iteration 2
    steps = folder / checkpoint.STATE
    real_mkstemp = tempfile.mkstemp

    def mkstemp(*args, dir=None, **kwargs):
        if dir is not None and Path(dir).resolve() == steps.resolve():
            raise PermissionError(13, "Permission denied", str(dir))
        return real_mkstemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(results.tempfile, "mkstemp", mkstemp)
    before = snapshot(folder)
    code, out, err = cli(["train", "--config", config_file, "--out", folder, "--resume", "--no-progress"], capsys)
    assert_refused(code, out, err, "resume")
    assert str(steps) in err and "Permission denied" in err
    assert snapshot(folder) == before


SAVE_INTERRUPTED = """
import os, signal, sys
from rmft_jax import _signals, checkpoint
from rmft_jax.config import TrainConfig
from rmft_jax.rmft import init_state
from rmft_jax.training import build_learner

signal.signal(signal.SIGINT, signal.SIG_DFL)  # as a user starts it (a background shell may have left SIGINT ignored)
_signals.install()
cfg = TrainConfig.from_dict({"env": {"name": "mab", "arms": 3, "horizon": 5}, "model": {"layers": 1, "heads": 1, "width": 8}})
state = init_state(cfg.environment, cfg.rmft, build_learner(cfg))._replace(iteration=1)
digests = checkpoint._file_digests
def interrupted(step_dir):  # Ctrl-C between Orbax's commit and the seal
    os.kill(os.getpid(), signal.SIGINT)
    return digests(step_dir)
checkpoint._file_digests = interrupted
checkpoint.save_state(sys.argv[1], state)
print("not interrupted")
"""


def test_ctrl_c_during_a_save_waits_for_the_seal(tmp_path):
    """Ctrl-C in the middle of a save once left an unsealed step or ``N.orbax-checkpoint-tmp/``: now the save
    completes and is sealed, then the program exits 130."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                                       os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-c", SAVE_INTERRUPTED, str(tmp_path / "r")], capture_output=True,
                          text=True, env=env, timeout=300)
    assert proc.returncode == 130, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1] == "rmft: interrupted" and "not interrupted" not in proc.stdout
    assert sorted(p.name for p in (tmp_path / "r" / checkpoint.STATE).iterdir()) == ["1"]
    assert (tmp_path / "r" / checkpoint.STATE / "1" / checkpoint.SEAL).is_file()
