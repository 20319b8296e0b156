"""A full disk is a failing environment: one line naming the file, exit 1, nothing stored lost
or half-written, no temporary file left behind (issue 14 part 2).

The disk is real: a small tmpfs filled to the brim (`tests.full_disk`), so the failures come
from the kernel (ENOSPC) at whatever write the command reaches, as on a real machine.
"""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from costbt.backtest.cli import app
from tests.full_disk import FullDisk
from tests.servers.binance import BinanceServer

runner = CliRunner()
SPAN = ["--start", "2020-01-01", "--end", "2021-12-31"]


@pytest.fixture()
def disk(tmp_path, monkeypatch):
    monkeypatch.setenv("COSTBT_HOME", str(tmp_path / "home"))
    d = FullDisk(tmp_path / "disk").mount()
    yield d
    d.unmount()


def _full_disk_line(r, names: str) -> str:
    assert r.exit_code == 1, r.output
    assert "Traceback" not in r.output
    (line,) = r.stderr.strip().splitlines()[-1:]
    assert line.startswith("error: ") and "no space left on device" in line.lower(), r.stderr
    assert names in line, line
    return line


def _no_temporary_files(disk: FullDisk) -> None:
    assert [f for f in disk.files() if f.endswith(".tmp")] == []


def test_a_report_on_a_full_disk_keeps_the_previous_report(disk):
    report = disk.root / "report.html"
    args = ["backtest", "--strategy", "below_cost", *SPAN, "--report", str(report)]
    assert runner.invoke(app, args).exit_code == 0
    before = report.read_bytes()
    disk.fill()
    _full_disk_line(runner.invoke(app, [*args, "--title", "again"]), str(report))
    assert report.read_bytes() == before
    _no_temporary_files(disk)


def test_a_sweep_on_a_full_disk_stops_naming_its_folder_and_runs_once_there_is_room(disk):
    out = disk.root / "sweep"
    args = ["sweep", "--grid", "entry_ratio=0.8:1.0:0.1", *SPAN, "--out", str(out), "--top", "1"]
    disk.fill()
    line = _full_disk_line(runner.invoke(app, [*args, "--verify-sample", "0"]), str(out))
    assert "free space and run again" in line
    _no_temporary_files(disk)
    disk.free()
    r = runner.invoke(app, [*args, "--verify-sample", "0"])
    assert r.exit_code == 0, r.output
    assert len(pd.read_parquet(out / "results.parquet")) == 3


def test_a_panel_on_a_full_disk_keeps_the_previous_panel(disk):
    target = disk.root / "panel.csv"
    args = ["data", "panel", "--out", str(target), "--start", "2024-01-01"]
    assert runner.invoke(app, args).exit_code == 0
    before = disk.files()
    disk.fill()
    _full_disk_line(runner.invoke(app, ["data", "panel", "--out", str(target)]), "panel.csv")
    assert disk.files() == before
    _no_temporary_files(disk)


def test_a_full_ledger_disk_keeps_the_ledger_and_says_where(disk, tmp_path, monkeypatch):
    monkeypatch.setenv("COSTBT_HOME", str(disk.root / "home"))
    args = ["sweep", "--grid", "entry_ratio=0.8:1.0:0.1", *SPAN, "--top", "1"]
    first = [*args, "--out", str(tmp_path / "a"), "--verify-sample", "0"]
    assert runner.invoke(app, first).exit_code == 0
    before = disk.files()
    assert any("ledger" in f for f in before), before
    disk.fill()
    second = [*args, "--grid", "exit_ratio=1.2,1.4", "--out", str(tmp_path / "b")]
    _full_disk_line(runner.invoke(app, [*second, "--verify-sample", "0"]), "ledger")
    assert disk.files() == before
    _no_temporary_files(disk)


def test_a_download_on_a_full_disk_keeps_the_cached_series(disk):
    with BinanceServer() as server:
        now = pd.Timestamp(server.now_ms, unit="ms").isoformat()
        common = ["--cache-dir", str(disk.root / "cache"), "--api-url", server.url, "--now", now]
        fetch = ["data", "fetch", "--since", "2024-01-01", "--until", "2026-07-31", *common]
        assert runner.invoke(app, fetch).exit_code == 0
        before = disk.files()
        disk.fill()
        line = _full_disk_line(runner.invoke(app, ["data", "update", *common]), "cache")
    assert ".parquet" in line or "manifest" in line
    assert disk.files() == before
    _no_temporary_files(disk)
