"""Incremental, resumable download of candles and funding rates through ccxt into the cache.

One series = one (exchange, kind, symbol, timeframe) Parquet file in `data.cache`. `sync` brings it
to cover ``[since, until or now]``:

* **forwards** from the last stored row (refetched: it is replaced by the newest values) or from
  ``since`` when nothing is stored, one page at a time at the exchange's largest page size;
* **backwards** (``since`` earlier than the first stored row, e.g. ``--prepend``) in pages ending
  just before the first stored row, so the stored rows always form one contiguous run.

Every page is merged (duplicates dropped, newest wins) and written atomically before the next is
requested: an interruption (Ctrl-C, kill -9) loses at most the page in flight, and the next run
resumes from the last stored row. A candle is stored only once it is finished (its open time plus
the timeframe is not after ``now``); a short page does not end the download, only reaching
``until``/``now`` or an empty page does. When the series is up to date, the forward pass makes
exactly one request.
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
from costbt.data.sources.exchange import FUNDING_PAGE_LIMIT, PAGE_LIMIT, call
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

    def page(self, since: int, until: int | None) -> pd.DataFrame:
        params = {} if until is None else {"until": until}
        self.requests += 1
        if self.request.kind == "funding":
            rows = call(
                self.exchange,
                self.exchange.fetch_funding_rate_history,
                self.request.symbol,
                since,
                self.limit,
                params,
                policy=self.policy,
                on_retry=self.progress.note,
                expect_list=True,
            )
            frame = funding_to_frame(rows)
        else:
            rows = call(
                self.exchange,
                self.exchange.fetch_ohlcv,
                self.request.symbol,
                self.request.timeframe,
                since,
                self.limit,
                params,
                policy=self.policy,
                on_retry=self.progress.note,
                expect_list=True,
            )
            frame = candles_to_frame(rows)
        return frame

    def finished(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Drop rows not yet final at ``now`` (the current candle) and rows after ``until``."""
        ms = frame.index.asi8 // 1_000_000
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
    """Bring one series in ``cache`` up to date; see the module docstring for the rules."""
    progress = progress or SilentProgress()
    now_ms = int(now_ms if now_ms is not None else exchange.milliseconds())
    call(exchange, exchange.load_markets, policy=policy, on_retry=progress.note)
    if request.symbol not in exchange.markets:
        raise FetchError(f"--symbol: {exchange.id} has no market '{request.symbol}'", exit_code=2)
    market = exchange.market(request.symbol)
    key = series_key(exchange.id, request)
    f = _Fetcher(exchange, request, policy, progress, now_ms)
    stored = cache.read(key)
    result = SyncResult(key=key, rows_before=0 if stored is None else len(stored))
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

    # Open time of the last row that can be final now (the current candle is not).
    end_ms = now_ms - (f.step if request.kind == "ohlcv" else 0)
    if request.until_ms is not None:
        end_ms = min(end_ms, request.until_ms)
    first_ms = None if stored is None or stored.empty else int(stored.index[0].value // 1_000_000)
    last_ms = None if stored is None or stored.empty else int(stored.index[-1].value // 1_000_000)
    expected = None
    lo = request.since_ms if request.since_ms is not None else first_ms
    if lo is not None:
        expected = max(0, (end_ms - lo) // f.step + 1)
    progress.start(f"{exchange.id} {request.symbol} {request.kind} {key.timeframe}", expected)
    if stored is not None:
        progress.advance(len(stored))

    # Backwards: extend history before the first stored row, newest page first.
    if first_ms is not None and request.since_ms is not None and request.since_ms < first_ms:
        end = first_ms - 1
        while end >= request.since_ms:
            start = max(request.since_ms, end - (f.limit - 1) * f.step)
            page = f.finished(f.page(start, end))
            page = page[
                (page.index.asi8 // 1_000_000 >= start) & (page.index.asi8 // 1_000_000 <= end)
            ]
            if page.empty:
                break
            persist(page)
            end = int(page.index[0].value // 1_000_000) - 1
            if start == request.since_ms:
                break

    # Forwards: from the last stored row (refetched) or from `since`.
    start = (
        last_ms
        if last_ms is not None
        else (request.since_ms if request.since_ms is not None else 0)
    )
    while True:
        if request.until_ms is not None and start > request.until_ms:
            break
        raw = f.page(start, request.until_ms)
        if raw.empty:
            break
        page = f.finished(raw)
        page = page[page.index.asi8 // 1_000_000 >= start]
        if not page.empty:
            persist(page)
        last_seen = int(raw.index[-1].value // 1_000_000)
        nxt = last_seen + (f.step if request.kind == "ohlcv" else 1)
        if nxt <= start:
            break  # no progress: the exchange returned nothing newer
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
