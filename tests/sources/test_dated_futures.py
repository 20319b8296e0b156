"""Quarterly futures: the contract calendar, and expired contracts fetched by instrument id.

The local Deribit (tests/servers/deribit.py) serves a FORMAT FIXTURE (the bundled perpetual scaled
by an assumed basis), not real futures data: these tests check calendar, ids, paging and caching.
"""

from __future__ import annotations

import time

import pandas as pd
import pytest
from typer.testing import CliRunner

from costbt.backtest.cli import app
from costbt.data.cache import Cache
from costbt.data.sources.dated_futures import (
    Contract,
    binance_coinm_symbol,
    deribit_instrument,
    deribit_quarterlies,
    fetch_contract,
    load_dated_futures,
    parse_deribit_instrument,
    quarterly_expiries,
    tradingview_to_frame,
)
from costbt.data.sources.exchange import ExchangeConfig, make_exchange
from costbt.data.sources.retry import FetchError, RetryPolicy
from tests.servers.base import Fault
from tests.servers.deribit import DeribitServer

CHART = "/api/v2/public/get_tradingview_chart_data"


def test_quarterlies_expire_on_the_last_friday_of_the_quarter_at_0800_utc():
    got = quarterly_expiries("2024-01-01", "2025-12-31")
    assert [str(x) for x in got] == [
        "2024-03-29 08:00:00",
        "2024-06-28 08:00:00",
        "2024-09-27 08:00:00",
        "2024-12-27 08:00:00",
        "2025-03-28 08:00:00",
        "2025-06-27 08:00:00",
        "2025-09-26 08:00:00",
        "2025-12-26 08:00:00",
    ]
    assert all(x.weekday() == 4 for x in got)


def test_instrument_ids_follow_each_exchange_naming():
    expiry = pd.Timestamp("2024-12-27 08:00")
    assert deribit_instrument(expiry) == "BTC-27DEC24"
    assert binance_coinm_symbol(expiry) == "BTCUSD_241227"
    assert parse_deribit_instrument("BTC-27DEC24") == expiry
    with pytest.raises(ValueError):
        parse_deribit_instrument("BTC-PERPETUAL")


def test_tradingview_no_data_is_an_empty_page_and_garbage_is_a_fetch_error():
    assert tradingview_to_frame({"result": {"status": "no_data", "ticks": []}}).empty
    with pytest.raises(FetchError):
        tradingview_to_frame({"result": {"ticks": [1, 2], "open": [1.0]}})
    with pytest.raises(FetchError):
        tradingview_to_frame(["not", "an", "object"])


@pytest.fixture()
def server():
    with DeribitServer() as s:
        yield s


def client(server):
    return make_exchange(ExchangeConfig("deribit", api_url=server.url, timeout_ms=2000))


