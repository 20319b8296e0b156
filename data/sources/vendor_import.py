"""Import any vendor's daily CSV or JSON export into the cache, through a column mapping.

For series costbt cannot download itself (SOPR and STH-SOPR from CryptoQuant, Glassnode Studio,
Checkonchain, ...): export the series from the vendor, then map its columns onto costbt's:

    import_vendor_file("sopr.csv", {"SOPR": "sopr", "STH-SOPR": "sth_sopr"},
                       date_column="Date", source="cryptoquant")

writes ``SeriesKey("cryptoquant", "sopr", "BTC", "1d")`` with columns ``sopr`` and ``sth_sopr``
(dimensionless ratios: SOPR = sum(v * P_spent) / sum(v * P_created) over the outputs spent that
day; STH-SOPR over outputs younger than 155 days), index ``date`` (tz-naive UTC days).

Accepted files:

* CSV (``.csv``, ``.tsv``, ``.txt``; delimiter ``,``, ``;`` or tab, taken from the header line),
  with a header row. UTF-8 (a byte-order mark is fine).
* JSON (``.json``): a list of records ``[{"date": ..., "SOPR": ...}, ...]`` or an object with such
  a list under ``"data"`` (e.g. Glassnode's ``[{"t": ..., "v": ...}]`` with ``{"v": "sopr"}``).
  Other suffixes are sniffed: JSON if the text starts with ``[`` or ``{``, CSV otherwise.

Dates: ISO 8601 strings (``2024-03-01``, ``2024-03-01T00:00:00Z``; offsets are converted to UTC),
unix seconds or unix milliseconds (detected: values >= 1e11 are milliseconds), or strings in an
explicit ``date_format`` (``%d/%m/%Y``). Every date must be 00:00 UTC of a day between 2009-01-03
and 2100 (daily series only) and appear once; rows may come in any order.

Values: numbers (``1.02``, ``1e0``); blank, ``null``, ``NaN``, ``NA`` or ``N/A`` mean missing.
SOPR columns must be positive. Anything else raises one `data.errors.DataError` naming the file,
the column and the first offending line (CSV) or record (JSON); nothing is written then.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from costbt.data.cache import Cache, SeriesKey
from costbt.data.errors import DataError

#: Known kinds: their allowed costbt columns with units, and whether values must be > 0.
KIND_COLUMNS: dict[str, dict[str, str]] = {
    "sopr": {
        "sopr": "dimensionless ratio",
        "sth_sopr": "dimensionless ratio",
        "lth_sopr": "dimensionless ratio",
        "asopr": "dimensionless ratio",
    },
}
POSITIVE_KINDS = frozenset({"sopr"})
MISSING_TEXT = frozenset({"", "null", "none", "nan", "na", "n/a", "-"})
FIRST_DAY = datetime(2009, 1, 3)
LAST_DAY = datetime(2100, 1, 1)
MS_THRESHOLD = 1e11  # unix seconds reach 1e11 only in the year 5138

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_SOURCE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_NUM_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_INT_RE = re.compile(r"^[+-]?\d+(\.0*)?$")


@dataclass(frozen=True)
class ImportResult:
    """What was imported: the cache key, the frame written and its manifest entry."""

    key: SeriesKey
    frame: pd.DataFrame
    entry: dict

    @property
    def rows(self) -> int:
        return len(self.frame)


def validate_mapping(mapping: Mapping[str, str], date_column: str, kind: str) -> dict[str, str]:
    """Check a vendor-column -> costbt-column mapping; `DataError` naming the bad entry."""
    if not mapping:
        raise DataError("the column mapping is empty (give at least one VENDOR_COL=costbt_col)")
    allowed = KIND_COLUMNS.get(kind)
    seen: dict[str, str] = {}
    for vendor, target in mapping.items():
        if not vendor:
            raise DataError(f"empty vendor column name mapped to '{target}'", column="mapping")
        if vendor == date_column:
            raise DataError(f"'{vendor}' is the date column; it cannot also be a value")
        if allowed is not None and target not in allowed:
            raise DataError(
                f"'{target}' is not a {kind} column (known: {', '.join(allowed)})", column=vendor
            )
        if allowed is None and not _NAME_RE.match(target):
            raise DataError(f"'{target}' is not a snake_case column name", column=vendor)
        if target in seen:
            raise DataError(
                f"'{target}' is mapped from both '{seen[target]}' and '{vendor}'", column=vendor
            )
        seen[target] = vendor
    return dict(mapping)


def validate_kind(kind: str) -> str:
    """A kind costbt reads (`KIND_COLUMNS`): a series of another kind would be stored unused."""
    if kind not in KIND_COLUMNS:
        raise DataError(f"kind '{kind}' is not one costbt reads (known: {', '.join(KIND_COLUMNS)})")
    return kind


#: What an import does to a series the cache already holds.
ON_EXISTING = ("refuse", "merge", "replace")


def validate_source(source: str) -> str:
    """A provider name for the cache key: lower case letters, digits, ``-`` and ``_``."""
    if not _SOURCE_RE.match(source or ""):
        raise DataError(
            f"source name '{source}' must be 1-40 lower-case letters, digits, '-' or '_'",
            column="source",
        )
    return source


# ---------------------------------------------------------------------------------- reading
def _decode(path: Path) -> str:
    if not path.exists():
        raise DataError("file not found", path=path)
    if not path.is_file():
        raise DataError("is not a file", path=path)
    raw = path.read_bytes()
    if not raw.strip():
        raise DataError("is empty", path=path)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"is not UTF-8 text (byte {exc.start})", path=path) from None
    if "\x00" in text:
        raise DataError("contains NUL bytes (not a text export)", path=path)
    return text


def _is_json(path: Path, text: str) -> bool:
    suffix = path.suffix.lower()
    if suffix == ".json":
        return True
    if suffix in (".csv", ".tsv", ".txt"):
        return False
    return text.lstrip()[:1] in ("[", "{")


def _json_records(path: Path, text: str) -> Iterator[tuple[str, Mapping[str, object]]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})", path=path
        ) from None
    except (ValueError, RecursionError) as exc:
        raise DataError(f"is not valid JSON ({type(exc).__name__})", path=path) from None
    if isinstance(data, dict):
        if not isinstance(data.get("data"), list):
            raise DataError("a JSON object must hold the records as a list under 'data'", path=path)
        data = data["data"]
    if not isinstance(data, list):
        raise DataError('JSON must be a list of records or {"data": [...]}', path=path)
    for i, rec in enumerate(data, start=1):
        if not isinstance(rec, dict):
            raise DataError(
                f"is a {type(rec).__name__}, not an object", path=path, where=f"record {i}"
            )
        yield f"record {i}", rec


def _csv_records(path: Path, text: str) -> Iterator[tuple[str, Mapping[str, object]]]:
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    delimiter = max((",", ";", "\t"), key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header: list[str] | None = None
    try:
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                header = [cell.strip() for cell in row]
                dup = next((h for h in header if header.count(h) > 1), None)
                if dup is not None:
                    raise DataError(
                        "header names this column twice", path=path, column=dup, where="line 1"
                    )
                continue
            where = f"line {reader.line_num}"
            if len(row) != len(header):
                raise DataError(
                    f"has {len(row)} fields, the header has {len(header)}", path=path, where=where
                )
            yield where, dict(zip(header, row, strict=True))
    except csv.Error as exc:
        raise DataError(
            f"is not readable CSV ({exc})", path=path, where=f"line {reader.line_num}"
        ) from None
    if header is None:
        raise DataError("has no header row", path=path)


def _epoch(value: float, unit: str) -> datetime | None:
    seconds = value / 1000 if unit == "ms" else value
    if (
        not FIRST_DAY.replace(tzinfo=UTC).timestamp()
        <= seconds
        < LAST_DAY.replace(tzinfo=UTC).timestamp()
    ):
        return None
    return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)


def _parse_date(raw: object, date_format: str | None, unit: str) -> datetime:
    """One date cell -> naive UTC datetime; ValueError with a reason otherwise."""
    if isinstance(raw, bool) or raw is None:
        raise ValueError("is not a date")
    if isinstance(raw, int | float):
        if date_format is not None:
            raise ValueError(f"is a number, not text in the format '{date_format}'")
        if not math.isfinite(raw) or raw != int(raw):
            raise ValueError("is not a whole unix time")
        dt = _epoch(float(raw), unit)
        if dt is None:
            raise ValueError(f"unix time in {unit} lies outside 2009-01-03..2100")
        return dt
    if not isinstance(raw, str):
        raise ValueError("is not a date")
    text = raw.strip()
    if date_format is not None:
        dt = datetime.strptime(text, date_format)
    elif _INT_RE.match(text):
        dt = _epoch(float(text), unit)
        if dt is None:
            raise ValueError(f"unix time in {unit} lies outside 2009-01-03..2100")
    else:
        dt = datetime.fromisoformat(text)
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    if not FIRST_DAY <= dt < LAST_DAY:
        raise ValueError("lies outside 2009-01-03..2100")
    return dt


def _epoch_unit(raws: list[object], date_format: str | None) -> str:
    """``ms`` if any numeric date is >= 1e11 (unix milliseconds), else ``s``."""
    if date_format is not None:
        return "s"
    biggest = 0.0
    for raw in raws:
        if isinstance(raw, bool):
            continue
        if isinstance(raw, str):
            if not _INT_RE.match(raw.strip()):
                continue
            raw = raw.strip()
        elif not isinstance(raw, int | float):
            continue
        try:
            value = abs(float(raw))
        except OverflowError:
            value = math.inf
        if not math.isnan(value):
            biggest = max(biggest, value)
    return "ms" if biggest >= MS_THRESHOLD else "s"


def _parse_value(raw: object) -> float:
    """One value cell -> float (NaN when missing); ValueError otherwise."""
    if raw is None:
        return math.nan
    if isinstance(raw, bool):
        raise ValueError("is a boolean, not a number")
    if isinstance(raw, int | float):
        try:
            value = float(raw)
        except OverflowError:
            raise ValueError("is too large") from None
    elif isinstance(raw, str):
        text = raw.strip()
        if text.lower() in MISSING_TEXT:
            return math.nan
        if not _NUM_RE.match(text):
            raise ValueError("is not a number")
        value = float(text)
    else:
        raise ValueError(f"is a {type(raw).__name__}, not a number")
    if math.isinf(value):
        raise ValueError("is infinite")
    return value


def read_vendor_file(
    path: str | Path,
    mapping: Mapping[str, str],
    date_column: str,
    date_format: str | None = None,
    kind: str = "sopr",
) -> pd.DataFrame:
    """Read and validate a vendor export; return the mapped daily frame (index ``date``).

    Reads only; see the module docstring for the accepted formats. Raises `DataError`.
    """
    path = Path(path)
    mapping = validate_mapping(mapping, date_column, kind)
    text = _decode(path)
    records = list(_json_records(path, text) if _is_json(path, text) else _csv_records(path, text))
    if not records:
        raise DataError("has no data rows", path=path)
    needed = [date_column, *mapping]
    for where, rec in records:
        missing = next((c for c in needed if c not in rec), None)
        if missing is not None:
            have = ", ".join(list(rec)[:12]) or "none"
            raise DataError(
                f"no such column in the file (columns: {have})",
                path=path,
                column=missing,
                where=where,
            )
    unit = _epoch_unit([rec[date_column] for _, rec in records], date_format)
    positive = kind in POSITIVE_KINDS
    days: list[datetime] = []
    rows: list[list[float]] = []
    first_seen: dict[datetime, str] = {}
    for where, rec in records:
        raw = rec[date_column]
        try:
            day = _parse_date(raw, date_format, unit)
        except (ValueError, OverflowError, OSError) as exc:
            reason = str(exc)
            if not reason.startswith(("is ", "lies ", "unix ")):
                expected = f"format '{date_format}'" if date_format else "ISO 8601 or unix time"
                reason = f"is not a date ({expected})"
            raise DataError(
                f"'{str(raw)[:40]}' {reason}", path=path, column=date_column, where=where
            ) from None
        if (day.hour, day.minute, day.second, day.microsecond) != (0, 0, 0, 0):
            raise DataError(
                f"'{str(raw)[:40]}' is not 00:00 UTC (daily series only)",
                path=path,
                column=date_column,
                where=where,
            )
        if day in first_seen:
            raise DataError(
                f"day {day.date()} appears again (first at {first_seen[day]})",
                path=path,
                column=date_column,
                where=where,
            )
        first_seen[day] = where
        values = []
        for vendor in mapping:
            try:
                value = _parse_value(rec[vendor])
            except ValueError as exc:
                raise DataError(
                    f"'{str(rec[vendor])[:40]}' {exc}", path=path, column=vendor, where=where
                ) from None
            if positive and not math.isnan(value) and value <= 0:
                raise DataError(
                    f"{value!r} is not positive ({kind} is a ratio > 0)",
                    path=path,
                    column=vendor,
                    where=where,
                )
            values.append(value)
        days.append(day)
        rows.append(values)
    frame = pd.DataFrame(rows, columns=list(mapping.values()), dtype="float64")
    frame.index = pd.DatetimeIndex(days, name="date").as_unit("ns")
    return frame.sort_index()


def import_vendor_file(
    path: str | Path,
    mapping: Mapping[str, str],
    date_column: str,
    date_format: str | None = None,
    kind: str = "sopr",
    source: str = "vendor",
    *,
    cache: Cache | None = None,
    publication_lag_days: int = 1,
    on_existing: str = "refuse",
) -> ImportResult:
    """Read a vendor export (`read_vendor_file`) and write it to the cache.

    Key: ``SeriesKey(source, kind, "BTC", "1d")``. When the cache already holds that series,
    ``on_existing`` decides: ``"refuse"`` (the default) raises `DataError` if the file lacks any
    day the cache holds (a short file must not silently replace a long series; a file that
    covers every cached day replaces it); ``"merge"`` keeps the cached days and adds or
    updates the file's (the file's value wins where it has one); ``"replace"`` writes the
    file's rows alone. The manifest records the file name, its sha256, the mapping and
    ``publication_lag_days`` (default 1: a daily on-chain value dated d is computed after d
    ends). Raises `DataError` before writing anything.
    """
    path = Path(path)
    validate_source(source)
    validate_kind(kind)
    if on_existing not in ON_EXISTING:
        raise DataError(f"on_existing '{on_existing}' is not one of {', '.join(ON_EXISTING)}")
    if publication_lag_days < 0:
        raise DataError(f"publication lag {publication_lag_days} is negative")
    frame = read_vendor_file(path, mapping, date_column, date_format, kind)
    cache = cache if cache is not None else Cache()
    key = SeriesKey(source, kind, "BTC", "1d")
    held = cache.read(key) if cache.entry(key) is not None else None
    if held is not None and len(held) and on_existing != "replace":
        if on_existing == "merge":
            frame = frame.combine_first(held).sort_index()
        else:
            lost = held.index.difference(frame.index)
            if len(lost):
                raise DataError(
                    f"the cache already holds {len(held):,} days of {source} {kind} "
                    f"({held.index.min().date()} .. {held.index.max().date()}); the file has "
                    f"{len(frame):,} and lacks {len(lost):,} of them: merge it (--merge: add and "
                    "update its days) or replace the series (--replace)",
                    path=path,
                )
    units = KIND_COLUMNS.get(kind, {})
    entry = cache.write(
        key,
        frame,
        client="costbt-vendor-import",
        imported_file=path.name,
        imported_sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        mapping=dict(mapping),
        date_column=date_column,
        date_format=date_format,
        units={c: units.get(c, "as exported by the vendor") for c in frame.columns},
        publication_lag_days=publication_lag_days,
    )
    return ImportResult(key, frame, entry)
