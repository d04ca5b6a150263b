"""What ``rmft evaluate`` and ``rmft figure`` print for a person: the tables of rmft_jax.cli.report, and
``rmft figure``'s three outputs (table and paths written, ``--json``, ``--quiet``) on a stand-in figure."""

from __future__ import annotations

import json
import types
from pathlib import Path

import pytest
from conftest import assert_refused, cli

from rmft_jax import experiments
from rmft_jax.cli import report


def row(regret, **extra):
    return {"final_regret_mean": regret, "final_regret_sem": 0.25, "beta_hat": 0.61, "p_reg": 1.6e-95,
            "p_trend": 0.02, **extra}


BANDIT = {
    "rmft": row(8.5, suff_fail_freq_half=0.28),
    "thompson": row(10.0, suff_fail_freq_half=0.01),
    "greedy": row(12.5, suff_fail_freq_half=0.42),
}


def lines_of(text):
    return [line.split() for line in text.splitlines()]


def test_text_table_aligns_columns():
    text = report.text_table(["name", "x"], [["a", "1"], ["long name", "12345"]])
    lines = text.splitlines()
    assert len({len(line) for line in lines}) == 1  # every line as wide as the header
    assert lines[1] == "---------  -----"
    assert lines[2] == "a              1" and lines[3] == "long name  12345"


def test_bandit_method_table_has_the_columns_a_person_reads():
    text = report.method_table(BANDIT)
    header, rule, *rows = text.splitlines()
    assert header.split() == ["method", "regret(T)", "s.e.", "vs", "Thompson", "SuffFailFreq(T/2)", "beta_hat", "p_reg"]
    assert set(rule) == {"-", " "}
    assert [r.split()[0] for r in rows] == ["rmft", "thompson", "greedy"]
    # regret, its standard error, the ratio to Thompson's regret, SuffFailFreq(T/2), beta_hat, p_reg
    assert rows[0].split() == ["rmft", "8.5", "0.25", "0.85x", "0.280", "0.61", "1.6e-95"]
    assert rows[2].split()[3] == "1.25x"
    assert "p_trend" not in header


def test_given_ratio_and_ci_are_used():
    rows = {"ucb": {"final_regret_mean": 19.3, "final_regret_ci": [17.55, 21.82], "ratio_to_thompson": 1.9,
                    "suff_fail_freq_half": 0.06, "beta_hat": 0.79, "p_reg": 3e-82}}
    header, _, line = report.method_table(rows).splitlines()
    assert "95% CI" in header and "s.e." not in header
    assert line.split() == ["ucb", "19.3", "[17.55,", "21.82]", "1.90x", "0.060", "0.79", "3e-82"]


def test_online_rows_show_p_trend_and_no_bandit_columns():
    rows = {"rmft": row(512.6), "ftrl": row(167.0)}
    header = report.method_table(rows).splitlines()[0]
    assert "p_trend" in header
    assert "SuffFailFreq" not in header and "Thompson" not in header


def test_missing_and_non_finite_values_are_a_dash():
    rows = {"iterative": {"final_regret_mean": 10.6, "final_regret_sem": 0.31},
            "single_round": row(float("nan"), suff_fail_freq_half=0.0)}
    iterative, single = lines_of(report.method_table(rows))[2:]
    assert iterative == ["iterative", "10.6", "0.31", "-", "-", "-"]
    assert single[1] == "-"


def test_summary_blocks_walk_a_figure_summary():
    summary = {
        "results": "out/x.json",  # a path: listed with the files written, not here
        "summary": {"gaussian": BANDIT, "bernoulli": BANDIT},
        "regret": {"25": {"thompson": 5.1, "kg": 3.35}, "100": {"thompson": 10.2, "kg": 6.6}},
        "ratio_to_thompson": {"gaussian": {"2": {"25": 0.9, "100": 1.1}}},
        "timing": {"total_s": 45.29, "device": "cpu:cpu"},
    }
    blocks = report.summary_blocks(summary)
    titles = [b.splitlines()[0] for b in blocks]
    assert titles == ["summary / gaussian:", "summary / bernoulli:", "regret:", "ratio_to_thompson / gaussian:",
                      "timing: total_s 45.29, device cpu:cpu"]
    assert lines_of(blocks[2])[1:] == [["thompson", "kg"], ["---", "--------", "----"], ["25", "5.1", "3.35"],
                                       ["100", "10.2", "6.6"]]
    assert not any("out/x.json" in b for b in blocks)


