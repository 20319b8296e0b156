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
