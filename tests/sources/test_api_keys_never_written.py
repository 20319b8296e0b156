"""API keys come from the environment only and never reach a written file.

A distinctive fake Glassnode key is put in the environment; the Glassnode download (library and
CLI, success, retries and a rejected key) and the other provider commands run against local
servers with temporary cache folders, every log record goes to a file, and every CLI's stdout and
stderr is saved. Then EVERY file under the temporary folders is searched for the key.
"""

from __future__ import annotations

import logging
import urllib.parse
from pathlib import Path

import pytest
from typer.testing import CliRunner

from costbt.backtest.cli import app
from costbt.data.cache import Cache
from costbt.data.sources import glassnode
from costbt.data.sources.retry import FetchError, RetryPolicy
from tests.servers.base import Fault
from tests.servers.farside import FarsideServer
from tests.servers.glassnode import SOPR_PATH, GlassnodeServer

FAKE_KEY = "costbt-FAKE-glassnode-key-7f3a9c2e5b1d-DO-NOT-WRITE"
VENDOR_CSV = "Date,SOPR\n2024-03-01,1.01\n2024-03-02,0.99\n"  # format fixture, not real data


@pytest.fixture()
def log_file(tmp_path):
    """Send every log record (any logger, DEBUG and up) to a file under tmp_path."""
    path = tmp_path / "logs" / "run.log"
    path.parent.mkdir()
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    logging.getLogger("costbt").debug("key hygiene test: logging to %s", path)
    yield path
    root.removeHandler(handler)
    root.setLevel(old_level)
    handler.close()


def written_files(root: Path) -> list[Path]:
    return [p for p in sorted(root.rglob("*")) if p.is_file()]


def test_the_api_key_never_appears_in_any_written_file(tmp_path, monkeypatch, log_file):
    monkeypatch.setenv("COSTBT_GLASSNODE_API_KEY", FAKE_KEY)
    monkeypatch.delenv("GLASSNODE_API_KEY", raising=False)
    runner = CliRunner()
    captured = tmp_path / "captured"
    captured.mkdir()

    def run(name: str, *args: str, code: int = 0) -> None:
        result = runner.invoke(app, ["data", *args])
        (captured / f"{name}.stdout").write_text(result.stdout)
        (captured / f"{name}.stderr").write_text(result.stderr)
        assert result.exit_code == code, f"{name}: {result.output}"

    with GlassnodeServer(FAKE_KEY) as gn, FarsideServer() as fs:
        # the library call, with a 429 and a 5xx on the way (retry messages are logged)
        gn.faults.add(SOPR_PATH, Fault(status=429, headers={"Retry-After": "0"}))
        gn.faults.add(SOPR_PATH, Fault(status=503))
        glassnode.fetch_sopr(
            Cache(tmp_path / "cache-lib"),
            glassnode.GlassnodeConfig(base_url=gn.url, timeout_s=5),
            policy=RetryPolicy(max_attempts=3, sleep=lambda s: None),
            on_retry=logging.getLogger("costbt.glassnode").warning,
        )
        # a malformed answer ends in an error whose message is logged
        gn.faults.add(SOPR_PATH, Fault(body=b"[{not json"))
        try:
            glassnode.fetch_sopr(
                Cache(tmp_path / "cache-lib"),
                glassnode.GlassnodeConfig(base_url=gn.url, timeout_s=5),
                policy=RetryPolicy(max_attempts=1),
            )
        except FetchError as exc:
            logging.getLogger("costbt.glassnode").error("fetch failed: %s", exc.message)
        else:
            pytest.fail("the malformed answer was accepted")

        cli_cache = str(tmp_path / "cache-cli")
        run(
            "sopr", "sopr", "--provider", "glassnode", "--api-url", gn.url, "--cache-dir", cli_cache
        )
        gn.faults.add(SOPR_PATH, Fault(status=500))
        run("sopr-retry", "sopr", "--api-url", gn.url, "--cache-dir", cli_cache)
        gn.faults.add(SOPR_PATH, Fault(status=401, body=b"Unauthorized"))
        run("sopr-401", "sopr", "--api-url", gn.url, "--cache-dir", cli_cache, code=2)
        run("etf-flows", "etf-flows", "--api-url", fs.url, "--cache-dir", cli_cache)
        vendor = tmp_path / "vendor.csv"
        vendor.write_text(VENDOR_CSV)
        run(
            "import", "import", "--file", str(vendor), "--map", "SOPR=sopr",
            "--date-column", "Date", "--source", "cq", "--cache-dir", cli_cache,
        )  # fmt: skip
        requested = [p + "?" + urllib.parse.urlencode(q) for p, q in gn.log]

    assert all(gn.keys_seen) and len(gn.log) >= 8  # the key was sent, as a header
    files = written_files(tmp_path)
    names = {p.name for p in files}
    assert {"manifest.json", "run.log", "sopr.stdout", "sopr-401.stderr"} <= names
    assert any(p.suffix == ".parquet" for p in files)
    assert "retry" in log_file.read_text()  # the logs did record the retries
    forms = {FAKE_KEY.encode(), urllib.parse.quote(FAKE_KEY).encode()}
    leaks = [str(p.relative_to(tmp_path)) for p in files for f in forms if f in p.read_bytes()]
    assert leaks == [], f"the API key was written to {leaks}"
    assert not any(FAKE_KEY in url for url in requested), "the API key appeared in a URL"
