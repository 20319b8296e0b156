"""The ledger counts exactly what SIGKILLed runs evaluated, and a resume adds only the rest.

Each run is a real process (the ``costbt`` command, or a run of tests/backtest/ledger_runs.py)
started in its own process group with this test's ``$COSTBT_HOME`` and killed with
``os.killpg(..., SIGKILL)``: no handler, no atexit, nothing of the run's own clean-up happens.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from optuna.trial import TrialState

from costbt.backtest import ledger, tuning
from costbt.backtest.sweep import STATE, done_combinations, run_sweep
from tests.backtest import ledger_runs

ROOT = Path(__file__).resolve().parents[2]
STUDY = "killed"
PERIOD = ("--start", "2020-01-01", "--end", "2023-12-31")
FINISHED = (TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED)


@pytest.fixture(scope="module")
def key(bundled_panel) -> str:
    return ledger.data_key(bundled_panel)  # what the command and the runs load


def _env() -> dict:
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, "COLUMNS": "200"}


def _start(code: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=_env(),
        start_new_session=True,
    )


def _kill(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)  # the run and any worker it spawned
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL


def _wait_for(proc: subprocess.Popen, line: str, timeout: float = 60) -> list[str]:
    """The lines printed until ``line`` (the run is then blocked: see ledger_runs)."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = proc.stdout.readline().strip()
        if got == line:
            return seen
        if not got and proc.poll() is not None:
            raise AssertionError(f"the run ended first: {proc.stderr.read()[-2000:]}")
        seen.append(got)
    raise AssertionError(f"no '{line}' within {timeout} s")


# ----------------------------------------------------------------------------- tune


def _tune(cache: Path, *args: str) -> subprocess.Popen:
    code = "from backtest.cli import app; app()"
    common = ["tune", "--study", STUDY, "--cache-dir", str(cache), *PERIOD, "--top", "0"]
    return _start(code, *common, *args)


def _count(storage, states=(TrialState.COMPLETE,)) -> int:
    import optuna

    try:
        study = optuna.load_study(study_name=STUDY, storage=storage)
    except KeyError:
        return 0
    return len(study.get_trials(deepcopy=False, states=states))


def test_repeated_kill_9_of_tune_leaves_exactly_the_storages_complete_trials(tmp_path, key):
    spec = str(tuning.default_storage(STUDY, tmp_path))
    storage = None
    for jobs in ("1", "2", "1"):
        proc = _tune(tmp_path, "--n-trials", "5000", "--jobs", jobs)
        target = 8 + (0 if storage is None else _count(storage))
        deadline = time.monotonic() + 60
        while storage is None or _count(storage) < target:
            if storage is None and Path(spec).exists():
                storage = tuning.open_storage(spec)
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.02)
        _kill(proc)
        (entry,) = ledger.entries()
        assert entry["status"] == "running"  # the run never got to its own record
        assert entry["configurations"] < _count(storage)
        assert ledger.trials("below_cost", key) == _count(storage)
        assert ledger.entries()[0]["status"] == "done"
    total = _count(storage, FINISHED) + 5
    proc = _tune(tmp_path, "--total", str(total))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    assert _count(storage, FINISHED) == total
    assert ledger.trials("below_cost", key) == _count(storage)
    (entry,) = ledger.entries()
    assert entry["status"] == "done" and entry["owners"] == []


# ----------------------------------------------------------------------------- sweep


def test_a_killed_sweep_counts_its_done_chunks_and_the_resume_exactly_the_grid(
    tmp_path, key, bundled_panel
):
    code = "import sys; from tests.backtest.ledger_runs import sweep; sweep(sys.argv[1], 3)"
    proc = _start(code, str(tmp_path))
    assert _wait_for(proc, "blocked") == ["chunk 0", "chunk 1", "chunk 2"]
    _kill(proc)
    state = json.loads((tmp_path / STATE).read_text())
    assert state["status"] == "partial" and done_combinations(state) == 6
    assert ledger.trials("below_cost", key) == 6
    (entry,) = ledger.entries()
    assert entry["status"] == "done" and entry["owners"] == []  # its owner was found dead
    spec = ledger_runs.sweep_spec()
    run_sweep(bundled_panel, spec, tmp_path, resume=True)
    assert ledger.trials("below_cost", key) == spec.size == 20
    run_sweep(bundled_panel, spec, tmp_path, resume=True)  # finished: nothing more
    assert ledger.trials("below_cost", key) == 20


# ----------------------------------------------------------------------------- walk-forward


def test_a_killed_walkforward_counts_the_trials_it_completed(key):
    code = "from tests.backtest.ledger_runs import walkforward; walkforward(6, 9)"
    proc = _start(code)
    assert _wait_for(proc, "blocked")[-1] == "trial 9"  # in the second window
    _kill(proc)
    (entry,) = ledger.entries()
    counter = Path(entry["counter"])
    assert entry["status"] == "running" and entry["configurations"] < 9
    assert int.from_bytes(counter.read_bytes(), "little") == 9
    assert ledger.trials("below_cost", key) == 9
    (entry,) = ledger.entries()
    assert entry["status"] == "incomplete" and not counter.exists()
    assert ledger.walkforward_runs("below_cost", key) == []
