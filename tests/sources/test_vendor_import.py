"""The generic vendor importer: CSV and JSON exports mapped onto costbt columns, strict validation.

Every file here is a hand-written FORMAT FIXTURE (made-up SOPR numbers, not market data).
"""

from __future__ import annotations

import contextlib
import json
import math
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from costbt.backtest.cli import app
from costbt.data.cache import Cache, SeriesKey
from costbt.data.errors import DataError
from costbt.data.sources.vendor_import import import_vendor_file, read_vendor_file

SOPR_MAP = {"SOPR": "sopr", "STH-SOPR": "sth_sopr"}
CSV = "Date,SOPR,STH-SOPR\n2024-03-01,1.01,1.005\n2024-03-02,0.99,0.985\n2024-03-03,,0.97\n"
DAYS = pd.DatetimeIndex(["2024-03-01", "2024-03-02", "2024-03-03"], name="date")


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(content.encode() if isinstance(content, str) else content)
    return p


def read(path: Path, mapping=None, date_column="Date", **kw) -> pd.DataFrame:
    return read_vendor_file(path, mapping or SOPR_MAP, date_column, **kw)


# ------------------------------------------------------------------------------ good files
def test_a_csv_export_is_mapped_onto_costbt_columns(tmp_path):
    frame = read(write(tmp_path, "cq.csv", CSV))
    assert list(frame.columns) == ["sopr", "sth_sopr"]
    assert list(frame.index) == list(DAYS) and frame.index.name == "date"
    assert frame.loc["2024-03-01", "sopr"] == 1.01 and math.isnan(frame.loc["2024-03-03", "sopr"])


def test_import_writes_the_series_to_the_cache_under_the_vendor_name(tmp_path):
    cache = Cache(tmp_path / "cache")
    result = import_vendor_file(
        write(tmp_path, "cq.csv", CSV), SOPR_MAP, "Date", source="cryptoquant", cache=cache
    )
    assert result.key == SeriesKey("cryptoquant", "sopr", "BTC", "1d")
    pd.testing.assert_frame_equal(cache.read(result.key), result.frame)
    entry = cache.entry(result.key)
    assert entry["mapping"] == SOPR_MAP and entry["imported_file"] == "cq.csv"
    assert entry["publication_lag_days"] == 1


def test_json_as_a_list_of_records_or_under_data_gives_the_same_frame(tmp_path):
    records = [
        {"date": "2024-03-01", "sopr": 1.01, "sth": 1.005},
        {"date": "2024-03-02", "sopr": 0.99, "sth": 0.985},
    ]
    mapping = {"sopr": "sopr", "sth": "sth_sopr"}
    a = read(write(tmp_path, "a.json", json.dumps(records)), mapping, "date")
    b = read(write(tmp_path, "b.json", json.dumps({"data": records})), mapping, "date")
    pd.testing.assert_frame_equal(a, b)
    assert len(a) == 2


def test_unix_seconds_and_milliseconds_are_detected(tmp_path):
    secs = [{"t": 1709251200 + 86400 * i, "v": 1.0 + i / 100} for i in range(3)]
    millis = [{"t": r["t"] * 1000, "v": r["v"]} for r in secs]
    a = read(write(tmp_path, "s.json", json.dumps(secs)), {"v": "sopr"}, "t")
    b = read(write(tmp_path, "ms.json", json.dumps(millis)), {"v": "sopr"}, "t")
    assert list(a.index) == list(b.index) == list(DAYS)


def test_unix_seconds_in_a_csv_are_detected_too(tmp_path):
    text = "timestamp;value\n1709251200;1.01\n1709337600;0.99\n"
    frame = read(write(tmp_path, "x.csv", text), {"value": "sopr"}, "timestamp")
    assert list(frame.index) == list(DAYS[:2])


def test_an_explicit_date_format_is_used(tmp_path):
    text = "Day,SOPR\n01/03/2024,1.01\n02/03/2024,0.99\n"
    frame = read(write(tmp_path, "x.csv", text), {"SOPR": "sopr"}, "Day", date_format="%d/%m/%Y")
    assert list(frame.index) == list(DAYS[:2])


def test_iso_timestamps_with_offsets_are_converted_to_utc_days(tmp_path):
    text = "t,v\n2024-03-01T00:00:00Z,1.0\n2024-03-02T02:00:00+02:00,1.1\n"
    frame = read(write(tmp_path, "x.csv", text), {"v": "sopr"}, "t")
    assert list(frame.index) == list(DAYS[:2])


def test_rows_in_descending_order_are_sorted(tmp_path):
    text = "Date,SOPR\n2024-03-02,0.99\n2024-03-01,1.01\n"
    frame = read(write(tmp_path, "x.csv", text), {"SOPR": "sopr"})
    assert list(frame.index) == list(DAYS[:2])


