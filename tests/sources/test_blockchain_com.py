"""blockchain.com charts downloader against a local server speaking the real charts API format.

hash-rate and difficulty are served from the bundled real chain data; miners-revenue and
transaction-fees-usd only from the small FORMAT FIXTURES below (hand-written, not real data).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from costbt.backtest.cli import app
from costbt.data.bundle import load_chain
from costbt.data.cache import Cache
from costbt.data.errors import DataError
from costbt.data.sources import blockchain_com as bc
from costbt.data.sources.http_client import HttpClient
from costbt.data.sources.retry import FetchError, RetryPolicy
from tests.servers.base import Fault
from tests.servers.blockchain_com import BlockchainComServer

NOW = pd.Timestamp("2026-02-13 06:00")  # the morning after the last bundled day
LAST = pd.Timestamp("2026-02-12")
GENESIS = pd.Timestamp("2009-01-03")
SPAN = 365

# FORMAT FIXTURES, not real data: a few hand-written values in the documented format, to test
# parsing, column naming and caching of the two charts for which no real series is bundled.
FORMAT_FIXTURES = {
    "miners-revenue": pd.Series(
        [31_250_000.5, 29_875_000.25, 30_500_000.0],
        index=pd.DatetimeIndex(["2026-02-09", "2026-02-10", "2026-02-11"]),
    ),
    "transaction-fees-usd": pd.Series(
        [412_345.5, 398_765.25, 0.0],
        index=pd.DatetimeIndex(["2026-02-09", "2026-02-10", "2026-02-11"]),
    ),
}


class Sleeps(list):
    """Stands in for time.sleep: records each delay instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture(scope="module")
def shared_server():
    with BlockchainComServer(extra=FORMAT_FIXTURES) as s:
        yield s


@pytest.fixture()
def server(shared_server):
    """The module's server, with no faults, an empty request log and the original data."""
    shared_server.reset()
    return shared_server


@pytest.fixture()
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture()
def cache(tmp_path: Path) -> Cache:
    return Cache(tmp_path / "cache")


def make_client(server, sleeps, *, timeout_s: float = 5.0, attempts: int = 4) -> HttpClient:
    policy = RetryPolicy(max_attempts=attempts, base_delay_s=0.01, jitter=0.0, sleep=sleeps)
    return HttpClient(server.url, timeout_s=timeout_s, policy=policy)


@functools.cache
def _bundled(chart: str) -> pd.Series:
    column = bc.CHARTS[chart].column
    return load_chain()[column].dropna().rename_axis("time").rename(column)


def expected(chart: str, since: str | None = None) -> pd.Series:
    """The bundled real series of ``chart`` (days without a value dropped), from ``since``."""
    s = _bundled(chart)
    return s.copy() if since is None else s.loc[since:].copy()


def download(server, sleeps, cache, chart="hash-rate", **kw):
    client = kw.pop("client", None) or make_client(server, sleeps)
    kw.setdefault("now", NOW)
    return bc.download_chart(chart, cache, client=client, **kw)


def snapshot(cache: Cache) -> dict[str, bytes]:
    """Every file of the cache folder (data files and manifest), byte for byte."""
    if not cache.root.exists():
        return {}
    return {p.name: p.read_bytes() for p in sorted(cache.root.iterdir()) if p.is_file()}


def assert_equals_bundle(cache: Cache, chart: str, since: str | None = None) -> pd.DataFrame:
    frame = cache.read(bc.series_key(chart))
    exp = expected(chart, since)
    assert list(frame.columns) == [bc.CHARTS[chart].column]
    assert frame.index.name == "time" and str(frame.index.dtype) == "datetime64[ns]"
    assert frame.index.tz is None
    assert frame.index.equals(exp.index)
    assert (frame[exp.name].to_numpy() == exp.to_numpy()).all()  # exact, row for row
    return frame


# ------------------------------------------------------------------------------- full download
@pytest.mark.parametrize("chart", ["hash-rate", "difficulty"])
def test_full_download_equals_the_bundled_real_series_row_for_row(server, sleeps, cache, chart):
    result = download(server, sleeps, cache, chart)
    frame = assert_equals_bundle(cache, chart)
    days = (LAST - GENESIS).days + 1
    assert result.requests == math.ceil(days / SPAN) == server.count(f"/charts/{chart}")
    assert (result.rows, result.first, result.last) == (len(frame), GENESIS, LAST)
    starts = [q["start"] for p, q in server.log]
    assert starts[0] == "2009-01-03" and len(set(starts)) == len(starts)
    assert all(
        q["format"] == "json" and q["sampled"] == "false" and q["timespan"] == "366days"
        for _, q in server.log
    )
    entry = cache.entry(bc.series_key(chart))
    path = cache.path(bc.series_key(chart))
    assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (entry["rows"], entry["first"], entry["last"]) == (
        len(frame),
        "2009-01-03T00:00:00",
        "2026-02-12T00:00:00",
    )
    assert entry["unit"] == bc.CHARTS[chart].unit and entry["complete_through"] == "2026-02-12"
    assert sleeps == []


