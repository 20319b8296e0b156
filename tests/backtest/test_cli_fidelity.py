"""`costbt fidelity`: the proxy's table and verdict on the bundle, one-line errors on bad flags."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from costbt.backtest.cli import app

runner = CliRunner()


def test_the_command_prints_the_table_and_a_verdict_on_the_bundle():
    r = runner.invoke(app, ["fidelity"])
    assert r.exit_code == 0, r.output
    assert "SOPR proxy against the real STH-SOPR" in r.output
    for row in ("correlation of daily values", "agreement on 7-day", "recall", "precision"):
        assert row in r.output
    assert "the proxy is a poor stand-in for the SOPR rule: it finds" in r.output
    assert "within ±7 days" in r.output


def test_match_days_and_the_span_are_passed_on():
    r = runner.invoke(
        app, ["fidelity", "--match-days", "0", "--start", "2020-01-01", "--end", "2020-12-31"]
    )
    assert r.exit_code == 0, r.output
    assert "2020-01-01 .. 2020-12-31" in r.output
    assert "within ±0 days" in r.output


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--match-days", "-1"], "--match-days"),
        (["--match-days", "seven"], "--match-days"),
        (["--match-days", "99999999999999999999"], "--match-days"),
        (["--start", "notadate"], "--start"),
        (["--end", "2026-13-01"], "--end"),
        (["--start", "2021-01-01", "--end", "2020-01-01"], "--end"),
        (["--start", "2030-01-01"], "--start/--end"),
        (["--end", "2012-01-01"], "--start/--end"),
    ],
)
def test_bad_input_exits_2_with_one_line_naming_the_flag(args, flag):
    r = runner.invoke(app, ["fidelity", *args])
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) <= 2  # one message (rich may wrap a long line once)
    assert lines[0].startswith(f"error: {flag}")
    assert "Traceback" not in r.output
