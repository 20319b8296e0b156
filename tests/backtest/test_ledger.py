"""The trial ledger: where it lives, keyed by data, counted from each run's source of truth
(set, never added), resumes add nothing, resets are explicit and recorded, writers lose nothing.

The tests with killed processes are in test_ledger_kill.py.
"""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
from pathlib import Path

import pandas as pd
import platformdirs
import pytest
import typer
from typer.testing import CliRunner

from costbt.backtest import ledger, tuning
from costbt.backtest.cli.commands.ledger_cmd import register as register_ledger
from costbt.backtest.cli.commands.tune_cmd import register as register_tune
from costbt.backtest.grid import parse_axis
from costbt.backtest.sweep import STATE, SweepError, SweepSpec, run_sweep
from costbt.backtest.tuning_storage import this_process
from costbt.data.errors import DataError

runner = CliRunner()
PERIOD = ("2020-01-01", "2023-12-31")


@pytest.fixture(scope="module")
def panel(bundled_panel) -> pd.DataFrame:
    return bundled_panel.copy()


def _spec(n_entry: int = 5, chunk: int = 4) -> SweepSpec:
    params = tuning.parameters("below_cost")
    values = ",".join(f"{0.8 + 0.05 * i:.2f}" for i in range(n_entry))
    axes = (
        parse_axis(f"entry_ratio={values}", params),
        parse_axis("exit_ratio=1.5,2", params),
    )
    return SweepSpec("below_cost", axes, {}, chunk_size=chunk)


def _overlaid(panel) -> pd.DataFrame:
    """The same panel as if cached downloads had been overlaid: other data."""
    other = panel.copy()
    other.attrs["provenance"] = {**panel.attrs["provenance"], "cache": {"spot": {"rows": 9}}}
    return other


def _study(panel, tmp_path, n: int, **kw):
    spec = str(tmp_path / "s.log")
    kw.setdefault("period", PERIOD)
    return tuning.run_study(panel, n_trials=n, storage=spec, study_name="s", **kw), spec


def _app(*registers) -> typer.Typer:
    app = typer.Typer()
    for register in registers:
        register(app)
    app.command("noop", hidden=True)(lambda: None)  # keeps the others subcommands
    return app


def _dead_owner() -> dict:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return {**this_process(), "pid": child.pid, "started": None}


def _edit(change) -> None:
    """Rewrite the ledger file with ``change(entries)`` applied (a crash's leftovers)."""
    path = ledger.ledger_path()
    doc = json.loads(path.read_text())
    change(doc["entries"])
    path.write_text(json.dumps(doc))


def _study_complete(spec: str, name: str) -> int:
    import optuna
    from optuna.trial import TrialState

    study = optuna.load_study(study_name=name, storage=tuning.open_storage(spec))
    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))


# ----------------------------------------------------------------------------- where it lives


def test_the_ledger_lives_in_costbt_home(costbt_home, panel):
    assert ledger.ledger_path() == costbt_home / "ledger.json"
    ledger.record("below_cost", "sweep", 3, ledger.data_ref(panel))
    assert json.loads((costbt_home / "ledger.json").read_text())["format"] == ledger.FORMAT


def test_without_costbt_home_it_is_the_users_data_folder_outside_the_repository(monkeypatch):
    monkeypatch.delenv("COSTBT_HOME")
    path = ledger.ledger_path()
    assert path == Path(platformdirs.user_data_dir("costbt")) / "ledger.json"
    repository = Path(ledger.__file__).resolve().parents[1]
    assert repository not in path.resolve().parents


def test_a_different_cache_dir_does_not_reset_it(tmp_path, panel):
    app = _app(register_tune)
    for cache in ("one", "two"):
        args = ["tune", "--n-trials", "2", "--cache-dir", str(tmp_path / cache), "--top", "0"]
        r = runner.invoke(app, [*args, "--start", PERIOD[0], "--end", PERIOD[1]])
        assert r.exit_code == 0, r.output
    assert ledger.trials("below_cost", ledger.data_key(panel)) == 4
    assert "ledger: 4 configurations tried for below_cost on data bundle" in " ".join(
        r.output.split()
    )


# ----------------------------------------------------------------------------- keyed by data


def test_the_data_key_follows_the_provenance_not_the_period(panel):
    ref = ledger.data_ref(panel)
    manifest = panel.attrs["provenance"]["bundle_manifest_sha256"]
    assert ref.label == f"bundle {manifest[:12]}"
    assert ledger.data_ref(panel.loc["2020":"2022"]) == ref  # a period of the same data
    other = ledger.data_ref(_overlaid(panel))
    assert other.key != ref.key and other.label == f"bundle {manifest[:12]}+cache"
    bare = pd.DataFrame({"close_usd": [1.0, 2.0]})
    assert ledger.data_ref(bare).label.endswith("(no provenance)")