def test_hash_rate_is_stored_in_th_per_s_and_a_unit_change_is_refused():
    point = {"x": 1_700_000_000, "y": 5.5e8}  # 2023-11-14 22:13:20 UTC -> stored on its day
    ok = {"status": "ok", "unit": "Hash Rate TH/s", "period": "day", "values": [point]}
    frame = bc.parse_chart(ok, "hash-rate")
    assert list(frame.columns) == ["hashrate_ths"]
    assert frame.index[0] == pd.Timestamp("2023-11-14") and frame.iloc[0, 0] == 5.5e8
    with pytest.raises(FetchError, match="GH/s"):
        bc.parse_chart({**ok, "unit": "Hash Rate GH/s"}, "hash-rate")
    with pytest.raises(FetchError, match="period"):
        bc.parse_chart({**ok, "period": "week"}, "hash-rate")
    assert {c.name: (c.column, c.unit) for c in bc.CHARTS.values()} == {
        "hash-rate": ("hashrate_ths", "TH/s"),
        "difficulty": ("difficulty", "dimensionless"),
        "miners-revenue": ("miners_revenue_usd", "USD per day"),
        "transaction-fees-usd": ("fees_usd", "USD per day"),
    }


@pytest.mark.parametrize("chart", ["miners-revenue", "transaction-fees-usd"])
def test_usd_charts_from_format_fixtures_are_cached_with_their_unit_columns(
    server, sleeps, cache, chart
):
    result = download(server, sleeps, cache, chart, since="2026-02-01")
    frame = cache.read(bc.series_key(chart))
    fixture = FORMAT_FIXTURES[chart]
    assert list(frame.columns) == [bc.CHARTS[chart].column]
    assert frame.index.equals(pd.DatetimeIndex(fixture.index, name="time"))
    assert (frame.iloc[:, 0].to_numpy() == fixture.to_numpy()).all()
    assert result.requests == 1


# ------------------------------------------------------------------------------- incremental
def test_merge_newer_wins_missing_never_erases_days_unique_and_sorted():
    idx = pd.DatetimeIndex
    old = pd.DataFrame(
        {"a": [1.0, 2.0, 3.0]}, index=idx(["2024-01-01", "2024-01-02", "2024-01-03"])
    )
    new = pd.DataFrame(
        {"a": [20.0, float("nan"), 4.0], "b": [1.0, 2.0, 3.0]},
        index=idx(["2024-01-02", "2024-01-03", "2024-01-04"]),
    )
    out = bc.merge_days(old, new.iloc[::-1])
    assert out.index.equals(
        idx(["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"], name="time")
    )
    assert out["a"].tolist() == [1.0, 20.0, 3.0, 4.0]  # 01-03 kept: a null does not erase
    assert out["b"].isna().tolist() == [True, False, False, False]
    assert str(out.index.dtype) == "datetime64[ns]"


def test_update_of_an_up_to_date_cache_makes_one_request_and_refetches_the_last_day(
    server, sleeps, cache
):
    download(server, sleeps, cache, since="2025-06-01")
    before = cache.read(bc.series_key("hash-rate"))
    revised = float(before["hashrate_ths"].iloc[-1]) * 1.01
    server.series["hash-rate"].loc[LAST] = revised  # the provider revised its latest day
    n = server.count()
    result = download(server, sleeps, cache)
    assert result.requests == 1 and server.count() - n == 1
    assert server.log[-1][1]["start"] == "2026-02-12"
    after = cache.read(bc.series_key("hash-rate"))
    assert after["hashrate_ths"].iloc[-1] == revised
    assert after.iloc[:-1].equals(before.iloc[:-1]) and result.new_rows == 0


def test_update_after_new_days_starts_at_the_last_stored_day_and_ends_equal(server, sleeps, cache):
    download(server, sleeps, cache, since="2025-01-01", now=pd.Timestamp("2026-01-01 00:00"))
    assert cache.read(bc.series_key("hash-rate")).index[-1] == pd.Timestamp("2025-12-31")
    n = server.count()
    result = download(server, sleeps, cache)
    assert result.requests == 1 and server.count() - n == 1
    assert server.log[-1][1]["start"] == "2025-12-31"
    assert_equals_bundle(cache, "hash-rate", since="2025-01-01")
    assert result.new_rows == (LAST - pd.Timestamp("2025-12-31")).days


