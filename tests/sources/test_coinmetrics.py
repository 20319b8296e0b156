"""Coin Metrics API v4 downloader against a local server speaking the real asset-metrics format.

HashRate and DiffMean are served from the bundled real chain data. The only hand-written page is
FORMAT_FIXTURE_PAGE below, a format fixture (not real data) for the metric-to-column mapping.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from costbt.backtest.cli import app
from costbt.data.bundle import load_chain
from costbt.data.cache import Cache
from costbt.data.errors import DataError
from costbt.data.sources import coinmetrics as cm
from costbt.data.sources.http_client import HttpClient
from costbt.data.sources.retry import FetchError, RetryPolicy
from tests.servers.base import Fault
from tests.servers.coinmetrics import PATH, CoinMetricsServer

NOW = pd.Timestamp("2026-02-13 06:00")  # the morning after the last bundled day
LAST = pd.Timestamp("2026-02-12")
GENESIS = pd.Timestamp("2009-01-03")
KEY = cm.series_key("btc")
SECRET = "cm-test-key-6f2a9c"  # a made-up key for the local server

# FORMAT FIXTURE, not real data: one page in the documented shape with the community metrics, an
# unknown metric, a null and an absent value, to test parsing and column naming.
FORMAT_FIXTURE_PAGE = {
    "data": [
        {
            "asset": "btc",
            "time": "2024-04-19T00:00:00.000000000Z",
            "HashRate": "612345678.25",
            "BlkCnt": "150",
            "IssTotNtv": "853.125",
            "SplyCur": "19692000.5",
            "PriceUSD": "63800.5",
            "CapMrktCurUSD": "1256000000000.75",
            "FeeTotNtv": "37.5",
            "TxCnt": "612345",
        },
        {
            "asset": "btc",
            "time": "2024-04-20T00:00:00.000000000Z",
            "HashRate": None,
            "BlkCnt": "144",
            "IssTotNtv": "450",
            "SplyCur": "19692450.5",
            "PriceUSD": "64900",
            "CapMrktCurUSD": "1278000000000",
        },
    ],
    "next_page_token": "0.MjAyNC0wNC0yMQ",
    "next_page_url": "https://community-api.coinmetrics.io/v4/timeseries/asset-metrics?...",
}


class Sleeps(list):
    """Stands in for time.sleep: records each delay instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture(scope="module")
def shared_server():
    with CoinMetricsServer() as s:
        yield s


@pytest.fixture()
def server(shared_server):
    """The module's server: no faults, no key required, empty request log, original data."""
    shared_server.reset()
    return shared_server


@pytest.fixture()
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture()
def cache(tmp_path: Path) -> Cache:
    return Cache(tmp_path / "cache")


@pytest.fixture(autouse=True)
def no_key(monkeypatch):
    monkeypatch.delenv(cm.ENV_API_KEY, raising=False)
    monkeypatch.delenv(cm.ENV_URL, raising=False)


def make_client(server, sleeps, *, timeout_s: float = 5.0, attempts: int = 4) -> HttpClient:
    policy = RetryPolicy(max_attempts=attempts, base_delay_s=0.01, jitter=0.0, sleep=sleeps)
    return HttpClient(server.url + "/v4", timeout_s=timeout_s, policy=policy)


def download(server, sleeps, cache, metrics=("HashRate",), *, page_size=10_000, **kw):
    client = kw.pop("client", None) or make_client(server, sleeps)
    kw.setdefault("now", NOW)
    config = cm.CoinMetricsConfig(page_size=page_size)
    return cm.download_asset_metrics(cache, metrics, client=client, config=config, **kw)


@functools.cache
def _bundled() -> pd.DataFrame:
    chain = load_chain()
    frame = pd.DataFrame({"hashrate_ths": chain["hashrate_ths"], "difficulty": chain["difficulty"]})
    return frame.rename_axis("time")


def expected(columns=("hashrate_ths",), since: str | None = None) -> pd.DataFrame:
    """The bundled real values of ``columns``, days on which all are missing dropped."""
    frame = _bundled()[list(columns)].dropna(how="all")
    return (frame if since is None else frame.loc[since:]).copy()


def assert_equals_bundle(cache: Cache, columns=("hashrate_ths",), since=None) -> pd.DataFrame:
    frame = cache.read(KEY)
    exp = expected(columns, since)
    assert frame.index.name == "time" and str(frame.index.dtype) == "datetime64[ns]"
    assert frame.index.tz is None and list(frame.columns) == list(columns)
    assert frame.index.equals(exp.index)
    a, b = frame.to_numpy(), exp.to_numpy()
    assert ((a == b) | (np.isnan(a) & np.isnan(b))).all()  # exact, row for row
    return frame


