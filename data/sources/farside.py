"""US spot-bitcoin ETF flows from Farside Investors, kept as dated snapshots.

Source: the "all data" page https://farside.co.uk/bitcoin-etf-flow-all-data/ (Farside Investors).
It is one HTML table: a header row of fund tickers (IBIT, FBTC, BITB, ARKB, BTCO, EZBC, BRRR,
HODL, BTCW, MSBT, GBTC, BTC, Total), possibly with extra header rows around it (issuer names,
fees); then one row per US trading day, dated like ``11 Jan 2024``; then footer rows (Total,
Average, Maximum, Minimum). Each cell is a net flow (creations minus redemptions) in
**US$ millions**: ``(95.1)`` means -95.1, ``-`` means no data (missing, never zero), ``0.0`` is a
real zero, thousands are separated by commas (``1,234.5``). US market holidays appear as rows of
``-`` with a Total of 0.0; they are missing data, not zero flows, and are dropped.

Revisions. Issuers report late and Farside revises published values, so every fetch is stored as
its own snapshot, keyed by the fetch time (UTC, to the second):
``SeriesKey("farside", "etf_flows", "BTC", "snapshot-YYYY-MM-DDTHHMMSSZ")``. `load_snapshot`
returns the latest snapshot taken at or before a given time, and `revisions` lists the cells that
changed between two snapshots.

Using a snapshot in the panel. `etf_frame_for_panel(cache, as_of_snapshot)` returns the snapshot's
flows with exactly the bundled file's columns (`data.bundled_files.ETF_FLOWS_1D`: ``ibit_usd_m``
.. ``total_usd_m``, float64, index ``date``). It replaces the bundled ``etf_flows`` source frame:

    frames = data.panel.load_sources()
    frames["etf_flows"] = etf_frame_for_panel(cache, "2026-04-11")
    panel = data.panel.build_panel(frames)

The panel's publication lag for ETF flows (a day-d value enters row d+1) still applies. A single
snapshot holds the values as Farside showed them at its fetch time; rows it dates long before
that time may carry later revisions than a trader saw on the day (choose the snapshot taken
closest to the period being studied, or compare snapshots with `revisions`).

Parsing (`parse_farside_html`) is pure; the network (`fetch_snapshot`) and the cache stay apart.
"""

from __future__ import annotations

import math
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser

import pandas as pd

from costbt.data import bundled_files as bf
from costbt.data.cache import Cache, SeriesKey
from costbt.data.errors import DataError
from costbt.data.sources.retry import FetchError, RetryPolicy

SOURCE = "farside"
KIND = "etf_flows"
MARKET = "BTC"
SNAPSHOT_PREFIX = "snapshot-"
#: Snapshot label time format (UTC): ``2026-04-11T153000Z``.
SNAPSHOT_TIME_FORMAT = "%Y-%m-%dT%H%M%SZ"
DEFAULT_BASE_URL = "https://farside.co.uk"
DEFAULT_PATH = "/bitcoin-etf-flow-all-data/"
UNIT = "US$ millions"
#: Flows for US trading day d are published after the US close: usable from d+1.
PUBLICATION_LAG_DAYS = 1

KNOWN_TICKERS: tuple[str, ...] = tuple(t for t, _ in bf.ETF_FUNDS)
TOTAL_COLUMN = "total_usd_m"
#: First-cell labels of the footer rows (summary statistics, not days).
FOOTER_LABELS = frozenset({"total", "average", "maximum", "minimum"})
#: First-cell labels of extra rows that carry no flows (fees, seed capital, issuer names).
IGNORED_LABELS = frozenset({"fee", "fees", "seed", "issuer", "sponsor", "date", ""})
MISSING_MARKS = frozenset({"-", "\u2013", "\u2014", ""})

_DATE_RE = re.compile(r"^\d{1,2} [A-Za-z]{3} \d{4}$")
_TICKER_RE = re.compile(r"^[A-Za-z][A-Za-z0-9.]{0,9}$")
_NUMBER_RE = re.compile(r"^-?(\d+(\.\d*)?|\.\d+)$")
_SNAPSHOT_FILE_RE = re.compile(
    r"^farside__etf-flows__BTC__snapshot-(\d{4}-\d{2}-\d{2}T\d{6}Z)\.parquet$"
)