# ------------------------------------------------------------------------------ bad files
@pytest.mark.parametrize(
    ("name", "content", "kw", "expected"),
    [
        ("x.csv", "Day,SOPR\n2024-03-01,1\n", {}, "x.csv: column 'Date', line 2: no such column"),
        (
            "x.csv",
            CSV.replace("0.99", "n/a?"),
            {},
            "x.csv: column 'SOPR', line 3: 'n/a\\?' is not a number",
        ),
        ("x.csv", CSV.replace("0.99", "-0.5"), {}, "column 'SOPR', line 3: -0.5 is not positive"),
        ("x.csv", CSV.replace("0.99", "inf"), {}, "column 'SOPR', line 3: 'inf' is not a number"),
        (
            "x.csv",
            CSV.replace("2024-03-02", "2024-03-01"),
            {},
            "line 3: day 2024-03-01 appears again",
        ),
        ("x.csv", CSV.replace("2024-03-02", "2024-03-02T12:00"), {}, "line 3: .* is not 00:00 UTC"),
        (
            "x.csv",
            CSV.replace("2024-03-02", "02.03.2024"),
            {},
            "column 'Date', line 3: '02.03.2024' is not a date",
        ),
        ("x.csv", CSV.replace("1.01,1.005", "1.01"), {}, "line 2: has 2 fields, the header has 3"),
        ("x.csv", "Date,SOPR,STH-SOPR\n", {}, "x.csv: has no data rows"),
        ("x.csv", "", {}, "x.csv: is empty"),
        ("x.csv", b"\xff\xfe\x00garbage", {}, "x.csv: is not UTF-8 text"),
        ("x.json", '[{"Date": "2024-03-01", "SOPR": 1', {}, "x.json: is not valid JSON"),
        ("x.json", '{"rows": []}', {}, "list under 'data'"),
        (
            "x.json",
            '[{"Date": "2024-03-01", "SOPR": 1, "STH-SOPR": 1}, 5]',
            {},
            "record 2: is a int",
        ),
        (
            "x.json",
            '[{"Date": 1e30, "SOPR": 1, "STH-SOPR": 1}]',
            {},
            "record 1: .* is not a whole unix time|outside",
        ),
        ("x.csv", CSV, {"mapping": {"SOPR": "price"}}, "'price' is not a sopr column"),
    ],
    ids=[
        "missing-date-column",
        "not-a-number",
        "negative-sopr",
        "infinite",
        "duplicate-day",
        "intraday-time",
        "bad-date",
        "short-row",
        "no-rows",
        "empty",
        "not-utf8",
        "broken-json",
        "json-no-data-list",
        "json-record-not-object",
        "json-absurd-epoch",
        "unknown-target",
    ],
)
def test_bad_files_raise_one_data_error_naming_file_column_and_row(
    tmp_path, name, content, kw, expected
):
    path = write(tmp_path, name, content)
    with pytest.raises(DataError, match=expected):
        read(path, **kw)


def test_nothing_is_written_when_the_file_is_bad(tmp_path):
    cache_root = tmp_path / "cache"
    bad = write(tmp_path, "x.csv", CSV.replace("0.99", "oops"))
    with pytest.raises(DataError):
        import_vendor_file(bad, SOPR_MAP, "Date", source="cq", cache=Cache(cache_root))
    assert not cache_root.exists()


def test_a_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="nope.csv: file not found"):
        read(tmp_path / "nope.csv")


# ------------------------------------------------------------------------------ garbage in
ALLOWED = (DataError,)


def _try(content: bytes, suffix: str, mapping: dict[str, str], date_column: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / f"garbage{suffix}"
        p.write_bytes(content)
        with contextlib.suppress(*ALLOWED):  # anything else fails the test
            read_vendor_file(p, mapping, date_column)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(content=st.binary(max_size=300), suffix=st.sampled_from([".csv", ".json", ".dat"]))
def test_random_bytes_raise_only_data_error(content, suffix):
    _try(content, suffix, {"SOPR": "sopr"}, "Date")


cell = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["2024-03-01", "1709251200", "1709251200000", "1e400", "-1", "NaN", "", "0"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(st.lists(cell, min_size=1, max_size=3), max_size=6))
def test_random_csv_tables_raise_only_data_error(rows):
    lines = ["Date,SOPR"] + [",".join(r) for r in rows]
    _try("\n".join(lines).encode("utf-8", "surrogatepass"), ".csv", {"SOPR": "sopr"}, "Date")


json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    records=st.lists(
        st.fixed_dictionaries({"t": json_value, "v": json_value}) | json_value, max_size=5
    ),
    wrapped=st.booleans(),
)
def test_random_json_records_raise_only_data_error(records, wrapped):
    payload = {"data": records} if wrapped else records
    text = json.dumps(payload, allow_nan=True)
    _try(text.encode("utf-8", "surrogatepass"), ".json", {"v": "sopr"}, "t")


