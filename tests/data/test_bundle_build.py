"""The bundle is reproducible from the raw files by the committed script, byte for byte."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from costbt.data import bundle

from .conftest import RAW, REPO


@pytest.mark.skipif(not (RAW / "SOURCES.md").exists(), reason=f"raw data folder {RAW} not present")
def test_rebuilding_from_raw_reproduces_every_committed_file(tmp_path: Path):
    subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "build_bundled.py"),
            "--raw",
            str(RAW),
            "--out",
            str(tmp_path),
        ],
        check=True,
        capture_output=True,
    )
    committed = bundle.read_manifest()
    rebuilt = json.loads((tmp_path / "manifest.json").read_text())
    assert [(f["file"], f["sha256"]) for f in rebuilt["files"]] == [
        (f["file"], f["sha256"]) for f in committed["files"]
    ]
    assert (tmp_path / "manifest.json").read_bytes() == (
        bundle.PACKAGE_BUNDLE_DIR / "manifest.json"
    ).read_bytes()
    assert (tmp_path / "SOURCES.md").read_bytes() == (
        bundle.PACKAGE_BUNDLE_DIR / "SOURCES.md"
    ).read_bytes()


def test_project_code_never_reads_the_shared_raw_folder():
    """Only the build script may touch ../shared; packages read the committed bundle."""
    import re

    path_ref = re.compile(r"""shared/data|["']shared["']|\.\./shared""")
    offenders = []
    for pkg in ("backtest", "data", "signals", "strategies", "reports"):
        for path in (REPO / pkg).rglob("*.py"):
            if path_ref.search(path.read_text(encoding="utf-8")):
                offenders.append(str(path.relative_to(REPO)))
    assert offenders == []
    assert path_ref.search(
        'RAW = ROOT.parent / "shared" / "data"'
    )  # the pattern does catch a reference
