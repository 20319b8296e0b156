"""`costbt data status` and `costbt data panel`: output, and bad input ending in exit status 2."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from costbt.backtest.cli import app
from costbt.data import bundle
from costbt.data import bundled_files as bf

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


@pytest.fixture()
def bundle_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "bundle"
    shutil.copytree(bundle.PACKAGE_BUNDLE_DIR, folder)
    return folder


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_status_shows_every_file_its_hash_check_coverage_and_gaps():
    result = run("data", "status")
    assert result.exit_code == 0, result.output
    for schema in bf.ALL:
        assert schema.file in result.output
    assert result.output.count(" ok ") >= len(bf.ALL)
    assert "2025-11-13..2025-11-15" in result.output  # the chain source's missing days
    assert "etf_flows" in result.output and "1 d" in result.output  # the declared ETF lag
    assert "panel: 6432 rows" in result.output


def test_status_reports_a_changed_file_and_exits_2(bundle_copy):
    f = bundle_copy / bf.SPOT_1D.file
    f.write_text(f.read_text().replace("\n2016-03-01,", "\n2016-03-01x,", 1))
    before = _snapshot(bundle_copy)
    result = run("data", "status", "--bundle-dir", str(bundle_copy))
    assert result.exit_code == 2
    assert "btc_usd_spot_1d.csv" in result.stderr and "sha256" in result.stderr
    assert "Traceback" not in result.output + result.stderr
    assert _snapshot(bundle_copy) == before


def test_status_names_file_column_and_line_of_bad_data_and_exits_2(bundle_copy):
    """A bundle rebuilt with a bad value (manifest hash updated) still fails to load, clearly."""
    f = bundle_copy / bf.CHAIN_1D.file
    lines = f.read_text().splitlines()
    cells = lines[5000].split(",")
    cells[1] = "n/a"
    lines[5000] = ",".join(cells)
    f.write_text("\n".join(lines) + "\n")
    m = json.loads((bundle_copy / "manifest.json").read_text())
    for e in m["files"]:
        if e["file"] == bf.CHAIN_1D.file:
            e["sha256"] = hashlib.sha256(f.read_bytes()).hexdigest()
    (bundle_copy / "manifest.json").write_text(json.dumps(m))
    result = run("data", "status", "--bundle-dir", str(bundle_copy))
    assert result.exit_code == 2
    err = result.stderr
    assert "chain_1d.csv" in err and "hashrate_ths" in err and "line 5001" in err and "'n/a'" in err
    assert len(err.strip().splitlines()) <= 2  # one message (rich may wrap a long line once)


def test_status_on_a_folder_without_a_manifest_exits_2(tmp_path):
    result = run("data", "status", "--bundle-dir", str(tmp_path))
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --bundle-dir: ") and "manifest.json" in result.stderr


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("chain_1d.csv=x", "not a whole number"),
        ("nosuch.csv=3", "unknown file 'nosuch.csv'"),
        ("-1", "negative"),
    ],
)
def test_a_bad_max_gap_days_value_names_the_flag_and_exits_2(value, expected):
    result = run("data", "status", "--max-gap-days", value)
    assert result.exit_code == 2
    assert "--max-gap-days" in result.stderr and expected in result.stderr


def test_a_tighter_gap_limit_turns_the_known_chain_gap_into_an_error():
    result = run(
        "data", "status", "--max-gap-days", "chain_1d.csv=0", "--max-gap-days", "etf_flows_1d.csv=3"
    )
    assert result.exit_code == 0  # the chain file has rows for its missing days (values blank)
    result = run("data", "status", "--max-gap-days", "etf_flows_1d.csv=2")
    assert (
        result.exit_code == 2
        and "etf_flows_1d.csv" in result.stderr
        and "gap of 3 missing days" in result.stderr
    )


def test_panel_export_as_of_a_day_writes_only_what_was_known(tmp_path):
    out = tmp_path / "panel.parquet"
    result = run(
        "data", "panel", "--out", str(out), "--as-of", "2025-11-18", "--start", "2025-01-01"
    )
    assert result.exit_code == 0, result.output
    p = pd.read_parquet(out)
    assert p.index.min() == pd.Timestamp("2025-01-01") and p.index.max() == pd.Timestamp(
        "2025-11-18"
    )
    assert p["etf_flow_ibit_usd_m"].iloc[-1] == -145.6  # 2025-11-17's flow; -523.2 is not yet known


def test_panel_export_rejects_a_bad_date_and_a_bad_suffix(tmp_path):
    r = run("data", "panel", "--out", str(tmp_path / "p.csv"), "--as-of", "yesterday-ish")
    assert r.exit_code == 2 and "--as-of" in r.stderr
    r = run("data", "panel", "--out", str(tmp_path / "p.xlsx"))
    assert r.exit_code == 2 and "--out" in r.stderr and not (tmp_path / "p.xlsx").exists()


def test_the_installed_command_runs_and_exits_2_on_bad_input(tmp_path):
    exe = Path(sys.executable).parent / "costbt"
    if not exe.exists():
        pytest.skip("costbt console script not installed in this environment")
    ok = subprocess.run([str(exe), "data", "status"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run(
        [str(exe), "data", "status", "--bundle-dir", str(tmp_path)], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    unknown = subprocess.run(
        [str(exe), "data", "status", "--no-such-flag"], capture_output=True, text=True
    )
    assert unknown.returncode == 2 and "--no-such-flag" in unknown.stderr


def test_the_cli_does_not_import_heavy_libraries_for_data_commands():
    code = (
        "import sys; from typer.testing import CliRunner; from backtest.cli import app; "
        "r = CliRunner().invoke(app, ['data', 'status']); assert r.exit_code == 0, r.output; "
        "heavy = [m for m in ('vectorbt', 'quantstats', 'optuna', 'numba', 'ccxt') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == ""
