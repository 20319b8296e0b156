"""The trial ledger: every configuration ever evaluated for a strategy, on each dataset.

The deflated Sharpe ratio needs N, the number of configurations tried for a strategy on the same
data; the ledger is where it comes from. `trials(strategy, data)` sums them; ``data`` is the
`data_key` of the panel (a hash of ``panel.attrs["provenance"]``: the bundle's manifest hash and
any cached downloads overlaid on it), so configurations tried on other data do not count.

**Where.** ``<home>/ledger.json``: ``home`` is ``$COSTBT_HOME`` when set, else the user's data
folder (``platformdirs.user_data_dir("costbt")``, e.g. ``~/.local/share/costbt``); never the
package, the repository or the download cache (``--cache-dir`` does not move it). One JSON
document (``{"format": "costbt-ledger/2", "entries": [...]}``) rewritten atomically
(`data.atomic_files.write_bytes`) under an exclusive ``flock`` on ``ledger.json.lock``, so
concurrent writers lose nothing. A file that cannot be read, or a ledger of the older format
(before per-data counts, kept in ``<cache dir>/ledger.json``; not migrated), is a `DataError`
naming the file, which is never overwritten; `check` refuses it before a run does any work. A
full disk is an ``OSError`` naming the file (the ledger as it was). A killed writer's temporary
file is removed at the next write (`data.atomic_files.remove_stale_temporaries`: its process
gone, or older than ten minutes).

**Entries are runs counted from their source of truth**, so every evaluated configuration counts
once, whatever kills the process or however often a run is resumed:

* ``tune``: one entry per Optuna study (its identity: a uuid in the study's user attribute
  `STUDY_ATTR`, set at its first run, plus the storage and study name). Its count is SET to the
  study's COMPLETE trials (feasible or not; FAIL trials were not evaluated to the end) at the
  start of every run, at its end, and at any later read if the run's process died.
* ``sweep``: one entry per sweep (a uuid in ``sweep_state.json``, kept by ``--resume``); its
  count is SET to the combinations of the chunks marked done, after each chunk, and from the
  state file at any later read if the sweep's process died. Resuming a finished sweep adds
  nothing; a new sweep into the same folder is a new sweep and counts.
* ``walkforward``: one entry per run; its completed trials (in in-memory studies) are counted in
  ``<home>/runs/<id>.count`` (8 bytes rewritten after every completed trial: a killed process's
  writes survive it), folded into the entry when the run ends or, if its process died, at the
  next read. A finished run also records its stitched out-of-sample Sharpe ratio and days
  (`walkforward_runs`).
* ``attribution``: one finished entry per run (`record`): its variants (`backtest.attribution`),
  all evaluated before it is written.

While a run is active its entry is ``running`` with its owner (host, pid, process start time:
`backtest.tuning_storage.this_process`). Every read (`trials`, `summary`, `costbt ledger`)
first reconciles the running entries whose owner is dead on this host, or is the calling
process, from their source (`reconcile`); an unreachable source keeps the last count and marks
the entry ``stale``. `reset` stops a strategy's entries counting (they stay in the file, marked
``reset_at``) and records itself.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import getpass
import hashlib
import json
import os
import struct
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from costbt.data import atomic_files
from costbt.data.errors import DataError
from costbt.data.user_dirs import ENV_HOME, home

LEDGER = "ledger.json"
FORMAT = "costbt-ledger/2"
#: Kinds of entries that count configurations (a ``reset`` entry counts none).
KINDS = ("sweep", "tune", "walkforward", "attribution")
RESET = "reset"
#: The study user attribute holding the study's ledger identity.
STUDY_ATTR = "ledger_id"
#: Seconds between two saves of a running walk-forward entry's count (its counter file is exact).
SAVE_EVERY = 2.0
_CORE = (
    "id",
    "kind",
    "strategy",
    "data",
    "data_label",
    "configurations",
    "count",
    "offset",
    "status",
    "owners",
    "started_at",
    "updated_at",
)


class LedgerError(DataError):
    """A request the ledger cannot honour: nothing to reset, a study continued on other data."""


# ----------------------------------------------------------------------------- location


def ledger_path() -> Path:
    return home() / LEDGER


def _counter_path(ident: str) -> Path:
    return home() / "runs" / f"{ident}.count"


# ----------------------------------------------------------------------------- data


@dataclass(frozen=True)
class DataRef:
    """The data a run evaluated: ``key`` (16 hex digits, `data_key`) and a human ``label``."""

    key: str
    label: str

    def __post_init__(self) -> None:
        if len(self.key) != 16 or any(c not in "0123456789abcdef" for c in self.key):
            raise ValueError(f"data key '{self.key}' is not 16 lowercase hex digits")
        if not self.label.strip():
            raise ValueError("empty data label")


def _digest(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()[:16]


def data_ref(panel) -> DataRef:
    """The `DataRef` of a panel, from ``panel.attrs["provenance"]`` (`data.load_panel`).

    key: sha256 (first 16 hex digits) of the provenance as JSON with sorted keys; label: the
    bundle manifest hash prefix, ``+cache`` when cached downloads were overlaid. A panel without
    provenance (built by hand) is keyed by a hash of its contents.
    """
    prov = panel.attrs.get("provenance")
    if isinstance(prov, dict) and prov:
        key = _digest(json.dumps(prov, sort_keys=True, default=str).encode())
        manifest = str(prov.get("bundle_manifest_sha256") or "?")[:12]
        return DataRef(key, f"bundle {manifest}" + ("+cache" if prov.get("cache") else ""))
    import pandas as pd

    h = hashlib.sha256(repr(list(panel.columns)).encode())
    h.update(pd.util.hash_pandas_object(panel, index=True).to_numpy().tobytes())
    key = h.hexdigest()[:16]
    return DataRef(key, f"panel {key[:12]} (no provenance)")


def data_key(panel) -> str:
    """The ledger key of the data in ``panel`` (`data_ref`)."""
    return data_ref(panel).key


# ----------------------------------------------------------------------------- the file


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _load(path: Path) -> list[dict]:
    if not path.exists():
        return []
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(
            f"the trial ledger cannot be read ({exc}); fix or move it", path=path
        ) from None
    if isinstance(doc, dict) and "format" not in doc and "entries" in doc:
        raise DataError(
            "a trial ledger of an older format (before per-data counts); it is not migrated: "
            "move it away",
            path=path,
        )
    found = doc.get("entries") if isinstance(doc, dict) else None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(found, list):
        raise DataError(
            f"not a costbt trial ledger (expected format '{FORMAT}'); fix or move it", path=path
        )
    for i, e in enumerate(found):
        if not _well_formed(e):
            raise DataError(f"the trial ledger's entry {i} is malformed; fix or move it", path=path)
    return found


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _well_formed(e: Any) -> bool:
    """Whether ``e`` is an entry every reader and writer can use (a wrong shape is refused
    whole: the ledger is then never rewritten, `_load`)."""
    if not isinstance(e, dict):
        return False
    texts = ("id", "strategy", "kind", "started_at", "updated_at")
    if not all(isinstance(e.get(k), str) for k in texts):
        return False
    if e["kind"] == RESET:
        return True
    if e["kind"] not in KINDS or not isinstance(e.get("data"), str):
        return False
    if not _whole(e.get("configurations")):
        return False
    if not all(_whole(e[k]) for k in ("count", "offset") if k in e):
        return False
    if not isinstance(e.get("status", ""), str) or not isinstance(e.get("data_label", ""), str):
        return False
    owners = e.get("owners", [])
    return isinstance(owners, list) and all(isinstance(o, dict) for o in owners)


@contextlib.contextmanager
def _editing() -> Iterator[list[dict]]:
    """The entries under the ledger's lock; saved (atomically) if changed."""
    path = ledger_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise _unwritable(path, exc) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        found = _load(path)
        before = json.dumps(found, default=str)
        yield found
        if json.dumps(found, default=str) != before or not path.exists():
            lines = ",\n".join(json.dumps(e, default=str) for e in found)  # an entry a line
            payload = f'{{"format": "{FORMAT}", "entries": [\n{lines}\n]}}\n'
            # Every writer holds the lock while it writes: a temporary file seen now is a
            # killed writer's (as large as the ledger). Removed first: it may be what fills the disk.
            atomic_files.remove_stale_temporaries(path)
            try:
                atomic_files.write_bytes(path, payload.encode("utf-8"))
            except OSError as exc:
                raise _unwritable(path, exc) from None
    finally:
        os.close(fd)  # closing releases the lock


