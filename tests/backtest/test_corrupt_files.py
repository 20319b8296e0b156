"""Damaged stored files are bad input (issue 14 part 4): one line naming the file, exit 2, never
a traceback, and the damaged file never overwritten, appended to or lost. A full disk while
one of them is written is the environment: one line naming it, exit 1, the file as it was.

Every file here is first written by the real command (an Optuna journal by ``costbt tune``, the
trial ledger, a sweep's state and chunks by ``costbt sweep``), then damaged the way a disk, a
crash or a hand edit damages it; the command is run again through the real CLI (in process).
"""

from __future__ import annotations

import errno
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from costbt.backtest import ledger
from costbt.backtest.cli import app
from costbt.backtest.tuning_storage import check_journal, open_journal
from costbt.data.atomic_files import STALE_AFTER

runner = CliRunner()
SPAN = ["--start", "2020-01-01", "--end", "2021-12-31"]
STUDY = "below_cost-sharpe"


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("COSTBT_HOME", str(tmp_path / "home"))


def _one_line(r, name: Path | str, code: int = 2) -> str:
    """The run ended in one error line naming ``name``, with exit status ``code``."""
    assert r.exit_code == code, r.output
    assert "Traceback" not in r.output and "internal error" not in r.output, r.output
    errors = [ln for ln in r.stderr.strip().splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1, r.stderr
    assert str(name) in errors[0], errors[0]
    return errors[0]


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.endswith((".lock", ".flock"))
    }


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# ----------------------------------------------------------------------------- Optuna journals


def _tune(cache: Path, *more: str):
    args = ["tune", "--n-trials", "1", "--top", "0", "--cache-dir", str(cache), *SPAN, *more]
    return runner.invoke(app, args)


@pytest.fixture()
def journal(tmp_path) -> Path:
    """A journal written by ``costbt tune`` (one trial), at its default place."""
    cache = tmp_path / "cache"
    assert _tune(cache).exit_code == 0
    path = cache / "optuna" / f"{STUDY}.log"
    assert path.is_file()
    return path


def _refused_untouched(journal: Path) -> None:
    before = journal.read_bytes()
    line = _one_line(_tune(journal.parents[1]), journal)
    assert "journal is damaged" in line
    assert journal.read_bytes() == before


def test_a_journal_of_random_bytes_is_refused_naming_it_and_not_appended_to(journal):
    journal.write_bytes(random.Random(0).randbytes(3000))
    _refused_untouched(journal)


def test_random_bytes_without_a_newline_are_refused_not_cut_away_as_a_half_record(journal):
    journal.write_bytes(random.Random(1).randbytes(3000).replace(b"\n", b"x"))
    _refused_untouched(journal)


def test_a_journal_with_a_garbage_line_in_the_middle_is_refused_and_not_appended_to(journal):
    lines = journal.read_bytes().splitlines(keepends=True)
    journal.write_bytes(b"".join([*lines[:3], b"this is no record {\n", *lines[3:]]))
    _refused_untouched(journal)


def test_a_garbage_last_line_is_refused_where_optuna_would_append_after_it(journal):
    journal.write_bytes(journal.read_bytes() + b"garbage\n")
    _refused_untouched(journal)


def test_a_record_optuna_cannot_replay_is_refused(journal):
    journal.write_bytes(journal.read_bytes() + b'{"op_code":99,"worker_id":"x"}\n')
    _refused_untouched(journal)


def test_a_killed_writers_half_record_is_still_cut_and_the_study_continued(journal):
    journal.write_bytes(journal.read_bytes() + b'{"op_code":4,"worker_id":"x","stu')
    r = _tune(journal.parents[1])
    assert r.exit_code == 0, r.output
    check_journal(journal)
    assert "2 trials in all" in r.output


