"""Farside spot-ETF flows: the HTML parser, dated snapshots, revisions, faults and the CLI.

The local server renders Farside's page layout from the REAL bundled flows, so a full fetch must
give back the bundled file row for row.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from costbt.backtest.cli import app
from costbt.data import bundle
from costbt.data import bundled_files as bf
from costbt.data.cache import Cache, SeriesKey
from costbt.data.errors import DataError
from costbt.data.panel import build_panel, load_sources
from costbt.data.sources import farside
from costbt.data.sources.retry import FetchError, RetryPolicy
from tests.servers.base import Fault
from tests.servers.farside import PAGE_PATH, FarsideServer

T1 = datetime(2026, 4, 11, 15, 30, 0, tzinfo=UTC)
T2 = datetime(2026, 4, 12, 9, 0, 5, tzinfo=UTC)

HEADER = "<tr><th></th><th>IBIT</th><th>FBTC</th><th>GBTC</th><th>Total</th></tr>"  # minimal layout


def page(*rows: str, header: str = HEADER, before: str = "") -> str:
    table = (
        f"<table class='etf'><thead>{before}{header}</thead><tbody>{''.join(rows)}</tbody></table>"
    )
    return f"<html><body>{table}</body></html>"


def row(label: str, *cells: str) -> str:
    return (
        f"<tr><td><span class='tabletext'>{label}</span></td>"
        + "".join(f"<td><span class='tabletext'>{c}</span></td>" for c in cells)
        + "</tr>"
    )


@pytest.fixture(scope="module")
def bundled() -> pd.DataFrame:
    return bundle.load_etf_flows()


@pytest.fixture()
def server():
    with FarsideServer() as srv:
        yield srv


def fast_policy(delays: list[float] | None = None, attempts: int = 3) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=attempts,
        base_delay_s=0.01,
        jitter=0.0,
        sleep=(delays.append if delays is not None else lambda s: None),
    )


def config(srv: FarsideServer, timeout_s: float = 10.0) -> farside.FarsideConfig:
    return farside.FarsideConfig(srv.url, PAGE_PATH, timeout_s)


def files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


# ------------------------------------------------------------------------------------ the parser
def test_parentheses_are_outflows():
    frame = farside.parse_farside_html(
        page(row("11 Jan 2024", "111.7", "227.0", "(95.1)", "243.6"))
    )
    assert frame.loc["2024-01-11", "gbtc_usd_m"] == -95.1


def test_dash_is_missing_and_never_zero_while_zero_stays_zero():
    frame = farside.parse_farside_html(page(row("11 Jan 2024", "0.0", "-", "(1.0)", "(1.0)")))
    assert frame.loc["2024-01-11", "ibit_usd_m"] == 0.0
    assert math.isnan(frame.loc["2024-01-11", "fbtc_usd_m"])


def test_thousands_separators_are_read():
    frame = farside.parse_farside_html(
        page(row("13 Mar 2024", "1,234.5", "(1,002.3)", "0.0", "232.2"))
    )
    assert frame.loc["2024-03-13", "ibit_usd_m"] == 1234.5
    assert frame.loc["2024-03-13", "fbtc_usd_m"] == -1002.3


def test_footer_rows_total_average_maximum_minimum_are_skipped():
    frame = farside.parse_farside_html(
        page(
            row("11 Jan 2024", "1.0", "2.0", "3.0", "6.0"),
            row("Total", "1.0", "2.0", "3.0", "6.0"),
            row("Average", "1.0", "2.0", "3.0", "6.0"),
            row("Maximum", "1.0", "2.0", "3.0", "6.0"),
            row("Minimum", "1.0", "2.0", "3.0", "6.0"),
        )
    )
    assert list(frame.index) == [pd.Timestamp("2024-01-11")]


def test_holiday_rows_of_dashes_are_dropped_not_zero_filled():
    table = farside.parse_farside_table(
        page(
            row("12 Jan 2024", "1.0", "2.0", "3.0", "6.0"),
            row("15 Jan 2024", "-", "-", "-", "0.0"),
            row("16 Jan 2024", "4.0", "-", "5.0", "9.0"),
        )
    )
    assert list(table.frame.index) == [pd.Timestamp("2024-01-12"), pd.Timestamp("2024-01-16")]
    assert table.holiday_rows == (pd.Timestamp("2024-01-15"),)


def test_issuer_and_fee_header_rows_are_ignored():
    issuers = "<tr><th></th><th>Blackrock</th><th>Fidelity</th><th>Grayscale</th><th></th></tr>"
    fees = "<tr><th>Fee</th><th>0.25%</th><th>0.25%</th><th>1.50%</th><th></th></tr>"
    frame = farside.parse_farside_html(
        page(fees, row("11 Jan 2024", "1.0", "2.0", "3.0", "6.0"), before=issuers)
    )
    assert frame.shape == (1, 4)


def test_columns_follow_the_bundled_naming_and_the_index_is_a_tz_naive_date():
    frame = farside.parse_farside_html(page(row("11 Jan 2024", "1.0", "2.0", "3.0", "6.0")))
    assert list(frame.columns) == ["ibit_usd_m", "fbtc_usd_m", "gbtc_usd_m", "total_usd_m"]
    assert frame.index.name == "date" and frame.index.tz is None
    assert (frame.dtypes == "float64").all()


def test_an_unknown_new_fund_is_kept_with_the_same_naming_rule_and_reported():
    header = "<tr><th></th><th>IBIT</th><th>NEWB</th><th>Total</th></tr>"
    table = farside.parse_farside_table(
        page(row("02 Mar 2026", "1.0", "(2.5)", "(1.5)"), header=header)
    )
    assert table.unknown_funds == ("NEWB",)
    assert table.frame.loc["2026-03-02", "newb_usd_m"] == -2.5


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            page(row("11 Jan 2024", "1.0", "abc", "3.0", "6.0")),
            "column 'FBTC', row dated 2024-01-11",
        ),
        (page(row("11 Jan 2024", "1.0", "2.0", "6.0")), "has 4 cells, the header has 5"),
        (page(row("Sometime", "1.0", "2.0", "3.0", "6.0")), "neither a date"),
        ("<html><body><p>Just a moment...</p></body></html>", "no flows table found"),
        (page(row("Total", "1.0", "2.0", "3.0", "6.0")), "no dated rows"),
        (
            page(row("11 Jan 2024", "1", "2", "3", "6"), row("11 Jan 2024", "1", "2", "3", "6")),
            "2024-01-11: date appears twice",
        ),
    ],
    ids=["not-a-number", "short-row", "unknown-label", "no-table", "no-days", "duplicate-day"],
)
def test_malformed_pages_raise_one_data_error_naming_the_place(text, expected):
    with pytest.raises(DataError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        farside.parse_farside_html(text)


# ------------------------------------------------------------------------- fetch and snapshots
def test_a_full_fetch_equals_the_bundled_flows_row_for_row(server, tmp_path, bundled):
    result = farside.fetch_snapshot(Cache(tmp_path), config(server), now=T1)
    pd.testing.assert_frame_equal(result.snapshot.frame, bundled)
    pd.testing.assert_frame_equal(Cache(tmp_path).read(result.snapshot.key), bundled)
    assert result.holiday_rows == 16 and result.unknown_funds == ()


def test_each_fetch_is_a_snapshot_named_by_its_utc_fetch_time(server, tmp_path):
    result = farside.fetch_snapshot(Cache(tmp_path), config(server), now=T1)
    assert result.snapshot.key == SeriesKey(
        "farside", "etf_flows", "BTC", "snapshot-2026-04-11T153000Z"
    )
    entry = Cache(tmp_path).entry(result.snapshot.key)
    assert entry["snapshot_taken_at"] == "2026-04-11T15:30:00Z"
    assert entry["publication_lag_days"] == 1 and entry["rows"] == 563


def test_snapshots_are_listed_oldest_first_and_loaded_as_of_any_time(server, tmp_path):
    cache = Cache(tmp_path)
    farside.fetch_snapshot(cache, config(server), now=T1)
    server.revise("2025-11-18", "ibit_usd_m", -500.0)
    farside.fetch_snapshot(cache, config(server), now=T2)
    assert [t for t, _ in farside.list_snapshots(cache)] == [pd.Timestamp(T1), pd.Timestamp(T2)]
    assert farside.load_snapshot(cache).taken_at == pd.Timestamp(T2)
    early = farside.load_snapshot(cache, as_of="2026-04-11T23:00:00Z")
    assert early.taken_at == pd.Timestamp(T1)
    assert early.frame.loc["2025-11-18", "ibit_usd_m"] == -523.2
    assert farside.load_snapshot(cache, as_of="2026-04-12").taken_at == pd.Timestamp(T2)
    assert farside.load_snapshot(
        cache, as_of="snapshot-2026-04-11T153000Z"
    ).taken_at == pd.Timestamp(T1)


def test_no_snapshot_before_as_of_is_a_clear_data_error(server, tmp_path):
    cache = Cache(tmp_path)
    farside.fetch_snapshot(cache, config(server), now=T1)
    with pytest.raises(
        DataError, match="no Farside ETF-flow snapshot taken at or before 2026-01-01"
    ):
        farside.load_snapshot(cache, as_of="2026-01-01")


def test_revisions_between_snapshots_are_detected_cell_by_cell(server, tmp_path):
    cache = Cache(tmp_path)
    farside.fetch_snapshot(cache, config(server), now=T1)
    server.revise("2025-11-18", "ibit_usd_m", -500.0)
    result = farside.fetch_snapshot(cache, config(server), now=T2)
    revised = result.diff.revised
    assert len(revised) == 1
    r = revised.iloc[0]
    assert (r.date, r.column, r.old, r.new) == (
        pd.Timestamp("2025-11-18"),
        "ibit_usd_m",
        -523.2,
        -500.0,
    )
    assert result.previous.taken_at == pd.Timestamp(T1) and result.diff.added_days == ()


def test_a_late_report_filling_a_dash_counts_as_a_revision(bundled):
    new = bundled.copy()
    new.loc["2026-04-10", "msbt_usd_m"] = 3.2  # was "-" (no data)
    revised = farside.revisions(bundled, new)
    assert len(revised) == 1
    r = revised.iloc[0]
    assert (r.date, r.column, r.new) == (pd.Timestamp("2026-04-10"), "msbt_usd_m", 3.2)
    assert math.isnan(r.old)


def test_identical_snapshots_have_no_revisions(bundled):
    assert farside.revisions(bundled, bundled.copy()).empty


def test_the_snapshot_frame_replaces_the_bundled_etf_source_in_the_panel(server, tmp_path):
    cache = Cache(tmp_path)
    farside.fetch_snapshot(cache, config(server), now=T1)
    frame = farside.etf_frame_for_panel(cache, "2026-04-11")
    assert list(frame.columns) == [c.name for c in bf.ETF_FLOWS_1D.columns]
    assert frame.loc["2025-11-18", "ibit_usd_m"] == -523.2
    frames = load_sources()
    frames["etf_flows"] = frame
    panel = build_panel(frames)
    # published after the US close: the 2025-11-18 flow is usable in the row of 2025-11-19
    assert panel.loc["2025-11-19", "etf_flow_ibit_usd_m"] == -523.2
    assert panel.loc["2025-11-18", "etf_flow_ibit_usd_m"] == frame.loc["2025-11-17", "ibit_usd_m"]


def test_a_snapshot_lacking_a_bundled_fund_gives_an_all_blank_column_for_the_panel(
    tmp_path, bundled
):
    cache = Cache(tmp_path)
    cache.write(farside.snapshot_key(T1), bundled.drop(columns=["msbt_usd_m"]))
    frame = farside.etf_frame_for_panel(cache)
    assert frame["msbt_usd_m"].isna().all()
    build_panel({"etf_flows": frame})


# ------------------------------------------------------------------------------------ faults
def test_429_with_retry_after_is_honoured_then_the_fetch_completes(server, tmp_path, bundled):
    delays: list[float] = []
    server.faults.add(PAGE_PATH, Fault(status=429, headers={"Retry-After": "7"}))
    result = farside.fetch_snapshot(
        Cache(tmp_path), config(server), policy=fast_policy(delays), now=T1
    )
    assert delays == [7.0]
    pd.testing.assert_frame_equal(result.snapshot.frame, bundled)


def test_5xx_is_retried(server, tmp_path):
    delays: list[float] = []
    server.faults.add(PAGE_PATH, Fault(status=503))
    server.faults.add(PAGE_PATH, Fault(status=500))
    result = farside.fetch_snapshot(
        Cache(tmp_path), config(server), policy=fast_policy(delays), now=T1
    )
    assert server.count(PAGE_PATH) == 3 and len(delays) == 2
    assert result.snapshot.frame.shape == (563, 13)


def test_a_timeout_on_every_attempt_is_a_clear_error_and_the_cache_is_unchanged(server, tmp_path):
    cache = Cache(tmp_path)
    farside.fetch_snapshot(cache, config(server), now=T1)
    before = files(tmp_path)
    for _ in range(2):
        server.faults.add(PAGE_PATH, Fault(delay_s=1.0))
    with pytest.raises(FetchError, match="gave up after 2 attempts: network error"):
        farside.fetch_snapshot(cache, config(server, 0.3), policy=fast_policy(attempts=2), now=T2)
    assert files(tmp_path) == before


def test_a_malformed_page_is_a_clear_error_and_the_cache_is_unchanged(server, tmp_path):
    cache = Cache(tmp_path)
    farside.fetch_snapshot(cache, config(server), now=T1)
    before = files(tmp_path)
    bad = (
        b"<html><body><table><tr><th></th><th>IBIT</th><th>Total</th></tr>"
        b"<tr><td>11 Jan 2024</td><td>1.0</td><td>oops</td></tr></table>"
    )
    server.faults.add(PAGE_PATH, Fault(body=bad))
    with pytest.raises(
        FetchError, match=r"malformed Farside page: column 'TOTAL', row dated 2024-01-11"
    ):
        farside.fetch_snapshot(cache, config(server), now=T2)
    assert files(tmp_path) == before


def test_a_bot_filter_refusal_is_not_reported_as_an_api_key_problem(server, tmp_path):
    server.faults.add(PAGE_PATH, Fault(status=403, body=b"<html>Just a moment...</html>"))
    with pytest.raises(FetchError, match="Farside needs no key") as info:
        farside.fetch_snapshot(Cache(tmp_path), config(server), now=T1)
    assert info.value.exit_code == 1 and not any(tmp_path.iterdir())


# ------------------------------------------------------------------------------------ the CLI
runner = CliRunner()


def cli(*args: str):
    return runner.invoke(app, ["data", "etf-flows", *args])


def test_cli_fetches_a_snapshot_and_summarises_rows(server, tmp_path):
    result = cli("--cache-dir", str(tmp_path), "--api-url", server.url)
    assert result.exit_code == 0, result.output
    assert "563 trading days, 2024-01-11 .. 2026-04-10" in result.stdout
    assert "previous snapshot: none" in result.stdout
    assert "dropped 16 holiday rows" in result.stdout
    assert len(farside.list_snapshots(Cache(tmp_path))) == 1


def test_cli_reports_revisions_against_the_previous_snapshot(server, tmp_path):
    cache = Cache(tmp_path)
    farside.fetch_snapshot(cache, config(server), now=T1)
    server.revise("2025-11-18", "ibit_usd_m", -500.0)
    result = cli("--cache-dir", str(tmp_path), "--api-url", server.url + PAGE_PATH)
    assert result.exit_code == 0, result.output
    assert "previous snapshot snapshot-2026-04-11T153000Z" in result.stdout
    assert "1 revised cells" in result.stdout
    assert "revised 2025-11-18 ibit_usd_m: -523.2 -> -500.0" in result.stdout


def test_cli_as_of_summarises_a_stored_snapshot_without_downloading(server, tmp_path):
    cache = Cache(tmp_path)
    farside.fetch_snapshot(cache, config(server), now=T1)
    server.revise("2025-11-18", "ibit_usd_m", -500.0)
    farside.fetch_snapshot(cache, config(server), now=T2)
    requests = server.count()
    result = cli("--cache-dir", str(tmp_path), "--as-of", "2026-04-12T12:00:00")
    assert result.exit_code == 0, result.output
    assert "snapshot snapshot-2026-04-12T090005Z" in result.stdout
    assert "1 revised cells" in result.stdout and server.count() == requests


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--as-of", "not-a-time"], "--as-of: 'not-a-time' is not a snapshot label"),
        (["--as-of", "2020-01-01"], "--as-of 2020-01-01: "),
        (
            ["--api-url", "ftp://example"],
            "--api-url: 'ftp://example' is not an http:// or https:// URL with a host",
        ),
    ],
    ids=["bad-as-of", "no-snapshot-yet", "bad-url"],
)
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, args, expected):
    result = cli("--cache-dir", str(tmp_path), *args)
    assert result.exit_code == 2
    assert expected in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_cli_a_failed_download_is_one_line_with_the_fetch_error_exit_code(server, tmp_path):
    bad = b"<html><body>maintenance</body></html>"
    server.faults.add(PAGE_PATH, Fault(body=bad))
    result = cli("--cache-dir", str(tmp_path), "--api-url", server.url)
    assert result.exit_code == 1
    assert "malformed Farside page: no flows table found" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())
