"""One distribution, one namespace: `costbt.*` from any directory, every package listed.

The wheel itself is built, installed into a fresh virtualenv and smoke-tested from two directories
by scripts/wheel_smoke.sh (run by .ci/run after the suite).
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"backtest", "data", "reports", "signals", "strategies"}


def setuptools_config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def package_folders() -> dict[str, Path]:
    """Every folder holding an __init__.py under the package roots, by its costbt.* name."""
    found = {"costbt": ROOT / "api"}
    for top in FOLDERS:
        for init in (ROOT / top).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT)
            if "cache" in rel.parts or "__pycache__" in rel.parts:
                continue
            found["costbt." + ".".join(rel.parts)] = init.parent
    return found


def test_every_package_folder_is_in_the_explicit_list():
    listed = set(setuptools_config()["packages"])
    missing = sorted(set(package_folders()) - listed)
    assert not missing, f"add to [tool.setuptools] packages in pyproject.toml: {missing}"


def test_every_listed_package_maps_to_its_folder():
    cfg = setuptools_config()
    dirs = cfg["package-dir"]
    for name in cfg["packages"]:
        top = ".".join(name.split(".")[:2])
        folder = ROOT / dirs[top] / Path(*name.split(".")[2:])
        assert (folder / "__init__.py").exists(), name


def test_the_command_is_installed_under_the_namespace():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["costbt"] == "costbt.backtest.cli:app"


@pytest.mark.parametrize("where", ["repository", "notebook"])
def test_costbt_imports_from_a_folder_holding_data_and_signals_py(tmp_path, where):
    cwd = ROOT
    if where == "notebook":
        cwd = tmp_path
        (tmp_path / "data").mkdir()
        (tmp_path / "data" / "__init__.py").write_text("")
        (tmp_path / "signals.py").write_text("raise ImportError('the user folder was imported')\n")
    code = (
        "import costbt, costbt.data, costbt.signals\n"
        "from costbt.data import load_panel\n"
        "assert load_panel().shape[0] > 6000\n"
        "print(costbt.__version__, costbt.data.__file__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert str(ROOT / "data") in done.stdout


def test_the_facade_names_what_a_notebook_needs():
    import costbt

    for name in ("load_panel", "run_backtest", "run_sweep", "tune", "walkforward", "assess"):
        assert callable(getattr(costbt, name)), name
    assert callable(costbt.episodes) and callable(costbt.attribution)
    with pytest.raises(AttributeError):
        costbt.nothing_here  # noqa: B018
    assert costbt.__version__.count(".") >= 2


def test_no_module_imports_the_old_top_level_names():
    import re

    pattern = re.compile(r"^\s*(from|import) (data|signals|backtest|reports|strategies)\b", re.M)
    offenders = []
    for top in (*FOLDERS, "api", "tests", "scripts", "benchmarks", "examples"):
        for path in (ROOT / top).rglob("*.py"):
            if "cache" in path.parts:
                continue
            if pattern.search(path.read_text()):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
