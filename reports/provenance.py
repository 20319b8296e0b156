"""Where a report came from: costbt version, git commit, data manifest hash, seed.

`collect()` reads what can be known at report time; `merged()` lays the run's own record
(``BacktestResult.provenance``, written by the engine when it ran) over it, so a value the run
recorded always wins and report-time values only fill gaps. Nothing here fails: a missing git, a
checkout that is not a repository or an unreadable manifest give ``"unknown"``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from costbt.backtest.provenance import record

MANIFEST_KEY = "data_manifest_sha256"
# Other names a run may use for the same facts.
ALIASES = {"data_manifest_hash": MANIFEST_KEY, "commit": "git_commit", "version": "costbt_version"}
# Shown first, in this order; any other recorded keys follow alphabetically.
KEY_ORDER = (
    "costbt_version",
    "git_commit",
    "git_dirty",
    MANIFEST_KEY,
    "seed",
    "command",
    "run_at",
    "report_generated_at",
)
# Shown elsewhere in the report (the configuration block), not in the provenance table.
NOT_IN_TABLE = frozenset({"config"})


def collect() -> dict[str, str]:
    """Provenance known at report time."""
    return record(report_generated_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))


def merged(recorded: dict, config: dict | None = None) -> dict:
    """The provenance table: the run's record over report-time values, in `KEY_ORDER`.

    Aliases are folded (``data_manifest_hash`` is shown as ``data_manifest_sha256``), ``config``
    is left out (the report prints it in full elsewhere), and the seed falls back to
    ``config["seed"]``, then ``config["engine"]["seed"]``, then ``"not recorded"``.
    """
    run = {ALIASES.get(k, k): v for k, v in recorded.items() if k not in NOT_IN_TABLE}
    values: dict = collect() | run
    if "seed" not in values:
        cfg = config or {}
        engine = cfg.get("engine") if isinstance(cfg.get("engine"), dict) else {}
        values["seed"] = cfg.get("seed", engine.get("seed", "not recorded"))
    head = [k for k in KEY_ORDER if k in values]
    tail = sorted((k for k in values if k not in KEY_ORDER), key=str)
    return {k: values[k] for k in head + tail}
