"""The lock that makes ``tune --total N`` exact when several runs share one study.

A run given ``total`` must leave the study with exactly ``total`` finished trials even when other
runs (other commands, other machines on one PostgreSQL) add trials at the same time. Stopping
once the finished count reaches ``total`` (Optuna's ``MaxTrialsCallback``) overshoots: every
process that saw ``total - 1`` has a trial in flight. `TotalGate` closes that race:

1. Before each trial the worker takes the study's gate, a lock shared by every process that
   can reach the storage: ``flock(2)`` on ``<journal or SQLite file>.total-lock`` (one machine),
   ``pg_advisory_lock`` on PostgreSQL, ``GET_LOCK`` on MySQL (every machine of the server).
2. Holding it, the worker counts the study's trials that are finished or RUNNING. At ``total``
   or more it lets go and stops: the running trials will finish and make up the total.
3. Otherwise it keeps the gate while Optuna creates the trial (``study.ask`` inside
   ``study.optimize``) and lets go as the objective starts (`GatedObjective`), so the new
   RUNNING trial is counted by whoever takes the gate next.

A RUNNING trial of a worker that dies counts as taken; the next run marks it failed
(`backtest.tuning_storage.fail_dead_trials`), and a failed trial counts as finished, so the
total stays exact. The lock dies with its holder: the kernel drops a ``flock`` and the server
an advisory lock when the process or its connection goes.
"""

from __future__ import annotations

import fcntl
import os
import zlib
from collections.abc import Callable
from typing import Any

#: Trial states that take a place in the total: finished (`backtest.tuning.FINISHED`) or running.
TAKEN = ("COMPLETE", "FAIL", "PRUNED", "RUNNING")


class TotalGate:
    """The study's gate (see the module docstring); picklable, opened lazily in each process."""

    def __init__(self, spec: str, study_name: str, total: int) -> None:
        self.spec = spec
        self.study_name = study_name
        self.total = int(total)
        self._fd: int | None = None
        self._conn: Any = None
        self._held = False

    def __getstate__(self) -> dict:
        return {"spec": self.spec, "study_name": self.study_name, "total": self.total}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["spec"], state["study_name"], state["total"])

    # -- the lock ------------------------------------------------------------------------------

    def _key(self) -> int:
        """A 31-bit key for the server's named lock (crc32 of the study name)."""
        return zlib.crc32(f"costbt-total:{self.study_name}".encode()) & 0x7FFFFFFF

    def _file(self) -> str | None:
        """The lock file of a journal or SQLite storage; None for a server."""
        if "://" not in self.spec:
            return self.spec + ".total-lock"
        if self.spec.startswith("sqlite:///"):
            return self.spec[len("sqlite:///") :] + ".total-lock"
        return None

    def acquire(self) -> None:
        if self._held:
            return
        path = self._file()
        if path is not None:
            if self._fd is None:
                self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        else:
            from sqlalchemy import text

            conn = self._connection()
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": self._key()})
            elif conn.dialect.name in ("mysql", "mariadb"):
                conn.execute(text("SELECT GET_LOCK(:k, -1)"), {"k": f"costbt-{self._key()}"})
            conn.commit()
        self._held = True

    def release(self) -> None:
        if not self._held:
            return
        self._held = False
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            return
        from sqlalchemy import text

        conn = self._connection()
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key()})
        elif conn.dialect.name in ("mysql", "mariadb"):
            conn.execute(text("SELECT RELEASE_LOCK(:k)"), {"k": f"costbt-{self._key()}"})
        conn.commit()

    def _connection(self):
        if self._conn is None:
            import sqlalchemy

            from costbt.backtest import storage_urls

            engine = sqlalchemy.create_engine(storage_urls.normalise(self.spec))
            self._conn = engine.connect()
        return self._conn

    def close(self) -> None:
        self.release()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- the rule ------------------------------------------------------------------------------

    def room(self, study) -> bool:
        """Take the gate; True (still held) when the study has fewer than ``total`` trials
        finished or running, else let go and False."""
        from optuna.trial import TrialState

        self.acquire()
        try:
            taken = len(study.get_trials(deepcopy=False, states=[TrialState[s] for s in TAKEN]))
        except BaseException:
            self.release()
            raise
        if taken >= self.total:
            self.release()
            return False
        return True


class GatedObjective:
    """An objective that lets go of the gate first: its trial exists (RUNNING) by then."""

    def __init__(self, objective: Callable, gate: TotalGate) -> None:
        self.objective = objective
        self.gate = gate

    def __call__(self, trial) -> float:
        self.gate.release()
        return self.objective(trial)
