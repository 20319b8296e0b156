"""A damaged download cache is bad input (issue 14 part 4): one line naming the damaged file,
exit 2, never a traceback, and nothing in the cache rewritten.

The cache is a real one written through `data.cache.Cache` (`tests.data.cached_chain`: chain
days past the bundled chain, a FORMAT FIXTURE), then damaged the ways a disk, a crash or a hand
edit damages it: a manifest entry that is not an object, a manifest that is a folder, a listed
Parquet file cut short, overwritten with random bytes or emptied.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from costbt.backtest.cli import app
from costbt.data.cache import Cache
from costbt.data.errors import DataError
from costbt.data.panel import load_panel
from tests.data.cached_chain import COINMETRICS_KEY, chain_days, write_coinmetrics

runner = CliRunner()


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("COSTBT_HOME", str(tmp_path / "home"))


@pytest.fixture()
def cache(tmp_path) -> Cache:
    return write_coinmetrics(tmp_path / "cache", chain_days())


def _files(root: Path) -> dict[str, bytes | None]:
    """Every file and folder under ``root`` (folders as None), by relative path."""
    return {
        str(p.relative_to(root)): None if p.is_dir() else p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.name != ".manifest.lock"
    }


def _one_line(r, names: Path) -> str:
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output and "internal error" not in r.output
    lines = r.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("error: "), r.stderr
    assert str(names) in lines[-1], lines[-1]
    assert not [ln for ln in lines if ln.startswith("error: ")][:-1], r.stderr
    return lines[-1]


def _status(cache: Cache):
    return runner.invoke(app, ["data", "status", "--cache-dir", str(cache.root)])


def _panel(cache: Cache, tmp_path: Path):
    args = ["data", "panel", "--use-cache", "extend", "--cache-dir", str(cache.root)]
    return runner.invoke(app, [*args, "--out", str(tmp_path / "p.csv"), "--start", "2026-01-01"])


def _entry_not_an_object(cache: Cache) -> Path:
    data = json.loads(cache.manifest_path.read_text())
    data["files"][COINMETRICS_KEY.filename] = 5
    cache.manifest_path.write_text(json.dumps(data))
    return cache.manifest_path


def _manifest_a_folder(cache: Cache) -> Path:
    cache.manifest_path.unlink()
    cache.manifest_path.mkdir()
    return cache.manifest_path


def _truncated(cache: Cache) -> Path:
    path = cache.path(COINMETRICS_KEY)
    path.write_bytes(path.read_bytes()[:100])
    return path


def _random_bytes(cache: Cache) -> Path:
    path = cache.path(COINMETRICS_KEY)
    path.write_bytes(random.Random(0).randbytes(3000))
    return path


def _empty(cache: Cache) -> Path:
    path = cache.path(COINMETRICS_KEY)
    path.write_bytes(b"")
    return path


DAMAGES = [_entry_not_an_object, _manifest_a_folder, _truncated, _random_bytes, _empty]


def test_the_undamaged_cache_is_read_by_status_and_panel(cache, tmp_path):
    assert _status(cache).exit_code == 0
    assert _panel(cache, tmp_path).exit_code == 0


@pytest.mark.parametrize("damage", DAMAGES, ids=lambda d: d.__name__.strip("_"))
def test_data_status_names_the_damaged_file_and_rewrites_nothing(cache, damage):
    damaged = damage(cache)
    before = _files(cache.root)
    _one_line(_status(cache), damaged)
    assert _files(cache.root) == before


@pytest.mark.parametrize("damage", DAMAGES, ids=lambda d: d.__name__.strip("_"))
def test_a_panel_from_the_damaged_cache_names_the_file_and_writes_nothing(cache, damage, tmp_path):
    damaged = damage(cache)
    before = _files(cache.root)
    _one_line(_panel(cache, tmp_path), damaged)
    assert _files(cache.root) == before
    assert not (tmp_path / "p.csv").exists()


@pytest.mark.parametrize("damage", DAMAGES, ids=lambda d: d.__name__.strip("_"))
def test_load_panel_raises_a_data_error_carrying_the_damaged_file(cache, damage):
    damaged = damage(cache)
    with pytest.raises(DataError) as info:
        load_panel(cache_dir=cache.root, use_cache="extend")
    assert info.value.path == damaged


@pytest.mark.parametrize(
    "damage", [_entry_not_an_object, _manifest_a_folder], ids=lambda d: d.__name__.strip("_")
)
def test_a_write_into_a_cache_with_a_damaged_manifest_leaves_every_file_as_it_was(cache, damage):
    damaged = damage(cache)
    before = _files(cache.root)
    with pytest.raises(DataError) as info:
        cache.write(COINMETRICS_KEY, chain_days("2026-02-13", "2026-02-20"))
    assert info.value.path == damaged
    assert _files(cache.root) == before