def test_runs_on_other_data_are_counted_apart(panel, tmp_path):
    overlaid = _overlaid(panel)
    run_sweep(panel, _spec(), tmp_path / "a")
    run_sweep(overlaid, _spec(n_entry=2), tmp_path / "b")
    assert ledger.trials("below_cost", ledger.data_key(panel)) == 10
    assert ledger.trials("below_cost", ledger.data_key(overlaid)) == 4
    assert ledger.trials("accumulation", ledger.data_key(panel)) == 0


def test_a_study_is_not_continued_on_other_data(panel, tmp_path):
    _study(panel, tmp_path, 2)
    with pytest.raises(DataError, match="another study name") as info:
        _study(_overlaid(panel), tmp_path, 2)
    assert str(ledger.ledger_path()) in info.value.message
    assert _study_complete(str(tmp_path / "s.log"), "s") == 2  # refused before any trial


def test_a_sweep_is_not_resumed_on_other_data(panel, tmp_path):
    def stop(chunk: int, size: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(panel, _spec(), tmp_path, on_chunk=stop)
    with pytest.raises(SweepError, match="data differs"):
        run_sweep(_overlaid(panel), _spec(), tmp_path, resume=True)


def test_trials_refuses_anything_but_a_data_key():
    with pytest.raises(TypeError, match="data key"):
        ledger.trials("below_cost", None)


# ----------------------------------------------------------------------------- sweeps


def test_resuming_a_finished_sweep_adds_nothing_and_a_new_sweep_in_its_folder_counts(
    panel, tmp_path
):
    key = ledger.data_key(panel)
    run_sweep(panel, _spec(), tmp_path)
    assert ledger.trials("below_cost", key) == 10
    run_sweep(panel, _spec(), tmp_path, resume=True)
    assert ledger.trials("below_cost", key) == 10
    run_sweep(panel, _spec(), tmp_path)  # evaluated again from scratch: new evaluations
    assert ledger.trials("below_cost", key) == 20
    assert [e["status"] for e in ledger.entries()] == ["done", "done"]


def test_an_interrupted_sweep_counts_its_chunks_and_the_resume_only_the_rest(panel, tmp_path):
    key = ledger.data_key(panel)

    def stop_after_two(chunk: int, size: int) -> None:
        if chunk == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(panel, _spec(), tmp_path, on_chunk=stop_after_two)
    assert ledger.trials("below_cost", key) == 8  # chunks 0 and 1, 4 combinations each
    run_sweep(panel, _spec(), tmp_path, resume=True)
    assert ledger.trials("below_cost", key) == 10
    (entry,) = ledger.entries()
    assert entry["complete"] is True and entry["owners"] == []


def test_a_sweep_whose_process_died_is_counted_from_its_state(panel, tmp_path):
    run_sweep(panel, _spec(), tmp_path)
    state = json.loads((tmp_path / STATE).read_text())
    state["done"], state["status"] = [0], "partial"  # as if killed after the first chunk
    (tmp_path / STATE).write_text(json.dumps(state))

    def crashed(found):
        found[0].update(status="running", owners=[_dead_owner()], count=0, configurations=0)

    _edit(crashed)
    assert ledger.trials("below_cost", ledger.data_key(panel)) == 4
    (entry,) = ledger.entries()
    assert entry["status"] == "done" and entry["owners"] == []


# ----------------------------------------------------------------------------- studies


def test_a_study_is_one_entry_set_to_its_complete_trials(panel, tmp_path):
    key = ledger.data_key(panel)
    first, spec = _study(panel, tmp_path, 4)
    assert ledger.trials("below_cost", key) == 4
    _study(panel, tmp_path, 3)
    assert ledger.trials("below_cost", key) == 7
    (entry,) = ledger.entries()
    assert entry["kind"] == "tune" and entry["study"] == "s" and entry["storage"] == spec
    assert entry["id"] == first.study.user_attrs[ledger.STUDY_ATTR]
    assert entry["status"] == "done" and entry["owners"] == []


def test_a_dead_runs_entry_is_reconciled_from_the_storage_set_not_added(panel, tmp_path):
    key = ledger.data_key(panel)
    _, spec = _study(panel, tmp_path, 4)
    _study(panel, tmp_path, 3, record=False)  # trials the ledger has not seen

    def crashed(found):
        found[0].update(status="running", owners=[_dead_owner()])

    _edit(crashed)
    assert ledger.trials("below_cost", key) == 7 == _study_complete(spec, "s")
    assert ledger.trials("below_cost", key) == 7  # idempotent
    assert ledger.reconcile() == 0
    _edit(crashed)  # reconciled again: still the storage's count, not 14
    assert ledger.trials("below_cost", key) == 7


def test_failed_trials_do_not_count(panel, tmp_path, monkeypatch):
    from costbt.backtest.evaluator import Evaluator

    real, calls = Evaluator.metrics, {"n": 0}

    def flaky(self, row, start=None, end=None):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("boom")
        return real(self, row, start, end)

    monkeypatch.setattr(Evaluator, "metrics", flaky)
    _study(panel, tmp_path, 5)
    (entry,) = ledger.entries()
    assert (entry["configurations"], entry["failed"]) == (4, 1)


def test_a_storage_that_is_gone_keeps_the_last_count_and_marks_it_stale(panel, tmp_path):
    _, spec = _study(panel, tmp_path, 3)
    Path(spec).unlink()
    _edit(lambda found: found[0].update(status="running", owners=[_dead_owner()]))
    assert ledger.trials("below_cost", ledger.data_key(panel)) == 3
    (entry,) = ledger.entries()
    assert entry["status"] == "stale" and "gone" in entry["stale_reason"]
    assert not Path(spec).exists()  # not recreated by the reconciliation


# ----------------------------------------------------------------------------- walk-forward


def _trial(state: str):
    from optuna.trial import TrialState

    return type("Trial", (), {"state": TrialState[state]})()


def test_a_walkforward_run_counts_completed_trials_in_its_counter(panel):
    key = ledger.data_key(panel)
    run = ledger.start_walkforward(strategy="below_cost", data=ledger.data_ref(panel))
    for state in ("COMPLETE", "FAIL", "COMPLETE", "COMPLETE"):
        run(None, _trial(state))
    assert int.from_bytes(run.counter.read_bytes(), "little") == 3
    assert ledger.trials("below_cost", key) == 3  # this process owns it: read from the counter
    entry = run.finish(1.25, 400)
    assert (entry["configurations"], entry["oos_sharpe"], entry["oos_days"]) == (3, 1.25, 400)
    assert not run.counter.exists()
    (listed,) = ledger.walkforward_runs("below_cost", key)
    assert (listed["id"], listed["oos_sharpe"], listed["trials"]) == (run.id, 1.25, 3)


def test_a_walkforward_run_whose_process_died_counts_its_counter_and_has_no_oos_record(panel):
    key = ledger.data_key(panel)
    run = ledger.start_walkforward(strategy="below_cost", data=ledger.data_ref(panel))
    run(None, _trial("COMPLETE"))
    run(None, _trial("COMPLETE"))
    _edit(lambda found: found[0].update(owners=[_dead_owner()]))
    assert ledger.trials("below_cost", key) == 2
    (entry,) = ledger.entries()
    assert entry["status"] == "incomplete" and "oos_sharpe" not in entry
    assert not run.counter.exists()
    assert ledger.walkforward_runs("below_cost", key) == []


# ----------------------------------------------------------------------------- the file


def _record_many(n: int) -> None:
    ref = ledger.DataRef("0123456789abcdef", "test data")
    for _ in range(n):
        ledger.record("below_cost", "tune", 1, ref)


def test_processes_recording_at_once_lose_no_entry():
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_record_many, args=(40,)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    assert [p.exitcode for p in procs] == [0, 0, 0]
    assert ledger.trials("below_cost", "0123456789abcdef") == 120


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        '{"entries": 3}',
        "[]",
        "\xff\xfe",
        '{"format": "costbt-ledger/2"}',
        '{"format": "costbt-ledger/2", "entries": [{"strategy": "below_cost"}]}',
    ],
)
def test_an_unreadable_ledger_is_a_data_error_naming_it_and_is_left_as_it_was(text):
    path = ledger.ledger_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(DataError, match="ledger"):
        ledger.record("below_cost", "tune", 1, ledger.DataRef("0123456789abcdef", "x"))
    assert path.read_bytes() == text.encode("latin-1")
    with pytest.raises(DataError) as info:
        ledger.trials("below_cost", "0123456789abcdef")
    assert str(path) in info.value.message


