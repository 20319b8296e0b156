"""The download cache: one Parquet file per (source, kind, market, timeframe) and a manifest.

Layout: ``<cache>/<source>__<kind>__<market>__<timeframe>.parquet`` plus ``<cache>/manifest.json``.
The cache folder is ``--cache-dir``, else ``$COSTBT_CACHE_DIR``, else ``$COSTBT_HOME/cache``, else
the user's cache folder (`costbt.data.user_dirs.cache_dir`): never inside the package.

Every file is written atomically: bytes to a temporary file in the same folder, flush, fsync,
rename over the target, fsync the folder. A reader therefore sees either the old or the new file,
never half of one, whatever kills the writer. The manifest is rewritten the same way after each
data file, under a lock; if a process dies between the two renames, `Cache.reconcile` rebuilds the
entry from the file itself (the file is always complete), so nothing already written is lost.

Manifest entry per file: source, kind, symbol, timeframe, client and client version, fetched_at
(UTC), first and last row, rows, sha256, plus source-specific fields. Secrets never go in: callers
pass only public parameters, and `write` refuses values that look like the configured API keys.

A damaged cache (a manifest that is no JSON object of entries, an entry that is not an object or
has a field of the wrong type, a folder where the manifest is, a Parquet file cut short or
overwritten: `read_parquet`) is a `DataError` naming the file; `write` reads the manifest before
it replaces anything, so a damaged manifest leaves every file as it was.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from costbt.data import atomic_files
from costbt.data.errors import DataError
from costbt.data.user_dirs import cache_dir

MANIFEST = "manifest.json"
#: Environment variables holding API keys; their values must never reach a written file.
SECRET_ENV_VARS = ("COSTBT_GLASSNODE_API_KEY", "GLASSNODE_API_KEY", "COSTBT_COINMETRICS_API_KEY")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-")


@dataclass(frozen=True)
class SeriesKey:
    """Identifies one cached series.

    Attributes:
        source: provider (``binance``, ``deribit``, ``blockchain_com``, ``coinmetrics``, ...).
        kind: what the rows are (``ohlcv``, ``funding``, ``chart``, ``etf_flows``, ``sopr``, ...).
        market: the symbol or series name (``BTC/USDT``, ``BTC/USDT:USDT``, ``BTC-27DEC24``,
            ``hash-rate``).
        timeframe: candle or sampling period (``1d``, ``8h``), or a snapshot label.
    """

    source: str
    kind: str
    market: str
    timeframe: str

    @property
    def filename(self) -> str:
        parts = (self.source, self.kind, self.market, self.timeframe)
        return "__".join(_slug(p) for p in parts) + ".parquet"


def frame_to_parquet_bytes(frame: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.to_parquet(buf, engine="pyarrow", index=True)
    return buf.getvalue()


def read_parquet(path: str | Path) -> pd.DataFrame:
    """A Parquet file costbt wrote; a `DataError` naming it when it is not one (empty,
    truncated, overwritten with other bytes, a folder)."""
    path = Path(path)
    if path.is_dir():
        raise DataError("is a folder, not a Parquet file; move it away", path=path)
    try:
        return pd.read_parquet(path, engine="pyarrow")
    except (FileNotFoundError, PermissionError):
        raise
    except Exception as exc:  # noqa: BLE001 - any parquet failure is a damaged file
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        text = re.sub(r"^Could not open Parquet input source '.*?': ", "", text)
        raise DataError(
            f"is not a readable Parquet file ({text}); it was damaged after costbt wrote it: "
            "move it away and download or compute it again",
            path=path,
        ) from None


def _span(frame: pd.DataFrame) -> tuple[str | None, str | None]:
    if frame.empty:
        return None, None
    idx = frame.index
    return idx.min().isoformat(), idx.max().isoformat()


def _now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


class Cache:
    """A cache folder with its manifest. Cheap to construct; all state is on disk."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = cache_dir(root)

    # ------------------------------------------------------------------ paths and manifest
    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST

    def path(self, key: SeriesKey) -> Path:
        return self.root / key.filename

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".manifest.lock", "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def manifest(self) -> dict:
        """The manifest (``{"files": {filename: entry}}``); empty when there is none yet."""
        path = self.manifest_path
        if not path.exists():
            return {"files": {}}
        if path.is_dir():
            raise DataError("is a folder, not the cache's manifest; move it away", path=path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataError(f"is not valid JSON ({exc})", path=path) from None
        if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
            raise DataError("has no 'files' mapping", path=path)
        for name, entry in data["files"].items():
            problem = _entry_problem(entry)
            if problem is not None:
                raise DataError(
                    f"the entry of '{name}' {problem}; fix it or move the manifest away",
                    path=path,
                )
        return data

    def keys(self, source: str | None = None, kind: str | None = None) -> list[SeriesKey]:
        """Keys of the cached series (optionally of one source and kind), sorted by file name."""
        out = []
        for _name, e in sorted(self.manifest()["files"].items()):
            if (source is None or e.get("source") == source) and (
                kind is None or e.get("kind") == kind
            ):
                out.append(SeriesKey(e["source"], e["kind"], e["symbol"], e["timeframe"]))
        return out

    def entry(self, key: SeriesKey) -> dict | None:
        return self.manifest()["files"].get(key.filename)

    def _write_manifest(self, data: dict) -> None:
        text = json.dumps(data, indent=2, sort_keys=True) + "\n"
        atomic_files.write_text(self.manifest_path, text)

    # ------------------------------------------------------------------ data
    def read(self, key: SeriesKey) -> pd.DataFrame | None:
        """The cached frame, or None when the series has never been written."""
        path = self.path(key)
        if not path.exists():
            return None
        return read_parquet(path)

    def write(self, key: SeriesKey, frame: pd.DataFrame, **meta: object) -> dict:
        """Atomically replace the series' file with ``frame`` and record it in the manifest.

        ``meta`` adds public, source-specific fields (client, client_version, complete, ...).
        Returns the manifest entry.
        """
        _refuse_secrets(meta)
        payload = frame_to_parquet_bytes(frame)
        first, last = _span(frame)
        entry = {
            "file": key.filename,
            "source": key.source,
            "kind": key.kind,
            "symbol": key.market,
            "timeframe": key.timeframe,
            "fetched_at": _now_iso(),
            "first": first,
            "last": last,
            "rows": int(len(frame)),
            "sha256": hashlib.sha256(payload).hexdigest(),
        }
        entry.update({k: v for k, v in meta.items() if v is not None})
        with self._locked():
            data = self.manifest()  # first: a damaged manifest refuses the write, file untouched
            atomic_files.write_bytes(self.path(key), payload)
            data["files"][key.filename] = entry
            self._write_manifest(data)
        return entry

    def reconcile(self) -> list[str]:
        """Repair manifest entries whose file changed or whose entry is missing.

        A file is always complete (atomic rename), so its own content is the truth; the entry
        gets the file's rows, span and sha256, and ``reconciled: true``. Returns repaired names.
        """
        repaired = []
        with self._locked():
            data = self.manifest()
            for path in sorted(self.root.glob("*.parquet")):
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                entry = data["files"].get(path.name)
                if entry is not None and entry.get("sha256") == digest:
                    continue
                frame = read_parquet(path)
                first, last = _span(frame)
                parts = path.stem.split("__")
                base = entry or dict(
                    zip(("source", "kind", "symbol", "timeframe"), parts, strict=False)
                )
                base.update(
                    {
                        "file": path.name,
                        "first": first,
                        "last": last,
                        "rows": int(len(frame)),
                        "sha256": digest,
                        "reconciled": True,
                    }
                )
                data["files"][path.name] = base
                repaired.append(path.name)
            if repaired:
                self._write_manifest(data)
        return repaired


#: Manifest fields every reader relies on, with their types (each may be absent).
_ENTRY_FIELDS = {
    "file": str,
    "source": str,
    "kind": str,
    "symbol": str,
    "timeframe": str,
    "fetched_at": str,
    "first": (str, type(None)),
    "last": (str, type(None)),
    "rows": int,
    "sha256": str,
}


def _entry_problem(entry: object) -> str | None:
    """What is wrong with a manifest entry, or None."""
    if not isinstance(entry, dict):
        return f"is {type(entry).__name__}, not an object"
    for field, kind in _ENTRY_FIELDS.items():
        value = entry.get(field)
        if field in entry and (not isinstance(value, kind) or isinstance(value, bool)):
            return f"has a '{field}' of the wrong type ({type(value).__name__})"
    return None


def _refuse_secrets(meta: dict) -> None:
    secrets = [os.environ[v] for v in SECRET_ENV_VARS if os.environ.get(v)]
    if not secrets:
        return
    text = json.dumps(meta, default=str)
    for s in secrets:
        if s and s in text:
            raise ValueError("refusing to write an API key into the cache manifest")
