"""What ``rmft evaluate`` and ``rmft figure`` print for a person: the tables of rmft_jax.cli.report."""

from __future__ import annotations

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
