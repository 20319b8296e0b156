"""Property: whatever damage a stored file takes, the command that reads it ends in one clear
line and leaves the files as they were when it refuses (issue 14, property tests).

A small world of real stored files is written once by the real commands (an Optuna journal by
``costbt tune``, the trial ledger, a sweep's state and chunks by ``costbt sweep``, a download
cache with its manifest and Parquet files). Each example copies it, damages one file the way a
disk, a crash or a hand edit does (random bytes, a cut at any byte, a garbage line anywhere, a
JSON value of the wrong shape, emptied), and runs the command that reads that file:

* no traceback, no "internal error"; exit 0 (the damage happened to be harmless, e.g. a cut
  at a line end), 1 or 2;
* on exit 2, the error line names the damaged file and every stored file is byte for byte as
  it was.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from costbt.backtest.cli import app
from tests.data.cached_chain import chain_days, write_coinmetrics

runner = CliRunner()
SPAN = ["--start", "2020-01-01", "--end", "2021-12-31"]
SWEEP = ["sweep", "--grid", "entry_ratio=0.8,0.9", *SPAN, "--top", "1", "--verify-sample", "0"]
SHAPES = [b"[1]", b"{}", b"null", b'"x"', b"5", b'{"files": 5}', b'{"entries": [1]}', b""]


def _world(root: Path) -> dict[str, Path]:
    """The stored files, written by the real commands under ``root``."""
    home, cache, out = root / "home", root / "cache", root / "sweep"
    mp = pytest.MonkeyPatch()
    mp.setenv("COSTBT_HOME", str(home))
    try:
        tune = ["tune", "--n-trials", "2", "--top", "0", "--cache-dir", str(cache), *SPAN]
        assert runner.invoke(app, tune).exit_code == 0
        assert runner.invoke(app, [*SWEEP, "--out", str(out)]).exit_code == 0
    finally:
        mp.undo()
    write_coinmetrics(root / "downloads", chain_days())
    parquet = next((root / "downloads").glob("*.parquet"))
    return {
        "journal": cache / "optuna" / "below_cost-sharpe.log",
        "ledger": home / "ledger.json",
        "sweep state": out / "sweep_state.json",
        "sweep chunk": out / "chunks" / "chunk_00000.parquet",
        "manifest": root / "downloads" / "manifest.json",
        "cached parquet": parquet,
    }


def _reader(target: str, root: Path) -> list[str]:
    """The command that reads ``target``."""
    return {
        "journal": ["tune", "--n-trials", "1", "--top", "0", "--cache-dir", str(root / "cache")]
        + SPAN,
        "ledger": ["ledger"],
        "sweep state": [*SWEEP, "--out", str(root / "sweep"), "--resume"],
        "sweep chunk": [*SWEEP, "--out", str(root / "sweep"), "--resume"],
        "manifest": ["data", "status", "--cache-dir", str(root / "downloads")],
        "cached parquet": ["data", "status", "--cache-dir", str(root / "downloads")],
    }[target]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> tuple[Path, dict[str, Path]]:
    root = tmp_path_factory.mktemp("pristine")
    return root, _world(root)


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.endswith(("lock", ".flock"))
    }


@st.composite
def damage(draw, original: bytes) -> bytes:
    kind = draw(st.sampled_from(["random", "cut", "garbage line", "shape"]))
    if kind == "random":
        return draw(st.binary(min_size=1, max_size=256))
    if kind == "cut":
        return original[: draw(st.integers(0, max(0, len(original) - 1)))]
    if kind == "garbage line":
        lines = original.split(b"\n")
        at = draw(st.integers(0, len(lines)))
        junk = draw(st.sampled_from([b"garbage", b"{", b"\xff\xfe", b'{"op_code": 99}', b"[]"]))
        return b"\n".join([*lines[:at], junk, *lines[at:]])
    return draw(st.sampled_from(SHAPES))


@pytest.mark.parametrize(
    "target",
    ["journal", "ledger", "sweep state", "sweep chunk", "manifest", "cached parquet"],
)
def test_a_damaged_stored_file_ends_in_one_line_and_is_kept(target, pristine, monkeypatch):
    source, world = pristine
    original = world[target].read_bytes()

    @settings(
        max_examples=int(os.environ.get("COSTBT_PROPERTY_EXAMPLES", "5")),
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(data=st.data())
    def check(data):
        damaged = data.draw(damage(original), label="damaged bytes")
        root = Path(tempfile.mkdtemp(prefix="corrupt-"))
        try:
            shutil.copytree(source, root, dirs_exist_ok=True)
            path = root / world[target].relative_to(source)
            path.write_bytes(damaged)
            monkeypatch.setenv("COSTBT_HOME", str(root / "home"))
            monkeypatch.chdir(root)
            before = _files(root)
            r = runner.invoke(app, _reader(target, root))
            assert "Traceback" not in r.output and "internal error" not in r.output, r.output
            assert r.exit_code in (0, 1, 2), (r.exit_code, r.output)
            if r.exit_code == 2:
                errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error: ")]
                assert len(errors) == 1, r.stderr
                assert path.name in errors[0], errors[0]
                assert _files(root) == before, "a refused command changed stored files"
        finally:
            shutil.rmtree(root, ignore_errors=True)

    check()
