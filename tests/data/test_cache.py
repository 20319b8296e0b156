"""The download cache: atomic files, a manifest that always describes them, repair after a crash."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest

from costbt.data.cache import Cache, SeriesKey, cache_dir
from costbt.data.errors import DataError
from costbt.data.user_dirs import ENV_CACHE_DIR, ENV_HOME

KEY = SeriesKey("binance", "ohlcv", "BTC/USDT", "1d")


def frame(n: int = 3) -> pd.DataFrame:
    idx = pd.date_range("2024-01-01", periods=n, freq="D", name="time")
    return pd.DataFrame({"close_quote": [42000.0 + i for i in range(n)]}, index=idx)


def test_the_cache_folder_comes_from_the_flag_then_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(ENV_CACHE_DIR, str(tmp_path / "env"))
    assert cache_dir() == tmp_path / "env"
    assert cache_dir(tmp_path / "flag") == tmp_path / "flag"
    monkeypatch.delenv(ENV_CACHE_DIR)
    monkeypatch.setenv(ENV_HOME, str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / "cache"


def test_without_overrides_the_cache_is_the_users_cache_folder_never_the_package(monkeypatch):
    import platformdirs

    import costbt

    monkeypatch.delenv(ENV_CACHE_DIR, raising=False)
    monkeypatch.delenv(ENV_HOME, raising=False)
    assert cache_dir() == Path(platformdirs.user_cache_dir("costbt"))
    package = Path(costbt.data.__file__).resolve().parent
    assert package not in cache_dir().resolve().parents


def test_one_file_per_series_with_a_manifest_entry(tmp_path):
    cache = Cache(tmp_path)
    entry = cache.write(KEY, frame(), client="ccxt", client_version="4.5.90")
    assert (tmp_path / KEY.filename).exists()
    assert (
        entry["rows"] == 3
        and entry["first"] == "2024-01-01T00:00:00"
        and entry["last"] == "2024-01-03T00:00:00"
    )
    assert entry["sha256"] == hashlib.sha256((tmp_path / KEY.filename).read_bytes()).hexdigest()
    assert json.loads((tmp_path / "manifest.json").read_text())["files"][KEY.filename] == entry
    pd.testing.assert_frame_equal(cache.read(KEY), frame(), check_freq=False)


def test_writes_leave_no_temporary_files(tmp_path):
    cache = Cache(tmp_path)
    for n in (1, 2, 3):
        cache.write(KEY, frame(n))
    assert sorted(
        p.name for p in tmp_path.iterdir() if not p.name.startswith(".manifest.lock")
    ) == [
        KEY.filename,
        "manifest.json",
    ]


def test_reconcile_repairs_the_manifest_after_a_crash_between_the_two_renames(tmp_path):
    cache = Cache(tmp_path)
    cache.write(KEY, frame(2))
    stale = cache.manifest()
    cache.write(KEY, frame(5))
    (tmp_path / "manifest.json").write_text(
        json.dumps(stale)
    )  # the old manifest survived the crash
    assert cache.reconcile() == [KEY.filename]
    entry = cache.entry(KEY)
    assert entry["rows"] == 5 and entry["reconciled"] is True
    assert cache.reconcile() == []


def test_a_corrupt_cache_file_is_a_data_error_naming_it(tmp_path):
    cache = Cache(tmp_path)
    cache.write(KEY, frame())
    (tmp_path / KEY.filename).write_bytes(b"not parquet")
    with pytest.raises(DataError, match=KEY.filename):
        cache.read(KEY)


def test_a_corrupt_manifest_is_a_data_error_naming_it(tmp_path):
    (tmp_path / "manifest.json").write_text("{oops")
    with pytest.raises(DataError, match="manifest.json"):
        Cache(tmp_path).manifest()


def test_the_manifest_refuses_a_configured_api_key(tmp_path, monkeypatch):
    monkeypatch.setenv("COSTBT_GLASSNODE_API_KEY", "sk-test-9f8e7d6c")
    with pytest.raises(ValueError, match="API key"):
        Cache(tmp_path).write(KEY, frame(), url="https://x/?api_key=sk-test-9f8e7d6c")
    assert not (tmp_path / KEY.filename).exists()
