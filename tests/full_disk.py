"""A real full disk for tests: a small tmpfs mounted in the test's folder, filled to the brim.

Mounting needs root (CAP_SYS_ADMIN), as in CI here; elsewhere the tests that use it skip with
the reason. `FullDisk.fill` writes a filler file until the kernel answers ENOSPC, so the next
write of the command under test fails the way a real full disk fails (creating an empty file
still works: tmpfs counts inodes apart, so costbt's up-front probes pass and the failure comes
mid-work, as it would in life); `FullDisk.free` removes the filler.
"""

from __future__ import annotations

import errno
import subprocess
from pathlib import Path

import pytest


class FullDisk:
    def __init__(self, root: Path, size: str = "8m") -> None:
        self.root = root
        self.size = size
        self.filler = root / ".filler"

    def mount(self) -> FullDisk:
        self.root.mkdir(parents=True, exist_ok=True)
        r = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={self.size}", "tmpfs", str(self.root)],
            capture_output=True,
            text=True,
        )
        if r.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs for a full disk: {r.stderr.strip()}")
        return self

    def unmount(self) -> None:
        subprocess.run(["umount", "-l", str(self.root)], capture_output=True)

    def fill(self) -> None:
        block = b"\0" * 4096
        with open(self.filler, "ab", buffering=0) as fh:
            try:
                while True:
                    fh.write(block)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
        # Whatever part of a block is left, take it too.
        with open(self.root / ".filler2", "ab", buffering=0) as fh:
            try:
                while True:
                    fh.write(b"\0")
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc

    def free(self) -> None:
        for f in (self.filler, self.root / ".filler2"):
            f.unlink(missing_ok=True)

    def files(self) -> dict[str, bytes]:
        """Every file on the disk but the fillers, by relative path, with its bytes."""
        return {
            str(p.relative_to(self.root)): p.read_bytes()
            for p in sorted(self.root.rglob("*"))
            if p.is_file() and not p.name.startswith(".filler")
        }