def _unwritable(path: Path, exc: OSError) -> Exception:
    """The error of a ledger that cannot be written: a full disk or quota stays an ``OSError``
    naming the file (the environment failed: exit 1, the ledger as it was); anything else (a
    folder that cannot be written, ...) a `DataError` saying where to put the ledger."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return OSError(exc.errno, exc.strerror or str(exc), str(path))
    return DataError(
        f"the trial ledger cannot be written ({exc.strerror or exc}); set {ENV_HOME} to a "
        "writable folder",
        path=path,
    )


def entries() -> list[dict]:
    """Every entry as stored (no reconciliation), oldest first."""
    return list(_load(ledger_path()))


def check() -> None:
    """Refuse, before a run does any work, a ledger it could not record in: a `DataError`
    naming the file when it cannot be read or is not a well-formed ledger."""
    _load(ledger_path())


# ----------------------------------------------------------------------------- owners


def _me() -> dict:
    from costbt.backtest.tuning_storage import this_process

    return this_process()


def _dead(owner: dict) -> bool:
    from costbt.backtest.tuning_storage import owner_alive

    return owner_alive(owner) is False


def _needs_refresh(e: dict) -> bool:
    if e.get("status") != "running" or "reset_at" in e:
        return False
    me = _me()
    return any(o == me or _dead(o) for o in e.get("owners", []))


# ----------------------------------------------------------------------------- entries


def _set_count(e: dict, n: int) -> None:
    e["count"] = int(n)
    e["configurations"] = max(0, int(n) - int(e.get("offset", 0)))
    e["updated_at"] = _now()


def _new(kind: str, ident: str, strategy: str, data: DataRef, details: dict | None) -> dict:
    clash = sorted(set(details or {}) & set(_CORE))
    if clash:
        raise ValueError(f"ledger details may not set {', '.join(clash)}")
    now = _now()
    return {
        "id": ident,
        "kind": kind,
        "strategy": strategy,
        "data": data.key,
        "data_label": data.label,
        "configurations": 0,
        "count": 0,
        "offset": 0,
        "status": "running",
        "owners": [],
        "started_at": now,
        "updated_at": now,
        **(details or {}),
    }


def _successor(old: dict) -> dict:
    """A reset entry's continuation: counts only what its source adds after the reset."""
    e = {k: v for k, v in old.items() if k != "reset_at"}
    e.update(offset=int(old.get("count", 0)), started_at=_now(), continues=old.get("started_at"))
    _set_count(e, e["offset"])
    return e


