"""The trial ledger: every configuration ever evaluated for a strategy (sweeps, studies, ...).

The deflated Sharpe ratio needs N, the number of configurations tried; the ledger is where it
comes from. One JSON file (``<cache dir>/ledger.json``), appended atomically: each entry records
the strategy, what evaluated it (``sweep``), how many configurations, when, and where the results
are. `trials(strategy)` sums them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from data.cache import atomic_write_bytes, cache_dir

LEDGER = "ledger.json"


def ledger_path(root: str | Path | None = None) -> Path:
    return cache_dir(root) / LEDGER


def entries(root: str | Path | None = None) -> list[dict]:
    path = ledger_path(root)
    if not path.exists():
        return []
    data = json.loads(path.read_text(encoding="utf-8"))
    return list(data.get("entries", []))


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
    all_entries = [*entries(root), entry]
    payload = json.dumps({"entries": all_entries}, indent=2, default=str) + "\n"
    atomic_write_bytes(ledger_path(root), payload.encode("utf-8"))
    return entry


def trials(strategy: str, root: str | Path | None = None) -> int:
    """Total configurations ever evaluated for ``strategy``."""
    return sum(int(e["configurations"]) for e in entries(root) if e["strategy"] == strategy)
