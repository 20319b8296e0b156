"""`costbt backtest`: config file, overrides, clear errors, and the summary table."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from costbt.backtest.cli import app

runner = CliRunner()


def test_a_backtest_prints_the_strategy_against_both_benchmarks():
    r = runner.invoke(
        app,
        ["backtest", "--strategy", "below_cost", "--start", "2019-01-01", "--end", "2021-12-31"],
    )
    assert r.exit_code == 0, r.output
    for word in ("below_cost", "buy_and_hold", "weekly_dca", "sharpe", "max_drawdown"):
        assert word in r.output


def test_a_toml_config_is_read_and_overridden_on_the_command_line(tmp_path):
    cfg = tmp_path / "run.toml"
    cfg.write_text(
        'strategy = "accumulation"\ntitle = "tranches"\n[params]\ntranches = 3\n[engine]\nfees_bps = 25\n'
    )
    r = runner.invoke(
        app,
        [
            "backtest",
            "--config",
            str(cfg),
            "--param",
            "tranches=2",
            "--start",
            "2019-01-01",
            "--end",
            "2020-12-31",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "accumulation" in r.output and "tranches" in r.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--strategy", "below_cost", "--param", "entry_ratio=9"],
            "entry_ratio=9.0 is above its maximum",
        ),
        (["--strategy", "below_cost", "--param", "nonsense=1"], "unknown parameter 'nonsense'"),
        (["--strategy", "below_cost", "--param", "fill=tomorrow"], "fill='tomorrow' is not one of"),
        (["--strategy", "magic"], "unknown strategy 'magic'"),
        (["--strategy", "below_cost", "--start", "2020-01-01", "--end", "2019-01-01"], "--end"),
        (["--strategy", "below_cost", "--start", "2030-01-01"], "--start: no spot prices"),
    ],
)
def test_bad_parameters_exit_2_with_one_clear_line(args, message):
    r = runner.invoke(app, ["backtest", *args])
    assert r.exit_code == 2, r.output
    assert message in r.stderr and "Traceback" not in r.output


def test_a_broken_config_file_is_named(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("strategy = [unclosed\n")
    r = runner.invoke(app, ["backtest", "--config", str(cfg)])
    assert r.exit_code == 2 and "bad.toml" in r.stderr and "TOML" in r.stderr
    cfg.write_text('strategy = "below_cost"\n[param]\nx = 1\n')
    r = runner.invoke(app, ["backtest", "--config", str(cfg)])
    assert r.exit_code == 2 and "unknown key 'param'" in r.stderr


def test_list_params_shows_defaults_and_ranges():
    r = runner.invoke(app, ["backtest", "--strategy", "below_cost", "--list-params"])
    assert (
        r.exit_code == 0
        and "entry_ratio" in r.output
        and "0.5 .. 1.5" in r.output
        and "fees_bps" in r.output
    )


def test_report_flag_writes_one_self_contained_file(tmp_path):
    from costbt.reports.offline import find_external_references

    target = tmp_path / "out" / "bc.html"
    r = runner.invoke(
        app,
        [
            "backtest",
            "--strategy",
            "below_cost",
            "--start",
            "2019-01-01",
            "--end",
            "2021-12-31",
            "--report",
            str(target),
            "--title",
            "<b>mine</b>",
        ],
    )
    assert r.exit_code == 0, r.output
    html = target.read_text(encoding="utf-8")
    assert find_external_references(html) == []
    assert "&lt;b&gt;mine&lt;/b&gt;" in html and "<b>mine</b>" not in html
    assert "report written to" in r.output


@pytest.mark.parametrize(
    "command",
    [
        ["backtest", "--strategy", "below_cost"],
        ["tune", "--n-trials", "2", "--study", "no-prices"],
        ["walkforward"],
        ["sweep", "--grid", "entry_ratio=0.8,0.9"],
    ],
)
@pytest.mark.parametrize(
    ("span", "message"),
    [
        (["--end", "2005-01-01"], "--end: no spot prices on or before 2005-01-01"),
        (["--start", "2030-01-01"], "--start: no spot prices on or after 2030-01-01"),
    ],
)
def test_a_span_without_prices_exits_2_naming_its_flag_in_every_run_command(
    command, span, message, tmp_path, monkeypatch
):
    monkeypatch.setenv("COSTBT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COSTBT_CACHE_DIR", str(tmp_path / "cache"))
    extra = ["--out", str(tmp_path / "sweep")] if command[0] == "sweep" else []
    r = runner.invoke(app, [*command, *extra, *span])
    assert r.exit_code == 2, r.output
    assert message in r.stderr and "Traceback" not in r.output
    assert "(they run " in r.stderr


@pytest.mark.parametrize(
    ("command", "flag"),
    [
        (["backtest", "--strategy", "below_cost", "--param", "include_fees=true"], "--param"),
        (["tune", "--n-trials", "2", "--param", "include_fees=true"], "--param"),
        (
            ["tune", "--n-trials", "2", "--search-assumptions", "--include", "include_fees"],
            "--include",
        ),
        (["walkforward", "--param", "include_fees=true"], "--param"),
        (["sweep", "--grid", "include_fees=false,true"], "--param/--grid"),
    ],
)
def test_fees_without_fee_data_exit_2_naming_include_fees(command, flag, tmp_path, monkeypatch):
    # The bundled data has no fee series: a fee-inclusive cost would be unknown on every day.
    monkeypatch.setenv("COSTBT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COSTBT_CACHE_DIR", str(tmp_path / "cache"))
    extra = ["--out", str(tmp_path / "sweep")] if command[0] == "sweep" else []
    r = runner.invoke(app, [*command, *extra])
    assert r.exit_code == 2, r.output
    assert f"{flag} include_fees: the bundled data has no transaction-fee series" in r.stderr
    assert "Traceback" not in r.output
    assert not (tmp_path / "sweep").exists()