def test_unfinished_day_is_never_stored(server, sleeps, cache):
    download(server, sleeps, cache, since="2026-02-01", now=pd.Timestamp("2026-02-12 00:00"))
    for now in ("2026-02-12 00:00", "2026-02-12 15:30", "2026-02-12 23:59:59.999"):
        download(server, sleeps, cache, now=pd.Timestamp(now))
        assert cache.read(bc.series_key("hash-rate")).index[-1] == pd.Timestamp("2026-02-11")
    assert server.log[-1][1]["start"] == "2026-02-11"  # the server did offer 2026-02-12
    download(server, sleeps, cache, now=pd.Timestamp("2026-02-13 00:00:00+00:00"))
    assert cache.read(bc.series_key("hash-rate")).index[-1] == LAST


def test_nothing_to_fetch_makes_no_request(server, sleeps, cache):
    result = download(server, sleeps, cache, since="2026-02-13")
    assert result.requests == 0 and server.count() == 0 and snapshot(cache) == {}


def test_a_foreign_cache_file_is_reported_not_overwritten(server, sleeps, cache):
    key = bc.series_key("hash-rate")
    cache.write(
        key, pd.DataFrame({"x": [1.0]}, index=pd.DatetimeIndex(["2020-01-01"], name="time"))
    )
    before = snapshot(cache)
    with pytest.raises(DataError, match="hashrate_ths"):
        download(server, sleeps, cache)
    assert snapshot(cache) == before and server.count() == 0


# ------------------------------------------------------------------------------- faults
def test_429_with_retry_after_is_honoured(server, sleeps, cache):
    server.faults.add("/charts/hash-rate", Fault(status=429, headers={"Retry-After": "7"}, after=1))
    result = download(server, sleeps, cache, since="2023-01-01")
    assert sleeps == [7.0]
    assert result.requests == 4 + 1  # 4 spans of 365 days, one of them asked twice
    assert_equals_bundle(cache, "hash-rate", since="2023-01-01")


def test_5xx_is_retried_then_succeeds(server, sleeps, cache):
    server.faults.add("/charts/difficulty", Fault(status=502, after=2))
    server.faults.add("/charts/difficulty", Fault(status=503))
    download(server, sleeps, cache, "difficulty", since="2022-01-01")
    assert len(sleeps) == 2 and server.faults.pending() == 0
    assert_equals_bundle(cache, "difficulty", since="2022-01-01")


def test_timeout_is_retried_then_succeeds(server, sleeps, cache):
    server.faults.add("/charts/hash-rate", Fault(delay_s=1.0))
    client = make_client(server, sleeps, timeout_s=0.3)
    result = download(server, sleeps, cache, since="2025-01-01", client=client)
    assert len(sleeps) == 1 and result.requests == 3  # 2 spans + 1 timed-out attempt
    frame = cache.read(bc.series_key("hash-rate"))
    assert frame["hashrate_ths"].equals(expected("hash-rate").loc["2025-01-01":])


@pytest.mark.parametrize(
    "body",
    [
        b'{"status":"ok","values":[{"x":1735689600,',  # cut short
        b"<html><body>502 Bad Gateway</body></html>",  # not JSON at all
        b'{"status":"ok","values":[{"x":"yesterday","y":1.0}]}',  # JSON, wrong types
        b'{"status":"ok","unit":"Hash Rate GH/s","values":[{"x":1735689600,"y":1.0}]}',
        b'{"status":"error","error":"Chart unavailable"}',
    ],
    ids=["truncated", "html", "bad-x", "wrong-unit", "status-error"],
)
def test_malformed_answer_is_a_clear_error_and_leaves_the_cache_unchanged(
    server, sleeps, cache, body
):
    download(server, sleeps, cache, since="2025-06-01", now=pd.Timestamp("2026-01-01"))
    before = snapshot(cache)
    server.faults.add("/charts/hash-rate", Fault(body=body))
    with pytest.raises(FetchError) as info:
        download(server, sleeps, cache)
    assert "hash-rate" in info.value.message
    assert any(w in info.value.message for w in ("malformed JSON", "values[0].x", "unit", "status"))
    assert snapshot(cache) == before


