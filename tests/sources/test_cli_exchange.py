"""`costbt data fetch / update / status` against the local Binance, through the CLI."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from costbt.backtest.cli import app
from tests.servers.binance import BinanceServer

runner = CliRunner()


@pytest.fixture()
def server():
    with BinanceServer() as s:
        yield s


def args(server, tmp_path, *extra):
    now = pd.Timestamp(server.now_ms, unit="ms").isoformat()
    return [*extra, "--cache-dir", str(tmp_path), "--api-url", server.url, "--now", now]


def test_fetch_then_update_then_status(server, tmp_path):
    r = runner.invoke(
        app,
        [
            "data",
            "fetch",
            *args(server, tmp_path, "--since", "2017-08-17", "--until", "2026-07-31"),
        ],
    )
    assert r.exit_code == 0, r.output
    assert "binance__ohlcv__BTC-USDT__1d.parquet" in r.output
    r = runner.invoke(app, ["data", "update", *args(server, tmp_path)])
    assert r.exit_code == 0, r.output
    assert "│ 13  " in r.output  # 2026-08-01 .. 2026-08-13 are new
    r = runner.invoke(app, ["data", "status", "--cache-dir", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert "Cached downloads" in r.output and "BTC/USDT" in r.output and "3284" in r.output


def test_gaps_are_reported_by_status_and_are_an_error_with_strict(server, tmp_path):
    gone = server.spot.times.index(int(pd.Timestamp("2020-03-12").value // 1_000_000))
    del server.spot.times[gone], server.spot.rows[gone]
    r = runner.invoke(app, ["data", "fetch", *args(server, tmp_path, "--since", "2017-08-17")])
    assert r.exit_code == 0 and "1 after 2020-03-11" in r.output
    r = runner.invoke(app, ["data", "fetch", *args(server, tmp_path, "--strict")])
    assert r.exit_code == 1 and "--strict" in r.stderr
    r = runner.invoke(app, ["data", "status", "--cache-dir", str(tmp_path), "--strict"])
    assert r.exit_code == 1 and "1 (largest 1)" in r.output


def test_update_with_an_empty_cache_is_a_clear_error(tmp_path):
    r = runner.invoke(app, ["data", "update", "--cache-dir", str(tmp_path)])
    assert r.exit_code == 2 and "nothing to update" in r.stderr


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--since", "2020-13-01"], "--since"),
        (["--since", "2021-01-01", "--until", "2020-01-01"], "--until"),
        (["--timeframe", "7x"], "--timeframe"),
        (["--timeframe", "99999999999y"], "--timeframe"),
        (["--symbol", "DOGE/USDT"], "--symbol"),
        (["--exchange", "nosuchx"], "--exchange"),
    ],
)
def test_bad_fetch_flags_exit_2_naming_the_flag(server, tmp_path, extra, message):
    r = runner.invoke(app, ["data", "fetch", *args(server, tmp_path, *extra)])
    assert r.exit_code == 2, r.output
    assert message in r.stderr and "Traceback" not in r.output


def test_update_prepend_needs_since_and_extends_backwards(server, tmp_path):
    assert (
        runner.invoke(
            app, ["data", "fetch", *args(server, tmp_path, "--since", "2024-01-01")]
        ).exit_code
        == 0
    )
    r = runner.invoke(app, ["data", "update", "--prepend", *args(server, tmp_path)])
    assert r.exit_code == 2 and "--since" in r.stderr
    r = runner.invoke(
        app, ["data", "update", "--prepend", *args(server, tmp_path, "--since", "2017-08-17")]
    )
    assert r.exit_code == 0 and "3284" in r.output


@pytest.fixture()
def quick_retries(monkeypatch):
    """Two attempts per request and no real sleeping, for the command's default policy."""
    from costbt.data.sources import ohlcv
    from costbt.data.sources.retry import RetryPolicy

    monkeypatch.setattr(
        ohlcv, "RetryPolicy", lambda: RetryPolicy(max_attempts=2, sleep=lambda s: None)
    )


def test_fetch_exits_1_in_one_line_when_a_middle_page_stays_empty(server, tmp_path, quick_retries):
    from tests.servers.base import Fault

    second_page = {"startTime": str(int(pd.Timestamp("2020-05-13").value // 1_000_000))}
    for _ in range(2):
        server.faults.add("/api/v3/klines", Fault(body=b"[]", match=second_page))
    r = runner.invoke(app, ["data", "fetch", *args(server, tmp_path, "--since", "2017-08-17")])
    assert r.exit_code == 1, r.output
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.output
    assert "stops short (1,000 rows stored, 2017-08-17 .. 2020-05-12)" in r.stderr
    assert "empty page from 2020-05-13" in r.stderr and "gaps" not in r.output


def test_fetch_blames_the_server_not_the_symbol_when_the_market_list_is_html(
    server, tmp_path, quick_retries
):
    from tests.servers.base import Fault

    for _ in range(2):
        server.faults.add("/api/v3/exchangeInfo", Fault(body=b"<html>maintenance</html>"))
    r = runner.invoke(app, ["data", "fetch", *args(server, tmp_path, "--since", "2017-08-17")])
    assert r.exit_code == 1, r.output
    assert "market list" in r.stderr and "--symbol" not in r.stderr
