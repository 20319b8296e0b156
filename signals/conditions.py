"""Small point-in-time boolean building blocks shared by the signals (unknown-aware).

All take and return pandas ``boolean`` Series (True / False / <NA>) indexed by day and look only
backwards: the value on day d depends on days <= d.
"""

from __future__ import annotations

import pandas as pd


def as_rule(cond: pd.Series, known: pd.Series | None = None) -> pd.Series:
    """``cond`` as a ``boolean`` Series, <NA> wherever ``known`` is False (or cond is NA)."""
    out = cond.astype("boolean")
    if known is not None:
        out = out.mask(~known.fillna(False).astype(bool), pd.NA)
    return out


def held_for(cond: pd.Series, days: int) -> pd.Series:
    """True where ``cond`` has been True on each of the last ``days`` rows (including today).

    Unknown when any of those rows is unknown and none is False.
    """
    c = cond.astype("boolean")
    if days <= 1:
        return c
    true = c.fillna(False).astype(int).rolling(days, min_periods=days).sum() == days
    false = (~c.fillna(True)).astype(int).rolling(days, min_periods=1).sum() > 0
    out = pd.Series(pd.NA, index=c.index, dtype="boolean")
    out[true.to_numpy()] = True
    out[false.to_numpy()] = False
    return out


def crossed_above(x: pd.Series, level: float | pd.Series) -> pd.Series:
    """True on the day ``x`` goes from <= level to > level (unknown if either day is NaN)."""
    above = x > level
    prev = above.shift(1)
    known = x.notna() & x.shift(1).notna()
    return as_rule(above & ~prev.astype("boolean").fillna(True), known)


def fired_within(cond: pd.Series, days: int) -> pd.Series:
    """True if ``cond`` was True on any of the last ``days`` rows (including today).

    False only if all of those rows are known False; otherwise unknown.
    """
    c = cond.astype("boolean")
    anytrue = c.fillna(False).astype(int).rolling(days, min_periods=1).sum() > 0
    allknown = c.notna().astype(int).rolling(days, min_periods=days).sum().fillna(0) == days
    out = pd.Series(pd.NA, index=c.index, dtype="boolean")
    out[anytrue.to_numpy()] = True
    out[(~anytrue & allknown).to_numpy()] = False
    return out
