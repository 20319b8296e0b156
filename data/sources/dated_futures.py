"""Dated (quarterly) BTC futures: the contract calendar, and candles fetched by instrument id.

Exchanges list only live contracts in their markets, so ccxt's unified ``fetch_ohlcv`` cannot reach
an expired one. The calendar below names every quarterly contract (they expire on the last Friday of
March, June, September and December at 08:00 UTC on Deribit and Binance COIN-M), and candles are
fetched through ccxt's implicit endpoint method with the exchange's own instrument id
(Deribit ``public/get_tradingview_chart_data`` with ``instrument_name=BTC-27DEC24``). That is
enough to rebuild a basis history for past years (signals/basis.py).

Each contract is one cached series ``SeriesKey("deribit", "ohlcv", "BTC-27DEC24", "1d")`` with
the expiry in its manifest entry. A day's candle is final once the day is over, and the expiry
day's once the contract has expired, both by the exchange's clock as its answers' ``Date`` showed
it (`exchange.exchange_now_ms`; the local clock before any answer) unless ``now_ms`` is given; an
expired contract already stored to its expiry is not requested again.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass

import ccxt
import numpy as np
import pandas as pd

from costbt.data.cache import Cache, SeriesKey
from costbt.data.sources.exchange import call, exchange_now_ms
from costbt.data.sources.ohlcv import OHLCV_COLUMNS, SyncResult, client_version, find_gaps, merge
from costbt.data.sources.retry import FetchError, RetryPolicy

DAY_MS = 86_400_000
EXPIRY_HOUR_UTC = 8
QUARTER_MONTHS = (3, 6, 9, 12)
#: Deribit answers up to 5000 candles per chart-data request.
DERIBIT_MAX_CANDLES = 5000
#: How long before expiry a quarterly is listed, at most (Deribit lists about three quarters ahead).
MAX_LISTED_DAYS = 400
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


def last_friday(year: int, month: int) -> pd.Timestamp:
    """The last Friday of a month, at 08:00 UTC (tz-naive)."""
    last_day = calendar.monthrange(year, month)[1]
    day = pd.Timestamp(year=year, month=month, day=last_day)
    day -= pd.Timedelta(days=(day.weekday() - calendar.FRIDAY) % 7)
    return day + pd.Timedelta(hours=EXPIRY_HOUR_UTC)


def quarterly_expiries(start: str | pd.Timestamp, end: str | pd.Timestamp) -> list[pd.Timestamp]:
    """Expiry instants of the quarterly contracts expiring in ``[start, end]``."""
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    out = []
    for year in range(start.year, end.year + 1):
        for month in QUARTER_MONTHS:
            expiry = last_friday(year, month)
            if start <= expiry <= end:
                out.append(expiry)
    return out


def deribit_instrument(expiry: pd.Timestamp, base: str = "BTC") -> str:
    """Deribit's name for a future expiring at ``expiry``: ``BTC-27DEC24``."""
    return f"{base}-{expiry.day}{_MONTHS[expiry.month - 1]}{expiry.year % 100:02d}"


def binance_coinm_symbol(expiry: pd.Timestamp, base: str = "BTC") -> str:
    """Binance COIN-M delivery contract id: ``BTCUSD_241227``."""
    return f"{base}USD_{expiry:%y%m%d}"


def parse_deribit_instrument(name: str) -> pd.Timestamp:
    """Expiry of a Deribit future named like ``BTC-27DEC24`` (08:00 UTC); ValueError otherwise."""
    try:
        _, code = name.split("-", 1)
        day, mon, yy = int(code[:-5]), code[-5:-2], int(code[-2:])
        month = _MONTHS.index(mon) + 1
    except (ValueError, IndexError):
        raise ValueError(f"'{name}' is not a Deribit future name like BTC-27DEC24") from None
    return pd.Timestamp(year=2000 + yy, month=month, day=day, hour=EXPIRY_HOUR_UTC)


@dataclass(frozen=True)
class Contract:
    """One dated future: where it trades, its exchange id, and when it expires (UTC)."""

    exchange: str
    instrument: str
    expiry: pd.Timestamp

    @property
    def key(self) -> SeriesKey:
        return SeriesKey(self.exchange, "ohlcv", self.instrument, "1d")


def deribit_quarterlies(start: str | pd.Timestamp, end: str | pd.Timestamp) -> list[Contract]:
    """Deribit BTC quarterly contracts alive at some point in ``[start, end]``."""
    expiries = quarterly_expiries(
        pd.Timestamp(start), pd.Timestamp(end) + pd.Timedelta(days=MAX_LISTED_DAYS)
    )
    return [Contract("deribit", deribit_instrument(e), e) for e in expiries]


def tradingview_to_frame(payload: object) -> pd.DataFrame:
    """Deribit chart data ``{"result": {"ticks": [...], "open": [...], ...}}`` -> OHLCV frame.

    ``status: "no_data"`` gives an empty frame. Anything else malformed raises FetchError.
    """
    result = payload.get("result") if isinstance(payload, dict) else None
    if not isinstance(result, dict):
        raise FetchError("deribit chart data: response has no 'result' object")
    if result.get("status") == "no_data":
        return candles_frame([])
    try:
        cols = [result[k] for k in ("ticks", "open", "high", "low", "close", "volume")]
        rows = [list(r) for r in zip(*cols, strict=True)]
    except (KeyError, TypeError, ValueError) as exc:
        raise FetchError(
            f"deribit chart data: malformed result ({type(exc).__name__}: {exc})"
        ) from None
    return candles_frame(rows)


