"""Benchmarks with the same capital: buy-and-hold BTC, and weekly dollar-cost averaging.

``buy_and_hold`` buys with all the cash on the first bar it can (the day after the first signal
day) and never sells. ``weekly_dca`` spends an equal slice of the initial cash every Monday over the
whole run, so the same capital is invested by the end.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from strategies.base import Plan, Strategy


@dataclass(frozen=True)
class NoParams:
    """Benchmarks have no parameters."""


def buy_and_hold_plan(panel: pd.DataFrame, params: NoParams) -> Plan:
    known = panel["close_usd"].notna()
    entries = pd.Series(False, index=panel.index)
    if known.any():
        entries.loc[known.idxmax()] = True
    return Plan(entries=entries, exits=pd.Series(False, index=panel.index))


def weekly_dca_plan(panel: pd.DataFrame, params: NoParams) -> Plan:
    known = panel["close_usd"].notna()
    mondays = known & (panel.index.day_of_week == 0)
    n = int(mondays.sum())
    return Plan(
        entries=mondays,
        exits=pd.Series(False, index=panel.index),
        entry_size=1.0 / max(n, 1),
        accumulate=True,
    )


BUY_AND_HOLD = Strategy(
    "buy_and_hold", NoParams, buy_and_hold_plan, "buy on the first bar, hold", benchmark=True
)
WEEKLY_DCA = Strategy(
    "weekly_dca", NoParams, weekly_dca_plan, "equal buys every Monday", benchmark=True
)