def snapshot(cache: Cache) -> dict[str, bytes]:
    """Every file of the cache folder (data files and manifest), byte for byte."""
    if not cache.root.exists():
        return {}
    return {p.name: p.read_bytes() for p in sorted(cache.root.iterdir()) if p.is_file()}


# ------------------------------------------------------------------------------- full download
def test_full_download_in_pages_equals_the_bundled_real_series_row_for_row(server, sleeps, cache):
    result = download(server, sleeps, cache, ("HashRate", "DiffMean"), page_size=1000)
    frame = assert_equals_bundle(cache, ("hashrate_ths", "difficulty"))
    pages = -(-len(frame) // 1000)
    assert result.requests == pages == server.count(PATH) == 7
    first = server.log[0][1]
    assert first == {
        "assets": "btc",
        "metrics": "HashRate,DiffMean",
        "frequency": "1d",
        "start_time": "2009-01-03",
        "end_time": "2026-02-12",
        "page_size": "1000",
        "paging_from": "start",
    }
    tokens = [q.get("next_page_token") for _, q in server.log]
    assert tokens[0] is None and all(tokens[1:]) and len(set(tokens[1:])) == pages - 1
    assert all(
        {k: v for k, v in q.items() if k != "next_page_token"} == first for _, q in server.log
    )
    entry = cache.entry(KEY)
    assert entry["sha256"] == hashlib.sha256(cache.path(KEY).read_bytes()).hexdigest()
    assert (entry["rows"], entry["first"], entry["last"]) == (
        len(frame),
        "2009-01-03T00:00:00",
        "2026-02-12T00:00:00",
    )
    assert entry["columns"]["hashrate_ths"] == {
        "metric": "HashRate",
        "unit": "TH/s",
        "description": "mean network hash rate of the day",
    }
    assert entry["columns"]["difficulty"]["metric"] == "DiffMean"
    assert entry["api_key_used"] is False and entry["complete_through"] == "2026-02-12"
    assert (result.first, result.last, sleeps) == (GENESIS, LAST, [])


def test_metrics_are_stored_in_columns_named_by_unit():
    frame, token = cm.parse_asset_metrics(
        FORMAT_FIXTURE_PAGE,
        [
            "HashRate",
            "BlkCnt",
            "IssTotNtv",
            "SplyCur",
            "PriceUSD",
            "CapMrktCurUSD",
            "FeeTotNtv",
            "TxCnt",
        ],
    )
    assert list(frame.columns) == [
        "hashrate_ths",
        "blocks",
        "issuance_btc",
        "supply_btc",
        "price_usd",
        "market_cap_usd",
        "fees_btc",
        "tx_cnt",
    ]
    assert token == "0.MjAyNC0wNC0yMQ"
    assert frame.index.equals(pd.DatetimeIndex(["2024-04-19", "2024-04-20"], name="time"))
    assert frame.loc["2024-04-19", "hashrate_ths"] == 612345678.25
    assert np.isnan(frame.loc["2024-04-20", "hashrate_ths"])  # null: no data that day
    assert frame.loc["2024-04-19", "fees_btc"] == 37.5
    assert np.isnan(frame.loc["2024-04-20", "tx_cnt"])  # absent: not supported
    assert frame.loc["2024-04-20", "blocks"] == 144.0
    assert set(cm.COMMUNITY_METRICS) == {
        "HashRate",
        "BlkCnt",
        "IssTotNtv",
        "SplyCur",
        "PriceUSD",
        "CapMrktCurUSD",
        "FeeTotNtv",
    }
    assert cm.metric("FeeTotNtv").unit == "BTC per day"
    assert cm.metric("TxCnt").unit == "unitless"
    assert cm.snake_case("CapMVRVCur") == "cap_mvrv_cur"
    with pytest.raises(ValueError, match="share column 'difficulty'"):
        cm.resolve_metrics(["DiffMean", "Difficulty"])
    with pytest.raises(ValueError, match="not a metric id"):
        cm.resolve_metrics(["Hash-Rate"])


# ------------------------------------------------------------------------------- incremental
def test_update_of_an_up_to_date_cache_makes_one_request_and_refetches_the_last_day(
    server, sleeps, cache
):
    download(server, sleeps, cache, since="2025-06-01")
    before = cache.read(KEY)
    revised = float(before["hashrate_ths"].iloc[-1]) * 1.01
    server.metrics.loc[LAST, "HashRate"] = revised  # the provider revised its latest day
    result = download(server, sleeps, cache)
    assert result.requests == 1 and server.count(PATH) == 2
    assert server.log[-1][1]["start_time"] == "2026-02-12"
    after = cache.read(KEY)
    assert after["hashrate_ths"].iloc[-1] == revised
    assert after.iloc[:-1].equals(before.iloc[:-1]) and result.new_rows == 0


def test_update_after_new_days_starts_at_the_last_stored_day_and_ends_equal(server, sleeps, cache):
    download(server, sleeps, cache, since="2025-01-01", now=pd.Timestamp("2026-01-01"))
    assert cache.read(KEY).index[-1] == pd.Timestamp("2025-12-31")
    result = download(server, sleeps, cache, page_size=20)
    assert server.log[-1][1]["start_time"] == "2025-12-31"
    assert result.requests == -(-((LAST - pd.Timestamp("2025-12-31")).days + 1) // 20)
    assert_equals_bundle(cache, since="2025-01-01")


def test_a_metric_added_later_is_fetched_from_its_first_day_and_merged(server, sleeps, cache):
    download(server, sleeps, cache, since="2024-01-01")
    download(server, sleeps, cache, ("HashRate", "DiffMean"))
    assert server.log[-1][1]["start_time"] == "2009-01-03"  # DiffMean was not stored yet
    frame = cache.read(KEY)
    exp = expected(("hashrate_ths", "difficulty"))
    assert frame["difficulty"].equals(exp["difficulty"].reindex(frame.index))
    assert frame["hashrate_ths"].dropna().equals(exp["hashrate_ths"].dropna())


def test_unfinished_day_is_never_stored(server, sleeps, cache):
    for now in ("2026-02-12 00:00", "2026-02-12 15:30", "2026-02-12 23:59:59.999"):
        download(server, sleeps, cache, since="2026-02-01", now=pd.Timestamp(now))
        assert cache.read(KEY).index[-1] == pd.Timestamp("2026-02-11")
        assert server.log[-1][1]["end_time"] == "2026-02-11"
    download(server, sleeps, cache, now=pd.Timestamp("2026-02-13 00:00:00+00:00"))
    assert cache.read(KEY).index[-1] == LAST


def test_unfinished_day_is_dropped_even_if_the_server_sends_it(server, sleeps, cache):
    server.metrics.loc[pd.Timestamp("2026-02-13"), "HashRate"] = 1.0  # today's partial value
    query = {"assets": "btc", "metrics": "HashRate", "start_time": "2026-02-01"}
    answer = server.route(PATH, {**query, "page_size": "100", "paging_from": "start"}, {})
    assert b"2026-02-13" in answer.body  # a server that ignores end_time
    server.faults.add(PATH, Fault(body=answer.body))
    download(server, sleeps, cache, since="2026-02-01")
    assert cache.read(KEY).index[-1] == LAST


def test_nothing_to_fetch_makes_no_request(server, sleeps, cache):
    result = download(server, sleeps, cache, since="2026-02-13")
    assert result.requests == 0 and server.count() == 0 and snapshot(cache) == {}


# ------------------------------------------------------------------------------- faults
def test_429_with_retry_after_is_honoured(server, sleeps, cache):
    server.faults.add(PATH, Fault(status=429, headers={"Retry-After": "4"}, after=1))
    result = download(server, sleeps, cache, since="2024-01-01", page_size=300)
    assert sleeps == [4.0] and result.requests == 3 + 1
    assert_equals_bundle(cache, since="2024-01-01")


def test_5xx_is_retried_then_succeeds(server, sleeps, cache):
    server.faults.add(PATH, Fault(status=500, after=1))
    server.faults.add(PATH, Fault(status=503))
    download(server, sleeps, cache, since="2024-01-01", page_size=300)
    assert len(sleeps) == 2 and server.faults.pending() == 0
    assert_equals_bundle(cache, since="2024-01-01")


def test_timeout_is_retried_then_succeeds(server, sleeps, cache):
    server.faults.add(PATH, Fault(delay_s=1.0))
    client = make_client(server, sleeps, timeout_s=0.3)
    result = download(server, sleeps, cache, since="2025-01-01", client=client)
    assert len(sleeps) == 1 and result.requests == 2
    assert_equals_bundle(cache, since="2025-01-01")


@pytest.mark.parametrize(
    "body",
    [
        b'{"data":[{"asset":"btc","time":"2025-12-31T00:00:00.000000000Z","HashRate":"9',
        b"<html><body>504 Gateway Time-out</body></html>",
        b'{"data":[{"asset":"btc","time":"2025-12-31T00:00:00.000000000Z","HashRate":"9,5"}]}',
        b'{"data":[{"asset":"btc","time":"31/12/2025","HashRate":"9.5"}]}',
        b'{"data":[{"asset":"eth","time":"2025-12-31T00:00:00.000000000Z","HashRate":"9.5"}]}',
        b'{"error":{"type":"internal","message":"backend unavailable"}}',
        b'{"data":{"HashRate":"9.5"}}',
    ],
    ids=["truncated", "html", "comma", "bad-time", "other-asset", "error-object", "not-a-list"],
)
def test_malformed_answer_is_a_clear_error_and_leaves_the_cache_unchanged(
    server, sleeps, cache, body
):
    download(server, sleeps, cache, since="2025-06-01", now=pd.Timestamp("2026-01-01"))
    before = snapshot(cache)
    server.faults.add(PATH, Fault(body=body))
    with pytest.raises(FetchError) as info:
        download(server, sleeps, cache)
    msg = info.value.message
    assert "asset-metrics" in msg
    assert any(w in msg for w in ("malformed JSON", "data[0]", "error", "not a list"))
    assert snapshot(cache) == before


def test_an_unsupported_metric_is_a_clear_error_and_leaves_the_cache_unchanged(
    server, sleeps, cache
):
    download(server, sleeps, cache, since="2025-06-01")
    before = snapshot(cache)
    with pytest.raises(FetchError) as info:
        download(server, sleeps, cache, ("HashRate", "RevUSD"))
    assert info.value.exit_code == 2 and "HTTP 400" in info.value.message
    assert snapshot(cache) == before


@pytest.mark.parametrize("status,code", [(500, 1), (401, 2)])
def test_interruption_keeps_completed_pages_and_a_rerun_completes(
    server, sleeps, cache, tmp_path, status, code
):
    since = "2020-01-01"
    for i in range(3):  # after 2 good pages the server fails for good (3 attempts)
        server.faults.add(PATH, Fault(status=status, after=2 if i == 0 else 0))
    client = make_client(server, sleeps, attempts=3)
    with pytest.raises(FetchError) as info:
        download(server, sleeps, cache, since=since, page_size=500, client=client)
    assert info.value.exit_code == code
    partial = cache.read(KEY)
    assert partial.equals(expected(since=since).iloc[:1000])  # exactly the two pages
    entry = cache.entry(KEY)
    assert entry["rows"] == 1000 and entry["last"] == partial.index[-1].isoformat()
    assert entry["sha256"] == hashlib.sha256(cache.path(KEY).read_bytes()).hexdigest()
    server.reset()  # the provider is back
    download(server, sleeps, cache, page_size=500)  # resumes at the last stored day
    assert server.log[0][1]["start_time"] == str(partial.index[-1].date())
    final = assert_equals_bundle(cache, since=since)
    clean = Cache(tmp_path / "clean")
    download(server, sleeps, clean, since=since)
    assert final.equals(clean.read(KEY))


# ------------------------------------------------------------------------------- API key
def test_api_key_is_sent_as_documented_but_never_written_or_shown(
    server, sleeps, cache, monkeypatch
):
    monkeypatch.setenv(cm.ENV_API_KEY, SECRET)
    server.reset(api_key=SECRET)
    download(server, sleeps, cache, since="2025-01-01", page_size=200)
    assert server.received_keys == [SECRET] * server.count(PATH) and server.count(PATH) == 3
    assert_equals_bundle(cache, since="2025-01-01")
    entry = cache.entry(KEY)
    assert entry["api_key_used"] is True
    for path in cache.root.iterdir():
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes()
    server.reset(api_key="another-key")  # the key is refused
    before = snapshot(cache)
    with pytest.raises(FetchError) as info:
        download(server, sleeps, cache)
    assert info.value.exit_code == 2 and "HTTP 401" in info.value.message
    assert SECRET not in info.value.message and "api_key=***" in info.value.message
    assert snapshot(cache) == before


def test_base_url_community_without_key_pro_with_key_env_overrides(monkeypatch):
    assert cm.base_url() == "https://community-api.coinmetrics.io/v4"
    assert cm.base_url(api_key="k") == "https://api.coinmetrics.io/v4"
    monkeypatch.setenv(cm.ENV_URL, "http://127.0.0.1:9/v4")
    assert cm.base_url(api_key="k") == "http://127.0.0.1:9/v4"
    assert cm.base_url("http://h/v4") == "http://h/v4"
    assert cm.redact("u?api_key=a%2Fb&x=1 a/b", "a/b") == "u?api_key=***&x=1 ***"


# ------------------------------------------------------------------------------- fuzzing
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(["2024-01-01T00:00:00.000000000Z", "1e400", "-0", "NaN", "9999-12-31"]),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
good_time = st.dates(min_value=pd.Timestamp("2009-01-03").date(), max_value=LAST.date()).map(
    lambda d: f"{d.isoformat()}T00:00:00.000000000Z"
)
good_value = st.floats(min_value=0, max_value=1e30).map(repr) | st.none()
rows = st.lists(
    st.fixed_dictionaries(
        {"asset": st.just("btc") | json_values, "time": good_time | json_values},
        optional={"HashRate": good_value | json_values, "DiffMean": good_value | json_values},
    )
    | st.fixed_dictionaries(
        {"asset": st.just("btc"), "time": good_time},
        optional={"HashRate": good_value, "DiffMean": good_value},
    )
    | json_values,
    max_size=5,
)
valid = st.fixed_dictionaries(
    {
        "data": st.lists(
            st.fixed_dictionaries(
                {"asset": st.just("btc"), "time": good_time, "HashRate": good_value}
            ),
            max_size=5,
        )
    }
)
payloads = (
    valid
    | json_values
    | st.fixed_dictionaries(
        {"data": rows | json_values},
        optional={
            "next_page_token": st.text(min_size=1, max_size=8) | json_values,
            "error": json_values,
        },
    )
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=payloads)
def test_parser_fails_only_with_fetch_error_on_garbage(payload):
    json.dumps(payload)  # the payload is something a server could send
    try:
        frame, token = cm.parse_asset_metrics(payload, ["HashRate", "DiffMean"])
    except (FetchError, DataError):
        return
    assert list(frame.columns) == ["hashrate_ths", "difficulty"]
    assert frame.index.is_unique and frame.index.is_monotonic_increasing
    assert token is None or isinstance(token, str)


# ------------------------------------------------------------------------------- CLI
runner = CliRunner()


def cli(*args: str):
    return runner.invoke(app, ["data", "chain", *args])


def test_cli_downloads_metrics_from_the_local_server(server, tmp_path):
    result = cli(
        "--provider",
        "coinmetrics",
        "--metric",
        "HashRate,DiffMean",
        "--since",
        "2025-06-01",
        "--api-url",
        server.url + "/v4",
        "--cache-dir",
        str(tmp_path),
        "--now",
        "2026-02-13T06:00:00Z",
    )
    assert result.exit_code == 0, result.output
    rows = len(expected(("hashrate_ths", "difficulty"), "2025-06-01"))
    assert f"{KEY.filename}: {rows} rows 2025-06-01..2026-02-12 (+{rows} new, 1 requests" in (
        result.stdout
    )
    frame = Cache(tmp_path).read(KEY)
    assert frame["hashrate_ths"].equals(expected(since="2025-06-01")["hashrate_ths"])


def test_cli_env_url_and_key_and_a_refused_key_never_shows_the_key(server, tmp_path, monkeypatch):
    monkeypatch.setenv(cm.ENV_URL, server.url + "/v4")
    monkeypatch.setenv(cm.ENV_API_KEY, SECRET)
    server.reset(api_key="another-key")
    result = cli("--provider", "coinmetrics", "--cache-dir", str(tmp_path), "--quiet")
    assert result.exit_code == 2
    assert "HTTP 401" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert SECRET not in result.output + result.stderr
    assert server.received_keys == [SECRET]


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--provider", "coin_metrics"], "--provider: 'coin_metrics'"),
        (["--provider", "coinmetrics", "--metric", "Hash-Rate"], "--metric: 'Hash-Rate'"),
        (["--provider", "coinmetrics", "--metric", "DiffMean,Difficulty"], "--metric"),
        (["--provider", "coinmetrics", "--chart", "hash-rate"], "--chart"),
        (["--provider", "coinmetrics", "--since", "yesterday-ish"], "--since: 'yesterday-ish'"),
    ],
)
def test_cli_bad_flag_value_exits_2_with_one_line(server, tmp_path, args, needle):
    result = cli(*args, "--api-url", server.url + "/v4", "--cache-dir", str(tmp_path))
    assert result.exit_code == 2
    assert needle in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output and server.count() == 0
    assert not any(tmp_path.iterdir())
