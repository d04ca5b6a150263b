"""The generator setting (rmft_jax.generator): each offered generator is correct under vmap, split,
fold_in and sharding; the setting is recorded in configs and results; a run is refused under another.

Correctness is checked against the definition, never against stored numbers: a batch drawn
under ``vmap`` must equal the loop over its keys, a jitted draw the eager one, and a rollout
batch sharded over two (virtual CPU) devices the single-device batch, bit for bit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

from rmft_jax import generator
from rmft_jax.cli import main
from rmft_jax.config import TrainConfig
from rmft_jax.results import versions

OFFERED = tuple(generator.GENERATORS)
OTHER = "threefry2x32-nonpartitionable"


def _draws(key):
    """One of each draw the package makes from a key, and the key's children by split and fold_in."""
    a, b, c = jax.random.split(key, 3)
    return {
        "normal": jax.random.normal(a, (6, 5)),
        "uniform": jax.random.uniform(b, (9,)),
        "categorical": jax.random.categorical(c, jax.numpy.log(jax.numpy.arange(1.0, 6.0)), shape=(8,)),
        "gumbel": jax.random.gumbel(c, (4, 5)),
        "split": jax.random.key_data(jax.random.split(key, 4)),
        "fold_in": jax.random.key_data(jax.vmap(lambda i: jax.random.fold_in(key, i))(jax.numpy.arange(4))),
    }


def _host(tree):
    return {k: np.asarray(v) for k, v in tree.items()}


@pytest.mark.parametrize("name", OFFERED)
def test_vmap_split_and_fold_in_agree_with_the_per_key_loop(name):
    with generator.using(name):
        assert generator.current() == name
        root = jax.random.key(3)
        keys = jax.random.split(root, 5)
        batched = _host(jax.jit(jax.vmap(_draws))(keys))
        one = jax.jit(_draws)
        for i, k in enumerate(keys):
            for kind, want in _host(one(k)).items():
                assert np.array_equal(batched[kind][i], want), kind
        # The children of a key are distinct, and the same whether split in one call or as a batch.
        children = batched["split"].reshape(-1, batched["split"].shape[-1])
        folded = batched["fold_in"].reshape(-1, batched["fold_in"].shape[-1])
        assert len({x.tobytes() for x in children}) == len(children) == 20
        assert len({x.tobytes() for x in folded}) == len(folded) == 20
        assert np.array_equal(np.asarray(jax.random.key_data(keys)),
                              np.asarray(jax.random.key_data(jax.jit(lambda k: jax.random.split(k, 5))(root))))
    assert generator.current() == generator.DEFAULT  # restored


def test_generators_draw_different_numbers_for_a_seed():
    # Otherwise the setting would not need recording: the same seed gives other streams.
    streams = set()
    for name in OFFERED:
        with generator.using(name):
            streams.add(np.asarray(jax.random.normal(jax.random.key(0), (4,))).tobytes())
    assert len(streams) == len(OFFERED)


TWO_DEVICES = textwrap.dedent(
    """
    import json, os, sys
    import jax, numpy as np
    from rmft_jax import generator, rollout, sharding
    from rmft_jax.envs.bandit import BanditEnv
    from rmft_jax.policies import GaussianThompson

    env, pol = BanditEnv(arms=3, horizon=6, reward="gaussian", noise=1.0), GaussianThompson(arms=3)
    host = lambda tree: [np.asarray(x) for x in jax.tree.leaves(tree)]
    out = {"devices": len(jax.devices())}
    for name in json.loads(sys.argv[1]):
        with generator.using(name):
            key = jax.random.key(5)
            a = sharding.run(env, pol, key, 8)
            b = rollout.run(env, pol, key, 8, None)
            out[name] = {"equal": all(np.array_equal(x, y) for x, y in zip(host(a), host(b))),
                         "split": len(a.actions.addressable_shards) == 2}
    print("RESULT " + json.dumps(out))
    """
)


def test_rollouts_sharded_over_two_devices_equal_the_single_device_batch():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-c", TWO_DEVICES, json.dumps(OFFERED)], env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))[len("RESULT "):])
    assert res["devices"] == 2
    for name in OFFERED:
        assert res[name] == {"equal": True, "split": True}, name


# --- the recorded setting ------------------------------------------------------------------------


def test_the_default_is_threefry_and_configs_keep_their_old_form():
    assert generator.current() == generator.DEFAULT == "threefry2x32"
    cfg = TrainConfig.from_dict({})
    assert cfg.rng == "threefry2x32" and "rng" not in cfg.to_dict()  # old run directories keep their hash
    assert versions()["rng"] == "threefry2x32"


def test_a_config_records_its_generator_and_takes_the_active_one_by_default():
    cfg = TrainConfig.from_dict({"rng": OTHER})
    assert cfg.rng == OTHER and cfg.to_dict()["rng"] == OTHER
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.with_overrides({"rng": "threefry2x32"}).rng == "threefry2x32"
    with generator.using(OTHER):
        assert TrainConfig.from_dict({}).rng == OTHER
        assert versions()["rng"] == OTHER
    # Measured, not offered (it does not compile sharded): refused by name.
    with pytest.raises(ValueError, match=r"^config\.rng: must be one of threefry2x32, .*\(got 'philox2x32'\)$"):
        TrainConfig.from_dict({"rng": "philox2x32"})


def test_use_refuses_an_unknown_generator_in_one_line():
    allowed = "threefry2x32, threefry2x32-nonpartitionable"
    with pytest.raises(ValueError, match=rf"^rng: must be one of {allowed} \(got 'mt19937'\)$"):
        generator.use("mt19937")
    assert generator.current() == generator.DEFAULT


