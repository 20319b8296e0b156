"""The command line starts without the heavy stack: ``costbt --help`` imports typer and rich,
not pandas, numpy, numba or vectorbt (issue 15; the time is measured by benchmarks/bench_startup.py,
not here)."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("pandas", "numpy", "numba", "vectorbt", "optuna", "pyarrow")


def _modules_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(sorted(sys.modules)))"
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(r.stdout.split())


def test_importing_the_command_line_loads_no_heavy_package():
    loaded = _modules_after("import costbt.backtest.cli")
    assert [m for m in HEAVY if m in loaded] == []


def test_help_runs_without_the_heavy_packages():
    code = (
        "import sys\n"
        "from costbt.backtest.cli import app\n"
        "sys.argv = ['costbt', '--help']\n"
        "try:\n    app()\nexcept SystemExit:\n    pass"
    )
    loaded = _modules_after(code)
    assert [m for m in HEAVY if m in loaded] == []


def test_the_data_package_still_offers_load_panel_on_first_use():
    loaded = _modules_after("import costbt.data as d\nassert callable(d.load_panel)")
    assert "pandas" in loaded  # imported when asked for, not before