def candles_frame(rows: list[list[float]]) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame(
            columns=list(OHLCV_COLUMNS), index=pd.DatetimeIndex([], name="time"), dtype="float64"
        )
    try:
        arr = np.asarray(rows, dtype="float64")
    except (TypeError, ValueError) as exc:
        raise FetchError(f"deribit chart data: non-numeric values ({exc})") from None
    index = pd.DatetimeIndex(
        pd.to_datetime(arr[:, 0].astype("int64"), unit="ms"), name="time"
    ).as_unit("ns")
    return pd.DataFrame(arr[:, 1:6], index=index, columns=list(OHLCV_COLUMNS))


def fetch_contract(
    exchange: ccxt.Exchange,
    cache: Cache,
    contract: Contract,
    *,
    since_ms: int | None = None,
    now_ms: int | None = None,
    policy: RetryPolicy | None = None,
    progress=None,
) -> SyncResult:
    """Bring one contract's daily candles into the cache (from ``since`` or its listing)."""
    if exchange.id != "deribit":
        raise FetchError(
            f"--exchange: dated futures by instrument id are implemented for deribit, not {exchange.id}",
            exit_code=2,
        )
    clock_given = now_ms is not None
    now_ms = int(now_ms if now_ms is not None else exchange_now_ms(exchange))
    expiry_ms = int(contract.expiry.value // 1_000_000)
    stored = cache.read(contract.key)
    result = SyncResult(key=contract.key, rows_before=0 if stored is None else len(stored))
    expired = expiry_ms <= now_ms
    last_day_ms = (expiry_ms // DAY_MS) * DAY_MS  # the expiry day's candle (final once expired)
    if stored is not None and not stored.empty:
        start = int(stored.index[-1].value // 1_000_000)
        if expired and start >= last_day_ms:
            return _finish(result, stored)
    else:
        start = since_ms if since_ms is not None else expiry_ms - MAX_LISTED_DAYS * DAY_MS
        start = (start // DAY_MS) * DAY_MS
    end = min(now_ms, expiry_ms)
    meta = {
        "client": "ccxt",
        "client_version": client_version(),
        "exchange": exchange.id,
        "market_type": "future",
        "base": "BTC",
        "quote": "USD",
        "expiry": contract.expiry.isoformat(),
        "units": {c: ("BTC" if c == "volume_base" else "USD") for c in OHLCV_COLUMNS},
    }
    if progress is not None:
        # Without stored rows the listing day is unknown, so the total is unknown too.
        total = None if stored is None else max(0, (end - start) // DAY_MS + 1)
        progress.start(f"{exchange.id} {contract.instrument} 1d", total)
    while start <= end:
        window_end = min(end, start + (DERIBIT_MAX_CANDLES - 1) * DAY_MS)
        result.requests += 1
        payload = call(
            exchange,
            exchange.publicGetGetTradingviewChartData,
            {
                "instrument_name": contract.instrument,
                "start_timestamp": start,
                "end_timestamp": window_end,
                "resolution": "1D",
            },
            policy=policy,
            on_retry=None if progress is None else progress.note,
            what=f"chart data for {contract.instrument}",
        )
        page = tradingview_to_frame(payload)
        if not clock_given:  # the answer showed the exchange's clock: it decides what is final
            now_ms = exchange_now_ms(exchange)
            expired = expiry_ms <= now_ms
        ms = page.index.asi8 // 1_000_000
        final = (ms + DAY_MS <= now_ms) | (expired & (ms <= last_day_ms))
        page = page[final & (ms >= start) & (ms <= last_day_ms)]
        if not page.empty:
            merged = merge(stored, page)
            if stored is None or not merged.equals(stored):
                cache.write(
                    contract.key, merged, gaps=len(find_gaps(merged.index, DAY_MS, "ohlcv")), **meta
                )
                if progress is not None:
                    progress.advance(len(merged) - (0 if stored is None else len(stored)))
                stored = merged
        start = window_end + 1
    if progress is not None:
        progress.finish()
    return _finish(result, stored)


def _finish(result: SyncResult, stored: pd.DataFrame | None) -> SyncResult:
    if stored is not None and not stored.empty:
        result.rows = len(stored)
        result.first, result.last = stored.index[0], stored.index[-1]
        result.gaps = find_gaps(stored.index, DAY_MS, "ohlcv")
    return result


def load_dated_futures(cache: Cache, exchange: str = "deribit") -> pd.DataFrame:
    """Every cached dated contract of ``exchange`` as a long frame for basis work.

    Columns: ``time`` (candle day), ``instrument``, ``expiry`` (UTC), ``close_usd``,
    ``days_to_expiry`` ((expiry - candle close) in days, the d of the annualised basis; the
    expiry day's candle closes at expiry, so 0).
    """
    rows = []
    for entry in cache.manifest()["files"].values():
        if entry.get("exchange") != exchange or entry.get("market_type") != "future":
            continue
        key = SeriesKey(entry["source"], entry["kind"], entry["symbol"], entry["timeframe"])
        frame = cache.read(key)
        if frame is None or frame.empty:
            continue
        expiry = pd.Timestamp(entry["expiry"])
        close_at = (frame.index + pd.Timedelta(days=1)).where(
            frame.index + pd.Timedelta(days=1) < expiry, expiry
        )
        rows.append(
            pd.DataFrame(
                {
                    "time": frame.index,
                    "instrument": entry["symbol"],
                    "expiry": expiry,
                    "close_usd": frame["close_quote"].to_numpy(),
                    "days_to_expiry": ((expiry - close_at) / pd.Timedelta(days=1)).to_numpy(),
                }
            )
        )
    if not rows:
        return pd.DataFrame(columns=["time", "instrument", "expiry", "close_usd", "days_to_expiry"])
    return (
        pd.concat(rows, ignore_index=True)
        .sort_values(["time", "expiry"], kind="mergesort")
        .reset_index(drop=True)
    )
