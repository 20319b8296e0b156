"""Bad input fails with one DataError naming the file, the column and the first offending row.

Every loader goes through data.schema.read_csv_checked; these tests use the real bundled files
as the starting point and break one thing at a time.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from costbt.data import bundle
from costbt.data import bundled_files as bf
from costbt.data.errors import DataError
from costbt.data.schema import read_csv_checked

SPOT = bf.SPOT_1D


@pytest.fixture()
def spot_copy(tmp_path: Path) -> Path:
    target = tmp_path / SPOT.file
    shutil.copy(bundle.PACKAGE_BUNDLE_DIR / SPOT.file, target)
    return target


def _rewrite(path: Path, edit) -> None:
    lines = path.read_text().splitlines()
    path.write_text("\n".join(edit(lines)) + "\n")


def _error(path: Path, **kw) -> DataError:
    with pytest.raises(DataError) as info:
        read_csv_checked(path, SPOT, **kw)
    return info.value


def test_the_real_file_loads(spot_copy):
    frame = read_csv_checked(spot_copy, SPOT)
    assert frame.index.name == "date" and frame.index.tz is None and len(frame) > 4000


def test_a_missing_file_is_named(tmp_path):
    err = _error(tmp_path / "nope.csv")
    assert "nope.csv" in err.message and "not found" in err.message


def test_an_empty_file_is_named(tmp_path):
    p = tmp_path / "empty.csv"
    p.write_text("")
    assert "is empty" in _error(p).message


def test_a_header_without_rows_is_an_error(spot_copy):
    _rewrite(spot_copy, lambda lines: lines[:1])
    assert "no data rows" in _error(spot_copy).message


def test_a_missing_column_is_named(spot_copy):
    _rewrite(
        spot_copy, lambda lines: [",".join(x.split(",")[:5] + x.split(",")[6:]) for x in lines]
    )
    err = _error(spot_copy)
    assert err.column == "volume_btc" and "missing" in err.reason


def test_a_misnamed_column_is_named_with_its_likely_match(spot_copy):
    _rewrite(spot_copy, lambda lines: [lines[0].replace("close_usd", "Close_USD"), *lines[1:]])
    err = _error(spot_copy)
    assert err.column == "close_usd" and "Close_USD" in err.reason and "misnamed" in err.reason


def test_an_unexpected_extra_column_is_named(spot_copy):
    _rewrite(spot_copy, lambda lines: [lines[0] + ",extra", *(x + ",1" for x in lines[1:])])
    assert _error(spot_copy).column == "extra"


def test_a_non_numeric_value_names_column_line_and_date(spot_copy):
    def edit(lines):
        cells = lines[100].split(",")
        cells[4] = "12O45.3"  # letter O typed for a zero
        lines[100] = ",".join(cells)
        return lines

    date = spot_copy.read_text().splitlines()[100].split(",")[0]
    _rewrite(spot_copy, edit)
    err = _error(spot_copy)
    assert err.column == "close_usd"
    assert "line 101" in err.where and date in err.where
    assert "'12O45.3' is not a number" in err.reason
    assert str(spot_copy) in err.message


@pytest.mark.parametrize("value", ["0", "-5.5"])
def test_a_zero_or_negative_price_is_rejected(spot_copy, value):
    def edit(lines):
        cells = lines[7].split(",")
        cells[3] = value
        lines[7] = ",".join(cells)
        return lines

    _rewrite(spot_copy, edit)
    err = _error(spot_copy)
    assert err.column == "low_usd" and "line 8" in err.where and "not positive" in err.reason


def test_an_infinite_value_is_rejected(spot_copy):
    def edit(lines):
        cells = lines[3].split(",")
        cells[1] = "inf"
        lines[3] = ",".join(cells)
        return lines

    _rewrite(spot_copy, edit)
    assert "infinite" in _error(spot_copy).reason


def test_a_blank_price_is_rejected_where_prices_may_not_be_missing(spot_copy):
    def edit(lines):
        cells = lines[5].split(",")
        cells[4] = ""
        lines[5] = ",".join(cells)
        return lines

    _rewrite(spot_copy, edit)
    err = _error(spot_copy)
    assert err.column == "close_usd" and "blank" in err.reason


def test_a_duplicate_date_is_named(spot_copy):
    _rewrite(spot_copy, lambda lines: [*lines[:11], lines[10], *lines[11:]])
    err = _error(spot_copy)
    assert "duplicate date" in err.reason and "line 12" in err.where


def test_unsorted_dates_are_named(spot_copy):
    _rewrite(spot_copy, lambda lines: [lines[0], lines[2], lines[1], *lines[3:]])
    err = _error(spot_copy)
    assert "not sorted" in err.reason and "line 3" in err.where


def test_a_bad_date_is_named(spot_copy):
    _rewrite(spot_copy, lambda lines: [lines[0], "2015-13-40" + lines[1][10:], *lines[2:]])
    err = _error(spot_copy)
    assert err.column == "date" and "2015-13-40" in err.reason and "line 2" in err.where


def test_a_gap_longer_than_the_limit_is_named(spot_copy):
    _rewrite(spot_copy, lambda lines: [*lines[:50], *lines[60:]])
    err = _error(spot_copy)
    assert "gap of 10 missing days" in err.reason and "limit is 3" in err.reason


def test_the_gap_limit_is_configurable(spot_copy):
    _rewrite(spot_copy, lambda lines: [*lines[:50], *lines[60:]])
    assert len(read_csv_checked(spot_copy, SPOT, max_gap_days=10)) > 4000
    assert len(read_csv_checked(spot_copy, SPOT, max_gap_days=None)) > 4000
    with pytest.raises(DataError):
        read_csv_checked(spot_copy, SPOT, max_gap_days=9)


def test_binary_garbage_is_not_a_csv(tmp_path):
    p = tmp_path / "x.csv"
    p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    assert "x.csv" in _error(p).message


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_a_failed_load_changes_nothing_on_disk(tmp_path):
    folder = tmp_path / "bundle"
    shutil.copytree(bundle.PACKAGE_BUNDLE_DIR, folder)
    target = folder / SPOT.file
    text = target.read_text().replace("\n2016-03-01,", "\n2016-03-01x,", 1)
    target.write_text(text)
    before = _snapshot(folder)
    with pytest.raises(DataError):
        bundle.load_spot_ohlcv(folder)
    with pytest.raises(DataError):
        bundle.load_all(folder)
    assert _snapshot(folder) == before


# ------------------------------------------------------------------ garbage in, DataError out

TOKENS = st.sampled_from(
    [
        "",
        " ",
        "0",
        "-1",
        "1.5",
        "1e400",
        "nan",
        "NaN",
        "inf",
        "abc",
        "2024-01-01",
        "2024-02-30",
        "2024-01-01 08:00:00.000",
        '"',
        '"a,b"',
        "\t",
        "1,2",
        "∞",
        "０",
        "2015-01-26",
    ]
)


@st.composite
def garbage_csv(draw, schema):
    """Text that looks more or less like the schema's CSV, with random damage."""
    header = [schema.index, *schema.column_names]
    if draw(st.booleans()):
        header = draw(st.permutations(header))
    if draw(st.booleans()) and len(header) > 1:
        header = header[: draw(st.integers(1, len(header) - 1))]
    if draw(st.booleans()):
        header = [h.upper() if draw(st.booleans()) else h for h in header]
    rows = draw(st.lists(st.lists(TOKENS, min_size=0, max_size=len(header) + 2), max_size=8))
    sep = draw(st.sampled_from([",", ";", ",", "\t"]))
    text = sep.join(header) + "\n" + "\n".join(sep.join(r) for r in rows)
    if draw(st.booleans()):
        text += draw(st.text(max_size=30))
    return text


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
@pytest.mark.parametrize("schema", bf.ALL, ids=lambda s: s.file)
def test_every_loader_survives_garbage_with_a_data_error(tmp_path, schema, data):
    path = tmp_path / schema.file
    mode = data.draw(st.sampled_from(["csvish", "text", "bytes"]))
    if mode == "csvish":
        path.write_text(data.draw(garbage_csv(schema)), encoding="utf-8")
    elif mode == "text":
        path.write_text(data.draw(st.text(max_size=200)), encoding="utf-8")
    else:
        path.write_bytes(data.draw(st.binary(max_size=200)))
    try:
        frame = bundle.load(schema, tmp_path)
    except DataError as exc:
        assert schema.file in exc.message
        assert "\n" not in exc.message.strip() or len(exc.message.splitlines()) <= 2
    else:
        # Whatever loads satisfied every check: declared columns, sorted dates.
        assert list(frame.columns) == schema.column_names
        assert frame.index.is_monotonic_increasing
    finally:
        os.remove(path)


def test_an_out_of_range_timestamp_is_a_data_error_not_a_crash(tmp_path):
    """Found by the garbage test: pandas raises on '-1' in an ISO8601 column instead of coercing."""
    p = tmp_path / bf.FUNDING_8H.file
    p.write_text("funding_time,funding_rate,funding_interval_hours\n-1,0.0001,8\n")
    with pytest.raises(DataError) as info:
        read_csv_checked(p, bf.FUNDING_8H)
    assert info.value.column == "funding_time" and "line 2" in info.value.where
