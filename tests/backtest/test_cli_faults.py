"""Whatever a command lets through ends as one line and the right exit status, never a
traceback; user text is printed as given, never read as terminal markup (issue 14)."""

from __future__ import annotations

import errno

import pytest
import typer
from typer.testing import CliRunner

from costbt.backtest.cli import app
from costbt.backtest.cli.console import DEBUG_VARIABLE, SafeGroup
from costbt.data.errors import DataError

runner = CliRunner()


def _raising(exc: BaseException) -> typer.Typer:
    """An app of the real command group whose one command raises ``exc``."""
    fake = typer.Typer(cls=SafeGroup, rich_markup_mode=None)

    @fake.command("boom")
    def boom() -> None:
        raise exc

    @fake.command("other")
    def other() -> None:  # a second command keeps "boom" a subcommand
        pass

    return fake


@pytest.mark.parametrize(
    ("exc", "code", "words"),
    [
        (DataError("--start: '-1' is not a date"), 2, "--start: '-1' is not a date"),
        (OSError(errno.ENOSPC, "No space left on device", "/x/ledger.jsonl"), 1, "no space left"),
        (OSError(errno.EDQUOT, "Disk quota exceeded", "/x/ledger.jsonl"), 1, "/x/ledger.jsonl"),
        (PermissionError(errno.EACCES, "Permission denied", "/x/y.html"), 1, "/x/y.html"),
        (MemoryError(), 1, "out of memory"),
        (KeyboardInterrupt(), 130, "interrupted"),
        (AssertionError("Should not reach."), 1, "internal error (AssertionError"),
        (RuntimeError("one\ntwo"), 1, "internal error (RuntimeError: one)"),
    ],
)
def test_an_escaping_exception_is_one_line_with_its_exit_status(exc, code, words, monkeypatch):
    monkeypatch.delenv(DEBUG_VARIABLE, raising=False)
    r = runner.invoke(_raising(exc), ["boom"])
    assert r.exit_code == code, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0]
    assert "Traceback" not in r.output


def test_a_closed_output_pipe_is_not_an_error():
    r = runner.invoke(_raising(BrokenPipeError(errno.EPIPE, "Broken pipe")), ["boom"])
    assert r.exit_code == 0 and r.stderr == ""


def test_the_debug_variable_shows_the_traceback_of_a_bug(monkeypatch):
    monkeypatch.setenv(DEBUG_VARIABLE, "1")
    r = runner.invoke(_raising(RuntimeError("bug")), ["boom"])
    assert isinstance(r.exception, RuntimeError)


def test_usage_errors_stay_clicks_own_exit_2():
    r = runner.invoke(app, ["sweep", "--top", "many"])
    assert r.exit_code == 2 and "--top" in r.output and "internal error" not in r.output


@pytest.mark.parametrize("text", ["[/]", "[bold red]x", ":b:"])
def test_user_text_in_an_error_is_printed_as_given(text):
    r = runner.invoke(app, ["cost", "--at", text])
    assert r.exit_code == 2, r.output
    (line,) = r.stderr.strip().splitlines()
    assert text in line and "MarkupError" not in r.output


def test_a_markup_title_is_printed_as_given_after_a_backtest():
    args = ["backtest", "--strategy", "below_cost", "--start", "2024-01-01", "--end", "2024-03-31"]
    args += ["--title", "[/] [bold]x"]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "[/] [bold]x" in r.output


def test_help_shows_the_grid_syntax_literally():
    r = runner.invoke(app, ["sweep", "--help"])
    assert r.exit_code == 0
    assert (
        "NAME=a:b:step" in r.output
        and "\N{NEGATIVE SQUARED LATIN CAPITAL LETTER B}" not in r.output
    )
