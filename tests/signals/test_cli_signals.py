"""`costbt signals`: every signal's state on a day, with the SOPR proxy labelled as a proxy."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from costbt.backtest.cli import app
from costbt.data.cache import Cache, SeriesKey

runner = CliRunner()


def test_signals_on_2025_11_20_lists_every_signal_and_labels_the_proxy(tmp_path):
    result = runner.invoke(app, ["signals", "--at", "2025-11-20", "--cache-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    out = result.output
    for name in (
        "below_cost[electricity]",
        "below_cost[difficulty_regression]",
        "hash_ribbons",
        "basis_reset",
        "etf_reversal",
        "sth_sopr",
    ):
        assert name in out
    assert "sopr_proxy" in out and "PROXY" in out


def test_a_users_cached_sopr_replaces_the_bundled_series_and_the_proxy_stays_labelled(tmp_path):
    days = pd.date_range("2025-01-01", "2025-12-31", freq="D", name="date")
    frame = pd.DataFrame(
        {"sopr": 1.0, "sth_sopr": 1.0}, index=days
    )  # format fixture, not real data
    Cache(tmp_path).write(
        SeriesKey("glassnode", "sopr", "BTC", "1d"), frame, publication_lag_days=1
    )
    result = runner.invoke(app, ["signals", "--at", "2025-11-20", "--cache-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "sopr = 1" in result.output  # the cached series (all 1.0) is the SOPR member
    assert "sopr_proxy  (PROXY" in result.output


def test_a_day_outside_the_data_is_bad_input():
    result = runner.invoke(app, ["signals", "--at", "2031-01-01"])
    assert result.exit_code == 2 and "--at" in result.stderr


def test_a_lagged_series_says_which_day_its_value_is_about(tmp_path):
    # Checkonchain's STH-SOPR of 2025-11-22 (0.9436) is known the next day, in row 2025-11-23.
    result = runner.invoke(app, ["signals", "--at", "2025-11-23", "--cache-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "sth_sopr = 0.9436 (value of 2025-11-22, lag 1 d)" in result.output
    assert "a year (basis_3m, 7-day mean; that day 4.40%)" in result.output


def test_the_confluence_row_is_the_confluence_strategys_entry_vote(tmp_path, bundled_panel):
    from costbt.strategies.confluence import ConfluenceStrategyParams, plan

    rule = plan(bundled_panel, ConfluenceStrategyParams()).entry_rule
    for day in ("2025-11-22", "2024-08-07"):
        result = runner.invoke(app, ["signals", "--at", day, "--cache-dir", str(tmp_path)])
        assert result.exit_code == 0, result.output
        row = next(ln for ln in result.output.splitlines() if "confluence (2 of" in ln)
        expected = "unknown" if pd.isna(rule.loc[day]) else ("yes" if rule.loc[day] else "no")
        assert f"│ {expected} " in row.replace("  ", " ")
