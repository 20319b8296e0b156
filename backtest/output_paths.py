"""Can a run write where it was told to? Asked before any work, answered in words.

A report, an export, a sweep folder, a journal or a cache folder that cannot be written should
not cost a whole run: the commands ask here first and stop with one line naming the flag.

1. Walk up from the path to the nearest part that exists. A regular file on the way means the
   path lies below a file ("... is a file, not a folder").
2. A path that should be a file must not be a folder, and an existing file must open for
   appending (nothing is written to it here).
3. A probe file is created in the folder (or, when the folder does not exist yet, in its
   nearest existing parent, where it would be created) and removed at once: only the file
   system can say whether a write would succeed (read-only mounts, permissions, /proc, a root
   user to whom permission bits mean nothing). Nothing is left behind; the writers create
   their folders when they write.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _file_on_the_way(path: Path) -> Path | None:
    """The nearest existing part of ``path`` (itself included) when it is not a folder."""
    for part in (path, *path.parents):
        if part.exists() or part.is_symlink():
            return None if part.is_dir() else part
    return None


def folder_problem(folder: Path | str) -> str | None:
    """Why files cannot be written in ``folder``, or None when they can.

    Nothing is left behind: a missing folder is judged by its nearest existing parent (where
    it would be created), and the probe file is removed at once.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        return f"{folder} is a file, not a folder"
    blocker = _file_on_the_way(folder.parent)
    if blocker is not None:
        return f"{blocker} is a file, not a folder"
    target = next(p for p in (folder, *folder.parents) if p.exists())
    try:
        fd, probe = tempfile.mkstemp(prefix=".costbt-probe-", dir=target)
    except OSError as exc:
        what = "write in" if target == folder else f"create the folder {folder} in"
        return f"cannot {what} {target}: {_reason(exc)}"
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)
    return None


def file_problem(path: Path | str, example: str = "report.html") -> str | None:
    """Why ``path`` cannot be written as a file, or None (nothing is created).

    ``example``: the file name suggested when ``path`` is a folder.
    """
    path = Path(path)
    if path.is_dir():
        return f"{path} is a folder; give a file name such as {path / example}"
    if path.exists():
        try:
            with open(path, "ab"):
                pass
        except OSError as exc:
            return f"cannot write {path}: {_reason(exc)}"
    return folder_problem(path.parent)


__all__ = ["file_problem", "folder_problem"]
