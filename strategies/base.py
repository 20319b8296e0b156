"""What a strategy is: signals combined into a trading plan, with its parameters in one place.

A strategy has a name, a frozen parameter dataclass (defaults and search ranges declared with
`signals.params.param`, including the exits every strategy offers, `ExitParams`), and
``plan(panel, params) -> Plan``: entries and exits on SIGNAL days (the day whose close the
decision uses), the size of each entry, and what to draw in the report. The engine fills a signal
no earlier than the next bar; strategies never shift anything themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from costbt.signals.params import Validated, param


@dataclass(frozen=True)
class ExitParams(Validated):
    """Exits available to every strategy (0 turns one off). Fractions of the entry price."""

    take_profit: float = param(
        0.0,
        low=0.0,
        high=10.0,
        step=0.05,
        unit="fraction",
        help="sell at entry x (1 + this); 0: off",
    )
    stop_loss: float = param(
        0.0,
        low=0.0,
        high=0.95,
        step=0.01,
        unit="fraction",
        help="sell at entry x (1 - this); 0: off",
    )
    trailing_stop: bool = param(
        False, help="make the stop loss trail the highest price since entry"
    )
    time_stop_days: int = param(
        0, low=0, high=3650, unit="days", help="sell this many days after entry; 0: off"
    )


@dataclass(frozen=True)
class Plan:
    """A strategy's decisions on signal days (before the engine's next-bar shift).

    Attributes:
        entries, exits: boolean Series on the panel calendar (unknown already resolved: False).
        entry_size: fraction of the initial cash spent by each entry (1.0: all cash); with
            ``accumulate`` several entries can add up (tranches).
        accumulate: allow entries while a position is open.
        cost: production cost (USD/BTC) to draw in the report, if any.
        cost_band: P10/P50/P90 band of that cost, if any.
        indicator: whatever the strategy wants to show (price/cost ratio ...).
        entry_rule: the entry RULE on each signal day as a ``boolean`` Series, <NA> where its
            inputs are unknown (e.g. after the production-cost inputs end). Unlike ``entries``
            (the orders it sends, unknown resolved to False) it says whether the signal was on
            and whether it was known at all: the run's entry share and signal coverage come
            from it. None for rule-free plans (the benchmarks).
    """

    entries: pd.Series
    exits: pd.Series
    entry_size: float = 1.0
    accumulate: bool = False
    cost: pd.Series | None = None
    cost_band: pd.DataFrame | None = None
    indicator: pd.DataFrame | None = None
    entry_rule: pd.Series | None = None


@dataclass(frozen=True)
class Strategy:
    """A named strategy: its parameter class and its plan function."""

    name: str
    params: type
    plan: Callable[[pd.DataFrame, object], Plan]
    description: str = ""
    benchmark: bool = False
    tags: tuple[str, ...] = field(default_factory=tuple)
    #: The same plan without what only a report draws (the cost band: 100 runs of the cost
    #: model), for sweeps and verification; None: ``plan`` itself.
    plan_signals: Callable[[pd.DataFrame, object], Plan] | None = None
    #: A capability, not a name: the numba kernel (`costbt.backtest.fast`) reproduces this
    #: strategy (to 1e-9 of vectorbt) for rows within its supported values; the evaluation seam
    #: then runs the kernel and verifies it against vectorbt. False: vectorbt runs every row.
    kernel: bool = False


def decided(rule: pd.Series) -> pd.Series:
    """A ``boolean`` rule as plain bool: unknown days are days without a decision (False)."""
    return rule.astype("boolean").fillna(False).astype(bool)


def time_stop_exits(entries: pd.Series, exits: pd.Series, days: int) -> pd.Series:
    """Exits ``days`` rows after each entry that the signals would hold that long.

    Counted from the entry the signals imply (a position opened by an entry and closed by the next
    exit). A price stop that closed the position earlier is not known here; the extra exit is then
    harmless unless a new entry happened in between (documented approximation).
    """
    e, x = entries.to_numpy(dtype=bool), exits.to_numpy(dtype=bool)
    out = np.zeros(len(e), dtype=bool)
    held = -1
    for i in range(len(e)):
        if held >= 0:
            held += 1
            if x[i]:
                held = -1
            elif held >= days:
                out[i] = True
                held = -1
        elif e[i]:
            held = 0
    return pd.Series(out, index=entries.index)