def test_training_is_refused_under_another_generator_than_its_config_or_run(tmp_path):
    from rmft_jax import checkpoint
    from rmft_jax.training import load_run, train

    with pytest.raises(ValueError, match=rf"^rng: the config uses the generator '{OTHER}' but the active one is "
                                         rf"'threefry2x32'; pass --rng {OTHER}"):
        train(TrainConfig.from_dict({"rng": OTHER}), None, progress=False)
    # A run directory made under the other generator (its config is what resuming and loading read first).
    run = tmp_path / "run"
    run.mkdir()
    checkpoint.save_config(run, TrainConfig.from_dict({"rng": OTHER}).to_dict())
    message = rf"^rng: the run in {run} uses the generator '{OTHER}' but the active one is 'threefry2x32'"
    with pytest.raises(ValueError, match=message):
        train(TrainConfig.from_dict({}), run, resume=True, progress=False)
    with pytest.raises(ValueError, match=message):
        load_run(run)


def test_cli_resume_and_evaluate_under_another_generator_exit_2_in_one_line(tmp_path, capsys):
    from rmft_jax import checkpoint

    run = tmp_path / "run"
    run.mkdir()
    checkpoint.save_config(run, TrainConfig.from_dict({"rng": OTHER}).to_dict())
    with generator.using(generator.DEFAULT):  # the CLI sets the process's generator; restored after
        assert main(["train", "--out", str(run), "--resume", "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "--rng threefry2x32-nonpartitionable" in err and "Traceback" not in err
        assert main(["evaluate", "--checkpoint", str(run), "--runs", "2", "--quiet"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "uses the generator 'threefry2x32-nonpartitionable'" in err
        with pytest.raises(SystemExit) as exit_:  # argparse's refusal: exit 2, one line
            main(["train", "--out", str(tmp_path / "x"), "--rng", "philox2x32"])
        assert exit_.value.code == 2 and "--rng: invalid choice: 'philox2x32'" in capsys.readouterr().err
    assert generator.current() == generator.DEFAULT


def test_the_bench_generator_table_runs_at_tiny_sizes():
    import dataclasses

    from rmft_jax.bench import QUICK, bench_generators
    from rmft_jax.bench.report import generator_table

    tiny = dataclasses.replace(QUICK, base_horizon=6, base_runs=8, base_runs_small=8, tf_horizon=4, tf_runs=8,
                               gen_repeats=1)
    # One generator timed, without the sharded column (a child process; test_the_sharded_column_...): seconds.
    res = bench_generators(tiny, names=("threefry2x32",), policies=("ucb",), sharded=False)
    assert res["fastest"] == "threefry2x32" and res["vs_default"] == {"threefry2x32": 1.0}
    row = res["generators"]["threefry2x32"]
    assert row["vmap_equals_loop"] and row["offered"]
    assert row["baseline_vs_numpy"] > 0 and row["draws"]["normal"]["numbers"] == 8 * 6 * 5
    # A generator that fails the vmap check is listed with the reason it is not offered, and not timed.
    res["generators"]["rbg"] = {"vmap_equals_loop": False, "offered": False, "why_not": "vmap"}
    lines = generator_table(res)
    assert sum(line.startswith("| ") for line in lines) == 2 + 2
    assert "| rbg (not offered: vmap) | no (not timed) |" in "\n".join(lines)
    assert generator.current() == generator.DEFAULT


@pytest.mark.figures  # a child process of two devices compiling every offered generator's programs: ~30 s
def test_the_sharded_column_times_every_offered_generator_on_two_devices():
    import dataclasses

    from rmft_jax.bench import QUICK, bench_generator_sharding
    from rmft_jax.bench.report import sharded_table

    tiny = dataclasses.replace(QUICK, base_horizon=6, base_runs=8, gen_repeats=1)
    res = bench_generator_sharding(tiny, OFFERED, compile_only=("philox2x32",), policies=("ucb",))
    assert res["devices"] == 2 and res["runs"] == 8 and res["load_avg_1min_before"] >= 0
    for name in OFFERED:
        row = res["generators"][name]
        for kind in ("normal", "one_key", "ucb"):
            assert row[kind]["equal"], (name, kind)  # sharded draws the same numbers as one device
            assert row[kind]["speedup"] > 0 and row[kind]["one_device_s"] > 0 and row[kind]["sharded_s"] > 0
        assert row["one_key"]["largest_u32_one_device"] == 8 * 6 * 5
        # The package's draws (one key per run): each device draws the numbers of its own runs.
        assert row["normal"]["u32_fraction"] == 0.5, name
    # The partitionable layout draws each device's part there; the other one generates the whole bits array on
    # each device and keeps its part (JAX 0.10; the README's generator note rests on this, so a change fails here).
    assert res["generators"]["threefry2x32"]["one_key"]["u32_fraction"] == 0.5
    assert res["generators"][OTHER]["one_key"]["u32_fraction"] == 1.0
    assert res["generators"]["philox2x32"] == {"compiles_sharded": False,
                                                "error": res["generators"]["philox2x32"]["error"]}
    g = {"sharded": res, "generators": {n: {"sharded": r} for n, r in res.pop("generators").items()}}
    lines = sharded_table(g)
    assert sum(line.startswith("| ") for line in lines) == 2 + len(OFFERED) + 1  # header and rule, rows, philox
    assert "| philox2x32 (not offered) | does not compile sharded" in "\n".join(lines)