def _current(found: list[dict], kind: str, ident: str, make) -> dict:
    """The counting entry of a run (created, or continued after a reset)."""
    for e in reversed(found):
        if e.get("id") == ident and e.get("kind") == kind:
            if "reset_at" not in e:
                return e
            succ = _successor(e)
            found.append(succ)
            return succ
    e = make()
    found.append(e)
    return e


def _drop_owner(e: dict, owner: dict) -> None:
    e["owners"] = [o for o in e.get("owners", []) if o != owner]


def _settle(e: dict, idle: str = "done") -> None:
    """Drop dead owners; an entry with no owner left is no longer running."""
    e["owners"] = [o for o in e.get("owners", []) if not _dead(o)]
    if not e["owners"] and e.get("status") == "running":
        e["status"] = idle


def _counted(e: dict) -> bool:
    return e.get("kind") in KINDS and "reset_at" not in e


# ----------------------------------------------------------------------------- sources


def _storage_ref(spec: str) -> str:
    """Where a study is, for a later reconciliation from any folder: a journal file or SQLite
    database as an absolute path; a database URL without its password (libpq and MySQL clients
    can take it from the environment or their password files)."""
    if "://" not in spec:
        return str(Path(spec).resolve())
    try:
        from sqlalchemy.engine import URL, make_url

        url = make_url(spec)
        database = url.database
        if url.get_backend_name() == "sqlite" and database not in (None, "", ":memory:"):
            database = str(Path(database).resolve())
        bare = URL.create(  # no password (URL.set cannot remove one)
            url.drivername,
            username=url.username,
            host=url.host,
            port=url.port,
            database=database,
            query={k: v for k, v in url.query.items() if k.lower() != "password"},
        )
        return bare.render_as_string(hide_password=False)
    except Exception:
        return spec.split("://", 1)[0] + "://..."


