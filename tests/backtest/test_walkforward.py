"""`costbt walkforward`: windows, point in time, stitching, flat windows, ledger, the command."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from costbt.backtest import ledger, tuning
from costbt.backtest import walkforward as wf
from costbt.backtest.cli.commands.walkforward_cmd import register
from costbt.backtest.evaluator import Evaluator

runner = CliRunner()
DAY = pd.Timedelta(days=1)
# A small run: 2-year training windows, 1-year tests 2020..2023 (4 windows x 15 trials).
SMALL = {"train": "2y", "test": "1y", "n_trials": 15, "start": "2018-01-01", "end": "2023-12-31"}


@pytest.fixture(scope="module")
def panel(bundled_panel) -> pd.DataFrame:
    return bundled_panel.copy()


@pytest.fixture(scope="module")
def ledger_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("walkforward-ledger")


@pytest.fixture(scope="module")
def result(panel, ledger_dir) -> wf.WalkForwardResult:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COSTBT_HOME", str(ledger_dir))
        return wf.run_walkforward(panel, **SMALL)


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.command("noop", hidden=True)
    def _noop() -> None:  # a second command keeps "walkforward" a subcommand
        pass

    return app


def _same(a: dict, b: dict) -> bool:
    """Equal dicts of numbers, NaN equal to NaN."""
    if set(a) != set(b):
        return False
    return all(
        (isinstance(a[k], float) and math.isnan(a[k]) and math.isnan(b[k])) or a[k] == b[k]
        for k in a
    )


def _assert_same_window(x: wf.WindowResult, y: wf.WindowResult) -> None:
    assert x.window == y.window
    assert x.params == y.params
    assert _same(x.is_metrics, y.is_metrics)
    assert _same(x.oos_metrics, y.oos_metrics)


# ----------------------------------------------------------------------------- durations


@pytest.mark.parametrize(
    ("text", "offset"),
    [
        ("4y", pd.DateOffset(years=4)),
        ("18m", pd.DateOffset(months=18)),
        ("90d", pd.DateOffset(days=90)),
        ("2w", pd.DateOffset(weeks=2)),
        (" 3Y ", pd.DateOffset(years=3)),
        ("0d", pd.DateOffset(days=0)),
    ],
)
def test_a_duration_is_a_whole_number_and_a_unit(text, offset):
    day = pd.Timestamp("2019-01-31")
    assert day + wf.parse_duration(text) == day + offset


@pytest.mark.parametrize("text", ["4x", "", "y", "-1d", "1.5y", "4 years", "d4"])
def test_a_bad_duration_raises_a_clear_error(text):
    with pytest.raises(ValueError, match="not a duration.*y, m, w or d"):
        wf.parse_duration(text)


# ----------------------------------------------------------------------------- windows

DAYS = pd.date_range("2015-01-01", "2024-12-31")


def test_rolling_windows_have_the_train_and_test_lengths_and_tests_follow_each_other():
    ws = wf.make_windows(DAYS, "4y", "1y")
    assert [w.number for w in ws] == [1, 2, 3, 4, 5, 6]
    assert (ws[0].train_start, ws[0].train_end) == (
        pd.Timestamp("2015-01-01"),
        pd.Timestamp("2018-12-31"),
    )
    assert (ws[0].test_start, ws[0].test_end) == (
        pd.Timestamp("2019-01-01"),
        pd.Timestamp("2019-12-31"),
    )
    for w in ws:
        assert w.train_end + DAY - pd.DateOffset(years=4) == w.train_start
        assert w.test_start + pd.DateOffset(years=1) - DAY == w.test_end
        assert w.train_end + DAY == w.test_start
    for a, b in zip(ws, ws[1:], strict=False):
        assert b.test_start == a.test_end + DAY  # no overlap, no gap
    assert ws[-1].test_end == DAYS[-1]
    assert ws[0].label == "2015-01-01..2018-12-31 -> 2019-01-01..2019-12-31"


def test_monthly_test_windows_are_contiguous_across_month_ends():
    ws = wf.make_windows(pd.date_range("2015-01-31", "2017-12-31"), "1y", "1m")
    for a, b in zip(ws, ws[1:], strict=False):
        assert b.test_start == a.test_end + DAY
    assert ws[0].test_start == pd.Timestamp("2016-01-31")
    assert ws[1].test_start == pd.Timestamp("2016-02-29")
    assert ws[2].test_start == pd.Timestamp("2016-03-31")


def test_the_last_test_window_is_clipped_to_the_data():
    ws = wf.make_windows(DAYS[DAYS <= "2024-06-30"], "4y", "1y")
    assert (ws[-1].test_start, ws[-1].test_end) == (
        pd.Timestamp("2024-01-01"),
        pd.Timestamp("2024-06-30"),
    )


def test_the_embargo_is_a_gap_between_train_and_test():
    ws = wf.make_windows(DAYS, "4y", "1y", embargo="30d")
    for w in ws:
        assert (w.test_start - w.train_end).days == 31  # 30 days strictly between
        assert w.train_end + pd.Timedelta(days=30) < w.test_start
    assert ws[0].train_start == DAYS[0]


def test_the_step_spaces_the_test_windows():
    ws = wf.make_windows(DAYS, "2y", "6m", step="1y")
    assert [w.test_start.year for w in ws] == [2017, 2018, 2019, 2020, 2021, 2022, 2023, 2024]
    assert all(w.test_end == w.test_start + pd.DateOffset(months=6) - DAY for w in ws)


def test_a_step_shorter_than_the_test_window_is_refused():
    with pytest.raises(wf.WalkForwardError, match="overlap"):
        wf.make_windows(DAYS, "4y", "1y", step="6m")


def test_a_test_window_under_one_day_is_refused():
    with pytest.raises(wf.WalkForwardError, match="test window"):
        wf.make_windows(DAYS, "4y", "0d")


def test_anchored_windows_train_from_the_first_day():
    ws = wf.make_windows(DAYS, "4y", "1y", anchored=True)
    assert all(w.train_start == DAYS[0] for w in ws)
    assert [w.train_end.year for w in ws] == [2018, 2019, 2020, 2021, 2022, 2023]
    assert [w.test_start for w in ws] == [w.test_start for w in wf.make_windows(DAYS, "4y", "1y")]


BUNDLED = pd.date_range("2015-01-26", "2026-08-13")


def test_halving_windows_test_each_epoch_after_training_on_the_previous_one():
    ws = wf.make_windows(BUNDLED, "4y", "1y", by_halving=True)
    tests = [(str(w.test_start.date()), str(w.test_end.date())) for w in ws]
    assert tests == [
        ("2016-07-09", "2020-05-10"),
        ("2020-05-11", "2024-04-19"),
        ("2024-04-20", "2026-08-13"),
    ]
    trains = [(str(w.train_start.date()), str(w.train_end.date())) for w in ws]
    assert trains == [
        ("2015-01-26", "2016-07-08"),  # the first epoch, clipped to the data
        ("2016-07-09", "2020-05-10"),
        ("2020-05-11", "2024-04-19"),
    ]
    assert ws[1].label == "2016-07-09..2020-05-10 -> 2020-05-11..2024-04-19"


def test_anchored_halving_windows_train_on_everything_before_the_epoch():
    ws = wf.make_windows(BUNDLED, by_halving=True, anchored=True)
    assert all(w.train_start == BUNDLED[0] for w in ws)
    assert [w.train_end + DAY for w in ws] == [w.test_start for w in ws]
    assert ws[0].label == "<2016-07-09 -> 2016-07-09..2020-05-10"


def test_the_embargo_is_cut_from_the_start_of_a_halving_test_window():
    ws = wf.make_windows(BUNDLED, by_halving=True, embargo="30d")
    assert ws[0].test_start == pd.Timestamp("2016-07-09") + pd.Timedelta(days=30)
    assert ws[0].train_end == pd.Timestamp("2016-07-08")


def test_a_window_with_too_little_training_data_is_skipped_with_a_reason():
    days = BUNDLED[BUNDLED >= "2016-01-01"]
    ws = wf.make_windows(days, by_halving=True)
    kept, skipped = wf.split_windows(ws, days, min_train_days=365)
    assert [w.test_start for w, _ in skipped] == [pd.Timestamp("2016-07-09")]
    assert "190 day(s)" in skipped[0][1]
    assert [w.number for w in kept] == [1, 2]


# ----------------------------------------------------------------------------- the run


def test_each_window_trades_the_best_trial_scored_on_its_training_span(panel, result):
    ev = Evaluator(panel)
    assert len(result.windows) == 4
    for r in result.windows:
        w = r.window
        assert w.train_end < w.test_start
        assert r.trials == 15
        assert r.params == tuning.best_trial(r.study).params
        assert _same(r.is_metrics, ev.metrics(r.params, w.train_start, w.train_end))


def test_the_result_is_the_same_on_a_panel_cut_after_the_last_test_window(panel, result):
    last = result.windows[-1].window.test_end
    cut = wf.run_walkforward(panel.loc[:last], **SMALL, record=False)
    assert len(cut.windows) == len(result.windows)
    for x, y in zip(result.windows, cut.windows, strict=True):
        _assert_same_window(x, y)
    pd.testing.assert_series_equal(result.oos_returns, cut.oos_returns)


def test_prices_after_a_test_window_do_not_change_it(panel, result):
    k = 1  # the second window: 2021
    after = result.windows[k].window.test_end
    changed = panel.copy()
    later = changed.index > after
    for col in ("open_usd", "high_usd", "low_usd", "close_usd"):
        changed.loc[later, col] = changed.loc[later, col] * np.linspace(0.3, 3.0, later.sum())
    other = wf.run_walkforward(changed, **SMALL, record=False)
    for x, y in zip(result.windows[: k + 1], other.windows[: k + 1], strict=True):
        _assert_same_window(x, y)
    assert not _same(result.windows[k + 1].benchmark_oos, other.windows[k + 1].benchmark_oos)


def test_prices_in_a_test_window_do_not_change_its_chosen_parameters(panel, result):
    k = 2  # the third window: trained 2020-2021, tested 2022
    w = result.windows[k].window
    changed = panel.copy()
    later = changed.index > w.train_end
    for col in ("open_usd", "high_usd", "low_usd", "close_usd"):
        changed.loc[later, col] = changed.loc[later, col] * np.linspace(2.0, 0.5, later.sum())
    other = wf.run_walkforward(changed, **SMALL, record=False)
    assert other.windows[k].params == result.windows[k].params
    assert _same(other.windows[k].is_metrics, result.windows[k].is_metrics)
    assert not _same(other.windows[k].benchmark_oos, result.windows[k].benchmark_oos)


def test_stitched_returns_are_the_windows_evaluator_returns(panel, result):
    ev = Evaluator(panel)
    pieces = []
    for r in result.windows:
        w = r.window
        rets = ev.returns(r.params, w.test_start, w.test_end, close_at_end=True)
        pd.testing.assert_series_equal(
            result.oos_returns.loc[w.test_start : w.test_end], rets, check_names=False
        )
        assert (1 + rets).prod() - 1 == pytest.approx(r.oos_metrics["total_return"], rel=1e-9)
        pieces.append(rets)
    assert result.oos_returns.index.equals(pd.concat(pieces).index)
    assert result.oos_returns.index.is_unique


def test_a_position_open_at_a_windows_end_is_closed_there_with_costs(panel, result):
    ev = Evaluator(panel)
    forced = [r for r in result.windows if r.oos_metrics["exits_end"] == 1]
    assert forced, "the small run should hold a position at some window's end"
    for r in forced:
        w = r.window
        closed = ev.returns(r.params, w.test_start, w.test_end, close_at_end=True)
        held = ev.returns(r.params, w.test_start, w.test_end)
        row = ev.row(r.params)
        cost = (1 - row["slippage_bps"] / 1e4) * (1 - row["fees_bps"] / 1e4)
        # Everything before the last day is the same run; the last day sells at its close.
        pd.testing.assert_series_equal(closed.iloc[:-1], held.iloc[:-1])
        assert 1 + closed.iloc[-1] == pytest.approx((1 + held.iloc[-1]) * cost, rel=1e-9)
    s = result.summary()
    assert s["exits_end"] == sum(int(r.oos_metrics["exits_end"]) for r in result.windows)


def test_the_oos_equity_compounds_from_the_initial_cash(result):
    expected = result.init_cash * (1 + result.oos_returns).cumprod()
    np.testing.assert_allclose(result.oos_equity.to_numpy(), expected.to_numpy())
    assert result.summary()["oos_final_equity"] == pytest.approx(result.oos_equity.iloc[-1])


def test_buy_and_hold_buys_each_windows_first_open_and_sells_its_last_close(panel, result):
    b = result.benchmark_returns
    assert b.index.equals(result.oos_returns.index)
    fee, slip = 10 / 1e4, 5 / 1e4  # the engine's defaults: the run's costs
    for r in result.windows:
        days = result.oos_returns.loc[r.window.test_start : r.window.test_end].index
        got = (1 + b.loc[days]).prod() - 1
        relative = panel["close_usd"][days[-1]] / panel["open_usd"][days[0]]
        assert got == pytest.approx(relative * (1 - slip) * (1 - fee) / (1 + slip) / (1 + fee) - 1)


def test_the_table_has_one_row_per_window_with_is_oos_and_buy_and_hold(result):
    t = result.table()
    assert list(t["number"]) == [1, 2, 3, 4]
    for col in (
        "label",
        "train_start",
        "test_end",
        "entry_ratio",
        "exit_ratio",
        "is_sharpe",
        "is_cagr",
        "is_trades",
        "oos_sharpe",
        "oos_cagr",
        "oos_total_return",
        "oos_max_drawdown",
        "oos_trades",
        "oos_entry_share",
        "oos_exits_signal",
        "oos_exits_end",
        "flag",
        "bh_sharpe",
        "bh_total_return",
    ):
        assert col in t.columns
    assert (t["status"] == "tuned").all()


def test_the_efficiency_is_oos_cagr_over_the_day_weighted_is_cagr(result):
    s = result.summary()
    weights = [r.oos_days for r in result.windows]
    is_cagr = np.average([r.is_metrics["cagr"] for r in result.windows], weights=weights)
    assert s["is_annual_return"] == pytest.approx(is_cagr)
    assert s["days"] == len(result.oos_returns) == sum(weights)
    if is_cagr > 0:
        assert s["efficiency"] == pytest.approx(s["oos_cagr"] / is_cagr)


def test_a_window_without_a_feasible_trial_holds_cash(panel):
    res = wf.run_walkforward(
        panel,
        train="1y",
        test="1y",
        n_trials=3,
        min_trades=10**6,
        start="2021-01-01",
        end="2022-12-31",
        record=False,
    )
    (only,) = res.windows
    assert only.params is None and only.trials == 3
    assert (res.oos_returns == 0.0).all()
    assert (res.oos_equity == res.init_cash).all()
    assert res.table()["status"].tolist() == ["no feasible trial: flat"]
    assert res.summary()["flat_windows"] == 1
    assert only.oos_metrics["trades"] == 0 and only.oos_metrics["total_return"] == 0.0


def test_the_ledger_records_the_completed_trials(result, ledger_dir, panel, monkeypatch):
    monkeypatch.setenv("COSTBT_HOME", str(ledger_dir))
    (entry,) = ledger.entries()
    assert entry["kind"] == "walkforward" and entry["id"] == result.ledger_id
    assert entry["configurations"] == result.trials == 4 * 15
    assert entry["windows"] == 4 and entry["status"] == "done"
    assert entry["oos_sharpe"] == pytest.approx(result.summary()["oos_sharpe"])
    assert entry["oos_days"] == result.summary()["days"]
    assert ledger.trials("below_cost", ledger.data_key(panel)) == 60
    (run,) = ledger.walkforward_runs("below_cost", ledger.data_key(panel))
    assert (run["id"], run["trials"], run["oos_days"]) == (result.ledger_id, 60, entry["oos_days"])


def test_settings_record_every_option(result):
    s = result.settings
    assert s["train"] == "2y" and s["test"] == "1y" and s["step"] == "1y"
    assert s["embargo"] == "0d" and s["anchored"] is False and s["by_halving"] is False
    assert (s["n_trials"], s["seed"], s["min_trades"]) == (15, 0, 1)
    assert (s["start"], s["end"]) == ("2018-01-01", "2023-12-31")
    assert s["fixed"] == {} and s["include"][0] == "entry_ratio"


# ----------------------------------------------------------------------------- the command

SMALL_CLI = ["--train", "1y", "--test", "1y", "--start", "2021-01-01", "--end", "2022-12-31"]


def test_the_command_prints_the_windows_and_the_summary(tmp_path):
    args = ["walkforward", *SMALL_CLI, "--n-trials", "4"]
    r = runner.invoke(_app(), args)
    assert r.exit_code == 0, r.output
    assert "In-sample (train) against out-of-sample (test) per window" in r.output
    assert "2022-01-01..2022-12-31" in r.output
    assert "against buy-and-hold on the same days" in r.output
    assert "walk-forward efficiency" in r.output
    assert "ledger: 4 trials recorded" in r.output
    from costbt.data import load_panel

    assert ledger.trials("below_cost", ledger.data_key(load_panel())) == 4


def test_the_command_says_train_and_test_are_ignored_by_halving(tmp_path):
    args = ["walkforward", "--by-halving", "--train", "2y", "--n-trials", "3"]
    args += ["--start", "2019-01-01", "--end", "2021-06-30"]
    r = runner.invoke(_app(), args)
    assert r.exit_code == 0, r.output
    assert "--train ignored with --by-halving" in r.output
    assert "2020-05-11..2021-06-30" in r.output


def test_a_report_folder_that_cannot_be_created_exits_2_before_any_work(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    args = ["walkforward", *SMALL_CLI, "--n-trials", "2", "--report", str(blocker / "w.html")]
    r = runner.invoke(_app(), [*args])
    assert r.exit_code == 2, r.output
    assert "--report" in r.output
    assert not ledger.ledger_path().exists()  # failed before any work


def test_the_report_flag_writes_the_report(tmp_path):
    page = tmp_path / "w.html"
    args = ["walkforward", *SMALL_CLI, "--n-trials", "2", "--report", str(page)]
    r = runner.invoke(_app(), [*args])
    assert r.exit_code == 0, r.output
    assert page.exists()


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--strategy", "buy_and_hold"], "--strategy"),
        (["--strategy", "nowhere.py:STRATEGY"], "--strategy"),
        (["--objective", "nosuch"], "--objective"),
        (["--train", "4x"], "--train"),
        (["--test", "0d"], "--test"),
        (["--embargo", "soon"], "--embargo"),
        (["--step", "6m"], "--step"),
        (["--start", "2022-01-01", "--end", "2021-01-01"], "--end"),
        (["--include", "nosuch"], "--include"),
        (["--param", "nosuch=1"], "--param"),
        (["--param", "stop_loss=0.1"], "--param"),
        (["--n-trials", "0"], "--n-trials"),
        (["--train", "6m"], "--train"),  # no window has 365 days to train on
    ],
)
def test_bad_input_exits_2_naming_the_flag(tmp_path, args, flag):
    r = runner.invoke(_app(), ["walkforward", *args])
    assert r.exit_code == 2, r.output
    assert flag in r.output
    assert not ledger.ledger_path().exists()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"strategy": "buy_and_hold"}, "strategy"),
        ({"objective": "nosuch"}, "objective"),
        ({"n_trials": 0}, "n_trials"),
        ({"min_train_days": 0}, "min_train_days"),
        ({"train": "4x"}, "train"),
        ({"test": "0d"}, "test"),
        ({"step": "6m"}, "step"),
        ({"embargo": "soon"}, "embargo"),
        ({"include": ["nosuch"]}, "include"),
        ({"fixed": {"stop_loss": 0.1}}, "fixed"),
        ({"start": "2022-01-01", "end": "2021-01-01"}, "end"),
    ],
)
def test_check_settings_names_the_setting_at_fault(kwargs, field):
    with pytest.raises(wf.WalkForwardError) as info:
        wf.check_settings(**kwargs)
    assert info.value.field == field


def test_a_plan_holds_the_windows_the_run_trades(panel):
    settings = wf.check_settings(**{**SMALL, "n_trials": 3})
    plan = wf.plan_walkforward(panel, settings)
    result = wf.run_plan(panel, plan, record=False)
    assert [w.window for w in result.windows] == plan.windows
    assert result.settings == settings.as_dict()


# ----------------------------------------------------------------------------- what windows mean


def test_days_without_signal_data_are_in_no_window(panel, tmp_path, monkeypatch):
    monkeypatch.setenv("COSTBT_HOME", str(tmp_path))
    res = wf.run_walkforward(
        panel, train="2y", test="6m", n_trials=4, start="2022-06-01", record=False
    )
    sig = res.signal
    assert sig["signal_last"] < panel["close_usd"].last_valid_index()
    assert res.oos_returns.index[-1] <= sig["signal_last"]
    priced_after = panel.loc[sig["signal_last"] :, "close_usd"].iloc[1:].notna().sum()
    assert sig["days_after"] == priced_after > 0
    assert res.summary()["days_after_signal"] == priced_after


def test_windows_record_entry_share_exits_and_flags(result):
    t = result.table()
    assert t["oos_entry_share"].dropna().between(0, 1).all()
    from costbt.backtest.degenerate import degeneracy
    from costbt.backtest.result import EXIT_CAUSES

    exits = t[[f"oos_exits_{c}" for c in EXIT_CAUSES]].sum(axis=1)
    assert (exits == t["oos_trades"]).all()  # every OOS entry ends by exactly one cause
    s = result.summary()
    assert sum(s[f"exits_{c}"] for c in EXIT_CAUSES) == s["oos_trades"]
    flags = [w.flag for w in result.windows]
    assert s["flagged_windows"] == sum(f is not None for f in flags)
    assert s["never_in_windows"] + s["buy_and_hold_windows"] == s["flagged_windows"]
    assert s["oos_flag"] == degeneracy(s["oos_trades"], s["oos_exposure"], s["oos_market_corr"])


def test_buy_and_hold_is_out_only_on_each_windows_last_day(result):
    s = result.summary()
    assert s["bh_exposure"] == pytest.approx(1.0 - len(result.windows) / s["days"])


def test_the_default_search_keeps_the_cost_assumptions_at_their_values(result):
    assert result.settings["include"] == ["entry_ratio", "confirm_days", "exit_ratio"]
    assert result.settings["search_assumptions"] is False
    for r in result.windows:
        assert "power_price" not in (r.params or {})


def test_the_command_refuses_to_search_assumptions_without_the_flag(tmp_path):
    r = runner.invoke(
        _app(),
        [
            "walkforward",
            "--include",
            "power_price",
            "--n-trials",
            "2",
        ],
    )
    assert r.exit_code == 2 and "--include" in r.output and "beliefs" in r.output


def test_the_report_renders_windows_with_and_without_a_flag(result, tmp_path):
    from dataclasses import replace

    from costbt.reports.walkforward_html import write_walkforward_report

    windows = [replace(result.windows[0], flag="buy_and_hold"), *result.windows[1:]]
    mixed = replace(result, windows=windows)
    page = write_walkforward_report(mixed, tmp_path / "w.html", ledger_trials=10)
    text = page.read_text(encoding="utf-8")
    assert "indistinguishable from buy-and-hold" in text
    flagged = sum(w.flag == "buy_and_hold" for w in windows)
    assert f"{flagged} of 4 window(s) traded like buy-and-hold out of sample" in text