def test_an_expired_contract_is_fetched_by_its_instrument_id(server, tmp_path):
    c = Contract("deribit", "BTC-27DEC24", pd.Timestamp("2024-12-27 08:00"))
    result = fetch_contract(client(server), Cache(tmp_path), c, now_ms=server.now_ms)
    stored = Cache(tmp_path).read(c.key)
    served = server.contracts["BTC-27DEC24"]
    assert list(stored.index.asi8 // 1_000_000) == served["ticks"]
    assert list(stored["close_quote"]) == served["close"]
    assert result.last == pd.Timestamp(
        "2024-12-27"
    )  # the expiry day's candle is final after expiry
    assert server.log[0][1]["instrument_name"] == "BTC-27DEC24"
    assert Cache(tmp_path).entry(c.key)["expiry"] == "2024-12-27T08:00:00"


def test_a_fully_stored_expired_contract_is_not_requested_again(server, tmp_path):
    c = Contract("deribit", "BTC-27DEC24", pd.Timestamp("2024-12-27 08:00"))
    fetch_contract(client(server), Cache(tmp_path), c, now_ms=server.now_ms)
    again = fetch_contract(client(server), Cache(tmp_path), c, now_ms=server.now_ms)
    assert again.requests == 0 and server.count(CHART) == 1


def test_a_live_contract_stores_only_finished_days_and_resumes_from_the_last(tmp_path):
    c = Contract("deribit", "BTC-26JUN26", pd.Timestamp("2026-06-26 08:00"))
    midday = int(pd.Timestamp("2026-05-01 12:00").value // 1_000_000)
    with DeribitServer(now_ms=midday) as s:
        first = fetch_contract(client(s), Cache(tmp_path), c, now_ms=midday)
        assert first.last == pd.Timestamp("2026-04-30")
    with DeribitServer() as s:
        later = fetch_contract(client(s), Cache(tmp_path), c, now_ms=s.now_ms)
        assert int(s.log[0][1]["start_timestamp"]) == int(
            pd.Timestamp("2026-04-30").value // 1_000_000
        )
        assert later.last == pd.Timestamp("2026-06-26")
        assert (
            list(Cache(tmp_path).read(c.key).index.asi8 // 1_000_000)
            == s.contracts["BTC-26JUN26"]["ticks"]
        )


def test_a_day_the_exchange_has_not_finished_is_not_stored_when_the_local_clock_is_ahead(
    tmp_path,
):
    c = Contract("deribit", "BTC-26JUN26", pd.Timestamp("2026-06-26 08:00"))
    midday = int(pd.Timestamp("2026-05-01 12:00").value // 1_000_000)
    with DeribitServer(now_ms=midday) as s:  # its Date header says 2026-05-01 12:00
        exchange = client(s)
        ahead = int(pd.Timestamp("2026-05-02 06:00").value // 1_000_000) - int(time.time() * 1000)
        exchange.milliseconds = lambda: int(time.time() * 1000) + ahead  # the local clock
        result = fetch_contract(exchange, Cache(tmp_path), c)
    assert result.last == pd.Timestamp("2026-04-30")


def test_a_429_on_chart_data_is_retried(server, tmp_path):
    sleeps = []
    server.faults.add(CHART, Fault(status=429, headers={"Retry-After": "2"}))
    c = Contract("deribit", "BTC-27SEP24", pd.Timestamp("2024-09-27 08:00"))
    fetch_contract(
        client(server),
        Cache(tmp_path),
        c,
        now_ms=server.now_ms,
        policy=RetryPolicy(sleep=sleeps.append),
    )
    assert sleeps == [2.0] and len(Cache(tmp_path).read(c.key)) == len(
        server.contracts["BTC-27SEP24"]["ticks"]
    )


def test_an_unknown_instrument_is_a_clear_bad_input_error(server, tmp_path):
    c = Contract("deribit", "BTC-27DEC19", pd.Timestamp("2019-12-27 08:00"))
    with pytest.raises(FetchError) as info:
        fetch_contract(client(server), Cache(tmp_path), c, now_ms=server.now_ms)
    assert info.value.exit_code == 2 and "BTC-27DEC19" in info.value.message
    assert list(tmp_path.iterdir()) == []


def test_the_calendar_sweep_builds_a_basis_ready_table(server, tmp_path):
    cache = Cache(tmp_path)
    for c in deribit_quarterlies("2024-01-01", "2024-12-31"):
        if c.instrument in server.contracts:
            fetch_contract(client(server), cache, c, now_ms=server.now_ms)
    table = load_dated_futures(cache)
    day = table[table["time"] == pd.Timestamp("2024-06-03")]
    assert list(day["instrument"]) == ["BTC-28JUN24", "BTC-27SEP24", "BTC-27DEC24"]
    assert (day["days_to_expiry"].diff().dropna() > 80).all()
    assert table.loc[table["instrument"] == "BTC-28JUN24", "days_to_expiry"].min() == 0


def test_cli_futures_sweep_skips_unlisted_quarterlies_but_fails_on_a_named_one(server, tmp_path):
    runner = CliRunner()
    base = [
        "--cache-dir",
        str(tmp_path),
        "--api-url",
        server.url,
        "--now",
        "2026-08-01T01:00",
        "--quiet",
    ]
    ok = runner.invoke(app, ["data", "futures", "--since", "2026-03-01", *base])
    assert ok.exit_code == 0, ok.output
    assert "BTC-26JUN26" in ok.output and "skipped BTC-25SEP26" in ok.stderr
    bad = runner.invoke(app, ["data", "futures", "--contract", "BTC-27DEC19", *base])
    assert bad.exit_code == 2 and "BTC-27DEC19" in bad.stderr
    worse = runner.invoke(app, ["data", "futures", "--contract", "BTC-PERPETUAL", *base])
    assert worse.exit_code == 2 and "--contract" in worse.stderr