def _count_study(study) -> tuple[int, int]:
    """(COMPLETE, FAIL) trials of a study."""
    from optuna.trial import TrialState

    states = (TrialState.COMPLETE, TrialState.FAIL)
    trials = study.get_trials(deepcopy=False, states=states)
    done = sum(1 for t in trials if t.state == TrialState.COMPLETE)
    return done, len(trials) - done


def _open_study(spec: str, name: str):
    """The study at ``spec`` (redacted: a password comes from the environment), or a reason."""
    import optuna

    from costbt.backtest import tuning

    tuning.quiet_optuna()
    scheme = spec.split("://", 1)[0].split("+", 1)[0].lower() if "://" in spec else ""
    try:
        if not scheme:
            if not Path(spec).is_file():
                return None, f"journal {spec} is gone"
            storage = tuning.open_storage(spec)
        else:
            if scheme == "sqlite":
                db = spec.split(":///", 1)[-1]
                if not Path(db).is_file():
                    return None, f"database {db} is gone"
            kwargs: dict[str, Any] = {"skip_table_creation": True}
            if scheme in ("postgresql", "mysql"):
                kwargs["engine_kwargs"] = {"connect_args": {"connect_timeout": 5}}
            storage = optuna.storages.RDBStorage(spec, **kwargs)
        return optuna.load_study(study_name=name, storage=storage), ""
    except KeyError:
        return None, f"study '{name}' is not in {spec}"
    except Exception as exc:  # an unreachable database, a broken file
        return None, f"{spec}: {type(exc).__name__}: {str(exc)[:200]}"


def _refresh_tune(e: dict) -> None:
    study, why = _open_study(e.get("storage", ""), e.get("study", ""))
    if study is not None and study.user_attrs.get(STUDY_ATTR) != e["id"]:
        study, why = None, f"study '{e.get('study')}' in {e.get('storage')} is another study now"
    if study is None:
        e["stale_reason"] = why
        _settle(e, idle="stale")
        return
    done, failed = _count_study(study)
    _set_count(e, done)
    e["failed"] = failed
    e.pop("stale_reason", None)
    _settle(e)


def _refresh_sweep(e: dict) -> None:
    from costbt.backtest.sweep import done_combinations

    path = Path(e.get("state", ""))
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        if state.get("ledger_id") != e["id"]:
            raise ValueError("another sweep is there now")
        n = done_combinations(state)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        e["stale_reason"] = f"{path}: {exc}"
        _settle(e, idle="stale")
        return
    _set_count(e, n)
    e["complete"] = state.get("status") == "complete"
    e.pop("stale_reason", None)
    _settle(e)


def _read_counter(path: Path) -> int | None:
    try:
        raw = path.read_bytes()
    except OSError:
        return None
    return struct.unpack("<q", raw[:8])[0] if len(raw) >= 8 else None


def _refresh_walkforward(e: dict) -> None:
    path = Path(e.get("counter", ""))
    n = _read_counter(path)
    if n is not None:
        _set_count(e, n)
    _settle(e, idle="incomplete")  # its process ended without the out-of-sample record
    if e.get("status") != "running":
        with contextlib.suppress(OSError):
            path.unlink()


_REFRESH = {"tune": _refresh_tune, "sweep": _refresh_sweep, "walkforward": _refresh_walkforward}


def reconcile() -> int:
    """Refresh the running entries whose owner is dead (or is this process); how many."""
    if not any(_needs_refresh(e) for e in entries()):
        return 0
    n = 0
    with _editing() as found:
        for e in found:
            if _needs_refresh(e) and e["kind"] in _REFRESH:
                _REFRESH[e["kind"]](e)
                n += 1
    return n


