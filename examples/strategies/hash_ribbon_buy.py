"""A user strategy: buy when the hash-rate capitulation ends, sell when the next one begins.

Miners capitulate when the 30-day mean hash rate falls below the 60-day mean (Capriole's hash
ribbons, models.md section 1f); the end of a capitulation (the fast mean crossing back above the
slow one) has often come near cycle lows. Everything here is computed from panel columns with
trailing windows only, so the rule is point in time (`costbt lookahead` proves it).

Run it anywhere a strategy is accepted:

    costbt backtest --strategy examples/strategies/hash_ribbon_buy.py:STRATEGY
    costbt sweep --strategy examples/strategies/hash_ribbon_buy.py:STRATEGY \
        --grid fast_days=20:40:5 --grid slow_days=50:90:10
    costbt lookahead --strategy examples/strategies/hash_ribbon_buy.py:STRATEGY
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from costbt.signals.params import ParamError, param
from costbt.strategies import ExitParams, Plan, Strategy
from costbt.strategies.base import decided


@dataclass(frozen=True)
class HashRibbonParams(ExitParams):
    """The two hash-rate windows (days); the common exits (stops, time stop) come with
    `ExitParams`."""

    fast_days: int = param(30, low=5, high=90, step=5, unit="days", help="fast hash-rate mean")
    slow_days: int = param(60, low=20, high=180, step=10, unit="days", help="slow hash-rate mean")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.fast_days >= self.slow_days:
            raise ParamError(f"fast_days={self.fast_days} is not below slow_days={self.slow_days}")


def plan(panel: pd.DataFrame, p: HashRibbonParams) -> Plan:
    """Entry the day the fast mean crosses above the slow one; exit the day it crosses below.

    Trailing means of ``hashrate_ths`` (TH/s) over whole windows; unknown (no entry, no exit)
    where either mean is (before the chain has the window, after the chain inputs end).
    """
    h = panel["hashrate_ths"]
    fast = h.rolling(p.fast_days, min_periods=p.fast_days).mean()
    slow = h.rolling(p.slow_days, min_periods=p.slow_days).mean()
    known = fast.notna() & slow.notna() & fast.shift(1).notna() & slow.shift(1).notna()
    above = fast > slow
    before = above.shift(1, fill_value=False)
    entry_rule = (above & ~before).astype("boolean").where(known)
    exit_rule = (~above & before).astype("boolean").where(known)
    return Plan(
        entries=decided(entry_rule),
        exits=decided(exit_rule),
        entry_rule=entry_rule,
        indicator=pd.DataFrame({"hashrate_fast_ths": fast, "hashrate_slow_ths": slow}),
    )


STRATEGY = Strategy(
    "hash_ribbon_buy",
    HashRibbonParams,
    plan,
    "buy when the hash-rate capitulation ends, sell when the next one begins",
)
