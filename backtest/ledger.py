"""The trial ledger: every configuration ever evaluated for a strategy (sweeps, studies, ...).

The deflated Sharpe ratio needs N, the number of configurations tried; the ledger is where it
comes from. One JSON file (``<cache dir>/ledger.json``), appended atomically: each entry records
the strategy, what evaluated it (``sweep``, ``tune``, ``walkforward``), how many configurations,
when, and where the results are. `trials(strategy)` sums them.

Several processes may record at once (tuning runs sharing a cache folder): `record` holds an
exclusive ``flock`` on ``ledger.json.lock`` from reading to the atomic replace, so no entry is
lost. A ledger that cannot be read is a `DataError` naming the file, and it is never
overwritten.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from datetime import UTC, datetime
from pathlib import Path

from data.cache import atomic_write_bytes, cache_dir
from data.errors import DataError

LEDGER = "ledger.json"


def ledger_path(root: str | Path | None = None) -> Path:
    return cache_dir(root) / LEDGER


def entries(root: str | Path | None = None) -> list[dict]:
    path = ledger_path(root)
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        found = data["entries"]
        if not isinstance(found, list) or not all(isinstance(e, dict) for e in found):
            raise TypeError("'entries' is not a list of objects")
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise DataError(
            f"the trial ledger cannot be read ({exc}); fix or move it", path=path
        ) from None
    return list(found)


@contextlib.contextmanager
def _locked(root: str | Path | None):
    path = ledger_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def record(
    strategy: str, kind: str, configurations: int, details: dict, root: str | Path | None = None
) -> dict:
    """Append one evaluation to the ledger (atomic rewrite)."""
    entry = {
        "strategy": strategy,
        "kind": kind,
        "configurations": int(configurations),
        "recorded_at": datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        **details,
    }
    with _locked(root):
        all_entries = [*entries(root), entry]
        payload = json.dumps({"entries": all_entries}, indent=2, default=str) + "\n"
        atomic_write_bytes(ledger_path(root), payload.encode("utf-8"))
    return entry


def trials(strategy: str, root: str | Path | None = None) -> int:
    """Total configurations ever evaluated for ``strategy``."""
    return sum(int(e["configurations"]) for e in entries(root) if e["strategy"] == strategy)