@pytest.mark.parametrize("status,code", [(500, 1), (401, 2)])
def test_interruption_keeps_completed_spans_and_a_rerun_completes(
    server, sleeps, cache, tmp_path, status, code
):
    since = "2018-01-01"
    for i in range(3):  # after 3 good spans the server fails for good (3 attempts)
        server.faults.add("/charts/hash-rate", Fault(status=status, after=3 if i == 0 else 0))
    client = make_client(server, sleeps, attempts=3)
    with pytest.raises(FetchError) as info:
        download(server, sleeps, cache, since=since, client=client)
    assert info.value.exit_code == code
    partial = cache.read(bc.series_key("hash-rate"))
    done = pd.Timestamp(since) + pd.Timedelta(days=3 * SPAN)
    exp = expected("hash-rate", since)
    assert partial["hashrate_ths"].equals(exp[exp.index < done])
    entry = cache.entry(bc.series_key("hash-rate"))
    assert entry["rows"] == len(partial) and entry["last"] == partial.index[-1].isoformat()
    assert (
        entry["sha256"]
        == hashlib.sha256(cache.path(bc.series_key("hash-rate")).read_bytes()).hexdigest()
    )
    server.reset()  # the provider is back
    download(server, sleeps, cache)  # no --since: resumes at the last stored day
    assert server.log[0][1]["start"] == str(partial.index[-1].date())
    final = assert_equals_bundle(cache, "hash-rate", since)
    clean = Cache(tmp_path / "clean")
    download(server, sleeps, clean, since=since)
    assert final.equals(clean.read(bc.series_key("hash-rate")))


# ------------------------------------------------------------------------------- fuzzing
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
good_x = st.integers(min_value=1_230_940_800, max_value=1_800_000_000)  # 2009..2027
good_y = st.floats(min_value=0, max_value=1e30) | st.integers(min_value=0, max_value=10**15)
points = st.lists(
    st.fixed_dictionaries({"x": good_x | json_values, "y": good_y | json_values})
    | st.fixed_dictionaries({"x": good_x, "y": good_y | st.none()})
    | json_values,
    max_size=6,
)
valid = st.fixed_dictionaries(
    {
        "status": st.just("ok"),
        "values": st.lists(st.fixed_dictionaries({"x": good_x, "y": good_y}), max_size=6),
    }
)
payloads = (
    valid
    | json_values
    | st.fixed_dictionaries(
        {"status": st.just("ok") | json_values, "values": points | json_values},
        optional={
            "unit": json_values | st.just("Hash Rate TH/s"),
            "period": json_values | st.just("day"),
        },
    )
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=payloads, chart=st.sampled_from(sorted(bc.CHARTS)))
def test_parser_fails_only_with_fetch_error_on_garbage(payload, chart):
    json.dumps(payload)  # the payload is something a server could send
    try:
        frame = bc.parse_chart(payload, chart)
    except (FetchError, DataError):
        return
    assert list(frame.columns) == [bc.CHARTS[chart].column]
    assert frame.index.is_unique and frame.index.is_monotonic_increasing
    assert (frame.iloc[:, 0] >= 0).all()


# ------------------------------------------------------------------------------- CLI
runner = CliRunner()


def test_cli_downloads_a_chart_from_the_local_server(server, tmp_path):
    result = runner.invoke(
        app,
        [
            "data",
            "chain",
            "--provider",
            "blockchain_com",
            "--chart",
            "hash-rate",
            "--chart",
            "difficulty",
            "--since",
            "2025-06-01",
            "--api-url",
            server.url,
            "--cache-dir",
            str(tmp_path),
            "--now",
            "2026-02-13T06:00:00Z",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = len(expected("hash-rate").loc["2025-06-01":])
    name = bc.series_key("hash-rate").filename
    assert f"{name}: {rows} rows 2025-06-01..2026-02-12 (+{rows} new, 1 requests" in result.stdout
    assert bc.series_key("difficulty").filename in result.stdout
    frame = Cache(tmp_path).read(bc.series_key("hash-rate"))
    assert frame["hashrate_ths"].equals(expected("hash-rate").loc["2025-06-01":])


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--provider", "blockchain.com"], "--provider: 'blockchain.com'"),
        (["--provider", "blockchain_com", "--chart", "hashrate"], "--chart: 'hashrate'"),
        (["--provider", "blockchain_com", "--since", "2025-13-45"], "--since: '2025-13-45'"),
        (["--provider", "blockchain_com", "--api-url", "localhost:1"], "--api-url"),
        (["--provider", "blockchain_com", "--metric", "HashRate"], "--metric"),
    ],
)
def test_cli_bad_flag_value_exits_2_with_one_line(server, tmp_path, args, needle):
    result = runner.invoke(app, ["data", "chain", *args, "--cache-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert needle in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output and server.count() == 0
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("status,code", [(404, 2), (418, 1)])
def test_cli_fetch_error_exits_with_its_code_and_one_line(server, tmp_path, status, code):
    server.faults.add("/charts/hash-rate", Fault(status=status, after=1))
    args = ["data", "chain", "--provider", "blockchain_com", "--chart", "hash-rate", "--quiet"]
    result = runner.invoke(app, [*args, "--api-url", server.url, "--cache-dir", str(tmp_path)])
    assert result.exit_code == code
    assert f"HTTP {status}" in result.stderr and "rerun to resume" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert Cache(tmp_path).read(bc.series_key("hash-rate")).index[-1] == pd.Timestamp("2010-01-02")
