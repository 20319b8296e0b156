"""TEST FIXTURE: the example hash-ribbon strategy with a centred window, a look-ahead leak that
`costbt lookahead` must catch (never use this rule)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from costbt.signals.params import param
from costbt.strategies import ExitParams, Plan, Strategy
from costbt.strategies.base import decided


@dataclass(frozen=True)
class HashRibbonParams(ExitParams):
    fast_days: int = param(30, low=5, high=90, unit="days", help="fast hash-rate mean")
    slow_days: int = param(60, low=20, high=180, unit="days", help="slow hash-rate mean")


def plan(panel: pd.DataFrame, p: HashRibbonParams) -> Plan:
    h = panel["hashrate_ths"]
    fast = h.rolling(p.fast_days, center=True, min_periods=1).mean()  # centred: sees the future
    slow = h.rolling(p.slow_days, min_periods=p.slow_days).mean()
    above = fast > slow
    before = above.shift(1, fill_value=False)
    entry = (above & ~before).astype("boolean").where(slow.notna())
    exit_ = (~above & before).astype("boolean").where(slow.notna())
    return Plan(
        entries=decided(entry),
        exits=decided(exit_),
        entry_rule=entry,
        indicator=pd.DataFrame({"hashrate_fast_ths": fast, "hashrate_slow_ths": slow}),
    )


STRATEGY = Strategy("leaky_hash_ribbons", HashRibbonParams, plan, "a centred window (leaks)")
