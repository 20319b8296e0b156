"""Glassnode SOPR and STH-SOPR: key handling, the documented response format, incremental
updates, faults and the CLI.

The served values are the hand-written FORMAT FIXTURE of `tests.servers.glassnode` (not market
data), plus the published SOPR test vector of models.md section 3 (0.9333) on one day.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from costbt.backtest.cli import app
from costbt.data.cache import Cache
from costbt.data.errors import DataError
from costbt.data.sources import glassnode
from costbt.data.sources.retry import FetchError, RetryPolicy
from tests.servers.base import Fault
from tests.servers.glassnode import (
    SOPR_PATH,
    STH_SOPR_PATH,
    TEST_VECTOR_DAY,
    GlassnodeServer,
    fixture_frame,
)

KEY = "test-key-for-the-local-server"
NOW = datetime(2024, 3, 20, 6, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def no_real_keys(monkeypatch):
    for var in glassnode.ENV_KEYS:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture()
def server():
    with GlassnodeServer(KEY) as srv:
        yield srv


def cfg(srv: GlassnodeServer, timeout_s: float = 10.0) -> glassnode.GlassnodeConfig:
    return glassnode.GlassnodeConfig(base_url=srv.url, timeout_s=timeout_s)


def policy(delays: list[float] | None = None, attempts: int = 3) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=attempts,
        base_delay_s=0.01,
        jitter=0.0,
        sleep=(delays.append if delays is not None else lambda s: None),
    )


def env(key: str = KEY, var: str = "COSTBT_GLASSNODE_API_KEY") -> dict[str, str]:
    return {var: key}


def files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def unix(day: str) -> int:
    return int(pd.Timestamp(day).timestamp())


# ---------------------------------------------------------------------------- the parser
def test_records_become_a_daily_series_and_null_is_missing():
    s = glassnode.parse_glassnode_series(
        [{"t": unix("2024-03-01"), "v": 1.01}, {"t": unix("2024-03-02"), "v": None}], "sopr"
    )
    assert s.index.name == "date" and s.index.tz is None
    assert s.loc["2024-03-01"] == 1.01 and math.isnan(s.loc["2024-03-02"])


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"t": 1, "v": 1}, "expected a JSON list"),
        ([{"t": unix("2024-03-01")}], "record 1: is not an object with 't' and 'v'"),
        ([{"t": unix("2024-03-01") + 3600, "v": 1.0}], "record 1: 't' = .* is not 00:00 UTC"),
        ([{"t": "2024-03-01", "v": 1.0}], "is not a unix time"),
        ([{"t": unix("2024-03-01"), "v": "1.0"}], "'v' = '1.0' is not a finite number"),
        ([{"t": unix("2024-03-01"), "v": 1}, {"t": unix("2024-03-01"), "v": 1}], "appears twice"),
    ],
    ids=["not-a-list", "no-v", "not-midnight", "t-text", "v-text", "duplicate"],
)
def test_malformed_payloads_raise_a_data_error_naming_metric_and_record(payload, expected):
    with pytest.raises(DataError, match="column 'sopr'.*" + expected):
        glassnode.parse_glassnode_series(payload, "sopr")


# ---------------------------------------------------------------------------- the key
def test_a_missing_key_is_a_clear_error_naming_the_variable_with_exit_2(server, tmp_path):
    with pytest.raises(
        FetchError, match="set the environment variable COSTBT_GLASSNODE_API_KEY"
    ) as info:
        glassnode.fetch_sopr(Cache(tmp_path), cfg(server), environ={}, now=NOW)
    assert info.value.exit_code == 2
    assert server.count() == 0 and not any(tmp_path.iterdir())


def test_the_key_travels_in_the_x_api_key_header_never_in_the_url(server, tmp_path):
    glassnode.fetch_sopr(Cache(tmp_path), cfg(server), environ=env(), now=NOW)
    assert server.keys_seen == [True, True]
    assert all(KEY not in str(query) and "api_key" not in query for _, query in server.log)


def test_glassnode_api_key_is_the_fallback_variable(server, tmp_path):
    result = glassnode.fetch_sopr(
        Cache(tmp_path), cfg(server), environ=env(var="GLASSNODE_API_KEY"), now=NOW
    )
    assert result.rows == 10


def test_a_wrong_key_is_rejected_with_401_a_clear_error_exit_2_and_an_unchanged_cache(
    server, tmp_path
):
    cache = Cache(tmp_path)
    glassnode.fetch_sopr(cache, cfg(server), environ=env(), now=NOW)
    before = files(tmp_path)
    with pytest.raises(
        FetchError, match=r"rejected the API key from \$COSTBT_GLASSNODE_API_KEY"
    ) as info:
        glassnode.fetch_sopr(cache, cfg(server), environ=env("wrong-key"), now=NOW)
    assert info.value.exit_code == 2 and "wrong-key" not in info.value.message
    assert files(tmp_path) == before


# ---------------------------------------------------------------------------- fetching
def test_fetch_stores_sopr_and_sth_sopr_per_utc_day(server, tmp_path):
    cache = Cache(tmp_path)
    result = glassnode.fetch_sopr(cache, cfg(server), environ=env(), now=NOW)
    assert result.key == glassnode.KEY
    pd.testing.assert_frame_equal(cache.read(glassnode.KEY), fixture_frame(), check_freq=False)


def test_requests_use_the_documented_endpoints_and_parameters(server, tmp_path):
    glassnode.fetch_sopr(Cache(tmp_path), cfg(server), since="2024-03-03", environ=env(), now=NOW)
    paths = [p for p, _ in server.log]
    assert paths == [SOPR_PATH, STH_SOPR_PATH]
    query = server.log[0][1]
    assert query == {
        "a": "BTC",
        "i": "24h",
        "s": str(unix("2024-03-03")),
        "u": str(int(NOW.timestamp())),
    }


def test_the_sopr_test_vector_is_served_and_stored_on_its_day(server, tmp_path):
    result = glassnode.fetch_sopr(Cache(tmp_path), cfg(server), environ=env(), now=NOW)
    # 1 BTC created at $60k and 3 BTC at $80k, all spent at $70k (models.md section 3)
    assert round(result.frame.loc[TEST_VECTOR_DAY, "sopr"], 4) == 0.9333


def test_the_manifest_records_a_one_day_publication_lag_and_units(server, tmp_path):
    cache = Cache(tmp_path)
    glassnode.fetch_sopr(cache, cfg(server), environ=env(), now=NOW)
    entry = cache.entry(glassnode.KEY)
    assert entry["publication_lag_days"] == 1
    assert entry["units"] == {"sopr": "dimensionless ratio", "sth_sopr": "dimensionless ratio"}
    assert (entry["first"], entry["last"], entry["rows"]) == (
        "2024-03-01T00:00:00",
        "2024-03-10T00:00:00",
        10,
    )


def test_an_update_refetches_the_last_stored_day_and_adds_later_days(server, tmp_path):
    cache = Cache(tmp_path)
    glassnode.fetch_sopr(cache, cfg(server), until="2024-03-06", environ=env(), now=NOW)
    assert cache.read(glassnode.KEY).index.max() == pd.Timestamp("2024-03-06")
    server.set_value("2024-03-06", "sopr", 1.111)  # the provisional value was revised
    result = glassnode.fetch_sopr(cache, cfg(server), environ=env(), now=NOW)
    assert server.log[-1][1]["s"] == str(unix("2024-03-06"))
    assert result.since == pd.Timestamp("2024-03-06") and result.fetched_rows == 5
    stored = cache.read(glassnode.KEY)
    assert stored.loc["2024-03-06", "sopr"] == 1.111
    expected = fixture_frame()
    expected.loc["2024-03-06", "sopr"] = 1.111
    pd.testing.assert_frame_equal(stored, expected, check_freq=False)


# ---------------------------------------------------------------------------- faults
def test_429_with_retry_after_is_honoured(server, tmp_path):
    delays: list[float] = []
    server.faults.add(SOPR_PATH, Fault(status=429, headers={"Retry-After": "4"}))
    result = glassnode.fetch_sopr(
        Cache(tmp_path), cfg(server), policy=policy(delays), environ=env(), now=NOW
    )
    assert delays == [4.0] and result.rows == 10


def test_5xx_is_retried(server, tmp_path):
    delays: list[float] = []
    server.faults.add(STH_SOPR_PATH, Fault(status=502))
    result = glassnode.fetch_sopr(
        Cache(tmp_path), cfg(server), policy=policy(delays), environ=env(), now=NOW
    )
    assert len(delays) == 1 and server.count(STH_SOPR_PATH) == 2 and result.rows == 10


def test_a_timeout_is_a_clear_error_and_the_cache_is_unchanged(server, tmp_path):
    cache = Cache(tmp_path)
    glassnode.fetch_sopr(cache, cfg(server), environ=env(), now=NOW)
    before = files(tmp_path)
    for _ in range(2):
        server.faults.add(STH_SOPR_PATH, Fault(delay_s=1.0))
    with pytest.raises(FetchError, match="gave up after 2 attempts: network error"):
        glassnode.fetch_sopr(
            cache, cfg(server, 0.3), policy=policy(attempts=2), environ=env(), now=NOW
        )
    assert files(tmp_path) == before


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'[{"t": 17', "malformed JSON"),
        (
            b'{"error": "something"}',
            "malformed Glassnode response: column 'sopr': expected a JSON list",
        ),
    ],
    ids=["truncated-json", "wrong-shape"],
)
def test_a_malformed_body_is_a_clear_error_and_the_cache_is_unchanged(
    server, tmp_path, body, expected
):
    cache = Cache(tmp_path)
    glassnode.fetch_sopr(cache, cfg(server), environ=env(), now=NOW)
    before = files(tmp_path)
    server.faults.add(SOPR_PATH, Fault(body=body))
    with pytest.raises(FetchError, match=expected) as info:
        glassnode.fetch_sopr(cache, cfg(server), environ=env(), now=NOW)
    assert info.value.exit_code == 1
    assert files(tmp_path) == before


# ---------------------------------------------------------------------------- the CLI
runner = CliRunner()


def cli(*args: str, key: str | None = KEY):
    extra = {"COSTBT_GLASSNODE_API_KEY": key} if key is not None else {}
    return runner.invoke(app, ["data", "sopr", *args], env=extra)


def test_cli_downloads_sopr_into_the_cache(server, tmp_path):
    result = cli("--provider", "glassnode", "--api-url", server.url, "--cache-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "10 stored, 2024-03-01 .. 2024-03-10" in result.stdout
    assert Cache(tmp_path).read(glassnode.KEY).shape == (10, 2)


def test_cli_missing_key_is_one_line_naming_the_variable_and_exit_2(server, tmp_path):
    result = cli("--api-url", server.url, "--cache-dir", str(tmp_path), key=None)
    assert result.exit_code == 2
    assert "COSTBT_GLASSNODE_API_KEY" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_cli_wrong_key_is_401_one_line_and_exit_2(server, tmp_path):
    result = cli("--api-url", server.url, "--cache-dir", str(tmp_path), key="not-the-key")
    assert result.exit_code == 2
    assert "rejected the API key" in result.stderr and "not-the-key" not in result.output
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--provider", "cryptoquant"], "--provider: 'cryptoquant' is not supported"),
        (["--since", "yesterday-ish"], "--since: 'yesterday-ish' is not a date"),
        (["--since", "2024-03-05", "--until", "2024-03-01"], "--until: 2024-03-01 is before"),
        (
            ["--api-url", "localhost:9"],
            "--api-url: 'localhost:9' is not an http:// or https:// URL with a host",
        ),
    ],
    ids=["provider", "since", "until-before-since", "url"],
)
def test_cli_bad_flags_are_one_line_and_exit_2(tmp_path, args, expected):
    result = cli("--cache-dir", str(tmp_path), *args)
    assert result.exit_code == 2
    assert expected in result.stderr and len(result.stderr.strip().splitlines()) == 1
