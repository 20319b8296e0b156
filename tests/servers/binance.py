"""A local Binance: the spot and USDT-M endpoints ccxt calls, serving the bundled real data.

Implemented (Binance's documented request and response formats):
``GET /api/v3/exchangeInfo``, ``GET /api/v3/klines``, ``GET /fapi/v1/exchangeInfo``,
``GET /fapi/v1/klines``, ``GET /fapi/v1/fundingRate``, ``GET /api/v3/time``, ``GET /fapi/v1/time``.
Klines honour ``symbol``, ``interval`` (1d), ``startTime``, ``endTime`` and ``limit`` (default 500,
maximum 1000 spot / 1500 futures); funding honours ``startTime``, ``endTime``, ``limit`` (default
100, maximum 1000). An unknown symbol answers HTTP 400 with code -1121 ("Invalid symbol."), as
Binance does. Without ``startTime`` the most recent ``limit`` rows are served (before ``endTime``
when given), as Binance documents. ``now_ms`` fixes the server's clock: nothing later is served,
the candle that contains ``now_ms`` is served as the current, unfinished one, and every answer's
``Date`` header gives ``now_ms`` (set it to put the server's clock ahead of or behind the
client's).
"""

from __future__ import annotations

import bisect
import functools

import numpy as np
import pandas as pd

from costbt.data import bundle
from tests.servers.base import LocalServer, Response

DAY_MS = 86_400_000


