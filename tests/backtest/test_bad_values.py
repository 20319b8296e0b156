"""Absurd values are bad input: one line naming the flag (or the config file and its key),
exit 2, before any work (issue 14, part 5)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from costbt.backtest.cli import app
from costbt.backtest.grid import MAX_AXIS_VALUES, GridError, parse_axis
from costbt.backtest.sweep import MAX_SWEEP_COMBINATIONS
from costbt.backtest.tuning import study_name_problem
from costbt.backtest.walkforward import parse_duration
from costbt.signals.params import space
from costbt.strategies import STRATEGIES

runner = CliRunner()


def _one_line(r, flag: str) -> str:
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"error: {flag}"), lines[0]
    return lines[0]


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("COSTBT_HOME", str(tmp_path / "home"))


# ----------------------------------------------------------------------------- dates


@pytest.mark.parametrize("value", ["-1", "", "  ", "0001-01-01", "9999-12-31", "1e30", "[/]"])
@pytest.mark.parametrize(
    "command",
    [["cost", "--at"], ["backtest", "--strategy", "below_cost", "--start"], ["tune", "--end"]],
    ids=lambda c: c[0],
)
def test_a_date_that_is_no_date_names_its_flag(command, value):
    _one_line(runner.invoke(app, [*command, value]), command[-1])


def test_a_panel_as_of_before_any_data_is_refused_and_nothing_written(tmp_path):
    target = tmp_path / "p.csv"
    line = _one_line(
        runner.invoke(app, ["data", "panel", "--out", str(target), "--as-of", "1990-01-01"]),
        "--as-of",
    )
    assert "the data start on" in line
    assert not target.exists()


# ----------------------------------------------------------------------------- grids


def _params():
    return {p.name: p for p in space(STRATEGIES["below_cost"].params)}


@pytest.mark.parametrize(
    "spec",
    [
        "entry_ratio=0.5:1.5:1e-9",  # a billion values: counted, never built
        "entry_ratio=log:0.6:1.2:1e12",
        "entry_ratio=0.5:inf:0.1",
        "entry_ratio=nan:1.5:0.1",
        "entry_ratio=0.5:1.5:-inf",
    ],
)
def test_a_huge_or_non_finite_axis_is_refused_before_it_is_built(spec):
    with pytest.raises(GridError, match="finite|more than|step"):
        parse_axis(spec, _params())
    r = runner.invoke(app, ["sweep", "--grid", spec, "--yes"])
    _one_line(r, "--grid")


def test_the_largest_axis_is_still_accepted():
    axis = parse_axis(f"entry_ratio=log:0.5:1.5:{MAX_AXIS_VALUES}", _params())
    assert len(axis.values) == MAX_AXIS_VALUES


def test_a_grid_beyond_the_sweep_limit_is_refused_even_with_yes():
    grid = ["entry_ratio=0.5:1.5:0.001", "exit_ratio=1.0:3.0:0.002", "fees_bps=0:100:1"]
    assert MAX_SWEEP_COMBINATIONS < 1001 * 1001 * 101
    args = ["sweep", *[x for g in grid for x in ("--grid", g)], "--yes"]
    line = _one_line(runner.invoke(app, args), "--grid")
    assert "even with --yes" in line


# ----------------------------------------------------------------------------- seeds and lengths


@pytest.mark.parametrize("seed", ["-1", str(2**40), "1.5"])
@pytest.mark.parametrize(
    "command",
    [
        ["sweep", "--grid", "entry_ratio=0.9,1"],
        ["tune"],
        ["walkforward"],
        ["lookahead", "--strategy", "below_cost"],
        ["episodes"],
    ],
    ids=lambda c: c[0],
)
def test_a_seed_outside_what_the_generators_take_names_the_flag(command, seed):
    r = runner.invoke(app, [*command, "--seed", seed])
    assert r.exit_code == 2, r.output
    (line,) = r.stderr.strip().splitlines()
    assert "--seed" in line and "Traceback" not in r.output


@pytest.mark.parametrize("text", ["99999999999y", "1201m", "36526d", "5219w"])
def test_a_window_longer_than_a_century_is_refused(text):
    with pytest.raises(ValueError, match="longer than"):
        parse_duration(text)
    _one_line(runner.invoke(app, ["walkforward", "--train", text]), "--train")


# ----------------------------------------------------------------------------- config files


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ('strategy = "below_cost"\n[params]\nentry_ratio = [1, 2]\n', "[params] entry_ratio"),
        ('strategy = "below_cost"\n[params]\nentry_ratio = {a = 1}\n', "[params] entry_ratio"),
        ('strategy = "below_cost"\n[engine]\nfees_bps = [10]\n', "[engine] fees_bps"),
        ('strategy = ["below_cost"]\n', "strategy = ['below_cost'] is not a string"),
        ('strategy = "below_cost"\nstart = 5\n', "start = 5 is not a date"),
        ('strategy = "below_cost"\ntitle = 3\n', "title = 3 is not a string"),
        ('strategy = "below_cost"\nparams = 3\n', "'params' must be a table"),
    ],
)
@pytest.mark.parametrize(
    "command",
    [
        ["backtest"],
        ["sweep", "--grid", "exit_ratio=1.5,2"],
        ["tune"],
        ["walkforward"],
        ["attribution"],
        ["lookahead"],
    ],
    ids=lambda c: c[0],
)
def test_a_config_value_of_the_wrong_type_names_the_file_and_key(tmp_path, command, body, words):
    cfg = tmp_path / "run.toml"
    cfg.write_text(body)
    line = _one_line(runner.invoke(app, [*command, "--config", str(cfg)]), "--config")
    assert str(cfg) in line and words in line


@pytest.mark.parametrize(
    "command", [["backtest"], ["sweep", "--grid", "exit_ratio=1.5,2"], ["tune"], ["lookahead"]]
)
def test_a_bad_value_from_the_config_is_blamed_on_the_config_not_param(tmp_path, command):
    cfg = tmp_path / "run.toml"
    cfg.write_text('strategy = "below_cost"\n[engine]\nfees_bps = "x"\n')
    line = _one_line(runner.invoke(app, [*command, "--config", str(cfg)]), f"--config {cfg}")
    assert "fees_bps" in line


def test_a_bad_value_from_param_is_still_blamed_on_param(tmp_path):
    cfg = tmp_path / "run.toml"
    cfg.write_text('strategy = "below_cost"\n[engine]\nfees_bps = 10\n')
    args = ["backtest", "--config", str(cfg), "--param", "fees_bps=x"]
    _one_line(runner.invoke(app, args), "--param")


def test_a_config_that_is_a_folder_is_named(tmp_path):
    line = _one_line(runner.invoke(app, ["backtest", "--config", str(tmp_path)]), "--config")
    assert "is a folder" in line


# ----------------------------------------------------------------------------- study names


@pytest.mark.parametrize("name", ["a/b", "..", ".hidden", "x" * 101, "tab\there", "back\\slash"])
def test_a_study_name_that_cannot_name_a_file_is_refused(tmp_path, name):
    assert study_name_problem(name) is not None
    _one_line(runner.invoke(app, ["tune", "--study", name]), "--study")
    assert not (tmp_path / "home").exists()  # no journal, no folder


def test_a_user_strategy_gets_a_safe_default_study_name():
    from costbt.backtest.tuning import default_study_name

    example = Path(__file__).resolve().parents[2] / "examples/strategies/hash_ribbon_buy.py"
    name = default_study_name(f"{example}:STRATEGY", "sharpe")
    assert name == "hash_ribbon_buy-sharpe" and study_name_problem(name) is None


# ----------------------------------------------------------------------------- URLs


@pytest.mark.parametrize(
    "value", ["not a url", "ftp://example.com", "http://", "http://127.0.0.1:99999", "[/]"]
)
@pytest.mark.parametrize(
    "command", [["data", "fetch"], ["data", "chain"], ["data", "etf-flows"]], ids=" ".join
)
def test_an_api_url_that_is_no_url_names_the_flag_before_any_download(command, value, tmp_path):
    r = runner.invoke(app, [*command, "--api-url", value, "--cache-dir", str(tmp_path / "c")])
    _one_line(r, "--api-url")
    assert not (tmp_path / "c").exists()
