"""Benchmarks with the same capital, planned on the TRADED span: buy-and-hold BTC and weekly DCA.

A benchmark answers "what would the same cash have done over the same days?", so it is planned on
the days a strategy trades, never on the whole panel (planned on the panel, a buy-and-hold entry
dated before ``--start`` never fills and a DCA spread over every week since 2015 is mostly cash).
`fill_schedule(name, days)` gives, for the span's bars ``days`` (the first traded bar to the
last), the fraction of the initial cash spent on each bar's fill:

* ``buy_and_hold``: everything on the span's first bar, held to the end;
* ``weekly_dca``: an equal slice on every Monday of the span (the first bar if the span holds no
  Monday); each slice pays its own fees and slippage out of its 1/n, and the last one spends what
  is left, so the capital is fully invested by the span's end.

With ``close_at_end`` (a walk-forward test window, whose open positions are closed on its last
day) nothing is bought on the last bar, as for strategies. The simulation of a schedule (fees,
slippage, the perpetual's funding) is `backtest.benchmarks.span_benchmarks`, the one function
every caller uses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from costbt.strategies.base import Plan, Strategy

NAMES = ("buy_and_hold", "weekly_dca")


@dataclass(frozen=True)
class NoParams:
    """Benchmarks have no parameters."""


def fill_schedule(name: str, days: pd.DatetimeIndex, close_at_end: bool = False) -> np.ndarray:
    """Fraction of the initial cash spent on each bar of ``days`` (sums to 1; see the docstring).

    ``days`` are the span's bars in order (tz-naive UTC days, at least one).
    """
    n = len(days)
    if n == 0:
        raise ValueError("a benchmark needs at least one bar")
    buyable = np.ones(n, dtype=bool)
    if close_at_end and n > 1:
        buyable[-1] = False
    out = np.zeros(n)
    if name == "buy_and_hold":
        out[0] = 1.0
    elif name == "weekly_dca":
        mondays = np.flatnonzero((pd.DatetimeIndex(days).day_of_week == 0) & buyable)
        if len(mondays) == 0:
            mondays = np.array([0])
        out[mondays] = 1.0 / len(mondays)
    else:
        raise ValueError(f"unknown benchmark '{name}' (known: {', '.join(NAMES)})")
    return out


def _schedule_plan(name: str, panel: pd.DataFrame) -> Plan:
    """The schedule over the panel's whole priced span, as signal-day entries (one row earlier).

    For listing and inspection only: every backtest plans benchmarks on its own traded span
    through `backtest.benchmarks.span_benchmarks`.
    """
    known = panel["close_usd"].notna().to_numpy()
    entries = pd.Series(False, index=panel.index)
    if known.any():
        first, last = np.flatnonzero(known)[[0, -1]]
        weights = fill_schedule(name, panel.index[first : last + 1])
        fills = np.flatnonzero(weights > 0) + first
        entries.iloc[np.maximum(fills - 1, 0)] = True
    return Plan(
        entries=entries,
        exits=pd.Series(False, index=panel.index),
        entry_size=1.0 if name == "buy_and_hold" else 1.0 / max(int(entries.sum()), 1),
        accumulate=name == "weekly_dca",
    )


def buy_and_hold_plan(panel: pd.DataFrame, params: NoParams) -> Plan:
    return _schedule_plan("buy_and_hold", panel)


def weekly_dca_plan(panel: pd.DataFrame, params: NoParams) -> Plan:
    return _schedule_plan("weekly_dca", panel)


BUY_AND_HOLD = Strategy(
    "buy_and_hold", NoParams, buy_and_hold_plan, "buy on the first traded bar, hold", benchmark=True
)
WEEKLY_DCA = Strategy(
    "weekly_dca",
    NoParams,
    weekly_dca_plan,
    "equal buys every Monday of the traded span",
    benchmark=True,
)