def _ms(index: pd.DatetimeIndex) -> list[int]:
    return [int(x) for x in (index.asi8 // 1_000_000)]


def _fmt(x: float) -> str:
    return f"{x:.8f}"


class Series:
    """Daily candles as Binance kline rows, searchable by open time."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.times = _ms(frame.index)
        cols = frame[["open_usd", "high_usd", "low_usd", "close_usd", "volume_btc"]].to_numpy(float)
        self.rows = []
        for t, (o, h, lo, c, v) in zip(self.times, cols, strict=True):
            self.rows.append(
                [
                    t,
                    _fmt(o),
                    _fmt(h),
                    _fmt(lo),
                    _fmt(c),
                    _fmt(v),
                    t + DAY_MS - 1,
                    _fmt(v * c),
                    0,
                    "0",
                    "0",
                    "0",
                ]
            )

    def copy(self) -> Series:
        """A copy whose lists (times and rows) can be edited without touching this one."""
        other = Series.__new__(Series)
        other.times = list(self.times)
        other.rows = [list(row) for row in self.rows]
        return other


@functools.cache
def _bundled() -> tuple[Series, Series, list[int], np.ndarray]:
    """The bundled spot and perpetual candles as kline rows and the 8-hour funding, built once per
    process (formatting the rows is the slow part of starting a server); servers take copies."""
    spot = bundle.load_spot_ohlcv()
    spot = spot[spot["source"].str.startswith("binance")]
    f8 = bundle.load_funding_8h()
    return (
        Series(spot),
        Series(bundle.load_perp_ohlcv()),
        _ms(f8.index),
        f8["funding_rate"].to_numpy(float),
    )


def _spot_market() -> dict:
    return {
        "symbol": "BTCUSDT",
        "status": "TRADING",
        "baseAsset": "BTC",
        "baseAssetPrecision": 8,
        "quoteAsset": "USDT",
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True,
        "ocoAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": True,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": "0.01000000",
                "maxPrice": "1000000.00000000",
                "tickSize": "0.01000000",
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": "0.00001000",
                "maxQty": "9000.00000000",
                "stepSize": "0.00001000",
            },
        ],
        "permissions": [],
        "permissionSets": [["SPOT", "MARGIN"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


def _perp_market() -> dict:
    return {
        "symbol": "BTCUSDT",
        "pair": "BTCUSDT",
        "contractType": "PERPETUAL",
        "deliveryDate": 4133404800000,
        "onboardDate": 1569398400000,
        "status": "TRADING",
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000",
        "baseAsset": "BTC",
        "quoteAsset": "USDT",
        "marginAsset": "USDT",
        "pricePrecision": 2,
        "quantityPrecision": 3,
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "underlyingSubType": ["PoW"],
        "settlePlan": 0,
        "triggerProtect": "0.0500",
        "liquidationFee": "0.012500",
        "marketTakeBound": "0.05",
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": "556.80",
                "maxPrice": "4529764",
                "tickSize": "0.10",
            },
            {"filterType": "LOT_SIZE", "minQty": "0.001", "maxQty": "1000", "stepSize": "0.001"},
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": "0.001",
                "maxQty": "120",
                "stepSize": "0.001",
            },
            {"filterType": "MIN_NOTIONAL", "notional": "100"},
        ],
        "orderTypes": [
            "LIMIT",
            "MARKET",
            "STOP",
            "STOP_MARKET",
            "TAKE_PROFIT",
            "TAKE_PROFIT_MARKET",
            "TRAILING_STOP_MARKET",
        ],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
    }


class BinanceServer(LocalServer):
    """Serve the bundled Binance BTCUSDT spot and perpetual candles and the 8-hour funding."""

    def __init__(self, now_ms: int | None = None) -> None:
        super().__init__()
        spot, perp, funding_times, funding_rates = _bundled()
        self.spot = spot.copy()  # a test may edit its server's series (drop a day, ...)
        self.perp = perp.copy()
        self.funding_times = list(funding_times)
        self.funding_rates = funding_rates.copy()
        self.now_ms = now_ms if now_ms is not None else self.spot.times[-1] + DAY_MS + 3_600_000

    def server_time_ms(self) -> int:
        return int(self.now_ms)

    # ------------------------------------------------------------------ routing
    def route(self, path: str, query: dict[str, str], headers: dict[str, str]) -> Response:
        if path in ("/api/v3/time", "/fapi/v1/time"):
            return Response.json({"serverTime": self.now_ms})
        if path == "/api/v3/exchangeInfo":
            return Response.json(
                {
                    "timezone": "UTC",
                    "serverTime": self.now_ms,
                    "rateLimits": [],
                    "symbols": [_spot_market()],
                }
            )
        if path == "/fapi/v1/exchangeInfo":
            return Response.json(
                {
                    "timezone": "UTC",
                    "serverTime": self.now_ms,
                    "rateLimits": [],
                    "assets": [],
                    "symbols": [_perp_market()],
                }
            )
        if path == "/api/v3/klines":
            return self._klines(self.spot, query, max_limit=1000)
        if path == "/fapi/v1/klines":
            return self._klines(self.perp, query, max_limit=1500)
        if path == "/fapi/v1/fundingRate":
            return self._funding(query)
        return Response.json({"code": -1, "msg": f"unknown endpoint {path}"}, status=404)

    @staticmethod
    def _invalid_symbol() -> Response:
        return Response.json({"code": -1121, "msg": "Invalid symbol."}, status=400)

    def _window(
        self, times: list[int], query: dict[str, str], default: int, max_limit: int
    ) -> tuple[int, int]:
        limit = min(int(query.get("limit", default)), max_limit)
        start = int(query.get("startTime", 0))
        end = min(int(query.get("endTime", 2**62)), self.now_ms)
        lo = bisect.bisect_left(times, start)
        hi = bisect.bisect_right(times, end)
        if "startTime" not in query:
            # Binance returns the most recent `limit` rows (before endTime, when given).
            lo = max(lo, hi - limit)
        return lo, min(hi, lo + limit)

    def _klines(self, series: Series, query: dict[str, str], max_limit: int) -> Response:
        if query.get("symbol") != "BTCUSDT":
            return self._invalid_symbol()
        if query.get("interval") != "1d":
            return Response.json({"code": -1120, "msg": "Invalid interval."}, status=400)
        lo, hi = self._window(series.times, query, 500, max_limit)
        return Response.json(series.rows[lo:hi])

    def _funding(self, query: dict[str, str]) -> Response:
        if query.get("symbol", "BTCUSDT") != "BTCUSDT":
            return self._invalid_symbol()
        lo, hi = self._window(self.funding_times, query, 100, 1000)
        return Response.json(
            [
                {"symbol": "BTCUSDT", "fundingTime": t, "fundingRate": f"{r:.8f}", "markPrice": ""}
                for t, r in zip(
                    self.funding_times[lo:hi], np.asarray(self.funding_rates[lo:hi]), strict=True
                )
            ]
        )
