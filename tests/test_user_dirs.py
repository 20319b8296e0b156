"""What costbt writes goes to the user's folders (`costbt.data.user_dirs`): never into the package,
the repository or the working directory unless a path says so."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from costbt.backtest.cli import app
from costbt.backtest.provenance import source_checkout
from costbt.data import user_dirs

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_FOLDERS = ("api", "backtest", "data", "reports", "signals", "strategies")


def tree(root: Path) -> dict[str, int]:
    """Files under the package folders with their mtimes (bytecode and numba caches aside)."""
    files = {}
    for top in PACKAGE_FOLDERS:
        for path in (root / top).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                files[str(path.relative_to(root))] = path.stat().st_mtime_ns
    return files


def test_every_default_folder_is_under_costbt_home(monkeypatch, tmp_path):
    monkeypatch.setenv(user_dirs.ENV_HOME, str(tmp_path))
    monkeypatch.delenv(user_dirs.ENV_CACHE_DIR, raising=False)
    assert user_dirs.home() == tmp_path
    assert user_dirs.cache_dir() == tmp_path / "cache"
    assert user_dirs.studies_dir() == tmp_path / "studies"
    assert user_dirs.outputs_dir() == tmp_path / "out"


def test_the_repository_is_recognised_as_costbts_source_checkout(tmp_path):
    assert source_checkout(ROOT)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "someone-else"\n')
    assert not source_checkout(tmp_path)


@pytest.mark.parametrize(
    "args",
    [
        ["cost", "--at", "2025-11-20", "--draws", "0"],
        ["signals", "--at", "2025-11-20"],
        ["data", "status"],
    ],
    ids=lambda a: a[0] if a[0] != "data" else "data-status",
)
def test_a_command_writes_nothing_into_the_package_or_the_working_folder(
    monkeypatch, tmp_path, costbt_home, args
):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv(user_dirs.ENV_CACHE_DIR, raising=False)
    before = tree(ROOT)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert tree(ROOT) == before
    assert list(work.iterdir()) == []


def test_tuning_and_sweeps_default_to_the_users_folders(monkeypatch, tmp_path, costbt_home):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv(user_dirs.ENV_CACHE_DIR, raising=False)
    before = tree(ROOT)
    runner = CliRunner()
    tune = ["tune", "--strategy", "below_cost", "--n-trials", "2", "--end", "2020-12-31"]
    assert runner.invoke(app, tune).exit_code == 0
    assert list((costbt_home / "studies").glob("*.log"))
    sweep = ["sweep", "--strategy", "below_cost", "--grid", "entry_ratio=0.9:1.0:0.05", "--yes"]
    assert runner.invoke(app, sweep).exit_code == 0
    assert (costbt_home / "out" / "sweep-below_cost" / "results.parquet").exists()
    assert (costbt_home / "ledger.json").exists()
    assert tree(ROOT) == before and list(work.iterdir()) == []