# ----------------------------------------------------------------------------- reading


def _check_key(data: str) -> None:
    if not isinstance(data, str):
        raise TypeError(f"the ledger needs a data key (ledger.data_key(panel)), not {data!r}")


def trials(strategy: str, data: str) -> int:
    """Configurations evaluated for ``strategy`` on ``data`` (a `data_key`), since any reset."""
    _check_key(data)
    reconcile()
    return sum(
        int(e["configurations"])
        for e in entries()
        if _counted(e) and e["strategy"] == strategy and e.get("data") == data
    )


def walkforward_runs(strategy: str, data: str) -> list[dict]:
    """The finished walk-forward runs of ``strategy`` on ``data`` since any reset, oldest first.

    Each: ``id``, ``oos_sharpe`` (annual; None when undefined), ``oos_days``, ``trials``,
    ``when`` (UTC, ISO). A run that did not finish (killed, interrupted) has no out-of-sample
    record and is not listed; its trials count in `trials`.
    """
    _check_key(data)
    reconcile()
    runs = [
        {
            "id": e["id"],
            "oos_sharpe": e.get("oos_sharpe"),
            "oos_days": int(e.get("oos_days", 0)),
            "trials": int(e["configurations"]),
            "when": e.get("finished_at", e["updated_at"]),
        }
        for e in entries()
        if _counted(e)
        and e["kind"] == "walkforward"
        and e["strategy"] == strategy
        and e.get("data") == data
        and e.get("status") == "done"
    ]
    return sorted(runs, key=lambda r: r["when"])


@dataclass(frozen=True)
class LedgerRow:
    """Counting entries of one strategy, data and kind (`summary`)."""

    strategy: str
    data: str
    data_label: str
    kind: str
    runs: int  # entries: studies, sweeps, walk-forward runs
    running: int  # of which running now
    configurations: int
    first: str  # the earliest start, UTC ISO
    last: str  # the latest update

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown kind '{self.kind}'")
        if self.runs < 1 or not 0 <= self.running <= self.runs or self.configurations < 0:
            raise ValueError("inconsistent ledger row")


def summary(strategy: str | None = None, data: str | None = None) -> list[LedgerRow]:
    """Counts by strategy, data and kind (after `reconcile`), sorted."""
    reconcile()
    groups: dict[tuple[str, str, str], list[dict]] = {}
    for e in entries():
        if not _counted(e):
            continue
        if (strategy is not None and e["strategy"] != strategy) or (
            data is not None and e.get("data") != data
        ):
            continue
        groups.setdefault((e["strategy"], e.get("data", "?"), e["kind"]), []).append(e)
    return [
        LedgerRow(
            strategy=s,
            data=d,
            data_label=group[-1].get("data_label", d),
            kind=k,
            runs=len(group),
            running=sum(e.get("status") == "running" for e in group),
            configurations=sum(int(e["configurations"]) for e in group),
            first=min(e["started_at"] for e in group),
            last=max(e["updated_at"] for e in group),
        )
        for (s, d, k), group in sorted(groups.items())
    ]


def resets(strategy: str | None = None) -> list[dict]:
    """The recorded resets (of ``strategy``), oldest first."""
    return [
        e
        for e in entries()
        if e.get("kind") == RESET and (strategy is None or e["strategy"] == strategy)
    ]


# ----------------------------------------------------------------------------- writing


