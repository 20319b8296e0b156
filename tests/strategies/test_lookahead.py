"""`costbt lookahead`: a strategy's decisions proved point in time, or the leak named."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from costbt.backtest.cli import app
from costbt.backtest.point_in_time import check_strategy, draw_cutoffs
from costbt.signals.lookahead import find_leaks

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = f"{ROOT / 'examples' / 'strategies' / 'hash_ribbon_buy.py'}:STRATEGY"
LEAKY = f"{ROOT / 'tests' / 'strategies' / 'leaky_hash_ribbons.py'}:STRATEGY"
runner = CliRunner()


def frame() -> pd.DataFrame:
    idx = pd.date_range("2020-01-01", periods=200, freq="D")
    x = pd.Series(range(200), index=idx, dtype=float) ** 1.5
    return pd.DataFrame({"a": x, "b": x[::-1].to_numpy()}, index=idx)


def test_a_peek_at_tomorrow_is_named_by_date_output_and_input_column():
    leaks = find_leaks(lambda p: (p["b"].shift(-1) > 100).rename("signal"), frame(), ["2020-03-01"])
    (leak,) = leaks
    assert leak.first_date == pd.Timestamp("2020-03-01") and leak.inputs == ("b",)


def test_a_full_sample_normalisation_is_caught():
    def zscore(p):
        return ((p["a"] - p["a"].mean()) / p["a"].std()).rename("z")

    assert find_leaks(zscore, frame(), ["2020-04-01"])


def test_a_trailing_window_passes():
    assert (
        find_leaks(lambda p: p["a"].rolling(10).mean(), frame(), ["2020-02-15", "2020-05-01"]) == []
    )


def test_cutoffs_are_seeded_priced_days_after_a_year(bundled_panel):
    days = draw_cutoffs(bundled_panel, 5, seed=3)
    assert days == draw_cutoffs(bundled_panel, 5, seed=3) and len(days) == 5
    assert min(days) >= bundled_panel["close_usd"].first_valid_index() + pd.Timedelta(days=365)


def test_the_confluence_strategy_on_its_real_members_is_point_in_time(bundled_panel):
    result = check_strategy(bundled_panel, "confluence", n_cutoffs=2, cutoffs=("2025-11-22",))
    assert result.point_in_time, result.leaks


def test_the_example_user_strategy_passes():
    r = runner.invoke(app, ["lookahead", "--strategy", EXAMPLE])
    assert r.exit_code == 0, r.output
    assert "point in time" in r.output


def test_a_leaky_user_strategy_fails_naming_the_date_and_the_column():
    r = runner.invoke(app, ["lookahead", "--strategy", LEAKY, "--cutoffs", "2"])
    assert r.exit_code == 1, r.output
    assert "LEAK at cutoff" in r.output and "hashrate_ths" in r.output
    assert "not point in time" in r.output


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--strategy", "nope"], "--strategy"),
        (["--strategy", "buy_and_hold"], "--strategy"),
        (["--strategy", "below_cost", "--param", "entry_ratio=9"], "--param"),
        (["--strategy", "below_cost", "--at", "1990-01-01"], "--at"),
        (["--strategy", "below_cost", "--at", "someday"], "--at"),
        (["--strategy", "below_cost", "--cutoffs", "0"], "--cutoffs"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, flag):
    r = runner.invoke(app, ["lookahead", *args])
    assert r.exit_code == 2, r.output
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and flag in lines[0], r.output
