"""Degenerate configurations: runs that are not a test of their signal, named as such.

A configuration can look like a result while testing nothing: a rule that is never in the market
(0 trades) says nothing about its signal, and one that is almost always in, or whose daily returns
move with bitcoin's, is buy-and-hold in disguise (e.g. ``below_cost`` with an assumed power price
so high that price is "below cost" on nearly every day). `degeneracy` names both:

* ``never_in``: 0 trades over the span;
* ``buy_and_hold``: exposure >= ``exposure`` (default 95 % of the span's days in the market) or
  the correlation of the daily returns with the market's >= ``correlation`` (default 0.99);
  the market's daily return is the close-to-close return of the traded instrument (spot BTC, or
  the perpetual for ``instrument="perp"``) on the same days (what buy-and-hold earns on every
  day after its first).

``None``: neither. Terminal tables, pages and sweep/tune tables show `LABELS`; tuning's default
feasibility rejects both (``costbt tune --allow-degenerate`` keeps them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

NEVER_IN = "never_in"
BUY_AND_HOLD = "buy_and_hold"
#: What each flag means, in the words every output uses.
LABELS = {
    NEVER_IN: "never in (0 trades)",
    BUY_AND_HOLD: "indistinguishable from buy-and-hold",
}


@dataclass(frozen=True)
class DegeneracyThresholds:
    """Where a run stops testing its signal (see the module docstring)."""

    exposure: float = 0.95
    correlation: float = 0.99

    def __post_init__(self) -> None:
        for name in ("exposure", "correlation"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and 0.0 < value <= 1.0):
                raise ValueError(f"{name} threshold must be in (0, 1], got {value!r}")


THRESHOLDS = DegeneracyThresholds()


def degeneracy(
    trades: float,
    exposure: float,
    correlation: float | None,
    thresholds: DegeneracyThresholds = THRESHOLDS,
) -> str | None:
    """``never_in``, ``buy_and_hold`` or None for a run's trades, exposure and market correlation.

    ``exposure`` is the fraction of the span's days with a position (0..1); ``correlation`` the
    Pearson correlation of its daily returns with the market's (None or NaN: not known, e.g. a
    run that never moved). NaN trades or exposure count as unknown, never as a flag.
    """
    if _known(trades) and int(trades) == 0:
        return NEVER_IN
    if _known(exposure) and float(exposure) >= thresholds.exposure:
        return BUY_AND_HOLD
    if _known(correlation) and float(correlation) >= thresholds.correlation:
        return BUY_AND_HOLD
    return None


def _known(value: float | None) -> bool:
    return value is not None and not math.isnan(float(value))


def label(flag: object) -> str:
    """The words for a flag ("" for no flag: None, "", NaN or <NA> from a table column)."""
    return LABELS[flag] if isinstance(flag, str) and flag in LABELS else ""


def market_returns(close: pd.Series) -> pd.Series:
    """Close-to-close daily returns of spot (NaN on a day without a close or a previous one)."""
    c = pd.Series(close, dtype=float)
    return c / c.shift(1) - 1.0


def market_correlation(returns: pd.Series, close: pd.Series) -> float:
    """Pearson correlation of ``returns`` with the market's close-to-close returns on the same
    days, the first day of ``returns`` excluded (its market return lies partly before the span).

    NaN when either side does not vary (a run that never held a position) or fewer than 3 days.
    """
    r = pd.Series(returns, dtype=float).iloc[1:]
    g = market_returns(close).reindex(r.index)
    both = r.notna() & g.notna()
    r, g = r[both].to_numpy(), g[both].to_numpy()
    if len(r) < 3 or np.std(r) == 0.0 or np.std(g) == 0.0:
        return float("nan")
    return float(np.corrcoef(r, g)[0, 1])


__all__ = [
    "BUY_AND_HOLD",
    "LABELS",
    "NEVER_IN",
    "THRESHOLDS",
    "DegeneracyThresholds",
    "degeneracy",
    "label",
    "market_correlation",
    "market_returns",
]
