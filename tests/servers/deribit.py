"""A local Deribit: the public JSON-RPC-over-HTTP endpoints ccxt calls for futures candles.

Implemented in Deribit's documented format: ``GET /api/v2/public/get_tradingview_chart_data``
(``instrument_name``, ``start_timestamp``, ``end_timestamp``, ``resolution``), answering
``{"jsonrpc": "2.0", "result": {"ticks", "open", "high", "low", "close", "volume", "cost",
"status"}}``, ``status: "no_data"`` for an empty window, and HTTP 400 with error code -32602 for an
unknown instrument.

FORMAT FIXTURE, NOT REAL DATA: the repository has no real Deribit futures history, so each
quarterly contract's candles are the bundled Binance perpetual's daily candles scaled by an assumed
basis of 6 % a year times the time to expiry, over the 270 days before expiry. Tests use it to
exercise the calendar, the instrument ids, pagination and faults, never as market data.
"""

from __future__ import annotations

import bisect

import numpy as np
import pandas as pd

from costbt.data import bundle
from costbt.data.sources.dated_futures import deribit_instrument, quarterly_expiries
from tests.servers.base import LocalServer, Response

DAY_MS = 86_400_000
ASSUMED_BASIS = 0.06
LISTED_DAYS = 270


def _contract_candles(perp: pd.DataFrame, expiry: pd.Timestamp) -> dict[str, list]:
    life = perp.loc[expiry.normalize() - pd.Timedelta(days=LISTED_DAYS) : expiry.normalize()]
    nxt = life.index + pd.Timedelta(days=1)
    close_at = nxt.where(nxt < expiry, expiry)
    years = ((expiry - close_at) / pd.Timedelta(days=365)).to_numpy(dtype=float)
    scale = 1 + ASSUMED_BASIS * years
    out = {"ticks": [int(t) for t in life.index.asi8 // 1_000_000]}
    for col in ("open", "high", "low", "close"):
        out[col] = list(np.round(life[f"{col}_usd"].to_numpy() * scale * 2) / 2)
    out["volume"] = list(np.round(life["volume_btc"].to_numpy() / 100, 4))
    out["cost"] = [round(v * c, 1) for v, c in zip(out["volume"], out["close"], strict=True)]
    return out


class DeribitServer(LocalServer):
    def __init__(self, now_ms: int | None = None) -> None:
        super().__init__()
        perp = bundle.load_perp_ohlcv()
        self.contracts: dict[str, dict[str, list]] = {}
        self.expiries: dict[str, pd.Timestamp] = {}
        for expiry in quarterly_expiries("2021-06-01", perp.index[-1]):
            name = deribit_instrument(expiry)
            self.contracts[name] = _contract_candles(perp, expiry)
            self.expiries[name] = expiry
        self.now_ms = (
            now_ms
            if now_ms is not None
            else int(perp.index[-1].value // 1_000_000) + DAY_MS + 3_600_000
        )

    def server_time_ms(self) -> int:
        """The fixed clock ``now_ms``, also in every answer's ``Date`` header."""
        return int(self.now_ms)

    def route(self, path: str, query: dict[str, str], headers: dict[str, str]) -> Response:
        if path == "/api/v2/public/get_tradingview_chart_data":
            return self._chart(query)
        return Response.json(
            {"jsonrpc": "2.0", "error": {"message": "Method not found", "code": -32601}}, status=400
        )

    def _chart(self, query: dict[str, str]) -> Response:
        name = query.get("instrument_name", "")
        if name not in self.contracts or query.get("resolution") != "1D":
            return Response.json(
                {
                    "jsonrpc": "2.0",
                    "error": {
                        "message": "Invalid params",
                        "data": {"reason": "wrong format", "param": "instrument_name"},
                        "code": -32602,
                    },
                    "testnet": False,
                },
                status=400,
            )
        c = self.contracts[name]
        start = int(query.get("start_timestamp", 0))
        end = min(int(query.get("end_timestamp", 2**62)), self.now_ms)
        lo, hi = bisect.bisect_left(c["ticks"], start), bisect.bisect_right(c["ticks"], end)
        result = {k: v[lo:hi] for k, v in c.items()}
        result["status"] = "ok" if hi > lo else "no_data"
        return Response.json(
            {
                "jsonrpc": "2.0",
                "result": result,
                "usIn": 0,
                "usOut": 0,
                "usDiff": 0,
                "testnet": False,
            }
        )

    def truncate(self, payload: object, rows: int) -> object:
        result = payload["result"]
        payload["result"] = {k: (v[:rows] if isinstance(v, list) else v) for k, v in result.items()}
        return payload
