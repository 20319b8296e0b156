"""The house rules, checked on the source (docs/ARCHITECTURE.md): data flows one way, only the
command line imports reports and prints, no private name crosses a module, constants live once."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Package -> the costbt packages it must not import (data -> signals -> strategies -> backtest
#: -> reports; the command line, inside backtest, is the one layer on top of reports).
FORBIDDEN = {
    "data": ("signals", "strategies", "backtest", "reports"),
    "signals": ("strategies", "backtest", "reports"),
    "strategies": ("backtest", "reports"),
    "backtest": ("reports",),
    "reports": ("backtest.cli",),
}
CLI = (
    "backtest/cli/__init__.py",
    "backtest/cli/commands/",
    "backtest/cli/console.py",
    "backtest/cli/progress.py",
)


def modules():
    for top in FORBIDDEN:
        for path in sorted((ROOT / top).rglob("*.py")):
            if "cache" not in path.parts:
                rel = str(path.relative_to(ROOT))
                yield top, rel, ast.parse(path.read_text(), rel)


def imported(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            yield node.module, [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, []


def is_cli(rel: str) -> bool:
    return any(rel == c or rel.startswith(c) for c in CLI)


def test_data_flows_one_way_and_only_the_command_line_imports_reports():
    bad = []
    for top, rel, tree in modules():
        if is_cli(rel):
            continue
        for module, _ in imported(tree):
            for target in FORBIDDEN[top]:
                if module == f"costbt.{target}" or module.startswith(f"costbt.{target}."):
                    bad.append(f"{rel} imports {module}")
    assert bad == []


def test_no_private_name_is_imported_from_another_module():
    bad = []
    for _, rel, tree in modules():
        for module, names in imported(tree):
            if module.startswith("costbt."):
                bad += [f"{rel}: {module}.{n}" for n in names if n.startswith("_")]
    assert bad == []


def test_only_the_command_line_prints():
    bad = []
    for _, rel, tree in modules():
        if is_cli(rel):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print":
                bad.append(f"{rel}:{node.lineno}")
    assert bad == []


def test_the_annualisation_constant_is_defined_once():
    owners = []
    for _, rel, tree in modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
                if node.value.value == 365 and any("PERIOD" in n for n in names):
                    owners.append(rel)
    assert owners == ["backtest/metrics.py"]
