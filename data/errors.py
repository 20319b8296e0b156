"""The one exception every costbt loader raises for bad input.

A `DataError` names the file, the column and the first offending row or date, so that the
CLI can print a single clear line (and exit with status 2) instead of a pandas traceback.
"""

from __future__ import annotations

from pathlib import Path


class DataError(ValueError):
    """Bad or unusable input data.

    Attributes:
        path: the file that failed to load (or None when the problem is not tied to a file).
        column: the offending column, when one is known.
        where: the first offending row or date, already formatted (e.g. ``"line 17"`` or
            ``"2024-04-20"``).
        reason: what is wrong, in plain words.
    """

    def __init__(
        self,
        reason: str,
        *,
        path: str | Path | None = None,
        column: str | None = None,
        where: str | None = None,
    ) -> None:
        self.path = None if path is None else Path(path)
        self.column = column
        self.where = where
        self.reason = reason
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """One line: ``<file>: column '<col>', <where>: <reason>``."""
        parts = []
        if self.path is not None:
            parts.append(str(self.path))
        loc = []
        if self.column is not None:
            loc.append(f"column '{self.column}'")
        if self.where is not None:
            loc.append(self.where)
        head = ": ".join(parts)
        if loc:
            head = f"{head}: {', '.join(loc)}" if head else ", ".join(loc)
        return f"{head}: {self.reason}" if head else self.reason
