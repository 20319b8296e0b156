"""Exchange downloads through the real ccxt client against a local Binance on 127.0.0.1.

The server (tests/servers/binance.py) serves the bundled real Binance data in Binance's formats;
ccxt is pointed at it by overriding its URLs only.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from costbt.data import bundle
from costbt.data.cache import Cache
from costbt.data.sources.exchange import ExchangeConfig, make_exchange
from costbt.data.sources.ohlcv import SyncRequest, sync
from costbt.data.sources.retry import FetchError, RetryPolicy
from tests.servers.base import Fault
from tests.servers.binance import BinanceServer

SPOT_START = "2017-08-17"
KLINES = "/api/v3/klines"


def ms(day: str) -> int:
    return int(pd.Timestamp(day).value // 1_000_000)


@pytest.fixture(scope="module")
def bundled_spot() -> pd.DataFrame:
    spot = bundle.load_spot_ohlcv()
    return spot[spot["source"].str.startswith("binance")]


@pytest.fixture()
def server():
    with BinanceServer() as s:
        yield s


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture()
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture()
def policy(sleeps) -> RetryPolicy:
    return RetryPolicy(max_attempts=4, base_delay_s=0.01, sleep=sleeps)


def client(server, timeout_ms: int = 2000):
    return make_exchange(ExchangeConfig("binance", api_url=server.url, timeout_ms=timeout_ms))


def fetch(
    server,
    cache,
    policy=None,
    symbol="BTC/USDT",
    since=SPOT_START,
    until=None,
    kind="ohlcv",
    timeout_ms=2000,
):
    req = SyncRequest(
        symbol,
        kind,
        "1d",
        None if since is None else ms(since),
        None if until is None else ms(until),
    )
    return sync(client(server, timeout_ms), cache, req, now_ms=server.now_ms, policy=policy)


def assert_equals_bundled(frame: pd.DataFrame, bundled: pd.DataFrame) -> None:
    assert frame.index.equals(bundled.index.rename("time"))
    for ours, theirs in zip(
        ("open_quote", "high_quote", "low_quote", "close_quote", "volume_base"),
        ("open_usd", "high_usd", "low_usd", "close_usd", "volume_btc"),
        strict=True,
    ):
        assert (frame[ours].to_numpy() == bundled[theirs].to_numpy()).all(), ours


def test_full_daily_history_equals_the_bundled_binance_series_row_for_row(
    server, tmp_path, bundled_spot
):
    result = fetch(server, Cache(tmp_path))
    stored = Cache(tmp_path).read(result.key)
    assert_equals_bundled(stored, bundled_spot)
    assert result.gaps == []


def test_pages_are_requested_at_the_exchange_maximum_page_size(server, tmp_path):
    fetch(server, Cache(tmp_path))
    limits = {q["limit"] for p, q in server.log if p == KLINES}
    assert limits == {"1000"}
    assert server.count(KLINES) == 4  # 3284 candles: 1000 + 1000 + 1000 + 284


def test_update_on_an_up_to_date_cache_makes_exactly_one_request(server, tmp_path):
    cache = Cache(tmp_path)
    first = fetch(server, cache)
    before = server.count(KLINES)
    again = fetch(server, cache, since=None)
    assert server.count(KLINES) - before == 1 == again.requests
    # ... and that request refetches the last stored candle.
    assert int(server.log[-1][1]["startTime"]) == int(first.last.value // 1_000_000)
    assert again.new_rows == 0


def test_update_fetches_only_what_is_newer_than_the_last_stored_candle(
    server, tmp_path, bundled_spot
):
    cache = Cache(tmp_path)
    fetch(server, cache, until="2026-01-31")
    start = len(server.log)
    result = fetch(server, cache, since=None)
    starts = [int(q["startTime"]) for p, q in server.log[start:] if p == KLINES]
    assert starts[0] == ms("2026-01-31")
    assert result.new_rows == len(bundled_spot.loc["2026-02-01":])
    assert_equals_bundled(cache.read(result.key), bundled_spot)


def test_the_unfinished_current_candle_is_never_stored(tmp_path, bundled_spot):
    with BinanceServer(now_ms=ms("2026-08-13") + 12 * 3_600_000) as midday:
        result = fetch(midday, Cache(tmp_path))
        assert result.last == pd.Timestamp("2026-08-12")
        assert server_served_day(midday, "2026-08-13")
    with BinanceServer(now_ms=ms("2026-08-14") + 60_000) as next_day:
        result = fetch(next_day, Cache(tmp_path), since=None)
        assert result.last == pd.Timestamp("2026-08-13") and result.new_rows == 1
    assert_equals_bundled(Cache(tmp_path).read(result.key), bundled_spot)


def server_served_day(server: BinanceServer, day: str) -> bool:
    return ms(day) in server.spot.times and server.now_ms >= ms(day)


def test_prepend_extends_history_backwards_without_holes(server, tmp_path, bundled_spot):
    cache = Cache(tmp_path)
    fetch(server, cache, since="2024-01-01")
    start = len(server.log)
    result = fetch(server, cache, since=SPOT_START)
    backwards = [q for p, q in server.log[start:] if p == KLINES and "endTime" in q]
    assert backwards and int(backwards[0]["endTime"]) == ms("2024-01-01") - 1
    assert_equals_bundled(cache.read(result.key), bundled_spot)


def test_a_short_page_in_the_middle_of_history_does_not_truncate_it(server, tmp_path, bundled_spot):
    server.faults.add(KLINES, Fault(truncate_rows=17, after=1))
    result = fetch(server, Cache(tmp_path))
    assert_equals_bundled(Cache(tmp_path).read(result.key), bundled_spot)
    assert server.count(KLINES) == 5


def test_429_is_retried_after_the_servers_retry_after(
    server, tmp_path, policy, sleeps, bundled_spot
):
    server.faults.add(KLINES, Fault(status=429, headers={"Retry-After": "7"}, after=1))
    result = fetch(server, Cache(tmp_path), policy)
    assert sleeps == [7.0]
    assert_equals_bundled(Cache(tmp_path).read(result.key), bundled_spot)


def test_418_ddos_protection_is_retried_with_backoff(
    server, tmp_path, policy, sleeps, bundled_spot
):
    server.faults.add(KLINES, Fault(status=418))
    server.faults.add(KLINES, Fault(status=418))
    result = fetch(server, Cache(tmp_path), policy)
    assert len(sleeps) == 2 and sleeps[1] > sleeps[0] > 0
    assert_equals_bundled(Cache(tmp_path).read(result.key), bundled_spot)


def test_a_timeout_is_retried(server, tmp_path, policy, sleeps, bundled_spot):
    server.faults.add(KLINES, Fault(delay_s=1.0, after=2))
    result = fetch(server, Cache(tmp_path), policy, timeout_ms=300)
    assert len(sleeps) == 1
    assert_equals_bundled(Cache(tmp_path).read(result.key), bundled_spot)


def test_a_504_gateway_timeout_is_retried(server, tmp_path, policy, sleeps, bundled_spot):
    server.faults.add(KLINES, Fault(status=504, body=b"<html>504 Gateway Time-out</html>"))
    result = fetch(server, Cache(tmp_path), policy)
    assert len(sleeps) == 1
    assert_equals_bundled(Cache(tmp_path).read(result.key), bundled_spot)


def test_persistent_rate_limiting_gives_up_with_a_clear_error(server, tmp_path, policy):
    for _ in range(4):
        server.faults.add(KLINES, Fault(status=429, headers={"Retry-After": "1"}))
    with pytest.raises(FetchError, match="gave up after 4 attempts"):
        fetch(server, Cache(tmp_path), policy)
    assert server.count(KLINES) == 4


def test_a_5xx_is_retried_with_backoff_because_its_outcome_is_unknown(
    server, tmp_path, policy, sleeps, bundled_spot
):
    # Binance: a 5xx is an internal error whose outcome is unknown, not a failure; a GET of
    # candles changes nothing, so it is asked again.
    server.faults.add(KLINES, Fault(status=503, body=b"Service Unavailable", after=1))
    server.faults.add(KLINES, Fault(status=500, body=b'{"code":-1001,"msg":"Internal error"}'))
    result = fetch(server, Cache(tmp_path), policy)
    assert len(sleeps) == 2 and sleeps[1] > sleeps[0] > 0
    assert_equals_bundled(Cache(tmp_path).read(result.key), bundled_spot)


def test_a_persistent_5xx_stops_after_bounded_retries_keeping_the_complete_pages(
    server, tmp_path, policy, sleeps, bundled_spot
):
    for i in range(4):  # the second page, and each time it is asked again
        server.faults.add(KLINES, Fault(status=503, body=b"Service Unavailable", after=int(i == 0)))
    cache = Cache(tmp_path)
    with pytest.raises(FetchError, match="gave up after 4 attempts") as info:
        fetch(server, cache, policy)
    message = info.value.message
    assert info.value.exit_code == 1 and len(sleeps) == 3 and "\n" not in message
    assert "HTTP 503" in message and "page from 2020-05-13" in message
    assert "1,000 rows stored, 2017-08-17 .. 2020-05-12" in message
    partial = cache.read(cache_key())
    assert_equals_bundled(partial, bundled_spot.iloc[:1000])
    assert server.count(KLINES) == 1 + 4
    result = fetch(server, cache, policy)  # the rerun finishes
    assert_equals_bundled(cache.read(result.key), bundled_spot)


def cache_key():
    from costbt.data.sources.ohlcv import series_key

    return series_key("binance", SyncRequest("BTC/USDT"))


def test_a_truncated_json_body_is_retried_not_read_as_the_end_of_history(
    server, tmp_path, policy, sleeps, bundled_spot
):
    # ccxt alone returns [] for a body that is not JSON, which would end the download early.
    server.faults.add(KLINES, Fault(body=b'[[1767139200000,"87000.1","88000"', after=1))
    result = fetch(server, Cache(tmp_path), policy)
    assert len(sleeps) == 1
    assert_equals_bundled(Cache(tmp_path).read(result.key), bundled_spot)


def test_persistently_malformed_json_is_a_clear_error_and_leaves_the_cache_unchanged(
    server, tmp_path, policy
):
    cache = Cache(tmp_path)
    fetch(server, cache, until="2025-12-31")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    for _ in range(4):
        server.faults.add(KLINES, Fault(body=b"<html>maintenance</html>"))
    with pytest.raises(FetchError, match="not JSON") as info:
        fetch(server, cache, policy, since=None)
    assert "\n" not in info.value.message
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_json_of_the_wrong_shape_is_not_mistaken_for_an_empty_page(server, tmp_path, policy):
    for _ in range(4):
        server.faults.add(KLINES, Fault(body=b'{"code": 0, "msg": "ok"}'))
    with pytest.raises(FetchError, match="expected a JSON list"):
        fetch(server, Cache(tmp_path), policy)


def test_an_unknown_symbol_fails_at_once_as_bad_input(server, tmp_path, policy):
    with pytest.raises(FetchError, match="--symbol") as info:
        fetch(server, Cache(tmp_path), policy, symbol="ETH/USDT")
    assert info.value.exit_code == 2 and server.count(KLINES) == 0
    assert list(tmp_path.iterdir()) == []


def test_an_authentication_error_fails_at_once(server, tmp_path, policy, sleeps):
    server.faults.add(KLINES, Fault(status=401, body=b'{"code":-2015,"msg":"Invalid API-key."}'))
    with pytest.raises(FetchError, match="authentication") as info:
        fetch(server, Cache(tmp_path), policy)
    assert info.value.exit_code == 2 and sleeps == [] and server.count(KLINES) == 1


def test_duplicate_candles_in_a_response_are_stored_once(server, tmp_path):
    row = server.spot.rows[0]
    server.faults.add(KLINES, Fault(body=json.dumps([row, row, server.spot.rows[1]]).encode()))
    result = fetch(server, Cache(tmp_path), until="2017-08-18")
    stored = Cache(tmp_path).read(result.key)
    assert stored.index.is_unique and len(stored) == 2


def test_funding_history_is_paginated_and_equals_the_bundled_8_hour_rates(tmp_path):
    f8 = bundle.load_funding_8h()
    now = int(f8.index[-1].value // 1_000_000) + 60_000
    with BinanceServer(now_ms=now) as server:
        result = fetch(
            server, Cache(tmp_path), symbol="BTC/USDT:USDT", since="2021-01-01", kind="funding"
        )
        stored = Cache(tmp_path).read(result.key)
        assert stored.index.equals(f8.index.rename("time"))
        assert (stored["funding_rate"].to_numpy() == f8["funding_rate"].to_numpy()).all()
        assert {q["limit"] for p, q in server.log if p == "/fapi/v1/fundingRate"} == {"1000"}
        before = server.count("/fapi/v1/fundingRate")
        again = fetch(server, Cache(tmp_path), symbol="BTC/USDT:USDT", since=None, kind="funding")
        assert server.count("/fapi/v1/fundingRate") - before == 1 and again.new_rows == 0


def test_perpetual_candles_come_from_the_usdt_m_endpoint(server, tmp_path):
    perp = bundle.load_perp_ohlcv()
    result = fetch(server, Cache(tmp_path), symbol="BTC/USDT:USDT", since="2021-01-01")
    stored = Cache(tmp_path).read(result.key)
    assert len(stored) == len(perp) and server.count("/fapi/v1/klines") >= 3
    assert (stored["close_quote"].to_numpy() == perp["close_usd"].to_numpy()).all()


def test_the_manifest_records_source_symbol_client_span_rows_and_hash(server, tmp_path):
    import hashlib

    import ccxt

    result = fetch(server, Cache(tmp_path))
    entry = Cache(tmp_path).entry(result.key)
    assert (
        entry["source"] == "binance"
        and entry["symbol"] == "BTC/USDT"
        and entry["timeframe"] == "1d"
    )
    assert entry["client"] == "ccxt" and entry["client_version"] == ccxt.__version__
    assert entry["first"].startswith("2017-08-17") and entry["last"].startswith("2026-08-13")
    assert entry["rows"] == 3284 and entry["fetched_at"].endswith("Z")
    assert (
        entry["sha256"] == hashlib.sha256((tmp_path / result.key.filename).read_bytes()).hexdigest()
    )


# ------------------------------------------------------------------ downloads that end early
# A download never reports success for a series that stops short of --until/now while the
# exchange still has rows; it asks again, then stops with one line saying where and why.

SPOT_INFO = "/api/v3/exchangeInfo"
PERP_INFO = "/fapi/v1/exchangeInfo"
MIDDLE = "2020-05-13"  # the first day of the second page of 1000 (2017-08-17 + 1000 days)


def page_from(day: str) -> dict[str, str]:
    return {"startTime": str(ms(day))}


def test_an_empty_page_in_the_middle_is_asked_again_not_read_as_the_end(
    server, tmp_path, policy, sleeps, bundled_spot
):
    server.faults.add(KLINES, Fault(body=b"[]", match=page_from(MIDDLE)))
    result = fetch(server, Cache(tmp_path), policy)
    assert len(sleeps) == 1
    assert_equals_bundled(Cache(tmp_path).read(result.key), bundled_spot)


def test_a_page_that_stays_empty_while_the_exchange_has_newer_rows_stops_with_exit_1(
    server, tmp_path, policy, sleeps, bundled_spot
):
    for _ in range(4):  # the page and each time it is asked again
        server.faults.add(KLINES, Fault(body=b"[]", match=page_from(MIDDLE)))
    cache = Cache(tmp_path)
    with pytest.raises(FetchError) as info:
        fetch(server, cache, policy)
    message = info.value.message
    assert info.value.exit_code == 1 and "\n" not in message
    assert message == (
        "binance BTC/USDT 1d stops short (1,000 rows stored, 2017-08-17 .. 2020-05-12): "
        "the exchange answered an empty page from 2020-05-13 4 times while its newest row is "
        "2026-08-13"
    )
    assert len(sleeps) == 3
    assert_equals_bundled(cache.read(cache_key()), bundled_spot.iloc[:1000])
    result = fetch(server, cache, policy, since=None)  # the rerun continues
    assert_equals_bundled(cache.read(result.key), bundled_spot)


def test_an_empty_page_after_the_exchanges_newest_row_is_the_normal_end(
    server, tmp_path, policy, sleeps
):
    result = fetch(server, Cache(tmp_path), policy, since="2026-09-01")
    assert result.rows == 0 and sleeps == []
    assert server.count(KLINES) == 2  # the empty page, and the newest row, which is older


def test_a_range_ending_inside_a_gap_of_the_exchanges_is_the_normal_end(
    server, tmp_path, policy, bundled_spot
):
    gone = [ms(d) for d in pd.date_range("2020-03-12", "2020-03-20").strftime("%Y-%m-%d")]
    for t in gone:
        i = server.spot.times.index(t)
        del server.spot.times[i], server.spot.rows[i]
    result = fetch(server, Cache(tmp_path), policy, since="2020-01-01", until="2020-03-15")
    assert result.last == pd.Timestamp("2020-03-11") and result.rows == 71


def test_rows_with_a_missing_field_are_asked_again_not_stored_as_nan(
    server, tmp_path, policy, sleeps, bundled_spot
):
    rows = server.spot.rows[1000:2000]
    body = json.dumps([r[:4] for r in rows]).encode()  # no close, no volume
    server.faults.add(KLINES, Fault(body=body, match=page_from(MIDDLE)))
    result = fetch(server, Cache(tmp_path), policy)
    stored = Cache(tmp_path).read(result.key)
    assert len(sleeps) == 1 and not stored.isna().any().any()
    assert_equals_bundled(stored, bundled_spot)


def test_non_numeric_values_in_rows_are_asked_again_not_stored_as_nan(
    server, tmp_path, policy, sleeps, bundled_spot
):
    rows = [list(r) for r in server.spot.rows[1000:2000]]
    rows[500][2] = "n/a"
    server.faults.add(KLINES, Fault(body=json.dumps(rows).encode(), match=page_from(MIDDLE)))
    result = fetch(server, Cache(tmp_path), policy)
    stored = Cache(tmp_path).read(result.key)
    assert len(sleeps) == 1 and not stored.isna().any().any()
    assert_equals_bundled(stored, bundled_spot)


def test_rows_that_are_not_candles_are_not_read_as_an_empty_page(
    server, tmp_path, policy, sleeps, bundled_spot
):
    server.faults.add(KLINES, Fault(body=b'[{"a": 1}, "x"]', match=page_from(MIDDLE)))
    result = fetch(server, Cache(tmp_path), policy)
    assert len(sleeps) == 1
    assert_equals_bundled(Cache(tmp_path).read(result.key), bundled_spot)


def test_persistently_malformed_rows_stop_with_exit_1_keeping_the_complete_pages(
    server, tmp_path, policy, bundled_spot
):
    rows = [list(r) for r in server.spot.rows[1000:2000]]
    rows[3][4] = "NaN"
    for _ in range(4):
        server.faults.add(KLINES, Fault(body=json.dumps(rows).encode(), match=page_from(MIDDLE)))
    cache = Cache(tmp_path)
    with pytest.raises(FetchError) as info:
        fetch(server, cache, policy)
    message = info.value.message
    assert info.value.exit_code == 1
    assert message.startswith(
        "binance BTC/USDT 1d stops short (1,000 rows stored, 2017-08-17 .. 2020-05-12): "
        "the page from 2020-05-13: gave up after 4 attempts"
    )
    assert "row 3 (2020-05-16) has a bad close_quote: nan" in message
    assert_equals_bundled(cache.read(cache_key()), bundled_spot.iloc[:1000])


def test_an_empty_window_while_prepending_is_asked_again_not_read_as_the_start_of_history(
    server, tmp_path, policy, sleeps, bundled_spot
):
    cache = Cache(tmp_path)
    fetch(server, cache, policy, since="2024-01-01")
    window = str(ms("2024-01-01") - 1)
    server.faults.add(KLINES, Fault(body=b"[]", match={"endTime": window}))
    result = fetch(server, cache, policy, since=SPOT_START)
    assert_equals_bundled(cache.read(result.key), bundled_spot)


def test_funding_entries_without_a_rate_are_asked_again_not_stored(tmp_path, policy, sleeps):
    f8 = bundle.load_funding_8h()
    with BinanceServer(now_ms=int(f8.index[-1].value // 1_000_000) + 60_000) as server:
        first = str(ms("2021-01-01"))
        server.faults.add(
            "/fapi/v1/fundingRate",
            Fault(body=b'[{"symbol": "BTCUSDT", "fundingTime": ' + first.encode() + b"}]"),
        )
        result = fetch(
            server,
            Cache(tmp_path),
            policy,
            symbol="BTC/USDT:USDT",
            since="2021-01-01",
            kind="funding",
        )
        stored = Cache(tmp_path).read(result.key)
    assert len(sleeps) == 1 and stored.index.equals(f8.index.rename("time"))
    assert not stored["funding_rate"].isna().any()


# ---- the market list


def test_a_truncated_market_list_is_loaded_again_with_fresh_requests(
    server, tmp_path, policy, sleeps, bundled_spot
):
    # The spot list is the first of the load's two answers: ccxt alone would keep a list with
    # only the perpetual in it and call BTC/USDT unknown.
    server.faults.add(SPOT_INFO, Fault(body=b'{"timezone": "UTC", "serverTime": 17'))
    result = fetch(server, Cache(tmp_path), policy)
    assert len(sleeps) == 1
    assert server.count(SPOT_INFO) == 2 and server.count(PERP_INFO) == 2
    assert_equals_bundled(Cache(tmp_path).read(result.key), bundled_spot)


def test_an_html_market_list_blames_the_server_not_the_symbol(server, tmp_path, policy):
    for _ in range(4):
        server.faults.add(SPOT_INFO, Fault(body=b"<html><body>502 Bad Gateway</body></html>"))
    with pytest.raises(FetchError) as info:
        fetch(server, Cache(tmp_path), policy)
    message = info.value.message
    assert info.value.exit_code == 1 and "--symbol" not in message
    assert message.startswith("binance market list: gave up after 4 attempts")
    assert "not JSON" in message and server.count(SPOT_INFO) == 4
    assert server.count(KLINES) == 0 and list(tmp_path.iterdir()) == []


def test_a_market_list_without_any_spot_market_is_loaded_again(
    server, tmp_path, policy, sleeps, bundled_spot
):
    server.faults.add(SPOT_INFO, Fault(body=b'{"timezone": "UTC", "symbols": []}'))
    result = fetch(server, Cache(tmp_path), policy)
    assert len(sleeps) == 1 and server.count(SPOT_INFO) == 2
    assert_equals_bundled(Cache(tmp_path).read(result.key), bundled_spot)


def test_a_5xx_on_the_market_list_is_retried(server, tmp_path, policy, sleeps, bundled_spot):
    server.faults.add(PERP_INFO, Fault(status=502, body=b"<html>Bad Gateway</html>"))
    result = fetch(server, Cache(tmp_path), policy)
    assert len(sleeps) == 1 and server.count(SPOT_INFO) == 2
    assert_equals_bundled(Cache(tmp_path).read(result.key), bundled_spot)


# ---- bans and long waits


def test_a_418_ban_with_a_long_retry_after_stops_at_once_giving_the_bans_end(
    server, tmp_path, policy, sleeps, bundled_spot
):
    server.faults.add(KLINES, Fault(status=418, headers={"Retry-After": "7200"}, after=1))
    cache = Cache(tmp_path)
    with pytest.raises(FetchError) as info:
        fetch(server, cache, policy)
    message = info.value.message
    assert info.value.exit_code == 1 and info.value.status == 418 and sleeps == []
    # The server's clock (its Date header) is 2026-08-14 01:00:00; the ban lasts two hours.
    assert "banned this IP address (HTTP 418) until 2026-08-14 03:00:00 UTC" in message
    assert message.startswith("binance BTC/USDT 1d stops short (1,000 rows stored")
    assert server.count(KLINES) == 2
    assert_equals_bundled(cache.read(cache_key()), bundled_spot.iloc[:1000])


def test_a_429_with_a_long_retry_after_stops_at_once_instead_of_sleeping(
    server, tmp_path, policy, sleeps
):
    server.faults.add(KLINES, Fault(status=429, headers={"Retry-After": "3600"}))
    with pytest.raises(FetchError, match="until 2026-08-14 02:00:00 UTC") as info:
        fetch(server, Cache(tmp_path), policy)
    assert info.value.exit_code == 1 and sleeps == [] and server.count(KLINES) == 1


def test_a_retry_after_at_the_limit_is_still_waited_for(server, tmp_path, policy, sleeps):
    server.faults.add(KLINES, Fault(status=429, headers={"Retry-After": "120"}))
    fetch(server, Cache(tmp_path), policy, until="2017-09-01")
    assert sleeps == [120.0]


# ---- whose clock says a candle is finished

LAST_DAY = "2026-08-13"  # the bundled series' last candle


def sync_with_clocks(tmp_path, server_now: str, local_now: str) -> pd.DataFrame:
    """Fetch without --now: the server's clock (its Date header) and the client's differ."""
    with BinanceServer(now_ms=ms(server_now)) as server:
        exchange = client(server)
        delta = ms(local_now) - int(time.time() * 1000)
        exchange.milliseconds = lambda: int(time.time() * 1000) + delta  # the local clock
        request = SyncRequest("BTC/USDT", "ohlcv", "1d", ms("2026-08-01"))
        result = sync(exchange, Cache(tmp_path), request)
    return Cache(tmp_path).read(result.key)


def test_a_candle_the_exchange_has_not_finished_is_not_stored_when_the_local_clock_is_ahead(
    tmp_path,
):
    stored = sync_with_clocks(tmp_path, f"{LAST_DAY} 12:00", "2026-08-14 06:00")
    assert stored.index[-1] == pd.Timestamp("2026-08-12")


def test_a_candle_the_exchange_has_finished_is_stored_when_the_local_clock_is_behind(tmp_path):
    stored = sync_with_clocks(tmp_path, "2026-08-14 00:30", f"{LAST_DAY} 23:50")
    assert stored.index[-1] == pd.Timestamp(LAST_DAY)


# ------------------------------------------------------------------ interruption of a real process


def _costbt() -> str:
    exe = Path(sys.executable).parent / "costbt"
    if not exe.exists():
        pytest.skip("costbt console script not installed")
    return str(exe)


def _fetch_process(server, cache_dir: Path) -> subprocess.Popen:
    now = pd.Timestamp(server.now_ms, unit="ms").isoformat()
    return subprocess.Popen(
        [
            _costbt(),
            "data",
            "fetch",
            "--since",
            SPOT_START,
            "--cache-dir",
            str(cache_dir),
            "--api-url",
            server.url,
            "--now",
            now,
            "--quiet",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )


def _wait_for_rows(cache: Cache, rows: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        entry = cache.entry(cache_key()) if cache.manifest_path.exists() else None
        if entry and entry["rows"] >= rows:
            return
        time.sleep(0.05)
    raise AssertionError(f"cache never reached {rows} rows")


@pytest.mark.parametrize("how", ["kill -9", "Ctrl-C"])
def test_an_interrupted_fetch_loses_nothing_and_the_next_run_resumes(
    server, tmp_path, bundled_spot, how
):
    release = threading.Event()
    server.faults.add(KLINES, Fault(block=release, after=2))  # hold the third page
    cache = Cache(tmp_path)
    proc = _fetch_process(server, tmp_path)
    try:
        _wait_for_rows(cache, 2000)
        time.sleep(0.2)  # the third request is now held by the server
        proc.send_signal(signal.SIGKILL if how == "kill -9" else signal.SIGINT)
        proc.wait(timeout=20)
    finally:
        release.set()
        if proc.poll() is None:
            proc.kill()
    if how == "Ctrl-C":
        assert proc.returncode == 130 and "interrupted" in proc.stderr.read()
    else:
        assert proc.returncode == -signal.SIGKILL
    partial = cache.read(cache_key())
    assert len(partial) == 2000 and cache.entry(cache_key())["rows"] == 2000
    assert_equals_bundled(partial, bundled_spot.iloc[:2000])
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]

    start = len(server.log)
    rerun = _fetch_process(server, tmp_path)
    assert rerun.wait(timeout=60) == 0, rerun.stderr.read()
    resumed = [int(q["startTime"]) for p, q in server.log[start:] if p == KLINES]
    assert resumed[0] == int(partial.index[-1].value // 1_000_000)  # from the last complete page
    assert_equals_bundled(cache.read(cache_key()), bundled_spot)
