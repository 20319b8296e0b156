"""Property: whatever a user types, every command ends in at most one clear line (issue 14).

For each command, hypothesis draws one to three of its options and gives each a value from a
pool of garbage, extremes and terminal markup (or sets a boolean flag). Whatever the draw:

* no Python traceback is printed;
* the exit status is 0, 1 (a failing environment), 2 (bad input) or 130 (never drawn here);
* a failure's last line starts with ``error:``; a bad-input failure (exit 2) names one of the
  drawn flags, or another flag, file or value;
* after exit 2, every stored file (the cache, the ledger and studies under ``COSTBT_HOME``,
  the outputs) is byte for byte as it was.

Downloads go to the local servers of ``tests/servers`` (no internet; the real clients), the
work to small spans, so that a draw that happens to be valid stays quick.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from costbt.backtest.cli import app
from tests.servers.binance import BinanceServer
from tests.servers.blockchain_com import BlockchainComServer
from tests.servers.deribit import DeribitServer
from tests.servers.farside import FarsideServer
from tests.servers.glassnode import GlassnodeServer

runner = CliRunner()
GLASSNODE_KEY = "property-test-key"

#: Values no option should choke on: garbage, extremes, markup, paths that cannot be written.
GARBAGE = [
    "",
    " ",
    "-1",
    "0",
    "nan",
    "inf",
    "-inf",
    "1e308",
    "99999999999999999999999",
    "[/]",
    "[bold red]x[/]",
    ":smile:",
    "a:b:step",
    "entry_ratio=0.5:1.5:1e-9",
    "x=log:0.6:1.2:1e12",
    "=1",
    "NAME=",
    "2024-02-30",
    "1970-01-01",
    "9999-12-31",
    "99999999999y",
    "/proc/x.html",
    "/dev/null/x",
    "../../",
    "\u202e\u00e9\u4e2d",
    "$(id)",
    "%s%n{}",
    "not a url",
    "http://",
]

SPAN = ["--start", "2024-01-01", "--end", "2024-06-30"]


def _commands() -> dict[str, list]:
    """Every leaf command of the app, by its words, with its click options (hidden ones out)."""
    found: dict[str, list] = {}

    def walk(c, words):
        if hasattr(c, "commands"):
            for name, sub in c.commands.items():
                walk(sub, [*words, name])
        else:
            found[" ".join(words)] = [
                p for p in c.params if p.param_type_name == "option" and not p.hidden
            ]

    walk(typer.main.get_command(app), [])
    return found


COMMANDS = _commands()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The local servers, a cache with a little real data, a vendor file and a claims file."""
    root = tmp_path_factory.mktemp("world")
    servers = {
        "binance": BinanceServer(),
        "deribit": DeribitServer(),
        "chain": BlockchainComServer(),
        "farside": FarsideServer(),
        "glassnode": GlassnodeServer(GLASSNODE_KEY),
    }
    for s in servers.values():
        s.start()
    vendor = root / "vendor.csv"
    vendor.write_text("day,v\n2024-01-01,0.98\n2024-01-02,1.01\n")
    yield {"root": root, "servers": servers, "vendor": vendor}
    for s in servers.values():
        s.stop()


def _now(ms: int) -> str:
    return pd.Timestamp(ms, unit="ms").isoformat()