# ---------------------------------------------------------------------------------------- parsing
class _TableCollector(HTMLParser):
    """Collects every ``<table>`` as rows of cell texts (whitespace collapsed)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[list[list[str]]] = []
        self._stack: list[list[list[str]]] = []
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag == "table":
            self._stack.append([])
        elif tag == "tr" and self._stack:
            self._close_row()
            self._row = []
        elif tag in ("td", "th") and self._stack:
            self._close_cell()
            if self._row is None:
                self._row = []
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th"):
            self._close_cell()
        elif tag == "tr":
            self._close_row()
        elif tag == "table" and self._stack:
            self._close_row()
            self.tables.append(self._stack.pop())

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def _close_cell(self) -> None:
        if self._cell is not None and self._row is not None:
            text = " ".join("".join(self._cell).replace("\xa0", " ").split())
            self._row.append(text)
        self._cell = None

    def _close_row(self) -> None:
        self._close_cell()
        if self._row is not None and self._stack:
            self._stack[-1].append(self._row)
        self._row = None

    def close(self) -> None:
        super().close()
        while self._stack:
            self._close_row()
            self.tables.append(self._stack.pop())


@dataclass(frozen=True)
class FarsideTable:
    """The parsed flows table.

    Attributes:
        frame: flows in US$ millions, index ``date`` (tz-naive, US trading days, ascending),
            one column per fund (``ibit_usd_m`` ...) and ``total_usd_m``; NaN = no data.
        unknown_funds: tickers on the page that `data.bundled_files.ETF_FUNDS` does not list
            (kept, with the same column naming rule).
        holiday_rows: dated rows dropped because every fund was ``-`` (market holidays).
    """

    frame: pd.DataFrame
    unknown_funds: tuple[str, ...] = ()
    holiday_rows: tuple[pd.Timestamp, ...] = field(default_factory=tuple)


def parse_flow(text: str) -> float:
    """One Farside cell -> US$ millions: ``(95.1)`` -> -95.1, ``1,234.5`` -> 1234.5, ``-`` -> NaN.

    Raises ValueError for anything else.
    """
    s = text.strip().replace(",", "").replace(" ", "").replace("\u2212", "-").replace("$", "")
    if s in MISSING_MARKS:
        return math.nan
    negative = s.startswith("(") and s.endswith(")")
    if negative:
        s = s[1:-1]
        if s.startswith("-"):
            raise ValueError(text)
    if not _NUMBER_RE.match(s):
        raise ValueError(text)
    value = float(s)
    return -value if negative else value


def _parse_date(text: str) -> pd.Timestamp | None:
    if not _DATE_RE.match(text):
        return None
    try:
        return pd.Timestamp(datetime.strptime(text, "%d %b %Y"))
    except ValueError:
        return None


def _find_header(table: list[list[str]]) -> int | None:
    for i, row in enumerate(table):
        cells = [c.upper() for c in row[1:]]
        if "TOTAL" in cells and any(t in cells for t in KNOWN_TICKERS):
            return i
    return None


def parse_farside_table(text: str) -> FarsideTable:
    """Parse Farside's "all data" page (HTML) into flows; see the module docstring for the format.

    Pure: no I/O. Raises `DataError` (naming the row's date or position and the fund) when the
    page has no flows table, a header cell is not a ticker, a row has the wrong number of cells,
    a value is not a number, ``-`` or ``(number)``, a date repeats, or no dated row remains.
    """
    collector = _TableCollector()
    try:
        collector.feed(text)
        collector.close()
    except Exception as exc:  # noqa: BLE001 - html.parser is lenient; anything here is bad input
        raise DataError(f"unreadable HTML ({type(exc).__name__}: {exc})") from None
    candidates = [(t, h) for t in collector.tables if (h := _find_header(t)) is not None]
    if not candidates:
        raise DataError(
            "no flows table found (no header row with fund tickers such as IBIT and 'Total')"
        )
    table, head = max(candidates, key=lambda th: len(th[0]) - th[1])
    header = table[head]
    tickers: list[str] = []
    for pos, cell in enumerate(header[1:], start=2):
        if not _TICKER_RE.match(cell):
            raise DataError(f"header cell {pos} ('{cell}') is not a fund ticker", where="header")
        tickers.append(cell.upper())
    if len(set(tickers)) != len(tickers):
        dup = next(t for t in tickers if tickers.count(t) > 1)
        raise DataError(f"fund '{dup}' appears twice in the header", where="header")
    width = len(header)
    dates: list[pd.Timestamp] = []
    rows: list[list[float]] = []
    for n, row in enumerate(table[head + 1 :], start=head + 2):
        label = row[0] if row else ""
        day = _parse_date(label)
        if day is None:
            low = label.lower().rstrip(":")
            if low in FOOTER_LABELS or low in IGNORED_LABELS or not any(row):
                continue
            raise DataError(
                f"first cell '{label[:40]}' is neither a date like '11 Jan 2024' nor a footer "
                "label (Total, Average, Maximum, Minimum)",
                where=f"table row {n}",
            )
        if len(row) != width:
            raise DataError(
                f"has {len(row)} cells, the header has {width}", where=f"row dated {day.date()}"
            )
        values = []
        for ticker, cell in zip(tickers, row[1:], strict=True):
            try:
                values.append(parse_flow(cell))
            except ValueError:
                raise DataError(
                    f"'{cell[:40]}' is not a flow (a number, '(number)' for outflows or '-')",
                    column=ticker,
                    where=f"row dated {day.date()}",
                ) from None
        dates.append(day)
        rows.append(values)
    if not rows:
        raise DataError("the flows table has no dated rows")
    columns = [TOTAL_COLUMN if t == "TOTAL" else bf.etf_column(t) for t in tickers]
    frame = pd.DataFrame(rows, columns=columns, dtype="float64")
    frame.index = pd.DatetimeIndex(dates, name="date").as_unit("ns")
    dup = frame.index[frame.index.duplicated()]
    if len(dup):
        raise DataError("date appears twice in the table", where=str(dup[0].date()))
    frame = frame.sort_index()
    funds = [c for c in frame.columns if c != TOTAL_COLUMN]
    holidays = frame.index[frame[funds].isna().all(axis=1)] if funds else frame.index[:0]
    frame = frame.drop(index=holidays)
    if frame.empty:
        raise DataError("the flows table has no day with any fund value")
    known_order = [bf.etf_column(t) for t in KNOWN_TICKERS]
    unknown = tuple(t for t in tickers if t != "TOTAL" and t not in KNOWN_TICKERS)
    order = [c for c in known_order if c in frame.columns]
    order += [bf.etf_column(t) for t in unknown] + [TOTAL_COLUMN]
    return FarsideTable(frame[order], unknown, tuple(holidays))


def parse_farside_html(text: str) -> pd.DataFrame:
    """Farside page -> flows frame (US$ millions, index ``date``); see `parse_farside_table`."""
    return parse_farside_table(text).frame


# ---------------------------------------------------------------------------------------- snapshots
def snapshot_label(taken_at: datetime) -> str:
    """``snapshot-2026-04-11T153000Z`` for a fetch at 2026-04-11 15:30:00 UTC."""
    return SNAPSHOT_PREFIX + _utc(taken_at).strftime(SNAPSHOT_TIME_FORMAT)


def snapshot_key(taken_at: datetime) -> SeriesKey:
    """Cache key of the snapshot fetched at ``taken_at``."""
    return SeriesKey(SOURCE, KIND, MARKET, snapshot_label(taken_at))


def _utc(ts: datetime | pd.Timestamp) -> pd.Timestamp:
    t = pd.Timestamp(ts)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


@dataclass(frozen=True)
class Snapshot:
    """One stored fetch: when it was taken (UTC), its cache key, and the flows."""

    taken_at: pd.Timestamp
    key: SeriesKey
    frame: pd.DataFrame

    @property
    def label(self) -> str:
        return self.key.timeframe


def list_snapshots(cache: Cache) -> list[tuple[pd.Timestamp, SeriesKey]]:
    """Every stored snapshot as ``(taken_at UTC, key)``, oldest first (read from the files)."""
    if not cache.root.exists():
        return []
    found = []
    for path in cache.root.glob("farside__etf-flows__BTC__snapshot-*.parquet"):
        m = _SNAPSHOT_FILE_RE.match(path.name)
        if not m:
            continue
        taken = pd.Timestamp(datetime.strptime(m.group(1), SNAPSHOT_TIME_FORMAT), tz="UTC")
        found.append((taken, snapshot_key(taken)))
    return sorted(found, key=lambda tk: tk[0])


def parse_as_of(as_of: str | datetime | pd.Timestamp) -> pd.Timestamp:
    """An ``as_of`` value -> UTC instant.

    Accepts a snapshot label (``snapshot-2026-04-11T153000Z`` or ``2026-04-11T153000Z``), any
    ISO date or timestamp (naive = UTC), or a datetime. A bare date (``2026-04-11``) means the
    end of that UTC day, so every snapshot taken that day counts.
    """
    if isinstance(as_of, str):
        text = as_of.strip()
        label = text.removeprefix(SNAPSHOT_PREFIX)
        try:
            return pd.Timestamp(datetime.strptime(label, SNAPSHOT_TIME_FORMAT), tz="UTC")
        except ValueError:
            pass
        try:
            ts = pd.Timestamp(text)
        except (ValueError, TypeError, OverflowError):
            raise DataError(
                f"'{as_of}' is not a snapshot label, date or timestamp", column="as_of"
            ) from None
        if ts is pd.NaT:
            raise DataError(f"'{as_of}' is not a date", column="as_of")
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return _utc(ts) + pd.Timedelta(days=1) - pd.Timedelta(seconds=1)
        return _utc(ts)
    return _utc(as_of)


def load_snapshot(cache: Cache, as_of: str | datetime | pd.Timestamp | None = None) -> Snapshot:
    """The latest snapshot taken at or before ``as_of`` (None: the latest of all).

    Raises `DataError` when the cache holds no such snapshot.
    """
    snaps = list_snapshots(cache)
    if as_of is not None:
        cutoff = parse_as_of(as_of)
        snaps = [(t, k) for t, k in snaps if t <= cutoff]
    if not snaps:
        when = "" if as_of is None else f" taken at or before {as_of}"
        raise DataError(
            f"no Farside ETF-flow snapshot{when} (fetch one with `costbt data etf-flows`)",
            path=cache.root,
        )
    taken, key = snaps[-1]
    frame = cache.read(key)
    assert frame is not None  # listed from the files themselves
    return Snapshot(taken, key, frame)


def previous_snapshot(cache: Cache, before: pd.Timestamp) -> Snapshot | None:
    """The latest snapshot taken strictly before ``before``, or None."""
    snaps = [(t, k) for t, k in list_snapshots(cache) if t < _utc(before)]
    if not snaps:
        return None
    taken, key = snaps[-1]
    frame = cache.read(key)
    return None if frame is None else Snapshot(taken, key, frame)


def _frame(x: Snapshot | pd.DataFrame) -> pd.DataFrame:
    return x.frame if isinstance(x, Snapshot) else x


def revisions(old: Snapshot | pd.DataFrame, new: Snapshot | pd.DataFrame) -> pd.DataFrame:
    """Cells that changed between two snapshots, on the days both contain.

    A change is a different value, or a value that appeared (``-`` -> number, a late report)
    or disappeared. Columns present in only one snapshot count as missing in the other.
    Returns a frame with columns ``date``, ``column``, ``old``, ``new`` (US$ millions), sorted.
    """
    a, b = _frame(old), _frame(new)
    days = a.index.intersection(b.index)
    cols = list(dict.fromkeys([*a.columns, *b.columns]))
    a2 = a.reindex(index=days, columns=cols).astype("float64")
    b2 = b.reindex(index=days, columns=cols).astype("float64")
    changed = (a2 != b2) & ~(a2.isna() & b2.isna())
    out = []
    for col in cols:
        for day in changed.index[changed[col].to_numpy()]:
            out.append((day, col, a2.at[day, col], b2.at[day, col]))
    result = pd.DataFrame(out, columns=["date", "column", "old", "new"])
    result["date"] = pd.to_datetime(result["date"])
    return result.sort_values(["date", "column"], kind="stable").reset_index(drop=True)


@dataclass(frozen=True)
class SnapshotDiff:
    """What a snapshot adds, drops and revises relative to an earlier one."""

    added_days: tuple[pd.Timestamp, ...]
    removed_days: tuple[pd.Timestamp, ...]
    revised: pd.DataFrame


def compare(old: Snapshot | pd.DataFrame, new: Snapshot | pd.DataFrame) -> SnapshotDiff:
    """Days added, days removed, and revised cells (`revisions`) from ``old`` to ``new``."""
    a, b = _frame(old), _frame(new)
    return SnapshotDiff(
        tuple(b.index.difference(a.index)), tuple(a.index.difference(b.index)), revisions(a, b)
    )


def etf_frame_for_panel(
    cache: Cache, as_of_snapshot: str | datetime | pd.Timestamp | None = None
) -> pd.DataFrame:
    """The ``etf_flows`` source frame for `data.panel.build_panel`, from a stored snapshot.

    The latest snapshot taken at or before ``as_of_snapshot`` (None: the latest), with exactly
    the bundled file's columns (`data.bundled_files.ETF_FLOWS_1D`, in order, float64, US$
    millions; a fund the snapshot lacks is all NaN, funds the bundle does not list are left
    out), indexed by ``date``. Use it as ``frames["etf_flows"]``.
    """
    snap = load_snapshot(cache, as_of_snapshot)
    cols = [c.name for c in bf.ETF_FLOWS_1D.columns]
    frame = snap.frame.reindex(columns=cols).astype("float64")
    frame.index = pd.DatetimeIndex(frame.index, name="date")
    return frame


# ---------------------------------------------------------------------------------------- network
@dataclass(frozen=True)
class FarsideConfig:
    """Where the page is and how long to wait for it.

    Attributes:
        base_url: scheme and host (a full page URL is split into base and path by `from_url`).
        path: the page's path.
        timeout_s: per-request timeout in seconds.
    """

    base_url: str = DEFAULT_BASE_URL
    path: str = DEFAULT_PATH
    timeout_s: float = 30.0

    @classmethod
    def from_url(cls, url: str | None, timeout_s: float = 30.0) -> FarsideConfig:
        """``https://host`` (default page path) or a full page URL -> config."""
        if not url:
            return cls(timeout_s=timeout_s)
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise DataError(f"'{url}' is not an http(s) URL", column="api_url")
        base = f"{parts.scheme}://{parts.netloc}"
        path = parts.path if parts.path not in ("", "/") else DEFAULT_PATH
        return cls(base, path, timeout_s)

    @property
    def url(self) -> str:
        return self.base_url.rstrip("/") + "/" + self.path.lstrip("/")