# ------------------------------------------------------------------------------ the CLI
runner = CliRunner()


def cli(*args: str):
    return runner.invoke(app, ["data", "import", *args])


def test_cli_imports_a_file_with_a_column_mapping(tmp_path):
    path = write(tmp_path, "cq.csv", CSV)
    result = cli(
        "--file", str(path), "--map", "SOPR=sopr", "--map", "STH-SOPR=sth_sopr",
        "--date-column", "Date", "--source", "cryptoquant", "--cache-dir", str(tmp_path / "c"),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (
        "imported cq.csv: 3 days, 2024-03-01 .. 2024-03-03, columns sopr, sth_sopr" in result.stdout
    )
    key = SeriesKey("cryptoquant", "sopr", "BTC", "1d")
    assert Cache(tmp_path / "c").read(key).shape == (3, 2)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--map", "SOPR"], "--map: 'SOPR' is not VENDOR_COLUMN=costbt_column"),
        (["--map", "SOPR=price"], "--map: column 'SOPR': 'price' is not a sopr column"),
        (["--map", "SOPR=sopr", "--source", "Bad Name!"], "--source: 'Bad Name!' must be"),
        (["--map", "NOPE=sopr"], "cq.csv: column 'NOPE', line 2: no such column"),
        ([], "--map: give at least one"),
        (["--map", "SOPR=sopr", "--kind", "nope"], "--kind: kind 'nope' is not one costbt reads"),
        (["--map", "SOPR=sopr", "--merge", "--replace"], "--merge and --replace exclude"),
    ],
    ids=["no-equals", "unknown-target", "bad-source", "missing-column", "no-map", "kind", "both"],
)
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, args, expected):
    path = write(tmp_path, "cq.csv", CSV)
    result = cli(
        "--file", str(path), "--date-column", "Date", "--cache-dir", str(tmp_path / "c"), *args
    )
    assert result.exit_code == 2, result.output
    assert expected in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "c").exists()


# ------------------------------------------------------------------------------ a series already cached
ONE_DAY = "Date,SOPR,STH-SOPR\n2024-03-04,1.02,1.01\n"


def _cached(tmp_path) -> tuple[Cache, Path]:
    cache = Cache(tmp_path / "c")
    import_vendor_file(write(tmp_path, "cq.csv", CSV), SOPR_MAP, "Date", source="cq", cache=cache)
    return cache, write(tmp_path, "one.csv", ONE_DAY)


def _stored(cache: Cache) -> bytes:
    return cache.path(SeriesKey("cq", "sopr", "BTC", "1d")).read_bytes()


def test_a_short_file_never_silently_replaces_a_cached_series(tmp_path):
    cache, one = _cached(tmp_path)
    before = _stored(cache)
    with pytest.raises(DataError, match="already holds 3 days .* lacks 3 of them"):
        import_vendor_file(one, SOPR_MAP, "Date", source="cq", cache=cache)
    assert _stored(cache) == before
    args = ["--file", str(one), "--map", "SOPR=sopr", "--map", "STH-SOPR=sth_sopr"]
    result = cli(*args, "--date-column", "Date", "--source", "cq", "--cache-dir", str(cache.root))
    assert result.exit_code == 2 and "--merge" in result.stderr and "--replace" in result.stderr
    assert _stored(cache) == before


def test_merge_adds_and_updates_days_and_keeps_the_rest(tmp_path):
    cache, one = _cached(tmp_path)
    result = import_vendor_file(
        one, SOPR_MAP, "Date", source="cq", cache=cache, on_existing="merge"
    )
    assert list(result.frame.index.strftime("%Y-%m-%d")) == [
        "2024-03-01", "2024-03-02", "2024-03-03", "2024-03-04",
    ]  # fmt: skip
    assert cache.read(result.key).loc["2024-03-04", "sopr"] == 1.02


def test_replace_writes_the_files_rows_alone(tmp_path):
    cache, one = _cached(tmp_path)
    result = import_vendor_file(
        one, SOPR_MAP, "Date", source="cq", cache=cache, on_existing="replace"
    )
    assert len(cache.read(result.key)) == 1


def test_a_file_that_covers_every_cached_day_replaces_it_without_a_flag(tmp_path):
    cache, _ = _cached(tmp_path)
    longer = write(tmp_path, "longer.csv", CSV + "2024-03-04,1.02,1.01\n")
    result = import_vendor_file(longer, SOPR_MAP, "Date", source="cq", cache=cache)
    assert len(cache.read(result.key)) == 4
