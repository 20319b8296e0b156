"""Declared CSV schemas and the validating reader every costbt loader goes through.

A `CsvSchema` says what a file must look like: its index column (a UTC date or timestamp), its
value columns with units and constraints, and the longest gap allowed between consecutive rows.
`read_csv_checked` reads a file against it and either returns a clean DataFrame indexed by a
tz-naive UTC `DatetimeIndex`, or raises one `DataError` naming the file, the column and the
first offending line or date. It never writes anything.
"""

from __future__ import annotations

import csv
import difflib
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from costbt.data.errors import DataError

Kind = Literal["float", "int", "str"]
IndexKind = Literal["date", "datetime"]


@dataclass(frozen=True)
class Column:
    """One value column of a CSV file.

    Attributes:
        name: header name (snake_case, carrying the unit, e.g. ``close_usd``).
        unit: the unit in words (``"USD per BTC"``, ``"TH/s"``, ``"fraction per 8 h"``).
        description: what the column holds.
        kind: ``float``, ``int`` or ``str``.
        nullable: whether blank cells are allowed (blank means missing, never zero).
        positive: values must be > 0 (prices, difficulty).
        non_negative: values must be >= 0 (volumes, counts).
    """

    name: str
    unit: str
    description: str
    kind: Kind = "float"
    nullable: bool = True
    positive: bool = False
    non_negative: bool = False


@dataclass(frozen=True)
class CsvSchema:
    """The declared shape of one CSV file.

    Attributes:
        file: file name inside its folder (e.g. ``btc_usd_spot_1d.csv``).
        description: one line on what the file holds.
        index: name of the index column (``date`` or a timestamp column).
        index_kind: ``date`` (``YYYY-MM-DD``, UTC calendar day) or ``datetime``
            (``YYYY-MM-DD HH:MM:SS[.fff]``, UTC).
        columns: the value columns, in file order.
        max_gap_days: the default limit on missing calendar days between two consecutive
            rows (``None``: no limit). A gap of ``g`` days between rows means ``g - 1`` missing
            days; the limit applies to the missing days.
        cadence: ``D`` (every calendar day expected) or ``B`` (weekdays, e.g. US trading
            days); used to report coverage.
        unique_index: ``False`` for reference tables where several rows share a date (many
            ASIC models released in one month); rows must still be sorted.
    """

    file: str
    description: str
    index: str
    columns: tuple[Column, ...]
    index_kind: IndexKind = "date"
    max_gap_days: int | None = None
    cadence: Literal["D", "B", "irregular"] = "D"
    extra_columns_allowed: bool = False
    unique_index: bool = True
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


def _line(pos: int) -> str:
    """File line of the data row at position ``pos`` (line 1 is the header)."""
    return f"line {pos + 2}"


def _read_raw(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise DataError("file not found", path=path)
    if path.is_dir():
        raise DataError("is a directory, not a CSV file", path=path)
    try:
        raw_bytes = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot be read ({exc.strerror or exc})", path=path) from None
    try:
        text = raw_bytes.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"is not UTF-8 text (byte {exc.start})", path=path) from None
    if "\x00" in text:
        raise DataError("contains NUL bytes: not a CSV text file", path=path)
    if not text.strip():
        raise DataError("is empty", path=path)
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            skipinitialspace=False,
        )
    except pd.errors.EmptyDataError:
        raise DataError("is empty", path=path) from None
    except (pd.errors.ParserError, ValueError, csv.Error) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"is not valid CSV ({detail})", path=path) from None
    return frame