def test_top_level_method_summary_is_one_untitled_table():
    (block,) = report.summary_blocks({"results": "x.json", "summary": BANDIT})
    assert block == report.method_table(BANDIT)
    # rows named by numbers (horizons) keep the title that says what they are
    (block,) = report.summary_blocks({"summary": {"25": row(3.4), "100": row(8.3)}})
    assert block.startswith("summary:\n")


def test_evaluation_report():
    result = {"config": {"env": {"arms": 5}, "env_name": "mab", "horizon": 100, "runs": 200, "seed": 0},
              **row(11.07, final_regret_ci=[10.52, 11.55], suff_fail_freq_half=0.005)}
    text = report.evaluation(result, "thompson", ["r.json", "r.png"])
    lines = text.splitlines()
    assert lines[0] == "thompson on mab (K=5, T=100, runs=200, seed=0)"
    assert lines[3].split()[0] == "thompson" and "vs Thompson" not in lines[1]  # no ratio of a row to itself
    assert lines[-3:] == ["wrote:", "  r.json", "  r.png"]
    assert "nothing saved" in report.evaluation(result, "thompson", []).splitlines()[-1]


# ``rmft figure`` on a stand-in experiment: the command's outputs without a figure's computation.
SUMMARY = {"results": None, "summary": BANDIT, "timing": {"total_s": 1.5, "device": "cpu:cpu"}}


@pytest.fixture
def stand_in(monkeypatch):
    """``rmft figure fig2`` runs a stand-in that writes fig2.json, fig2.md and a run folder's file."""

    def run(out_dir, quick=False, overwrite=False, progress=True):
        out = Path(out_dir)
        (out / "runs" / "fig2-abc" / "step").mkdir(parents=True, exist_ok=True)
        (out / "runs" / "fig2-abc" / "step" / "params").write_text("p")
        summary = dict(SUMMARY, results=str(out / "fig2.json"))
        (out / "fig2.json").write_text(json.dumps(summary))
        (out / "fig2.md").write_text("table")
        return summary

    monkeypatch.setattr(experiments, "get", lambda name: types.SimpleNamespace(run=run))


def test_figure_prints_a_table_and_the_paths_written(stand_in, tmp_path, capsys):
    (tmp_path / "untouched.txt").write_text("old")
    code, out, err = cli(["figure", "fig2", "--quick", "--out", tmp_path], capsys)
    assert code == 0, err
    head, table, timing, wrote = out.rstrip("\n").split("\n\n")
    assert head == "fig2 (quick mode)"
    assert table == report.method_table(BANDIT)
    assert timing == "timing: total_s 1.5, device cpu:cpu"
    assert wrote.splitlines() == ["wrote:", f"  {tmp_path / 'fig2.json'}", f"  {tmp_path / 'fig2.md'}",
                                  f"  {tmp_path / 'runs' / 'fig2-abc'}/"]


def test_figure_json_prints_the_summary_and_quiet_prints_nothing(stand_in, tmp_path, capsys):
    code, out, err = cli(["figure", "fig2", "--out", tmp_path / "a", "--json"], capsys)
    assert code == 0, err
    assert json.loads(out) == json.loads((tmp_path / "a" / "fig2.json").read_text())
    code, out, err = cli(["figure", "fig2", "--out", tmp_path / "b", "--quiet"], capsys)
    assert (code, out) == (0, "")
    assert (tmp_path / "b" / "fig2.json").is_file()


def test_figure_json_and_quiet_together_are_refused(stand_in, tmp_path, capsys):
    code, out, err = cli(["figure", "fig2", "--out", tmp_path, "--json", "--quiet"], capsys)
    assert_refused(code, out, err, "argument --quiet")
    assert list(tmp_path.iterdir()) == []
