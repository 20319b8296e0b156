"""Optuna storages for ``costbt tune`` that a killed worker cannot block or corrupt.

A worker killed mid-trial (SIGKILL, out of memory, a lost machine) leaves its trial RUNNING
forever, and with Optuna's default journal lock (a symlink, released after a 30 s grace period)
possibly a held lock and half a journal line. This module closes those holes:

* **Owner of each trial**: `OwnedJournalStorage` and `OwnedRDBStorage` create every new trial with
  the system attribute ``costbt:owner`` = ``{"host", "pid", "started"}`` (``started``: boot id and
  start time of the process from ``/proc``, so a reused pid is not mistaken for the owner), in the
  same write as the trial itself: there is no moment when a RUNNING trial has no owner.
* **Dead owners**: `fail_dead_trials` (called at the start of every run) marks FAIL each RUNNING
  trial whose owner ran on this host and no longer exists (a zombie counts as gone); the reason is
  kept in the system attribute ``costbt:stale``. Trials of other hosts are left to the heartbeat.
* **Heartbeat** (PostgreSQL and MySQL): `open_rdb` enables Optuna's heartbeat (a thread records
  each running trial every `HEARTBEAT_INTERVAL` s); a trial silent for `HEARTBEAT_GRACE` s is
  failed by `optuna.storages.fail_stale_trials`, which every worker runs before each trial and
  `fail_dead_trials` runs at the start. That covers workers on other machines.
* **Journal lock**: `FlockLock` takes the journal's lock with ``flock(2)``, which the kernel
  releases when its holder dies, so a killed writer never leaves the lock held. Under the lock a
  journal that does not end with a newline (a writer killed in the middle of an append, never
  acknowledged) is cut back to its last complete line before the next append.
* **Damaged journals** (`check_journal`, run by `open_journal`): a journal that is not Optuna's
  (random bytes, a line that is not a journal record, one Optuna cannot replay) is a
  `costbt.data.errors.DataError` naming the file, raised before anything is appended: nothing
  is ever written after a line that cannot be read, and an unterminated last line is cut only
  when it is the start of a record.
* **Failed appends** (a full disk, a quota): the journal is cut back to where the append began
  (no half record) and the ``OSError`` names the journal.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import os
import random
import socket
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import RDBStorage
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.trial import FrozenTrial, TrialState

from costbt.data.errors import DataError

#: System attribute of every trial: the process that runs it.
OWNER_ATTR = "costbt:owner"
#: System attribute of a trial failed because its worker was gone: why.
STALE_ATTR = "costbt:stale"
#: Seconds between two heartbeats of a running trial (database storages).
HEARTBEAT_INTERVAL = 10
#: Seconds without a heartbeat after which a running trial is failed. Generous: a trial on the
#: vectorbt path can hold the GIL for seconds, delaying its heartbeat thread.
HEARTBEAT_GRACE = 60
#: Seconds between two fsyncs of a journal file (`GroupCommitJournal`).
FSYNC_INTERVAL = 1.0
#: Database schemes that get the heartbeat (SQLite is one machine: the owner check is enough).
HEARTBEAT_SCHEMES = ("postgresql", "mysql")


# ----------------------------------------------------------------------------- processes


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _proc_stat(pid: int) -> tuple[str, str] | None:
    """(state, start time) of a process from ``/proc/<pid>/stat``; None when there is none."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses; split after the last ')'.
    fields = raw[raw.rfind(")") + 2 :].split()
    if len(fields) < 20:
        return None
    return fields[0], fields[19]  # fields 3 and 22 of proc(5)


_THIS: dict[int, dict[str, Any]] = {}  # by pid: a forked child computes its own


def this_process() -> dict[str, Any]:
    """The owner record of the calling process."""
    pid = os.getpid()
    if pid not in _THIS:
        stat = _proc_stat(pid)
        _THIS[pid] = {
            "host": socket.gethostname(),
            "pid": pid,
            "started": None if stat is None else f"{_boot_id()}:{stat[1]}",
        }
    return dict(_THIS[pid])


def owner_alive(owner: Any) -> bool | None:
    """Whether the process in an owner record still runs: None when this host cannot tell."""
    if not isinstance(owner, dict) or owner.get("host") != socket.gethostname():
        return None
    pid = owner.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return None
    stat = _proc_stat(pid)
    if stat is None:
        if Path("/proc/self/stat").exists():
            return False  # /proc works and has no such process
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    state, start = stat
    if state in ("Z", "X"):  # killed, not yet reaped by its parent
        return False
    recorded = owner.get("started")
    return recorded is None or recorded == f"{_boot_id()}:{start}"


