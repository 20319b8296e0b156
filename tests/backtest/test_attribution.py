"""Leave-one-signal-out attribution of confluence (`backtest.attribution`, `costbt attribution`)."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from costbt.backtest.attribution import BENCHMARK, run_attribution, variant_params, variants
from costbt.backtest.cli import app
from costbt.signals.params import ParamError, build
from costbt.strategies.confluence import ConfluenceStrategyParams, plan

runner = CliRunner()
START = pd.Timestamp("2023-06-01")


@pytest.fixture(scope="module")
def panel(bundled_panel):
    return bundled_panel.copy()


@pytest.fixture(scope="module")
def attribution(panel):
    return run_attribution(panel, start=START)


def test_variants_are_all_members_each_removed_and_each_alone():
    vs = variants(ConfluenceStrategyParams())
    assert [v.label for v in vs] == [
        "all",
        "without cost",
        "without basis",
        "without etf",
        "without sopr",
        "cost alone",
        "basis alone",
        "etf alone",
        "sopr alone",
    ]
    assert [v.k for v in vs] == [2, 2, 2, 2, 2, 1, 1, 1, 1]


def test_in_all_mode_a_variant_needs_every_member_it_keeps():
    vs = variants(ConfluenceStrategyParams(mode="all"))
    assert {v.label: v.k for v in vs}["without etf"] == 3
    assert {v.label: v.k for v in vs}["all"] == 4


def test_a_single_member_confluence_has_only_the_all_variant():
    p = ConfluenceStrategyParams(use_basis=False, use_etf=False, use_sopr=False)
    assert [v.label for v in variants(p)] == ["all"]


def test_a_variant_switches_members_and_nothing_else():
    base = ConfluenceStrategyParams(window_days=10, exit_ratio=1.3)
    v = next(v for v in variants(base) if v.label == "etf alone")
    p = variant_params(base, v)
    assert p.members == ("etf",)
    assert (p.window_days, p.exit_ratio, p.k) == (10, 1.3, 2)


def test_a_confluence_without_any_member_is_refused():
    with pytest.raises(ParamError, match="at least one member"):
        build(
            ConfluenceStrategyParams,
            {"use_cost": "false", "use_basis": "false", "use_etf": "false", "use_sopr": "false"},
        )


def test_removing_cost_from_the_vote_keeps_the_below_cost_exit(panel):
    with_cost = plan(panel, ConfluenceStrategyParams())
    without = plan(panel, ConfluenceStrategyParams(use_cost=False))
    pd.testing.assert_series_equal(with_cost.exits, without.exits)
    assert not with_cost.entries.equals(without.entries)


def test_every_row_is_on_the_same_days_as_buy_and_hold(attribution):
    a = attribution
    assert list(a.table.index) == [v.label for v in variants(a.params)] + [BENCHMARK]
    assert a.first == a.equity.index[0] and a.last == a.equity.index[-1]
    assert a.equity.notna().all().all()
    assert a.first >= START


def test_the_all_row_is_the_confluence_strategy_itself(panel, attribution):
    from costbt.backtest.engine import EngineConfig, run_strategy
    from costbt.strategies.confluence import STRATEGY

    run = run_strategy(
        panel, STRATEGY, ConfluenceStrategyParams(), EngineConfig(), START, report_extras=False
    )
    assert attribution.table.loc["all", "sharpe"] == pytest.approx(run.metrics()["sharpe"])
    assert attribution.table.loc["all", "trades"] == len(run.trades)


def test_what_a_member_adds_is_all_minus_all_but_it(attribution):
    t = attribution.table
    for m, r in attribution.adds.iterrows():
        assert r["sharpe_added"] == pytest.approx(
            t.loc["all", "sharpe"] - t.loc[f"without {m}", "sharpe"]
        )


def test_the_verdict_compares_with_buy_and_hold_on_the_same_days(attribution):
    bh = attribution.table.loc[BENCHMARK, "sharpe"]
    assert f"{bh:.2f}" in attribution.verdict()
    assert attribution.regime in ("no_edge", "inconclusive")


def test_a_member_alone_whose_entries_all_meet_the_exit_is_explained(attribution):
    t = attribution.table
    blocked = t[(t["entry_days"] > 0) & (t["entry_days"] == t["entry_days_exit_on"])]
    notes = " ".join(attribution.notes())
    for label in blocked.index:
        assert f"{label}: all" in notes


def test_the_command_prints_the_table_records_the_ledger_and_writes_the_page(tmp_path):
    page = tmp_path / "attr" / "a.html"
    r = runner.invoke(app, ["attribution", "--start", "2023-06-01", "--report", str(page)])
    assert r.exit_code == 0, r.output
    for word in ("without cost", "sopr alone", "buy_and_hold", "verdict:", "ledger: 9"):
        assert word in r.output
    html = page.read_text()
    assert "Verdict:" in html and "without basis" in html
    r2 = runner.invoke(app, ["ledger"])
    assert "attribution" in r2.output


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--strategy", "below_cost"], "--strategy"),
        (["--strategy", "nope"], "--strategy"),
        (
            ["--param", "use_cost=false", "--param", "use_basis=false", "--param", "use_etf=false"]
            + ["--param", "use_sopr=false"],
            "--param",
        ),
        (["--param", "k=9"], "--param"),
        (["--start", "yesterday-ish"], "--start"),
        (["--end", "2005-01-01"], "--end"),
    ],
)
def test_bad_input_is_one_line_naming_the_flag_and_exit_2(args, flag):
    r = runner.invoke(app, ["attribution", *args])
    assert r.exit_code == 2, r.output
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: {flag}"), r.output
    assert "Traceback" not in r.output


def test_the_ledger_counts_the_variants_under_the_data_key(tmp_path, panel):
    from costbt.backtest import ledger

    r = runner.invoke(app, ["attribution", "--start", "2025-01-01", "--end", "2025-12-31"])
    assert r.exit_code == 0, r.output
    key = ledger.data_ref(panel.loc[:"2025-12-31"]).key
    entries = [e for e in ledger.entries() if e["kind"] == "attribution"]
    assert len(entries) == 1 and entries[0]["configurations"] == 9
    assert ledger.trials("confluence", key) == 9


def test_a_report_path_that_is_a_folder_is_refused_before_any_work(tmp_path):
    r = runner.invoke(app, ["attribution", "--report", str(tmp_path)])
    assert r.exit_code == 2, r.output
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: --report:"), r.output


def test_a_member_whose_removal_changes_no_day_is_named_so(attribution):
    lines = attribution.member_lines()
    for m in attribution.params.members:
        same = attribution.equity["all"].equals(attribution.equity[f"without {m}"])
        assert any(ln.startswith(f"{m} changes nothing") for ln in lines) == same