def test_a_full_disk_while_appending_to_the_journal_is_one_line_exit_1_journal_readable(
    journal, monkeypatch
):
    """The disk fills in the middle of an append: half a record is written, then ENOSPC. Optuna
    then asserts "Should not reach." while recording the trial's end; the line says what
    happened instead, and the journal is cut back to its last whole record."""
    real_write = os.write
    target = os.path.realpath(journal)
    calls = {"n": 0}

    def full_disk_write(fd, data):
        try:
            where = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            where = ""
        if where != target:
            return real_write(fd, data)
        calls["n"] += 1
        if calls["n"] == 1:
            return real_write(fd, data)  # the run's settings and ledger identity
        real_write(fd, bytes(data)[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full_disk_write)
    r = _tune(journal.parents[1], "--n-trials", "3")
    monkeypatch.setattr(os, "write", real_write)
    line = _one_line(r, journal, code=1)
    assert "no space left on device" in line.lower()
    assert calls["n"] >= 2
    check_journal(journal)
    assert journal.read_bytes().endswith(b"\n")
    import optuna

    study = optuna.load_study(study_name=STUDY, storage=open_journal(journal))
    assert sum(t.state.name == "COMPLETE" for t in study.trials) == 1  # the first run's
    assert _tune(journal.parents[1]).exit_code == 0  # room again: the study goes on


def test_the_ledger_reads_a_study_in_a_damaged_journal_without_writing_it(journal):
    path = ledger.ledger_path()
    doc = json.loads(path.read_text())
    (entry,) = doc["entries"]
    entry.update(status="running", owners=[{"host": os.uname().nodename, "pid": _dead_pid()}])
    path.write_text(json.dumps(doc))
    journal.write_bytes(journal.read_bytes() + b"garbage\n")
    before = journal.read_bytes()
    r = runner.invoke(app, ["ledger"])
    assert r.exit_code == 0, r.output
    assert journal.read_bytes() == before
    (entry,) = ledger.entries()
    assert entry["status"] == "stale" and str(journal) in entry["stale_reason"]


# ----------------------------------------------------------------------------- the trial ledger


WRONG_SHAPES = {
    "a list": "[1]",
    "a number": "42",
    "entries not objects": '{"format": "costbt-ledger/2", "entries": [1, 2]}',
    "entries a mapping": '{"format": "costbt-ledger/2", "entries": {}}',
    "missing keys": '{"format": "costbt-ledger/2", "entries": [{"kind": "sweep"}]}',
    "owners not a list": json.dumps(
        {
            "format": "costbt-ledger/2",
            "entries": [
                {
                    "id": "a",
                    "kind": "sweep",
                    "strategy": "below_cost",
                    "data": "0123456789abcdef",
                    "configurations": 3,
                    "status": "running",
                    "owners": 5,
                    "started_at": "2026-01-01T00:00:00Z",
                    "updated_at": "2026-01-01T00:00:00Z",
                }
            ],
        }
    ),
}


def _wrong_ledger(text: str) -> Path:
    path = ledger.ledger_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize("text", WRONG_SHAPES.values(), ids=WRONG_SHAPES.keys())
@pytest.mark.parametrize("command", [["ledger"], ["ledger", "reset", "--strategy", "below_cost"]])
def test_the_ledger_command_refuses_a_ledger_of_the_wrong_shape_naming_it(text, command):
    path = _wrong_ledger(text)
    _one_line(runner.invoke(app, [*command, "--yes"] if "reset" in command else command), path)
    assert path.read_text() == text


def _writers(tmp: Path) -> dict[str, list[str]]:
    short = ["--start", "2021-01-01", "--end", "2021-06-30"]
    return {
        "sweep": ["sweep", "--grid", "entry_ratio=0.8,0.9", *short, "--out", str(tmp / "sweep")],
        "tune": ["tune", "--n-trials", "1", "--cache-dir", str(tmp / "cache"), *short],
        "walkforward": ["walkforward", "--n-trials", "1", "--train", "1y", "--test", "6m"],
        "attribution": ["attribution", *short],
        "backtest --report": [
            "backtest",
            "--strategy",
            "confluence",
            *short,
            "--report",
            str(tmp / "page.html"),
        ],
    }


@pytest.mark.parametrize(
    "text",
    [WRONG_SHAPES["a list"], WRONG_SHAPES["entries not objects"]],
    ids=["a list", "entries not objects"],
)
@pytest.mark.parametrize(
    "writer", ["sweep", "tune", "walkforward", "attribution", "backtest --report"]
)
def test_a_command_that_records_in_a_ledger_of_the_wrong_shape_refuses_it_unchanged(
    writer, text, tmp_path
):
    path = _wrong_ledger(text)
    _one_line(runner.invoke(app, _writers(tmp_path)[writer]), path)
    assert path.read_text() == text
    # Refused before the work: no sweep state, no study journal, no report.
    assert not (tmp_path / "sweep" / "sweep_state.json").exists()
    assert not (tmp_path / "cache" / "optuna").exists()
    assert not (tmp_path / "page.html").exists()


def _sweep(out: Path, *more: str):
    args = ["sweep", "--grid", "entry_ratio=0.8:1.0:0.1", *SPAN, "--out", str(out)]
    return runner.invoke(app, [*args, "--top", "1", "--verify-sample", "0", *more])


def test_a_full_disk_while_writing_the_ledger_is_one_line_exit_1_and_keeps_the_old_ledger(
    tmp_path, monkeypatch
):
    assert _sweep(tmp_path / "a").exit_code == 0
    path = ledger.ledger_path()
    before = path.read_bytes()
    real_fsync = os.fsync

    def full_disk_fsync(fd):
        if os.path.basename(os.readlink(f"/proc/self/fd/{fd}")).startswith(f".{path.name}."):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", full_disk_fsync)
    line = _one_line(_sweep(tmp_path / "b"), path, code=1)
    assert "no space left on device" in line.lower()
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_a_killed_ledger_writers_temporary_files_are_removed_at_the_next_write(tmp_path):
    """Stale: the writer's process is gone, or the file is older than `STALE_AFTER` seconds
    (the process id may have been reused). Every writer holds the ledger's lock while it
    writes, so a live writer's file is never among them; a reader removes nothing."""
    assert _sweep(tmp_path / "a").exit_code == 0
    path = ledger.ledger_path()
    dead = path.with_name(f".{path.name}.{_dead_pid()}.0123abcd.tmp")
    old = path.with_name(f".{path.name}.{os.getpid()}.4567cdef.tmp")
    live = path.with_name(f".{path.name}.{os.getpid()}.89abcdef.tmp")
    for tmp in (dead, old, live):
        tmp.write_bytes(b"\0" * 1_000_000)
    stale = time.time() - STALE_AFTER - 60
    os.utime(old, (stale, stale))
    assert runner.invoke(app, ["ledger"]).exit_code == 0  # a read: nothing removed
    assert dead.exists() and old.exists()
    assert _sweep(tmp_path / "b", "--grid", "exit_ratio=1.2,1.4").exit_code == 0
    assert not dead.exists() and not old.exists()
    assert live.exists()  # its writer (this process) runs and the file is fresh
    assert ledger.entries()


# ----------------------------------------------------------------------------- sweep states


@pytest.fixture()
def interrupted(tmp_path) -> Path:
    """A sweep of three chunks whose state says it was interrupted after all three."""
    out = tmp_path / "sweep"
    assert _sweep(out, "--chunk-size", "1").exit_code == 0
    state = json.loads((out / "sweep_state.json").read_text())
    state["status"] = "partial"
    (out / "sweep_state.json").write_text(json.dumps(state))
    for name in ("results.parquet", "results.csv", "sweep.html"):
        (out / name).unlink()
    return out


@pytest.mark.parametrize("resume", [False, True], ids=["new", "resume"])
def test_a_sweep_state_that_is_a_list_is_refused_naming_it_and_nothing_deleted(interrupted, resume):
    state = interrupted / "sweep_state.json"
    state.write_text("[1]")
    before = _files(interrupted)
    line = _one_line(_sweep(interrupted, "--chunk-size", "1", *["--resume"] * resume), state)
    assert "not a sweep state" in line
    assert _files(interrupted) == before


@pytest.mark.parametrize("resume", [False, True], ids=["new", "resume"])
def test_a_truncated_sweep_state_names_the_state_file_not_the_grid(interrupted, resume):
    state = interrupted / "sweep_state.json"
    state.write_bytes(state.read_bytes()[:150])
    before = _files(interrupted)
    line = _one_line(_sweep(interrupted, "--chunk-size", "1", *["--resume"] * resume), state)
    assert "--grid" not in line
    assert _files(interrupted) == before


def test_a_resume_whose_chunk_is_missing_names_the_state_and_the_chunk(interrupted):
    chunk = interrupted / "chunks" / "chunk_00001.parquet"
    chunk.unlink()
    before = _files(interrupted)
    line = _one_line(_sweep(interrupted, "--chunk-size", "1", "--resume"), chunk)
    assert str(interrupted / "sweep_state.json") in line
    assert _files(interrupted) == before


def test_a_resume_whose_chunk_is_damaged_names_the_chunk(interrupted):
    chunk = interrupted / "chunks" / "chunk_00001.parquet"
    chunk.write_bytes(chunk.read_bytes()[:50])
    before = _files(interrupted)
    _one_line(_sweep(interrupted, "--chunk-size", "1", "--resume"), chunk)
    assert _files(interrupted) == before
