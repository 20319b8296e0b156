"""Configurations that test nothing are named: never in, or buy-and-hold in disguise."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from costbt.backtest.cli import app
from costbt.backtest.degenerate import (
    BUY_AND_HOLD,
    NEVER_IN,
    DegeneracyThresholds,
    degeneracy,
    market_correlation,
)


def test_no_trade_is_never_in():
    assert degeneracy(0, 0.0, math.nan) == NEVER_IN


@pytest.mark.parametrize(("exposure", "corr"), [(0.95, 0.2), (0.5, 0.99), (1.0, math.nan)])
def test_near_full_exposure_or_tracking_the_market_is_buy_and_hold(exposure, corr):
    assert degeneracy(3, exposure, corr) == BUY_AND_HOLD


def test_a_selective_run_is_not_flagged():
    assert degeneracy(4, 0.4, 0.6) is None
    assert degeneracy(math.nan, math.nan, math.nan) is None  # unknown is never a flag


def test_thresholds_are_validated():
    with pytest.raises(ValueError, match="exposure"):
        DegeneracyThresholds(exposure=1.5)


def test_the_market_correlation_skips_the_first_day_and_is_undefined_for_a_flat_run():
    days = pd.date_range("2024-01-01", periods=50)
    close = pd.Series(100 * np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.02, 50))), days)
    held = close / close.shift(1) - 1
    held.iloc[0] = 0.5  # the first day is excluded whatever it holds
    assert market_correlation(held, close) == pytest.approx(1.0)
    assert math.isnan(market_correlation(pd.Series(0.0, index=days), close))


def test_the_backtest_names_buy_and_hold_in_disguise():
    """The issue's example: these assumptions turn below_cost into buy-and-hold."""
    args = ["--param", "power_price=0.19", "--param", "efficiency_scale=1.5"]
    r = CliRunner().invoke(
        app,
        ["backtest", "--strategy", "below_cost", *args, "--param", "exit_ratio=4"],
    )
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())  # lines wrap at the terminal's width
    assert "WARNING: below_cost is indistinguishable from buy-and-hold" in text
    assert "exits by cause" in text
    assert "its inputs end on 2026-02-12" in text


@pytest.mark.parametrize("missing", [None, "", float("nan"), pd.NA])
def test_a_missing_flag_reads_as_no_flag(missing):
    from costbt.backtest.degenerate import label

    assert label(missing) == ""
    assert label(BUY_AND_HOLD) == "indistinguishable from buy-and-hold"
