"""An output that cannot be written is refused before any work, in one line naming its flag:
``--report``, ``--out``, ``--cache-dir`` and ``--storage`` (issue 14, part 1)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from costbt.backtest.cli import app
from costbt.backtest.output_paths import file_problem, folder_problem

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]
CLAIMS = str(ROOT / "examples" / "claims" / "2025-11-below-cost.toml")

#: (command line before the output flag, the flag, what the flag names: a file or a folder)
COMMANDS = [
    (["backtest", "--strategy", "below_cost"], "--report", "file"),
    (["tune", "--n-trials", "1"], "--report", "file"),
    (["walkforward", "--n-trials", "1"], "--report", "file"),
    (["attribution"], "--report", "file"),
    (["claims", CLAIMS], "--report", "file"),
    (["sweep", "--grid", "entry_ratio=0.8:1.0:0.1"], "--out", "folder"),
    (["data", "panel"], "--out", "file"),
    (["data", "fetch"], "--cache-dir", "folder"),
    (["tune", "--n-trials", "1"], "--cache-dir", "folder"),
    (["tune", "--n-trials", "1"], "--storage", "file"),
]


def _bad_paths(tmp_path: Path, kind: str) -> list[tuple[str, str]]:
    """(path, words of the refusal) for each way a path cannot be written."""
    blocker = tmp_path / "a-file"
    blocker.write_text("a regular file")
    name = "x.csv" if kind == "file" else "x"
    cases = [
        (f"/proc/{name}", "/proc"),  # a kernel file system: nothing can be created there
        (f"/sys/{name}", "/sys"),  # refused even to root
        (str(blocker / name), "is a file, not a folder"),
    ]
    if kind == "file":
        folder = tmp_path / "a-folder.csv"
        folder.mkdir(exist_ok=True)
        cases.append((str(folder), "is a folder"))
    else:
        cases.append((str(blocker), "is a file, not a folder"))
    return cases


@pytest.mark.parametrize(("command", "flag", "kind"), COMMANDS, ids=lambda v: str(v))
def test_an_unwritable_output_is_refused_in_one_line_before_any_work(
    tmp_path, monkeypatch, command, flag, kind
):
    monkeypatch.setenv("COSTBT_HOME", str(tmp_path / "home"))
    for path, words in _bad_paths(tmp_path, kind):
        r = runner.invoke(app, [*command, flag, path])
        assert r.exit_code == 2, (path, r.output)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1, (path, r.stderr)  # no "running ..." line: nothing was started
        assert lines[0].startswith(f"error: {flag}:") and words in lines[0], (path, lines[0])
    assert not (tmp_path / "home").exists() or not any((tmp_path / "home").rglob("*.jsonl"))


def test_a_writable_path_passes_and_nothing_is_left_behind(tmp_path):
    assert file_problem(tmp_path / "new" / "deeper" / "r.html") is None
    assert folder_problem(tmp_path / "out") is None
    assert sorted(tmp_path.iterdir()) == []  # no folder created, no probe file left


def test_an_existing_file_is_writable_and_kept(tmp_path):
    f = tmp_path / "r.html"
    f.write_text("old")
    assert file_problem(f) is None
    assert f.read_text() == "old"