def running_template() -> FrozenTrial:
    """A new RUNNING trial owned by the calling process (the template of every created trial)."""
    return FrozenTrial(
        number=-1,
        state=TrialState.RUNNING,
        value=None,
        datetime_start=datetime.now(),
        datetime_complete=None,
        params={},
        distributions={},
        user_attrs={},
        system_attrs={OWNER_ATTR: this_process()},
        intermediate_values={},
        trial_id=-1,
    )


# ----------------------------------------------------------------------------- storages


class FlockLock:
    """The journal's lock as ``flock(2)`` on ``<journal>.flock``: freed by the kernel on death.

    Has the ``acquire``/``release`` interface of Optuna's journal file locks (whose base class
    is not public). For one machine (a local disk); over NFS use a database instead.
    """

    def __init__(self, journal: str) -> None:
        self._journal = journal
        self._path = journal + ".flock"
        self._fd: int | None = None

    def acquire(self) -> bool:
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            _cut_partial_line(self._journal)
        except BaseException:
            os.close(fd)  # closing drops the lock
            raise
        self._fd = fd
        return True

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


def _cut_partial_line(path: str) -> None:
    """Drop an unterminated last line (its writer died in the middle of an append)."""
    with contextlib.suppress(FileNotFoundError), open(path, "rb+") as f:
        end = f.seek(0, os.SEEK_END)
        if end == 0:
            return
        f.seek(end - 1)
        if f.read(1) == b"\n":
            return
        pos = end
        while pos > 0:
            step = min(65536, pos)
            f.seek(pos - step)
            chunk = f.read(step)
            nl = chunk.rfind(b"\n")
            if nl >= 0:
                f.truncate(pos - step + nl + 1)
                return
            pos -= step
        f.truncate(0)


class GroupCommitJournal(JournalFileBackend):
    """Optuna's journal file, synced to disk at most every `FSYNC_INTERVAL` seconds.

    Optuna fsyncs after every append: about ten per trial, and with two workers on one journal
    each waits for the other's fsync under the lock (measured: 7 s of a 27 s two-worker run).
    Here every append is still written and flushed to the operating system under the lock
    (another process reads it at once, and a killed process loses nothing), but the fsync to
    the disk is batched: at most one per `FSYNC_INTERVAL` s, and one when the process exits. A
    power cut or kernel crash can lose the last second of trials, never more; the partial-line
    cut of `FlockLock` keeps the journal readable either way.
    """

    def __init__(self, file_path: str, lock_obj: FlockLock) -> None:
        super().__init__(file_path, lock_obj)
        self._path = file_path
        self._flock = lock_obj
        self._last_sync = time.monotonic()
        self._dirty = False
        atexit.register(self.sync)

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        text = "\n".join(json.dumps(log, separators=(",", ":")) for log in logs) + "\n"
        payload = memoryview(text.encode("utf-8"))
        self._flock.acquire()
        try:
            fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
            try:
                end = os.lseek(fd, 0, os.SEEK_END)
                try:
                    while payload:
                        payload = payload[os.write(fd, payload) :]
                    if time.monotonic() - self._last_sync >= FSYNC_INTERVAL:
                        os.fsync(fd)
                        self._last_sync = time.monotonic()
                        self._dirty = False
                    else:
                        self._dirty = True
                except OSError as exc:
                    # Not appended: the journal as it was (no half record), the error named.
                    with contextlib.suppress(OSError):
                        os.ftruncate(fd, end)
                    raise OSError(exc.errno, exc.strerror or str(exc), self._path) from exc
            finally:
                os.close(fd)
        finally:
            self._flock.release()

    def sync(self) -> None:
        """fsync what this process appended since the last sync (also run at exit)."""
        if not self._dirty:
            return
        with contextlib.suppress(OSError), open(self._path, "rb") as f:
            os.fsync(f.fileno())
        self._dirty = False
        self._last_sync = time.monotonic()


class OwnedJournalStorage(JournalStorage):
    """A journal storage whose new trials record their owner (`OWNER_ATTR`)."""

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        if template_trial is None:
            template_trial = running_template()
        return super().create_new_trial(study_id, template_trial)


class OwnedRDBStorage(RDBStorage):
    """A database storage whose new trials record their owner (`OWNER_ATTR`).

    ``_create_new_trial`` is what both ``create_new_trial`` and Optuna's cache layer call.
    """

    def _create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None):
        if template_trial is None:
            template_trial = running_template()
        return super()._create_new_trial(study_id, template_trial)


class StaleLog:
    """Heartbeat-stale callback: remembers the numbers of the trials Optuna failed."""

    def __init__(self) -> None:
        self.numbers: list[int] = []

    def __call__(self, study, trial: FrozenTrial) -> None:
        self.numbers.append(trial.number)


#: How every journal record starts (Optuna writes ``op_code`` first, compact): an unterminated
#: last line that starts so is an append cut short; anything else is damage.
RECORD_START = b'{"op_code":'