def record(
    strategy: str, kind: str, configurations: int, data: DataRef, details: dict | None = None
) -> dict:
    """Append one finished evaluation of ``configurations`` (no source to reconcile)."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind '{kind}' (one of {', '.join(KINDS)})")
    if configurations < 0:
        raise ValueError("configurations must not be negative")
    entry = _new(kind, uuid.uuid4().hex, strategy, data, details)
    _set_count(entry, configurations)
    entry["status"] = "done"
    with _editing() as found:
        found.append(entry)
    return entry


def reset(strategy: str, data: str | None = None) -> dict:
    """Stop the entries of ``strategy`` (on ``data``, or all data) counting; the reset entry.

    The entries stay in the file, marked ``reset_at``; a run still active goes on in a new entry
    counting only what it adds after the reset. The reset itself is an entry (kind ``reset``:
    strategy, data, configurations cleared, by whom, when). Raises `LedgerError` when nothing
    counts for ``strategy`` (on ``data``).
    """
    with _editing() as found:
        hit = [
            e
            for e in found
            if _counted(e) and e["strategy"] == strategy and data in (None, e.get("data"))
        ]
        if not hit:
            where = "" if data is None else f" on data {data}"
            raise LedgerError(f"nothing counts for strategy '{strategy}'{where} in the ledger")
        for e in hit:
            if e.get("status") == "running" and e["kind"] in _REFRESH:
                _REFRESH[e["kind"]](e)  # exact counts: the reset clears what was done
        now = _now()
        cleared = sum(int(e["configurations"]) for e in hit)
        for e in hit:
            e["reset_at"] = now
            if e.get("owners"):
                found.append(_successor(e))  # the active run goes on counting there
                e["owners"] = []
                e["status"] = "done"
        entry = {
            "id": uuid.uuid4().hex,
            "kind": RESET,
            "strategy": strategy,
            "data": data,
            "cleared": cleared,
            "entries": len(hit),
            "by": {"user": _user(), **_me()},
            "started_at": now,
            "updated_at": now,
        }
        found.append(entry)
    return entry


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "?"


# ----------------------------------------------------------------------------- tune


class StudyEntry:
    """The ledger entry of an Optuna study while this process runs it (`start_study`)."""

    def __init__(self, study, ident: str, template: dict) -> None:
        self.study = study
        self.id = ident
        self._template = template  # recreates the entry if the ledger was moved away meanwhile

    def finish(self) -> dict:
        """SET the count to the study's COMPLETE trials; this process no longer owns it."""
        with _editing() as found:
            e = _current(found, "tune", self.id, lambda: dict(self._template))
            done, failed = _count_study(self.study)
            _set_count(e, done)
            e["failed"] = failed
            _drop_owner(e, _me())
            _settle(e)
            return dict(e)


def start_study(
    study, *, strategy: str, storage: str, data: DataRef, details: dict | None = None
) -> StudyEntry:
    """Before any trial of a run: SET the study's entry to its COMPLETE trials, own it.

    The study's identity is its user attribute `STUDY_ATTR` (created here, under the ledger's
    lock, so two runs starting together on a new study agree on it).
    """
    with _editing() as found:
        ident = study.user_attrs.get(STUDY_ATTR)
        if not ident:
            ident = uuid.uuid4().hex
            study.set_user_attr(STUDY_ATTR, ident)
        info = {"study": study.study_name, "storage": _storage_ref(storage), **(details or {})}
        template = _new("tune", ident, strategy, data, info)
        e = _current(found, "tune", ident, lambda: dict(template))
        if e["data"] != data.key:  # its COMPLETE trials could not be told apart by data
            raise LedgerError(
                f"study '{study.study_name}' was run on data {e.get('data_label')} "
                f"({e['data']}), not on this data {data.label} ({data.key}): use another study "
                "name",
                path=ledger_path(),
            )
        done, failed = _count_study(study)
        _set_count(e, done)
        e["failed"] = failed
        e["status"] = "running"
        e["owners"] = [o for o in e.get("owners", []) if not _dead(o)] + [_me()]
    return StudyEntry(study, ident, template)


# ----------------------------------------------------------------------------- sweep


class SweepEntry:
    """The ledger entry of a sweep while this process runs it (`start_sweep`)."""

    def __init__(self, ident: str, template: dict) -> None:
        self.id = ident
        self._template = template  # recreates the entry if the ledger was moved away meanwhile

    def _update(self, done: int, complete: bool | None = None, finish: bool = False) -> dict:
        with _editing() as found:
            e = _current(found, "sweep", self.id, lambda: dict(self._template))
            _set_count(e, done)
            if complete is not None:
                e["complete"] = complete
            if finish:
                _drop_owner(e, _me())
                _settle(e)
            return dict(e)

    def update(self, done: int) -> dict:
        """SET the count to ``done`` combinations (after a chunk's state was written)."""
        return self._update(done)

    def finish(self, done: int) -> dict:
        return self._update(done, complete=True, finish=True)