def _check_header(frame: pd.DataFrame, schema: CsvSchema, path: Path) -> None:
    found = [str(c) for c in frame.columns]
    required = [schema.index, *schema.column_names]
    for name in required:
        if name not in found:
            close = difflib.get_close_matches(name, found, n=1, cutoff=0.6)
            hint = f" (found '{close[0]}': misnamed?)" if close else ""
            shown = ", ".join(found[:12]) + (" ..." if len(found) > 12 else "")
            raise DataError(
                f"required column is missing{hint}; columns found: {shown}",
                path=path,
                column=name,
            )
    if not schema.extra_columns_allowed:
        extra = [c for c in found if c not in required]
        if extra:
            raise DataError(
                f"unexpected column (expected only: {', '.join(required)})",
                path=path,
                column=extra[0],
            )


def _one_timestamp(value: str, fmt: str) -> pd.Timestamp:
    try:
        ts = pd.to_datetime(value, format=fmt, errors="coerce")
    except (pd.errors.OutOfBoundsDatetime, OverflowError, ValueError):
        return pd.NaT
    if ts is not pd.NaT and getattr(ts, "tzinfo", None) is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts


def _parse_index(frame: pd.DataFrame, schema: CsvSchema, path: Path) -> pd.DatetimeIndex:
    raw = frame[schema.index].str.strip()
    fmt = "%Y-%m-%d" if schema.index_kind == "date" else "ISO8601"
    try:
        parsed = pd.to_datetime(raw, format=fmt, errors="coerce")
    except (pd.errors.OutOfBoundsDatetime, OverflowError, ValueError):
        # pandas raises (instead of coercing) for some out-of-range values such as "-1";
        # parse one by one to find the first bad row.
        parsed = pd.Series([_one_timestamp(v, fmt) for v in raw], index=raw.index)
    if schema.index_kind != "date" and hasattr(parsed.dt, "tz") and parsed.dt.tz is not None:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    # Years outside 1677..2262 cannot be held in nanoseconds: not a market date either.
    in_range = parsed.between(pd.Timestamp.min, pd.Timestamp.max).fillna(False).to_numpy(dtype=bool)
    bad = parsed.isna().to_numpy() | ~in_range
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        kind = "YYYY-MM-DD" if schema.index_kind == "date" else "an ISO timestamp"
        raise DataError(
            f"{raw.iloc[pos]!r} is not {kind}",
            path=path,
            column=schema.index,
            where=_line(pos),
        )
    index = pd.DatetimeIndex(parsed.to_numpy(), name=schema.index)
    if index.tz is not None:  # pragma: no cover - format excludes offsets for dates
        index = index.tz_convert("UTC").tz_localize(None)
    return index.as_unit("ns")


def _parse_column(
    frame: pd.DataFrame, col: Column, index: pd.DatetimeIndex, path: Path
) -> pd.Series:
    raw = frame[col.name].str.strip()
    blank = (raw == "").to_numpy()
    if blank.any() and not col.nullable:
        pos = int(np.flatnonzero(blank)[0])
        raise DataError(
            "blank value in a column that may not be missing",
            path=path,
            column=col.name,
            where=f"{_line(pos)} ({index[pos].date()})",
        )
    if col.kind == "str":
        return pd.Series(raw.where(~blank, None).to_numpy(), index=index, name=col.name)
    values = pd.to_numeric(raw.where(~blank, None), errors="coerce")
    bad = values.isna().to_numpy() & ~blank
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{raw.iloc[pos]!r} is not a number",
            path=path,
            column=col.name,
            where=f"{_line(pos)} ({index[pos].date()})",
        )
    arr = values.to_numpy(dtype="float64")
    inf = np.isinf(arr)
    if inf.any():
        pos = int(np.flatnonzero(inf)[0])
        raise DataError(
            "infinite value",
            path=path,
            column=col.name,
            where=f"{_line(pos)} ({index[pos].date()})",
        )
    if col.positive:
        bad = ~np.isnan(arr) & (arr <= 0)
        if bad.any():
            pos = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"{raw.iloc[pos]} is not positive ({col.unit} must be > 0)",
                path=path,
                column=col.name,
                where=f"{_line(pos)} ({index[pos].date()})",
            )
    if col.non_negative:
        bad = ~np.isnan(arr) & (arr < 0)
        if bad.any():
            pos = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"{raw.iloc[pos]} is negative ({col.unit} must be >= 0)",
                path=path,
                column=col.name,
                where=f"{_line(pos)} ({index[pos].date()})",
            )
    if col.kind == "int":
        finite = ~np.isnan(arr)
        if (np.abs(arr[finite] - np.round(arr[finite])) > 0).any():
            pos = int(np.flatnonzero(finite & (np.abs(arr - np.round(arr)) > 0))[0])
            raise DataError(
                f"{raw.iloc[pos]} is not a whole number",
                path=path,
                column=col.name,
                where=f"{_line(pos)} ({index[pos].date()})",
            )
    return pd.Series(arr, index=index, name=col.name)


