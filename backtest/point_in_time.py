"""The point-in-time proof of a whole strategy (``costbt lookahead``), user strategies included.

Algorithm (`check_strategy`):

1. The strategy's decisions as a function of the panel: ``entries``, ``exits``, the
   ``entry_rule``, the numeric ``indicator`` columns and the ``cost`` of its plan
   (`costbt.strategies.base.Plan`; ``plan_signals`` when the strategy has one, the same
   decisions without the report's cost band). Decisions change only when a leak flips one;
   the indicators show any leak in what the rule reads.
2. Cutoffs: ``n`` days drawn (seeded) from the priced days after the first year, plus any given.
3. For each cutoff T, `costbt.signals.lookahead.find_leaks`: the decisions on days <= T must be
   identical when the panel ends at T and when every value after T is perturbed.
4. The first leak is narrowed to the panel sources (`costbt.data.panel.column_catalogue`), then
   the columns, whose future moves it: a proof with a name, not a heuristic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from costbt.signals.lookahead import Leak, find_leaks

#: Days of history before the first cutoff, so trailing windows have data.
WARMUP_DAYS = 365


@dataclass(frozen=True)
class LookaheadResult:
    """What `check_strategy` proved: the cutoffs tried and the leaks found (empty: none)."""

    strategy: str
    cutoffs: tuple[pd.Timestamp, ...]
    leaks: tuple[Leak, ...]

    @property
    def point_in_time(self) -> bool:
        return not self.leaks


def draw_cutoffs(panel: pd.DataFrame, n: int, seed: int = 0) -> list[pd.Timestamp]:
    """``n`` distinct priced days after the first `WARMUP_DAYS`, before the last day (seeded)."""
    priced = panel.index[panel["close_usd"].notna().to_numpy()]
    pool = priced[(priced >= priced[0] + pd.Timedelta(days=WARMUP_DAYS)) & (priced < priced[-1])]
    if n <= 0 or not len(pool):
        return []
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(pool), size=min(n, len(pool)), replace=False)
    return sorted(pool[i] for i in picks)


def source_groups(panel: pd.DataFrame) -> dict[str, list[str]]:
    """The panel's columns by source (spot, chain, ETF flows ...)."""
    from costbt.data.panel import column_catalogue

    groups: dict[str, list[str]] = {}
    for row in column_catalogue().itertuples():
        if row.column in panel.columns:
            groups.setdefault(str(row.source), []).append(str(row.column))
    return groups


def check_strategy(
    panel: pd.DataFrame,
    strategy: str,
    params: object | None = None,
    *,
    n_cutoffs: int = 6,
    cutoffs: tuple = (),
    seed: int = 0,
) -> LookaheadResult:
    """Prove (or refute, naming the leak) that ``strategy``'s decisions are point in time."""
    from costbt.strategies import STRATEGIES

    s = STRATEGIES[strategy]
    params = s.params() if params is None else params
    planner = s.plan_signals or s.plan

    def decisions(p: pd.DataFrame) -> dict[str, pd.Series]:
        plan = planner(p, params)
        out = {"entries": plan.entries.rename("entries"), "exits": plan.exits.rename("exits")}
        if plan.entry_rule is not None:
            out["entry_rule"] = plan.entry_rule.astype("float64").rename("entry_rule")
        if plan.indicator is not None:  # what the rule reads: leaks show here first
            ind = plan.indicator
            out["indicator"] = ind.select_dtypes(include=["number", "bool", "boolean"])
        if plan.cost is not None:
            out["cost"] = plan.cost.rename("cost_usd_per_btc")
        return out

    days = sorted({*draw_cutoffs(panel, n_cutoffs, seed), *(pd.Timestamp(c) for c in cutoffs)})
    leaks = find_leaks(decisions, panel, days, seed=seed, groups=source_groups(panel))
    return LookaheadResult(strategy, tuple(days), tuple(leaks))


__all__ = ["LookaheadResult", "check_strategy", "draw_cutoffs", "source_groups"]