def start_sweep(
    ident: str,
    state_path: Path,
    done: int,
    *,
    strategy: str,
    data: DataRef,
    details: dict | None = None,
) -> SweepEntry:
    """Before any chunk: the entry of sweep ``ident`` (from its state) SET to ``done``, owned."""
    info = {"state": str(Path(state_path).resolve()), "complete": False, **(details or {})}
    template = _new("sweep", ident, strategy, data, info)
    with _editing() as found:
        e = _current(found, "sweep", ident, lambda: dict(template))
        _set_count(e, done)
        e["status"] = "running"
        e["owners"] = [o for o in e.get("owners", []) if not _dead(o)] + [_me()]
    return SweepEntry(ident, template)


# ----------------------------------------------------------------------------- walk-forward


class WalkForwardEntry:
    """The ledger entry of a walk-forward run (`start_walkforward`).

    Call it as an Optuna callback after every trial: a COMPLETE trial is counted in the run's
    counter file at once, and in the ledger at most every `SAVE_EVERY` seconds and at `finish`.
    """

    def __init__(self, ident: str, counter: Path, template: dict) -> None:
        self.id = ident
        self.counter = counter
        self._template = template  # recreates the entry if the ledger was moved away meanwhile
        self.completed = 0
        self._fd: int | None = os.open(counter, os.O_RDWR | os.O_CREAT, 0o644)
        os.pwrite(self._fd, struct.pack("<q", 0), 0)
        self._saved = time.monotonic()

    def __call__(self, _study, trial) -> None:
        from optuna.trial import TrialState

        if trial.state != TrialState.COMPLETE:
            return
        self.completed += 1
        if self._fd is not None:
            os.pwrite(self._fd, struct.pack("<q", self.completed), 0)
        if time.monotonic() - self._saved >= SAVE_EVERY:
            self._saved = time.monotonic()
            with _editing() as found:
                e = _current(found, "walkforward", self.id, lambda: dict(self._template))
                _set_count(e, self.completed)

    def finish(self, oos_sharpe: float | None, oos_days: int, **details) -> dict:
        """The run ended: its trials, stitched OOS Sharpe (annual) and days; the counter goes."""
        import math

        sharpe = None if oos_sharpe is None or not math.isfinite(oos_sharpe) else oos_sharpe
        with _editing() as found:
            e = _current(found, "walkforward", self.id, lambda: dict(self._template))
            _set_count(e, self.completed)
            e.update(details, oos_sharpe=sharpe, oos_days=int(oos_days), finished_at=_now())
            _drop_owner(e, _me())
            _settle(e)
            e["status"] = "done" if not e["owners"] else e["status"]
            result = dict(e)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        with contextlib.suppress(OSError):
            self.counter.unlink()
        return result


def start_walkforward(
    *, strategy: str, data: DataRef, details: dict | None = None
) -> WalkForwardEntry:
    """Before any trial: a new walk-forward entry (count 0, owned) and its counter file."""
    ident = uuid.uuid4().hex
    counter = _counter_path(ident)
    try:
        counter.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _unwritable(counter.parent, exc) from None
    template = _new(
        "walkforward", ident, strategy, data, {"counter": str(counter), **(details or {})}
    )
    template["owners"] = [_me()]
    with _editing() as found:  # first: a ledger that cannot be read leaves no counter behind
        found.append(dict(template))
    return WalkForwardEntry(ident, counter, template)


__all__ = [
    "ENV_HOME",
    "KINDS",
    "STUDY_ATTR",
    "DataRef",
    "LedgerError",
    "LedgerRow",
    "StudyEntry",
    "SweepEntry",
    "WalkForwardEntry",
    "check",
    "data_key",
    "data_ref",
    "entries",
    "home",
    "ledger_path",
    "reconcile",
    "record",
    "reset",
    "resets",
    "start_study",
    "start_sweep",
    "start_walkforward",
    "summary",
    "trials",
    "walkforward_runs",
]