def _base(command: str, world: dict, cache: Path, out: Path) -> list[str]:
    """Arguments that make the command quick and offline when the draw leaves them be."""
    s = world["servers"]
    c = ["--cache-dir", str(cache)]
    return {
        "backtest": SPAN,
        "attribution": SPAN,
        "sweep": ["--grid", "entry_ratio=0.9,1.0", *SPAN, "--out", str(out / "sweep")]
        + ["--top", "1", "--verify-sample", "0"],
        "tune": [*SPAN, "--n-trials", "2", "--top", "0", *c],
        "walkforward": ["--start", "2021-01-01", "--end", "2024-06-30", "--train", "2y"]
        + ["--test", "1y", "--n-trials", "2"],
        "lookahead": ["--cutoffs", "2"],
        "episodes": ["--reps", "20"],
        "claims": [str(Path(__file__).parents[1] / "examples/claims/2025-11-below-cost.toml")],
        "data status": c,
        "data panel": ["--out", str(out / "panel.csv"), "--start", "2026-01-01", *c],
        "data fetch": ["--since", "2026-07-01", "--api-url", s["binance"].url, *c]
        + ["--now", _now(s["binance"].now_ms)],
        "data update": ["--api-url", s["binance"].url, *c, "--now", _now(s["binance"].now_ms)],
        "data futures": ["--since", "2026-03-01", "--api-url", s["deribit"].url, *c]
        + ["--now", _now(s["deribit"].now_ms)],
        "data chain": ["--provider", "blockchain_com", "--chart", "hash-rate"]
        + ["--since", "2026-01-01", "--api-url", s["chain"].url, *c],
        "data etf-flows": ["--api-url", s["farside"].url, *c],
        "data sopr": ["--since", "2024-01-01", "--api-url", s["glassnode"].url, *c],
        "data import": ["--file", str(world["vendor"]), "--date-column", "day"]
        + ["--map", "v=sth_sopr", "--kind", "sopr", *c],
        "ledger reset": ["--strategy", "below_cost"],
    }.get(command, [])


def _without(args: list[str], flag: str, options: list) -> list[str]:
    """``args`` with ``flag`` (and its value, if it takes one) taken out."""
    takes_value = {o.opts[0]: not o.is_flag for o in options}
    kept, skip = [], False
    for a in args:
        if skip:
            skip = False
            continue
        if a == flag:
            skip = takes_value.get(flag, True)
            continue
        kept.append(a)
    return kept


def _snapshot(*folders: Path) -> dict[str, bytes]:
    files = {}
    for folder in folders:
        for p in sorted(folder.rglob("*")) if folder.exists() else []:
            if p.is_file() and not p.name.endswith(("lock", ".flock")):
                files[str(p)] = p.read_bytes()
    return files


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_any_flags_end_in_one_clear_line_and_keep_stored_files(command, world, monkeypatch):
    options = COMMANDS[command]
    names = [o.opts[0] for o in options if o.opts[0] != "--help"]
    home = world["root"] / "home" / command.replace(" ", "-")
    cache = home / "cache"
    out = world["root"] / "out" / command.replace(" ", "-")
    work = world["root"] / "cwd" / command.replace(" ", "-")
    work.mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(work)  # relative paths drawn (an --out of "0") land here
    monkeypatch.setenv("COSTBT_HOME", str(home))
    monkeypatch.setenv("GLASSNODE_API_KEY", GLASSNODE_KEY)
    monkeypatch.setenv("COSTBT_EXCHANGE_URL", "http://127.0.0.1:9")
    flags_of = {o.opts[0]: o for o in options}

    @settings(
        max_examples=int(os.environ.get("COSTBT_PROPERTY_EXAMPLES", "6")),
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        drawn=st.lists(
            st.tuples(st.sampled_from(names), st.sampled_from(GARBAGE)),
            min_size=1,
            max_size=3,
            unique_by=lambda t: t[0],
        )
    )
    def check(drawn):
        args = _base(command, world, cache, out)
        extra: list[str] = []
        for flag, value in drawn:
            args = _without(args, flag, options)
            extra += [flag] if flags_of[flag].is_flag else [flag, value]
        before = _snapshot(home, out, work)
        r = runner.invoke(app, [*command.split(), *args, *extra])
        text = r.output
        assert "Traceback" not in text, text
        assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
        assert r.exit_code in (0, 1, 2), (r.exit_code, text)
        if r.exit_code:
            last = r.stderr.strip().splitlines()[-1]
            assert last.startswith("error:"), r.stderr
        if r.exit_code == 2:
            assert "--" in last or os.sep in last or "'" in last, last
            assert _snapshot(home, out, work) == before, "stored files changed on exit 2"

    check()
