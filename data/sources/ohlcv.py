"""Incremental, resumable download of candles and funding rates through ccxt into the cache.

One series = one (exchange, kind, symbol, timeframe) Parquet file in `data.cache`. `sync` brings it
to cover ``[since, until or now]``:

* **forwards** from the last stored row (refetched: it is replaced by the newest values) or from
  ``since`` when nothing is stored, one page at a time at the exchange's largest page size;
* **backwards** (``since`` earlier than the first stored row, e.g. ``--prepend``) in pages ending
  just before the first stored row, so the stored rows always form one contiguous run.

Every page is merged (duplicates dropped, newest wins) and written atomically before the next is
requested: an interruption (Ctrl-C, kill -9) loses at most the page in flight, and the next run
resumes from the last stored row. When the series is up to date, the forward pass makes exactly
one request.

A candle is stored only once it is finished: its open time plus the timeframe is not after
``now``, which is the exchange's clock as its answers' ``Date`` headers showed it
(`exchange.exchange_now_ms`), the local clock when no answer had one, or the instant given
(``--now``).

A download never ends short of ``until``/``now`` while the exchange has more, and never reports
success for one that did:

* a short page does not end it; reaching ``until``/``now`` does;
* an empty page ends it only when the exchange has nothing newer (its newest row, one extra
  request, is not after the page's start). Otherwise the page is asked again (without its upper
  bound, so a range that really ends in a gap of the exchange's is told apart from a fault) up to
  the policy's attempts with backoff, then `sync` raises `FetchError` (exit status 1) saying
  where the stored series stops and why; every complete page stays stored;
* rows ccxt could not read (a missing field, a non-numeric value: ccxt makes them None, stored
  as NaN) or not of the documented form make the page malformed (`check_candles`,
  `check_funding`): retried, then the same error;
* a page that fails for good (5xx, timeouts, malformed bodies after every retry) or a wait the
  server asks for that is too long (an IP ban) stops the download the same way.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import ccxt
import numpy as np
import pandas as pd

from costbt.data.cache import Cache, SeriesKey
from costbt.data.sources.exchange import (
    FUNDING_PAGE_LIMIT,
    PAGE_LIMIT,
    MalformedResponse,
    call,
    exchange_now_ms,
    find_market,
)
from costbt.data.sources.progress import Progress, SilentProgress
from costbt.data.sources.retry import FetchError, RetryPolicy

Kind = Literal["ohlcv", "funding"]
OHLCV_COLUMNS = ("open_quote", "high_quote", "low_quote", "close_quote", "volume_base")
FUNDING_INTERVAL_MS = 8 * 3_600_000


@dataclass(frozen=True)
class SyncRequest:
    """What to bring into the cache.

    Attributes:
        symbol: ccxt unified symbol (``BTC/USDT`` spot, ``BTC/USDT:USDT`` USDT-M perpetual).
        kind: ``ohlcv`` or ``funding``.
        timeframe: candle length (``1d``); funding rows are settlements (``8h`` on Binance).
        since_ms: first row wanted (UTC ms); None continues from what is stored (or from the
            exchange's first row when nothing is).
        until_ms: last row wanted (inclusive open time); None means up to now.
    """

    symbol: str
    kind: Kind = "ohlcv"
    timeframe: str = "1d"
    since_ms: int | None = None
    until_ms: int | None = None


@dataclass
class Gap:
    after: pd.Timestamp
    before: pd.Timestamp
    missing: int


@dataclass
class SyncResult:
    key: SeriesKey
    requests: int = 0
    rows_before: int = 0
    rows: int = 0
    first: pd.Timestamp | None = None
    last: pd.Timestamp | None = None
    gaps: list[Gap] = field(default_factory=list)

    @property
    def new_rows(self) -> int:
        return self.rows - self.rows_before


def series_key(exchange_id: str, request: SyncRequest) -> SeriesKey:
    timeframe = request.timeframe if request.kind == "ohlcv" else "8h"
    return SeriesKey(exchange_id, request.kind, request.symbol, timeframe)


def step_ms(exchange: ccxt.Exchange, request: SyncRequest) -> int:
    """Spacing of consecutive rows: the candle length, or the funding interval."""
    if request.kind == "funding":
        return FUNDING_INTERVAL_MS
    known = getattr(exchange, "timeframes", None) or {}
    if known and request.timeframe not in known:
        raise FetchError(
            f"--timeframe: '{request.timeframe}' is not one of {exchange.id}'s candle lengths "
            f"({', '.join(known)})",
            exit_code=2,
        )
    try:
        return int(exchange.parse_timeframe(request.timeframe) * 1000)
    except Exception:  # noqa: BLE001 - ccxt raises a bare Exception/NotSupported for odd strings
        raise FetchError(
            f"--timeframe: '{request.timeframe}' is not a timeframe", exit_code=2
        ) from None


def candles_to_frame(rows: list[list[float]]) -> pd.DataFrame:
    """ccxt OHLCV rows ``[ms, open, high, low, close, volume]`` -> frame indexed by ``time``."""
    if not rows:
        return pd.DataFrame(
            columns=list(OHLCV_COLUMNS), index=pd.DatetimeIndex([], name="time"), dtype="float64"
        )
    arr = np.asarray([r[:6] for r in rows], dtype="float64")
    index = pd.DatetimeIndex(
        pd.to_datetime(arr[:, 0].astype("int64"), unit="ms"), name="time"
    ).as_unit("ns")
    return pd.DataFrame(arr[:, 1:], index=index, columns=list(OHLCV_COLUMNS))


def funding_to_frame(rows: list[dict]) -> pd.DataFrame:
    """ccxt funding-rate history entries -> frame indexed by settlement ``time``."""
    if not rows:
        return pd.DataFrame(
            columns=["funding_rate"], index=pd.DatetimeIndex([], name="time"), dtype="float64"
        )
    ts = np.asarray([int(r["timestamp"]) for r in rows], dtype="int64")
    rates = np.asarray([float(r["fundingRate"]) for r in rows], dtype="float64")
    index = pd.DatetimeIndex(pd.to_datetime(ts, unit="ms"), name="time").as_unit("ns")
    return pd.DataFrame({"funding_rate": rates}, index=index)


def merge(old: pd.DataFrame | None, new: pd.DataFrame) -> pd.DataFrame:
    """Union of rows; where both have a timestamp, ``new`` wins. Sorted, no duplicates."""
    out = new if old is None or old.empty else pd.concat([old, new])
    out = out[~out.index.duplicated(keep="last")].sort_index()
    out.index.name = "time"
    return out


def find_gaps(index: pd.DatetimeIndex, step: int, kind: Kind) -> list[Gap]:
    """Runs of missing rows: consecutive rows further apart than one step (1.5 for funding)."""
    if len(index) < 2:
        return []
    ms = index.asi8 // 1_000_000
    d = np.diff(ms)
    tol = step * 1.5 if kind == "funding" else step
    out = []
    for i in np.flatnonzero(d > tol):
        out.append(Gap(index[i], index[i + 1], int(round(d[i] / step)) - 1))
    return out


def client_version() -> str:
    try:
        return importlib.metadata.version("ccxt")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover
        return getattr(ccxt, "__version__", "unknown")


def check_candles(rows: list) -> None:
    """Refuse (`MalformedResponse`) a page whose rows are not ``[ms, open, high, low, close,
    volume]`` with an integer time, finite positive prices and a finite volume >= 0 (ccxt turns a
    missing or non-numeric field into None, which would be stored as NaN)."""
    for i, row in enumerate(rows):
        if not isinstance(row, list | tuple) or len(row) < 6:
            raise MalformedResponse(f"row {i} is not a candle: {str(row)[:60]}")
        t, *values = row[:6]
        if not isinstance(t, int | np.integer) or isinstance(t, bool):
            raise MalformedResponse(f"row {i} has no open time: {str(row)[:60]}")
        for j, v in enumerate(values):
            ok = isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v)
            if not ok or v < 0 or (j < 4 and v == 0):
                raise MalformedResponse(
                    f"row {i} ({_when(int(t))}) has a bad {OHLCV_COLUMNS[j]}: {v!r}"
                )


def check_funding(rows: list) -> None:
    """Refuse (`MalformedResponse`) funding entries without an integer ``timestamp`` or with a
    ``fundingRate`` that is not a finite number."""
    for i, row in enumerate(rows):
        t = row.get("timestamp") if isinstance(row, dict) else None
        rate = row.get("fundingRate") if isinstance(row, dict) else None
        if not isinstance(t, int | np.integer) or isinstance(t, bool):
            raise MalformedResponse(f"funding entry {i} has no time: {str(row)[:60]}")
        ok = isinstance(rate, int | float) and not isinstance(rate, bool) and np.isfinite(rate)
        if not ok:
            raise MalformedResponse(f"funding entry {i} ({_when(int(t))}) has a bad rate: {rate!r}")


def _when(ms: int) -> str:
    """An instant as a day (``2019-03-01``) when it is midnight UTC, else with the time."""
    ts = pd.Timestamp(int(ms), unit="ms")
    return ts.strftime("%Y-%m-%d") if ts == ts.normalize() else ts.strftime("%Y-%m-%d %H:%M UTC")


def _ms(frame: pd.DataFrame) -> np.ndarray:
    return frame.index.asi8 // 1_000_000


class SeriesStopped(Exception):
    """A page the exchange should have rows for came back without any, even when asked again."""


class _Fetcher:
    def __init__(self, exchange, request, policy, progress, now_ms) -> None:
        self.exchange = exchange
        self.request = request
        self.policy = policy
        self.progress = progress
        self.now_ms = now_ms
        self.requests = 0
        self.step = step_ms(exchange, request)
        limits = FUNDING_PAGE_LIMIT if request.kind == "funding" else PAGE_LIMIT
        self.limit = limits.get(exchange.id, 500)

    def page(self, since: int | None, until: int | None, limit: int | None = None) -> pd.DataFrame:
        """Rows from ``since`` (None: the newest rows) up to ``until``, one request, retried."""
        params = {} if until is None else {"until": until}
        limit = limit or self.limit
        self.requests += 1
        what = "newest row" if since is None else f"page from {_when(since)}"
        if self.request.kind == "funding":
            rows = call(
                self.exchange,
                self.exchange.fetch_funding_rate_history,
                self.request.symbol,
                since,
                limit,
                params,
                policy=self.policy,
                on_retry=self.progress.note,
                expect_list=True,
                check=check_funding,
                what=what,
            )
            return funding_to_frame(rows)
        rows = call(
            self.exchange,
            self.exchange.fetch_ohlcv,
            self.request.symbol,
            self.request.timeframe,
            since,
            limit,
            params,
            policy=self.policy,
            on_retry=self.progress.note,
            expect_list=True,
            check=check_candles,
            what=what,
        )
        return candles_to_frame(rows)

    def newest_ms(self) -> int | None:
        """Time of the exchange's newest row (the current candle included); None: it has none."""
        newest = self.page(None, None, limit=1)
        return None if newest.empty else int(_ms(newest).max())

    def again(self, start: int, first_wait: bool = True) -> pd.DataFrame:
        """Ask again for the rows from ``start`` (without an upper bound, so rows that exist only
        past it show that the window is really empty), up to the policy's attempts, with backoff.
        Raises `SeriesStopped` when every answer is empty."""
        for attempt in range(1, self.policy.max_attempts):
            if first_wait or attempt > 1:
                wait = self.policy.delay(attempt)
                self.progress.note(
                    f"{self.exchange.id} page from {_when(start)} came back empty; "
                    f"retry {attempt}/{self.policy.max_attempts - 1} in {wait:.1f} s"
                )
                self.policy.sleep(wait)
            raw = self.page(start, None)
            raw = raw[_ms(raw) >= start]
            if not raw.empty:
                return raw
        raise SeriesStopped

    def finished(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Drop rows not yet final at ``now`` (the current candle) and rows after ``until``."""
        ms = _ms(frame)
        keep = ms + (self.step if self.request.kind == "ohlcv" else 0) <= self.now_ms
        if self.request.until_ms is not None:
            keep &= ms <= self.request.until_ms
        return frame[keep]


def sync(
    exchange: ccxt.Exchange,
    cache: Cache,
    request: SyncRequest,
    *,
    now_ms: int | None = None,
    policy: RetryPolicy | None = None,
    progress: Progress | None = None,
    on_write: Callable[[pd.DataFrame], None] | None = None,
) -> SyncResult:
    """Bring one series in ``cache`` up to date; see the module docstring for the rules.

    ``now_ms`` fixes the clock (``--now``); by default it is the exchange's clock as its answers
    showed it, else the local one (`exchange.exchange_now_ms`). Raises `FetchError`: exit status
    2 for bad input (unknown market, timeframe), 1 when the exchange fails for good, in which case
    the message says where the stored series stops and why, and every complete page is kept.
    """
    progress = progress or SilentProgress()
    policy = policy or RetryPolicy()
    on_retry = progress.note
    market = find_market(exchange, request.symbol, policy=policy, on_retry=on_retry)
    now_ms = int(now_ms if now_ms is not None else exchange_now_ms(exchange))
    key = series_key(exchange.id, request)
    f = _Fetcher(exchange, request, policy, progress, now_ms)
    stored = cache.read(key)
    result = SyncResult(key=key, rows_before=0 if stored is None else len(stored))
    label = f"{exchange.id} {request.symbol} " + (
        "funding" if request.kind == "funding" else key.timeframe
    )
    meta = {
        "client": "ccxt",
        "client_version": client_version(),
        "exchange": exchange.id,
        "market_type": market.get("type"),
        "base": market.get("base"),
        "quote": market.get("quote"),
        "units": (
            {"funding_rate": "fraction per funding interval"}
            if request.kind == "funding"
            else {
                c: (market.get("quote") if c != "volume_base" else market.get("base"))
                for c in OHLCV_COLUMNS
            }
        ),
    }

    def persist(frame: pd.DataFrame) -> pd.DataFrame:
        nonlocal stored
        merged = merge(stored, frame)
        if stored is not None and merged.equals(stored):
            return stored
        gaps = find_gaps(merged.index, f.step, request.kind)
        cache.write(key, merged, gaps=len(gaps), **meta)
        progress.advance(len(merged) - (0 if stored is None else len(stored)))
        stored = merged
        if on_write:
            on_write(merged)
        return merged

    def stops(reason: str, status: int | None = None) -> FetchError:
        """The error for a series that ends short of what the exchange has."""
        if stored is None or stored.empty:
            kept = "nothing stored yet"
        else:
            span = f"{_when(int(_ms(stored)[0]))} .. {_when(int(_ms(stored)[-1]))}"
            kept = f"{len(stored):,} rows stored, {span}"
        return FetchError(f"{label} stops short ({kept}): {reason}", reason=reason, status=status)

    def fetch_page(since: int, until: int | None) -> pd.DataFrame:
        try:
            return f.page(since, until)
        except FetchError as exc:
            if exc.exit_code != 1:
                raise
            raise stops(f"the page from {_when(since)}: {exc.reason}", exc.status) from None

    def check_again(start: int, first_wait: bool, evidence: str) -> pd.DataFrame:
        try:
            return f.again(start, first_wait)
        except SeriesStopped:
            raise stops(
                f"the exchange answered an empty page from {_when(start)} "
                f"{f.policy.max_attempts} times while {evidence}"
            ) from None
        except FetchError as exc:
            if exc.exit_code != 1:
                raise
            raise stops(f"the page from {_when(start)}: {exc.reason}", exc.status) from None

    # Open time of the last row that can be final now (the current candle is not).
    end_ms = now_ms - (f.step if request.kind == "ohlcv" else 0)
    if request.until_ms is not None:
        end_ms = min(end_ms, request.until_ms)
    first_ms = None if stored is None or stored.empty else int(_ms(stored)[0])
    last_ms = None if stored is None or stored.empty else int(_ms(stored)[-1])
    expected = None
    lo = request.since_ms if request.since_ms is not None else first_ms
    if lo is not None:
        expected = max(0, (end_ms - lo) // f.step + 1)
    progress.start(f"{exchange.id} {request.symbol} {request.kind} {key.timeframe}", expected)
    if stored is not None:
        progress.advance(len(stored))

    # Backwards: extend history before the first stored row, newest page first. An empty window
    # is asked again without its upper bound: rows only after it (the stored ones) mean history
    # starts later (the normal end); no rows at all, although some are stored, is a fault.
    if first_ms is not None and request.since_ms is not None and request.since_ms < first_ms:
        end = first_ms - 1
        while end >= request.since_ms:
            start = max(request.since_ms, end - (f.limit - 1) * f.step)
            raw = fetch_page(start, end)
            raw = raw[(_ms(raw) >= start) & (_ms(raw) <= end)]
            if raw.empty:
                raw = check_again(
                    start, first_wait=False, evidence=f"rows from {_when(first_ms)} are stored"
                )
                raw = raw[_ms(raw) <= end]
                if raw.empty:
                    break  # nothing before the first stored row: history starts there
            page = f.finished(raw)
            if page.empty:
                break
            persist(page)
            end = int(_ms(page)[0]) - 1
            if start == request.since_ms:
                break

    # Forwards: from the last stored row (refetched) or from `since`. An empty page ends the
    # download only when the exchange has nothing newer (its newest row is not after the page's
    # start); otherwise it is asked again, then the download stops short with an error.
    start = (
        last_ms
        if last_ms is not None
        else (request.since_ms if request.since_ms is not None else 0)
    )
    while True:
        if request.until_ms is not None and start > request.until_ms:
            break
        raw = fetch_page(start, request.until_ms)
        raw = raw[_ms(raw) >= start]
        if raw.empty:
            try:
                newest = f.newest_ms()
            except FetchError as exc:
                if exc.exit_code != 1:
                    raise
                raise stops(
                    f"the page from {_when(start)} came back empty and the exchange's newest "
                    f"row could not be read: {exc.reason}",
                    exc.status,
                ) from None
            if newest is None or newest <= start:
                break  # the exchange has nothing newer: the normal end
            raw = check_again(start, first_wait=True, evidence=f"its newest row is {_when(newest)}")
        page = f.finished(raw)
        if not page.empty:
            persist(page)
        last_seen = int(_ms(raw).max())
        nxt = last_seen + (f.step if request.kind == "ohlcv" else 1)
        next_final_at = nxt + (f.step if request.kind == "ohlcv" else f.step - 1)
        if next_final_at > now_ms:
            break  # the next row cannot be final yet: up to date
        start = nxt
    progress.finish()

    result.requests = f.requests
    if stored is not None and not stored.empty:
        result.rows = len(stored)
        result.first, result.last = stored.index[0], stored.index[-1]
        result.gaps = find_gaps(stored.index, f.step, request.kind)
    return result
