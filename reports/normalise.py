"""Bring every time axis of a `BacktestResult` to tz-naive UTC before anything is drawn.

quantstats, plotly and the tables all compare and group dates; a tz-aware index mixed with a
tz-naive one (or two different zones) makes pandas raise or quantstats mislabel years. Aware
timestamps are converted to UTC and the zone dropped; naive ones are taken to be UTC already (the
`BacktestResult` contract).
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from costbt.backtest.result import BacktestResult

TRADE_TIME_COLUMNS = ("entry_time", "exit_time")


def naive_utc_index(index: pd.Index) -> pd.Index:
    """``index`` with aware timestamps converted to UTC and made naive; other indexes unchanged."""
    if isinstance(index, pd.DatetimeIndex) and index.tz is not None:
        return index.tz_convert("UTC").tz_localize(None)
    return index


def naive_utc(obj: pd.Series | pd.DataFrame | None) -> pd.Series | pd.DataFrame | None:
    """A copy of ``obj`` whose index is tz-naive UTC (None passes through)."""
    if obj is None:
        return None
    out = obj.copy()
    out.index = naive_utc_index(out.index)
    return out


def naive_utc_times(values: pd.Series) -> pd.Series:
    """A datetime column converted to tz-naive UTC (non-datetime columns pass through)."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC").dt.tz_localize(None)
    return values


def normalise_result(result: BacktestResult) -> BacktestResult:
    """A copy of ``result`` with every index and trade time in tz-naive UTC."""
    trades = result.trades.copy()
    for col in TRADE_TIME_COLUMNS:
        if col in trades.columns:
            trades[col] = naive_utc_times(trades[col])
    return dataclasses.replace(
        result,
        returns=naive_utc(result.returns),
        equity=naive_utc(result.equity),
        benchmarks={k: naive_utc(v) for k, v in result.benchmarks.items()},
        benchmark_equity={k: naive_utc(v) for k, v in result.benchmark_equity.items()},
        trades=trades,
        price=naive_utc(result.price),
        cost=naive_utc(result.cost),
        cost_band=naive_utc(result.cost_band),
        entries=pd.DatetimeIndex(naive_utc_index(pd.DatetimeIndex(result.entries))),
        exits=pd.DatetimeIndex(naive_utc_index(pd.DatetimeIndex(result.exits))),
    )
