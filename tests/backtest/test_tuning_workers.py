"""Several `costbt tune` workers on one study: exact trial counts, killed workers, reruns.

Each scenario runs the real command in subprocesses, once on a real PostgreSQL server on
127.0.0.1 (Debian's package, started by the `postgres` fixture; the PostgreSQL cases skip with
the reason when it cannot start) and once on the default embedded storage (the journal file).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer
from optuna.trial import TrialState
from typer.testing import CliRunner

from costbt.backtest import ledger, tuning
from costbt.backtest.cli.commands.tune_cmd import register
from costbt.backtest.tuning_storage import OWNER_ATTR, STALE_ATTR
from tests.servers.postgres import LocalPostgres, PostgresUnavailable

STUDY = "workers"
PERIOD = ("--start", "2020-01-01", "--end", "2023-12-31")
FINISHED = (TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED)
TOTAL = 24  # trials of the study that a run is killed in and a rerun completes


@pytest.fixture(scope="session")
def postgres():
    """One PostgreSQL server per test process (each xdist worker starts its own)."""
    try:
        server = LocalPostgres().start()
    except PostgresUnavailable as exc:
        pytest.skip(f"PostgreSQL cannot be started: {exc}")
    yield server
    server.stop()


@dataclass
class Store:
    kind: str
    spec: str  # what tuning.open_storage takes
    args: tuple[str, ...]  # the costbt options that select it
    cache: Path
    postgres: LocalPostgres | None = None
    storage: Any = None

    def study(self):
        """The study as another process sees it (None until a run has created it)."""
        import optuna

        if self.storage is None:  # one storage (one connection pool) for all the polls
            self.storage = tuning.open_storage(self.spec)
        try:
            return optuna.load_study(study_name=STUDY, storage=self.storage)
        except KeyError:
            return None

    def created_trial_rows(self) -> int:
        """Trials created in the storage itself (a duplicated creation would show here)."""
        if self.postgres is None:
            lines = Path(self.spec).read_text().splitlines()
            return sum(1 for line in lines if json.loads(line)["op_code"] == 4)  # CREATE_TRIAL
        conn = self.postgres.connect(self.spec.rsplit("/", 1)[1])
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM trials")
                rows = cur.fetchone()[0]
                cur.execute(
                    "SELECT count(*) FROM (SELECT trial_id, param_name FROM trial_params "
                    "GROUP BY 1, 2 HAVING count(*) > 1) AS twice"
                )
                assert cur.fetchone()[0] == 0, "a parameter row was written twice"
                return rows
        finally:
            conn.close()


@pytest.fixture(params=["postgresql", "journal"])
def store(request, tmp_path) -> Store:
    if request.param == "postgresql":
        server = request.getfixturevalue("postgres")
        url = server.database(f"t_{uuid.uuid4().hex[:12]}")
        return Store("postgresql", url, ("--storage", url), tmp_path, server)
    return Store("journal", str(tuning.default_storage(STUDY, tmp_path)), (), tmp_path)


def _costbt() -> str:
    exe = Path(sys.executable).parent / "costbt"
    if not exe.exists():
        pytest.skip("costbt console script not installed")
    return str(exe)


def _tune(store: Store, *args: str) -> subprocess.Popen:
    """Start ``costbt tune`` on the store's study in its own process group."""
    cmd = [_costbt(), "tune", "--study", STUDY, "--cache-dir", str(store.cache)]
    return subprocess.Popen(
        [*cmd, *store.args, *PERIOD, "--top", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        start_new_session=True,
    )


def _finish(proc: subprocess.Popen, timeout: float = 120) -> tuple[int, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out + err


def _assert_clean_numbers(trials) -> None:
    numbers = [t.number for t in trials]
    assert sorted(numbers) == list(range(len(trials))), "trial numbers are not 0..n-1"
    assert len({t._trial_id for t in trials}) == len(trials)


def _assert_best_trial_works(study) -> None:
    """``best_trial`` answers the best feasible trial (None when no trial is feasible yet)."""
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    feasible = [t for t in done if all(v <= 0 for v in t.constraints.values())]
    best = tuning.best_trial(study)
    if not feasible:
        assert best is None
    else:
        assert best.number in {t.number for t in feasible}
        assert best.value == max(t.value for t in feasible)


def _kill_mid_trial(store: Store, at_least: int, timeout: float = 60) -> list[int]:
    """Run ``--jobs 2 --total TOTAL``; SIGKILL it mid-trial; the numbers of its RUNNING trials.

    Killed as soon as the study has ``at_least`` finished trials and one running. A trial can
    still finish between that read and the kill (and the workers spend part of their time
    between trials), so an attempt that leaves nothing RUNNING is repeated, continuing the study.
    """
    for _attempt in range(3):
        proc = _tune(store, "--jobs", "2", "--total", str(TOTAL))
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                study = store.study()
                trials = [] if study is None else study.get_trials(deepcopy=False)
                done = sum(1 for t in trials if t.state in FINISHED)
                if done >= at_least and any(t.state == TrialState.RUNNING for t in trials):
                    break
                assert proc.poll() is None, "the run ended before it could be killed"
                time.sleep(0.01)
            else:
                raise AssertionError(f"the study never had {at_least} finished trials")
        finally:
            os.killpg(proc.pid, signal.SIGKILL)  # the command and both of its workers
            proc.communicate()
        trials = store.study().get_trials(deepcopy=False)
        running = sorted(t.number for t in trials if t.state == TrialState.RUNNING)
        if running:
            return running
        at_least = sum(1 for t in trials if t.state in FINISHED) + 2
    raise AssertionError("three kills in a row left no RUNNING trial")


# ----------------------------------------------------------------------------- scenarios


def test_two_workers_finish_exactly_the_requested_trials(store):
    code, text = _finish(_tune(store, "--jobs", "2", "--n-trials", "20"))
    assert code == 0, text
    assert "database is locked" not in text
    assert "this run 20 completed, 0 failed" in text
    trials = store.study().get_trials(deepcopy=False)
    assert len(trials) == 20 and store.created_trial_rows() == 20
    assert all(t.state == TrialState.COMPLETE for t in trials)
    _assert_clean_numbers(trials)
    # The command's own process is worker 0 and one spawned worker joins it; they share the
    # trials through tickets, so a short run may be finished before the second one starts.
    owners = {t.system_attrs[OWNER_ATTR]["pid"] for t in trials}
    assert 1 <= len(owners) <= 2
    assert {tuning.trial_tags(t)["worker"] for t in trials} == owners


def test_two_processes_started_together_on_one_study_sum_exactly(store, bundled_panel):
    procs = [_tune(store, "--n-trials", "10") for _ in range(2)]
    results = [_finish(p) for p in procs]
    for code, text in results:
        assert code == 0, text
        assert "database is locked" not in text
        assert "this run 10 completed, 0 failed" in text
    trials = store.study().get_trials(deepcopy=False)
    assert len(trials) == 20 and store.created_trial_rows() == 20
    assert all(t.state == TrialState.COMPLETE for t in trials)
    _assert_clean_numbers(trials)
    per_process: dict[int, int] = {}
    for t in trials:
        pid = t.system_attrs[OWNER_ATTR]["pid"]
        per_process[pid] = per_process.get(pid, 0) + 1
    assert sorted(per_process) == sorted(p.pid for p in procs)
    assert sorted(per_process.values()) == [10, 10]
    (entry,) = ledger.entries()  # one study, one entry: both runs agreed on its identity
    assert entry["owners"] == [] and entry["configurations"] == 20
    assert ledger.trials("below_cost", ledger.data_key(bundled_panel)) == 20


def test_a_killed_run_leaves_the_study_usable_and_a_rerun_completes_it(store, bundled_panel):
    running = _kill_mid_trial(store, 4)
    study = store.study()
    trials = study.get_trials(deepcopy=False)
    before = sum(1 for t in trials if t.state in FINISHED)
    assert 4 <= before < TOTAL, "the kill did not land mid-study"
    _assert_best_trial_works(study)  # the study is usable as it is

    code, text = _finish(_tune(store, "--total", str(TOTAL)))
    assert code == 0, text
    found = before + len(running)  # the stale trials are failed first, then counted
    assert f"{found} finished trial(s) already; adding {TOTAL - found} to reach" in text
    assert f"marked {len(running)} stale running trial(s) from dead workers as failed" in text
    trials = store.study().get_trials(deepcopy=False)
    assert [t for t in trials if t.state == TrialState.RUNNING] == []
    assert sum(1 for t in trials if t.state in FINISHED) == TOTAL
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert sorted(t.number for t in failed) == running, "the only failures are the stale ones"
    assert all("was gone" in t.system_attrs[STALE_ATTR] for t in failed)
    _assert_clean_numbers(trials)
    _assert_best_trial_works(store.study())
    complete = sum(1 for t in trials if t.state == TrialState.COMPLETE)
    assert ledger.trials("below_cost", ledger.data_key(bundled_panel)) == complete


# ----------------------------------------------------------------------------- --total


def test_two_runs_to_one_total_together_leave_exactly_that_many_trials(store):
    # Each run with two workers: four processes race for the last places of the study.
    procs = [_tune(store, "--jobs", "2", "--total", "60") for _ in range(2)]
    results = [_finish(p) for p in procs]
    for code, text in results:
        assert code == 0, text
    trials = store.study().get_trials(deepcopy=False)
    assert sum(1 for t in trials if t.state in FINISHED) == 60
    assert len(trials) == 60 and store.created_trial_rows() == 60
    _assert_clean_numbers(trials)


def _app() -> typer.Typer:
    """The ``tune`` command alone (a second, hidden command keeps it a subcommand)."""
    app = typer.Typer()
    register(app)
    app.command("noop", hidden=True)(lambda: None)
    return app


def test_n_trials_and_total_together_exit_2_naming_both(tmp_path):
    r = CliRunner().invoke(
        _app(), ["tune", "--n-trials", "5", "--total", "9", "--cache-dir", str(tmp_path)]
    )
    assert r.exit_code == 2
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "--n-trials" in lines[0] and "--total" in lines[0]
    assert not (tmp_path / "optuna").exists()


def test_total_adds_only_the_missing_trials(tmp_path):
    from costbt.data import load_panel

    panel = load_panel().loc[:"2023-12-31"]
    kw = dict(storage=str(tmp_path / "t.log"), study_name="t", cache_dir=tmp_path)
    kw["period"] = ("2020-01-01", "2023-12-31")
    first = tuning.run_study(panel, n_trials=4, **kw)
    assert (first.before, first.requested, first.completed) == (0, 4, 4)
    more = tuning.run_study(panel, total=7, **kw)
    assert (more.before, more.requested, more.completed) == (4, 3, 3)
    assert len(more.study.trials) == 7
    none = tuning.run_study(panel, total=5, **kw)
    assert (none.before, none.requested, none.completed) == (7, 0, 0)
    assert len(none.study.trials) == 7
    with pytest.raises(tuning.TuningError, match="mutually exclusive"):
        tuning.run_study(panel, n_trials=3, total=5, **kw)


def test_a_total_already_reached_adds_nothing_and_says_so(tmp_path):
    args = ["tune", "--cache-dir", str(tmp_path), *PERIOD, "--top", "0"]
    r = CliRunner().invoke(_app(), [*args, "--n-trials", "3"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(_app(), [*args, "--total", "2"])
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert "3 finished trial(s) already; --total 2 already reached, nothing to add" in text
    assert "this run 0 completed, 0 failed" in text


# ----------------------------------------------------------------------------- storage pieces


def test_an_owner_is_alive_only_while_its_process_runs():
    from costbt.backtest import tuning_storage as ts

    me = ts.this_process()
    assert ts.owner_alive(me) is True
    assert ts.owner_alive({**me, "host": "elsewhere"}) is None  # another machine: cannot tell
    assert ts.owner_alive({**me, "started": "other-boot:1"}) is False  # the pid was reused
    assert ts.owner_alive(None) is None
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert ts.owner_alive({**me, "pid": child.pid, "started": None}) is False
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    time.sleep(0.5)  # exited, not reaped yet
    assert ts.owner_alive({**me, "pid": zombie.pid, "started": None}) is False
    zombie.wait()


def test_the_journal_lock_of_a_killed_writer_is_free_at_once(tmp_path):
    from costbt.backtest.tuning_storage import FlockLock

    journal = str(tmp_path / "s.log")
    code = (
        "import sys, time; from backtest.tuning_storage import FlockLock; "
        f"FlockLock({journal!r}).acquire(); print('held', flush=True); time.sleep(60)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    holder.kill()
    holder.wait()
    lock = FlockLock(journal)
    started = time.monotonic()
    assert lock.acquire()
    lock.release()
    assert time.monotonic() - started < 1


def test_a_journal_line_cut_by_a_killed_writer_is_dropped_before_the_next_append(tmp_path):
    import optuna

    path = tmp_path / "s.log"
    storage = tuning.open_storage(str(path))
    study = optuna.create_study(storage=storage, study_name="s")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    with open(path, "ab") as f:
        f.write(b'{"op_code":4,"worker_id":"dead","study_id":0,"datetime_st')  # cut mid-append
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    again = optuna.load_study(study_name="s", storage=tuning.open_storage(str(path)))
    assert [t.state for t in again.trials] == [TrialState.COMPLETE] * 4
    assert path.read_bytes().endswith(b"\n")


# ----------------------------------------------------------------------------- URLs as documented


def _plain_url(server, database: str, password: str = "s3cret-pw") -> str:
    """The form docs/tuning.md shows: ``postgresql://user:password@host:port/db``, no driver."""
    return f"postgresql://postgres:{password}@127.0.0.1:{server.port}/{database}"


def test_the_documented_postgresql_url_runs_and_never_prints_its_password(postgres, tmp_path):
    name = f"t_{uuid.uuid4().hex[:12]}"
    postgres.database(name)
    url = _plain_url(postgres, name)
    cmd = [_costbt(), "tune", "--storage", url, "--n-trials", "2", "--study", "doc"]
    r = subprocess.run(
        [*cmd, "--cache-dir", str(tmp_path), *PERIOD, "--top", "0"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COSTBT_HOME": str(tmp_path / "home")},
    )
    assert r.returncode == 0, r.stderr
    assert "s3cret-pw" not in r.stdout + r.stderr
    assert "postgres:***@" in r.stderr
    study = tuning.load_study(tuning.storage_spec(url, "doc"), "doc", seed=0)
    assert len(study.trials) == 2


def test_a_missing_database_is_one_line_naming_the_storage_exit_2(postgres, tmp_path):
    url = _plain_url(postgres, "no_such_database")
    r = CliRunner().invoke(_app(), ["tune", "--storage", url, "--cache-dir", str(tmp_path)])
    assert r.exit_code == 2, r.output
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith("error: --storage:") and "does not exist" in line
    assert "s3cret-pw" not in r.output


# ----------------------------------------------------------------------------- Ctrl-C


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_ctrl_c_ends_a_tune_in_one_line_exit_130_keeping_its_trials(tmp_path, jobs):
    store = Store("journal", str(tuning.default_storage(STUDY, tmp_path)), (), tmp_path)
    proc = _tune(store, "--jobs", jobs, "--n-trials", "100000")
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            study = store.study()
            trials = [] if study is None else study.get_trials(deepcopy=False)
            if sum(1 for t in trials if t.state in FINISHED) >= 20:
                break
            assert proc.poll() is None, "the run ended before Ctrl-C"
            time.sleep(0.05)
        else:
            raise AssertionError("the study never had 20 finished trials")
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal sends to the whole group
        code, output = _finish(proc, timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert code == 130, output
    assert "Traceback" not in output and "KeyboardInterrupt" not in output
    assert "error: interrupted: the finished trials are kept in" in output
    assert sum(1 for t in store.study().get_trials(deepcopy=False) if t.state in FINISHED) >= 20
