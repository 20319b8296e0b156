"""Files written whole or not at all, and a write that fails names its file.

Every file costbt stores or produces (cache series, manifest, ledger, sweep chunks and results,
panels, HTML pages) is written the same way:

1. The payload goes to a temporary file beside the target (``.<name>.<pid>.<random>.tmp``: the
   same file system, so step 3 is atomic; a unique name, so concurrent writers never share one).
2. The temporary file is flushed and ``fsync``-ed.
3. ``os.replace`` puts it in place of the target: a reader sees the old file or the new one.
4. The folder is ``fsync``-ed so the rename survives a crash.

If any step fails (a full disk, a quota, a file size limit) the temporary file is removed and
the target is left as it was. The ``OSError`` raised names the target: a failed ``write(2)``
carries no file name of its own, and "no space left on device" must say where
(`backtest.cli.console.exit_for` prints it as one line, exit 1).

A writer killed between steps 1 and 3 (SIGKILL, out of memory, a lost machine) leaves its
temporary file behind, as large as the file it was writing. `remove_stale_temporaries` removes
those of one target: a store calls it under its own lock, before it writes (the trial ledger:
`backtest.ledger`).
"""

from __future__ import annotations

import os
import re
import time
import uuid
from pathlib import Path

#: Seconds after which a temporary file is a dead writer's whatever its process id says (the id
#: may have been reused): no write of a stored file takes that long.
STALE_AFTER = 600.0


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


def _named(exc: OSError, path: Path) -> OSError:
    """``exc`` with the target's name when it has none (a failed write has none)."""
    if exc.filename is not None and not str(exc.filename).endswith(".tmp"):
        return exc
    return type(exc)(exc.errno, exc.strerror or str(exc), str(path))


def write_bytes(path: str | Path, payload: bytes) -> Path:
    """Write ``payload`` to ``path`` atomically (steps 1-4 above); parents are created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary(path)
    try:
        # "x" (not mkstemp) so the file gets the usual permissions (umask), not 0600.
        with open(tmp, "xb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise _named(exc, path) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return path


def write_text(path: str | Path, text: str) -> Path:
    """``write_bytes`` of ``text`` encoded as UTF-8."""
    return write_bytes(path, text.encode("utf-8"))


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):  # another user's process; an absurd id
        return True
    return True


def remove_stale_temporaries(path: str | Path, older_than: float = STALE_AFTER) -> list[Path]:
    """Remove the temporary files of ``path`` that a killed writer left; the removed files.

    A temporary file (``.<name>.<pid>.<random>.tmp`` beside ``path``) is stale when the process
    that wrote it (``pid``, on this machine) no longer runs, or when it was last modified more
    than ``older_than`` seconds ago. Call it under the lock the writers of ``path`` hold while
    they write, so that no live writer's file can be taken (a writer in another pid namespace
    looks dead). A file that cannot be removed is left (the next write tries again).
    """
    path = Path(path)
    pattern = re.compile(rf"\.{re.escape(path.name)}\.(\d+)\.[0-9a-f]{{8}}\.tmp")
    removed = []
    try:
        candidates = list(path.parent.iterdir())
    except OSError:
        return removed
    now = time.time()
    for tmp in candidates:
        found = pattern.fullmatch(tmp.name)
        if found is None:
            continue
        try:
            old = now - tmp.lstat().st_mtime > older_than
            if old or not _running(int(found.group(1))):
                tmp.unlink()
                removed.append(tmp)
        except OSError:
            continue
    return removed