def test_a_home_that_cannot_be_written_is_one_data_error_naming_costbt_home(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("COSTBT_HOME", str(blocker))
    with pytest.raises(DataError, match="COSTBT_HOME") as info:
        ledger.record("below_cost", "tune", 1, ledger.DataRef("0123456789abcdef", "x"))
    assert str(blocker) in info.value.message
    assert ledger.trials("below_cost", "0123456789abcdef") == 0  # nothing recorded, readable


def test_a_database_password_never_reaches_the_ledger(tmp_path):
    ref = ledger._storage_ref  # what a tune entry records as its storage
    assert ref("postgresql://me:secret@db.example:5432/optuna") == (
        "postgresql://me@db.example:5432/optuna"
    )
    assert "secret" not in ref("mysql+pymysql://me:secret@h/db?password=secret&ssl=1")
    assert ref(str(tmp_path / "s.log")) == str(tmp_path / "s.log")


def test_a_ledger_of_the_old_format_is_refused_untouched_not_migrated():
    path = ledger.ledger_path()
    old = '{"entries": [{"strategy": "below_cost", "kind": "sweep", "configurations": 5}]}'
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(old)
    with pytest.raises(DataError, match="older format") as info:
        ledger.trials("below_cost", "0123456789abcdef")
    assert str(path) in info.value.message
    assert path.read_text() == old


# ----------------------------------------------------------------------------- the command


def _sweeps(panel, tmp_path) -> None:
    run_sweep(panel, _spec(), tmp_path / "a")
    run_sweep(_overlaid(panel), _spec(n_entry=2), tmp_path / "b")
    ledger.record("below_cost", "walkforward", 30, ledger.data_ref(panel))


def _lines(output: str) -> list[str]:
    return [" ".join(line.split()) for line in output.splitlines() if line.strip()]


def test_the_ledger_command_lists_counts_by_strategy_data_and_kind(panel, tmp_path):
    _sweeps(panel, tmp_path)
    app = _app(register_ledger)
    r = runner.invoke(app, ["ledger"])
    assert r.exit_code == 0, r.output
    key = ledger.data_key(panel)
    rows = [line for line in _lines(r.output) if key in line]
    assert any("sweep │ 1 │ 10 │" in line for line in rows), r.output
    assert any("walkforward │ 1 │ 30 │" in line for line in rows), r.output
    assert any("total (N) │ │ 40 │" in line for line in rows), r.output
    assert any("+cache" in line and "total (N) │ │ 4 │" in line for line in _lines(r.output))
    r = runner.invoke(app, ["ledger", "--data", key])
    assert "+cache" not in r.output and "40" in r.output


def test_reset_without_yes_exits_2_saying_what_it_would_clear(panel, tmp_path):
    _sweeps(panel, tmp_path)
    before = ledger.ledger_path().read_bytes()
    r = runner.invoke(_app(register_ledger), ["ledger", "reset", "--strategy", "below_cost"])
    assert r.exit_code == 2
    (line,) = _lines(r.output)
    assert "would clear 44 configurations" in line and "--yes" in line
    assert ledger.ledger_path().read_bytes() == before


def test_reset_with_yes_stops_the_counts_keeps_the_entries_and_is_recorded(panel, tmp_path):
    _sweeps(panel, tmp_path)
    key = ledger.data_key(panel)
    app = _app(register_ledger)
    r = runner.invoke(app, ["ledger", "reset", "--strategy", "below_cost", "--data", key, "--yes"])
    assert r.exit_code == 0, r.output
    assert "40 configurations in 2 entries no longer count" in " ".join(r.output.split())
    assert ledger.trials("below_cost", key) == 0
    kept = [e for e in ledger.entries() if e["kind"] != "reset"]
    assert len(kept) == 3 and sum("reset_at" in e for e in kept) == 2  # the +cache one counts
    (reset,) = ledger.resets()
    assert (reset["strategy"], reset["data"], reset["cleared"]) == ("below_cost", key, 40)
    assert reset["by"]["pid"] > 0 and reset["by"]["user"]
    assert "40 configurations cleared" in runner.invoke(app, ["ledger"]).output
    run_sweep(panel, _spec(), tmp_path / "a", resume=True)  # evaluated before the reset
    assert ledger.trials("below_cost", key) == 0
    run_sweep(panel, _spec(), tmp_path / "c")
    assert ledger.trials("below_cost", key) == 10


def test_a_study_continued_after_a_reset_counts_only_its_new_trials(panel, tmp_path):
    key = ledger.data_key(panel)
    _study(panel, tmp_path, 3)
    ledger.reset("below_cost")
    assert ledger.trials("below_cost", key) == 0
    _study(panel, tmp_path, 2)
    assert ledger.trials("below_cost", key) == 2


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--strategy", "nosuch", "--yes"], "--strategy"),
        (["--strategy", "below_cost", "--data", "0000000000000000", "--yes"], "--data"),
    ],
)
def test_reset_of_nothing_exits_2_naming_the_flag(panel, tmp_path, args, flag):
    run_sweep(panel, _spec(), tmp_path)
    r = runner.invoke(_app(register_ledger), ["ledger", "reset", *args])
    assert r.exit_code == 2
    (line,) = _lines(r.output)
    assert flag in line
    assert ledger.resets() == []