def _check_order(index: pd.DatetimeIndex, schema: CsvSchema, path: Path) -> None:
    values = index.asi8
    if len(values) < 2:
        return
    dup = np.flatnonzero(values[1:] == values[:-1])
    back = np.flatnonzero(values[1:] < values[:-1])
    # Report whichever problem comes first in the file.
    first_dup = int(dup[0]) + 1 if dup.size else None
    first_back = int(back[0]) + 1 if back.size else None
    if schema.unique_index is False:
        first_dup = None
    if first_dup is not None and (first_back is None or first_dup < first_back):
        raise DataError(
            f"duplicate date {_fmt(index[first_dup], schema)}",
            path=path,
            column=schema.index,
            where=_line(first_dup),
        )
    if first_back is not None:
        raise DataError(
            f"dates are not sorted: {_fmt(index[first_back], schema)} comes after "
            f"{_fmt(index[first_back - 1], schema)}",
            path=path,
            column=schema.index,
            where=_line(first_back),
        )


def _fmt(ts: pd.Timestamp, schema: CsvSchema) -> str:
    return str(ts.date()) if schema.index_kind == "date" else str(ts)


def _check_gaps(index: pd.DatetimeIndex, schema: CsvSchema, path: Path, limit: int | None) -> None:
    if limit is None or len(index) < 2:
        return
    days = index.normalize().asi8 // 86_400_000_000_000
    missing = np.diff(days) - 1
    bad = np.flatnonzero(missing > limit)
    if bad.size:
        pos = int(bad[0])
        raise DataError(
            f"gap of {int(missing[pos])} missing days after {index[pos].date()} "
            f"(next row {index[pos + 1].date()}); the limit is {limit} "
            "(set a larger --max-gap-days to accept it)",
            path=path,
            column=schema.index,
            where=_line(pos + 1),
        )


def read_csv_checked(
    path: str | Path,
    schema: CsvSchema,
    *,
    max_gap_days: int | None | Literal["default"] = "default",
) -> pd.DataFrame:
    """Read ``path`` against ``schema``; return a frame indexed by tz-naive UTC timestamps.

    Checks, in order, each failing with one `DataError`: the file exists, is UTF-8 text and
    valid CSV with at least one data row; every declared column is present (a close match is
    named as probably misnamed) and no undeclared column is; every index value parses; every
    numeric cell parses, is finite and meets its column's sign constraint; blanks only where
    allowed; dates strictly increasing (duplicates and unsorted rows are named); no gap longer
    than ``max_gap_days`` (the schema's default unless given; ``None`` disables the check).

    Blank cells become NaN (missing), never zero. Nothing is written.
    """
    path = Path(path)
    frame = _read_raw(path)
    _check_header(frame, schema, path)
    if len(frame) == 0:
        raise DataError("has a header but no data rows", path=path)
    index = _parse_index(frame, schema, path)
    cols = {c.name: _parse_column(frame, c, index, path) for c in schema.columns}
    _check_order(index, schema, path)
    limit = schema.max_gap_days if max_gap_days == "default" else max_gap_days
    _check_gaps(index, schema, path, limit)
    out = pd.DataFrame(cols, index=index)
    out.index.name = schema.index
    return out
