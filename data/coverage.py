"""Coverage of a loaded file: per column, its span, how many expected days are missing, and gaps.

Expected days follow the file's cadence: every calendar day (``D``) or every weekday (``B``, US
trading days; weekday holidays then show up as gaps, which is informative, not an error).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from costbt.data.errors import DataError
from costbt.data.schema import CsvSchema


@dataclass(frozen=True)
class Gap:
    """A run of consecutive expected days with no value."""

    first: pd.Timestamp
    last: pd.Timestamp
    days: int


@dataclass(frozen=True)
class ColumnCoverage:
    column: str
    unit: str
    first: pd.Timestamp | None
    last: pd.Timestamp | None
    values: int
    expected: int | None
    gaps: tuple[Gap, ...]

    @property
    def missing(self) -> int | None:
        return None if self.expected is None else self.expected - self.values

    @property
    def coverage(self) -> float | None:
        if not self.expected:
            return None
        return self.values / self.expected

    @property
    def largest_gap(self) -> int:
        return max((g.days for g in self.gaps), default=0)


def _runs(missing: pd.DatetimeIndex, expected: pd.DatetimeIndex) -> tuple[Gap, ...]:
    if missing.empty:
        return ()
    pos = expected.get_indexer(missing)
    breaks = np.flatnonzero(np.diff(pos) != 1)
    starts = np.r_[0, breaks + 1]
    ends = np.r_[breaks, len(pos) - 1]
    return tuple(
        Gap(missing[s], missing[e], int(e - s + 1)) for s, e in zip(starts, ends, strict=True)
    )


def column_coverage(frame: pd.DataFrame, schema: CsvSchema) -> list[ColumnCoverage]:
    """Coverage of every declared column of ``frame`` (as returned by the loader)."""
    out = []
    for col in schema.columns:
        s = frame[col.name].dropna()
        if s.empty:
            out.append(ColumnCoverage(col.name, col.unit, None, None, 0, None, ()))
            continue
        days = s.index.normalize().unique()
        first, last = days.min(), days.max()
        if schema.cadence == "irregular":
            out.append(ColumnCoverage(col.name, col.unit, first, last, int(len(days)), None, ()))
            continue
        expected = pd.date_range(first, last, freq=schema.cadence)
        missing = expected.difference(days)
        present = int(len(expected) - len(missing))
        out.append(
            ColumnCoverage(
                col.name,
                col.unit,
                first,
                last,
                present,
                int(len(expected)),
                _runs(missing, expected),
            )
        )
    return out


@dataclass(frozen=True)
class CachedSeries:
    """One cached download as `costbt data status` shows it."""

    file: str
    source: str
    symbol: str
    timeframe: str
    rows: int
    first: pd.Timestamp | None
    last: pd.Timestamp | None
    gaps: int
    largest_gap: int
    fetched_at: pd.Timestamp | None
    hash_ok: bool


_STEPS = {
    "1d": pd.Timedelta(days=1),
    "8h": pd.Timedelta(hours=8),
    "4h": pd.Timedelta(hours=4),
    "1h": pd.Timedelta(hours=1),
}


def cached_series(cache) -> list[CachedSeries]:
    """Coverage of every series in a `data.cache.Cache` (gaps: rows further apart than a step)."""
    import hashlib

    from costbt.data.cache import read_parquet

    out = []
    for name, entry in sorted(cache.manifest()["files"].items()):
        path = cache.root / name
        gaps = largest = 0
        first = last = None
        hash_ok = False
        if path.exists():
            frame = read_parquet(path)  # a damaged file: a DataError naming it
            hash_ok = hashlib.sha256(path.read_bytes()).hexdigest() == entry.get("sha256")
            if len(frame):
                idx = pd.DatetimeIndex(frame.index)
                first, last = idx.min(), idx.max()
                step = _STEPS.get(str(entry.get("timeframe")))
                if step is not None and len(idx) > 1:
                    d = np.diff(idx.asi8) / step.value
                    tol = 1.5 if entry.get("kind") == "funding" else 1.0 + 1e-9
                    bad = d[d > tol]
                    gaps, largest = int(bad.size), int(round(bad.max()) - 1) if bad.size else 0
        try:
            fetched = entry.get("fetched_at")
            fetched = pd.Timestamp(fetched).tz_localize(None) if fetched else None
        except ValueError:
            raise DataError(
                f"the entry of '{name}' has a 'fetched_at' that is no time: {fetched!r}",
                path=cache.manifest_path,
            ) from None
        out.append(
            CachedSeries(
                name,
                str(entry.get("source")),
                str(entry.get("symbol")),
                str(entry.get("timeframe")),
                int(entry.get("rows", 0)),
                first,
                last,
                gaps,
                largest,
                fetched,
                hash_ok,
            )
        )
    return out