def _damaged(path: Path, what: str) -> DataError:
    return DataError(
        f"the Optuna journal is damaged ({what}); nothing was added to it: move it away (or "
        "restore a copy) and run again",
        path=path,
    )


def check_journal(path: str | Path) -> None:
    """Refuse a journal that is not a whole Optuna journal: a `DataError` naming it.

    Every complete line must be a JSON object with an integer ``op_code`` (Optuna itself
    silently skips a bad last line and then appends after it, so the file could never be read
    again); an unterminated last line must be the start of a record (a killed writer's, cut
    before the next append; random bytes would be cut away whole).
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            for number, line in enumerate(f, start=1):
                if not line.endswith(b"\n"):
                    if not line.startswith(RECORD_START[: len(line)]):
                        raise _damaged(path, f"line {number} is not a journal record")
                    break
                try:
                    record = json.loads(line)
                except ValueError:
                    raise _damaged(path, f"line {number} is not JSON") from None
                if not isinstance(record, dict) or type(record.get("op_code")) is not int:
                    raise _damaged(path, f"line {number} is not a journal record")
    except FileNotFoundError:
        return
    except IsADirectoryError:
        raise _damaged(path, "it is a folder") from None


def open_journal(path: str | Path) -> OwnedJournalStorage:
    """The journal storage at ``path`` (created when missing), checked first (`check_journal`):
    a damaged journal is a `DataError` naming it and is left as it is."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    check_journal(path)
    try:  # opening replays every record: one Optuna cannot apply is damage too
        return OwnedJournalStorage(GroupCommitJournal(str(path), lock_obj=FlockLock(str(path))))
    except OSError:
        raise
    except Exception as exc:  # noqa: BLE001 - Optuna's replay fails in many ways on bad records
        raise _damaged(
            path, f"Optuna cannot replay it: {type(exc).__name__}: {exc}"[:300]
        ) from None


def open_rdb(url: str, attempts: int = 6) -> OwnedRDBStorage:
    """A database storage; PostgreSQL and MySQL with the heartbeat.

    Opening creates Optuna's tables when the database has none. Two processes doing that at once
    on a new database (workers on several machines started together) collide: the DDL of one
    fails on a table or type the other has just created. Opening is then retried; once the
    winner's transaction is committed the schema is there and the retry only checks it.
    """
    import sqlalchemy.exc

    scheme = url.split("://", 1)[0].split("+", 1)[0].lower()
    kwargs: dict[str, Any] = {}
    if scheme in HEARTBEAT_SCHEMES:
        kwargs = {
            "engine_kwargs": {"pool_pre_ping": True},
            "heartbeat_interval": HEARTBEAT_INTERVAL,
            "grace_period": HEARTBEAT_GRACE,
            "heartbeat_stale_trial_callback": StaleLog(),
        }
    for attempt in range(1, attempts + 1):
        try:
            return OwnedRDBStorage(url, **kwargs)
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
            if attempt == attempts:
                raise
            time.sleep(0.1 * attempt + random.random() * 0.1)
    raise AssertionError("unreachable")


# ----------------------------------------------------------------------------- stale trials


def fail_dead_trials(study) -> list[int]:
    """Mark FAIL the RUNNING trials whose worker is gone; their numbers, sorted.

    Two checks: the owner recorded on the trial ran on this host and no longer exists; or
    (heartbeat storages) the trial's heartbeat is older than the grace period.
    """
    # Optuna has no public API to change another process's trial: use the study's storage (as
    # optuna.storages.fail_stale_trials does) and the frozen trials' ids.
    storage = study._storage
    failed: list[int] = []
    if getattr(storage, "get_heartbeat_interval", lambda: None)() is not None:
        log = storage.get_heartbeat_stale_trial_callback()
        optuna.storages.fail_stale_trials(study)
        if isinstance(log, StaleLog):
            failed += log.numbers
            log.numbers.clear()
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = t.system_attrs.get(OWNER_ATTR)
        if owner_alive(owner) is not False:
            continue
        reason = f"worker {owner.get('host')}:{owner.get('pid')} was gone"
        try:
            storage.set_trial_system_attr(t._trial_id, STALE_ATTR, reason)
            if storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL):
                failed.append(t.number)
        except UpdateFinishedTrialError:
            continue  # another run failed it first
    return sorted(set(failed))


__all__ = [
    "HEARTBEAT_GRACE",
    "HEARTBEAT_INTERVAL",
    "OWNER_ATTR",
    "STALE_ATTR",
    "FlockLock",
    "check_journal",
    "GroupCommitJournal",
    "OwnedJournalStorage",
    "OwnedRDBStorage",
    "fail_dead_trials",
    "open_journal",
    "open_rdb",
    "owner_alive",
    "this_process",
]