@dataclass(frozen=True)
class FetchResult:
    """One fetch: the snapshot written, the one before it, and what changed."""

    snapshot: Snapshot
    previous: Snapshot | None
    diff: SnapshotDiff | None
    unknown_funds: tuple[str, ...]
    holiday_rows: int
    entry: dict
    requests: int


def fetch_snapshot(
    cache: Cache,
    config: FarsideConfig = FarsideConfig(),
    *,
    policy: RetryPolicy | None = None,
    now: datetime | Callable[[], datetime] | None = None,
    on_retry: Callable[[str], None] | None = None,
) -> FetchResult:
    """Download the page, parse it, and store it as a new snapshot.

    Transient failures (timeouts, HTTP 429 honouring Retry-After, 5xx) are retried by
    ``policy``; a page that does not parse raises `FetchError` and writes nothing, so the cache
    is unchanged on every failure. ``now`` (the fetch time, UTC) names the snapshot.
    """
    from costbt.data.sources.http_client import HttpClient

    client = HttpClient(
        config.base_url,
        headers={"Accept": "text/html,application/xhtml+xml"},
        timeout_s=config.timeout_s,
        policy=policy or RetryPolicy(),
        on_retry=on_retry,
    )
    try:
        text = client.get_text(config.path)
    except FetchError as exc:
        if exc.status in (401, 403):
            raise FetchError(
                f"{config.url}: the site refused the request (HTTP 401/403; Farside needs no key, "
                "so this is access blocking, e.g. a bot filter)",
                exit_code=1,
            ) from None
        raise
    try:
        table = parse_farside_table(text)
    except DataError as exc:
        raise FetchError(f"{config.url}: malformed Farside page: {exc.message}") from None
    taken = _utc(now() if callable(now) else (now or datetime.now(UTC))).floor("s")
    key = snapshot_key(taken.to_pydatetime())
    previous = previous_snapshot(cache, taken)
    entry = cache.write(
        key,
        table.frame,
        client="costbt-farside",
        url=config.url,
        unit=UNIT,
        snapshot_taken_at=taken.strftime("%Y-%m-%dT%H:%M:%SZ"),
        publication_lag_days=PUBLICATION_LAG_DAYS,
        unknown_funds=list(table.unknown_funds) or None,
        holiday_rows_dropped=len(table.holiday_rows),
    )
    snap = Snapshot(taken, key, table.frame)
    diff = None if previous is None else compare(previous, snap)
    return FetchResult(
        snap,
        previous,
        diff,
        table.unknown_funds,
        len(table.holiday_rows),
        entry,
        client.requests,
    )


def describe_revisions(diff: SnapshotDiff, limit: int = 10) -> list[str]:
    """Human lines for a diff: ``2025-11-18 ibit_usd_m: -523.2 -> -500.0`` (up to ``limit``)."""

    def fmt(v: float) -> str:
        return "-" if pd.isna(v) else f"{v:,.1f}"

    lines = [
        f"{r.date.date()} {r.column}: {fmt(r.old)} -> {fmt(r.new)}"
        for r in diff.revised.head(limit).itertuples()
    ]
    if len(diff.revised) > limit:
        lines.append(f"... and {len(diff.revised) - limit} more")
    return lines
