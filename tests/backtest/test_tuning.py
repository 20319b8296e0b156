"""`costbt tune`: reproducible, resumable Optuna studies; failures, constraints, workers, ledger."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import typer
from optuna.trial import TrialState
from typer.testing import CliRunner

from costbt.backtest import ledger, tuning
from costbt.backtest.cli.commands.tune_cmd import register
from costbt.backtest.evaluator import Evaluator

runner = CliRunner()


@pytest.fixture(scope="module")
def panel(bundled_panel) -> pd.DataFrame:
    return bundled_panel.loc["2018":"2024"].copy()


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.command("noop", hidden=True)
    def _noop() -> None:  # a second command keeps "tune" a subcommand
        pass

    return app


def _run(panel, tmp_path, name="s", n=15, **kw):
    return tuning.run_study(
        panel,
        n_trials=n,
        storage=str(tmp_path / f"{name}.log"),
        study_name=name,
        cache_dir=tmp_path,
        **kw,
    )


def _trials(study):
    return [(t.state, t.params, t.value) for t in study.trials]


def test_suggest_maps_each_kind():
    import optuna

    params = tuning.parameters("below_cost")
    names = ["entry_ratio", "confirm_days", "model", "trailing_stop"]
    trial = optuna.create_study().ask()
    got = tuning.suggest(trial, list(params.values()), names)
    assert set(got) == set(names)
    dists = trial.distributions
    assert dists["entry_ratio"].step == params["entry_ratio"].step
    assert dists["confirm_days"].low == 1 and dists["confirm_days"].high == 30
    assert dists["model"].choices == params["model"].search_choices  # not "external"
    assert dists["trailing_stop"].choices == (False, True)


def test_one_worker_with_the_same_seed_is_reproducible(panel, tmp_path):
    a = _run(panel, tmp_path, "a", seed=7)
    b = _run(panel, tmp_path, "b", seed=7)
    assert len(a.study.trials) == 15
    assert _trials(a.study) == _trials(b.study)
    assert set(a.study.trials[0].params) == set(tuning.DEFAULT_INCLUDE["below_cost"])
    assert {"sharpe", "cagr", "trades", "max_drawdown"} <= set(
        tuning.trial_metrics(a.study.trials[0])
    )
    c = _run(panel, tmp_path, "c", n=3, seed=8)
    assert _trials(a.study)[:3] != _trials(c.study)


def test_running_again_continues_the_study_and_refuses_other_settings(panel, tmp_path):
    first = _run(panel, tmp_path, "cont", n=5)
    assert len(first.study.trials) == 5
    again = _run(panel, tmp_path, "cont", n=5)
    assert len(again.study.trials) == 10
    assert again.completed == 5
    with pytest.raises(tuning.TuningError, match="other settings"):
        _run(panel, tmp_path, "cont", n=1, objective="cagr")


def test_a_run_refused_for_other_settings_leaves_the_journal_byte_for_byte(panel, tmp_path):
    _run(panel, tmp_path, "kept", n=2)
    journal = tmp_path / "kept.log"
    before = journal.read_bytes()
    with pytest.raises(tuning.TuningError, match="other settings"):
        _run(panel, tmp_path, "kept", n=1, objective="cagr")
    assert journal.read_bytes() == before


def test_a_failing_evaluation_is_recorded_and_the_study_goes_on(panel, tmp_path, monkeypatch):
    real = Evaluator.metrics
    calls = {"n": 0}

    def flaky(self, row, start=None, end=None):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("boom")
        return real(self, row, start, end)

    monkeypatch.setattr(Evaluator, "metrics", flaky)
    res = _run(panel, tmp_path, "fail", n=8)
    states = [t.state for t in res.study.trials]
    assert len(states) == 8
    assert states[2] == TrialState.FAIL
    assert "boom" in tuning.trial_tags(res.study.trials[2])["error"]
    assert states.count(TrialState.COMPLETE) == 7
    assert (res.completed, res.failed) == (7, 1)


def test_the_min_trades_constraint_is_applied(panel, tmp_path):
    res = _run(panel, tmp_path, "cons", n=15, min_trades=4)
    done = [t for t in res.study.trials if t.state == TrialState.COMPLETE]
    trades = {t.number: tuning.trial_metrics(t)["trades"] for t in done}
    infeasible = [t for t in done if trades[t.number] < 4]
    assert infeasible, "expected some trials with fewer than 4 trades"
    for t in done:
        assert t.constraints["min_trades"] == 4 - trades[t.number]
        assert tuning.trial_tags(t)["feasible"] == (trades[t.number] >= 4)
    best = tuning.best_trial(res.study)
    if best is not None:
        assert trades[best.number] >= 4
        feasible = [t.value for t in done if tuning.trial_tags(t)["feasible"]]
        assert best.value == max(feasible)
    assert all(trades[t.number] >= 4 for t in tuning.top_trials(res.study))


def test_two_workers_share_one_journal_study_and_the_ledger_counts_them(panel, tmp_path):
    res = _run(panel, tmp_path, "jobs", n=10, jobs=2)
    trials = res.study.trials
    assert len(trials) == 10
    assert res.completed + res.failed == 10
    assert {tuning.trial_tags(t)["run"] for t in trials} == {res.run}
    workers = {tuning.trial_tags(t)["worker"] for t in trials}
    assert 1 <= len(workers) <= 2  # this process, and a spawned worker once it has started
    assert ledger.trials("below_cost", ledger.data_key(panel)) == res.completed
    assert ledger.entries()[-1]["kind"] == "tune"


def test_workers_share_exactly_n_tickets_whatever_their_speed():
    import multiprocessing

    from tests.backtest.ticket_taker import take_all

    ctx = multiprocessing.get_context("spawn")
    tickets = tuning.Tickets(ctx, 500)
    counts = ctx.Array("q", 3)
    procs = [ctx.Process(target=take_all, args=(tickets, counts, i)) for i in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    assert sum(counts) == 500
    assert tickets.take() is False


def test_the_command_runs_and_records(tmp_path):
    args = ["tune", "--n-trials", "6", "--study", "cli", "--cache-dir", str(tmp_path)]
    r = runner.invoke(_app(), [*args, "--start", "2018-01-01", "--end", "2024-12-31"])
    assert r.exit_code == 0, r.output
    assert "best sharpe" in r.output or "no feasible trial" in r.output
    assert (tmp_path / "optuna" / "cli.log").exists()
    from costbt.data import load_panel

    assert ledger.trials("below_cost", ledger.data_key(load_panel())) == 6


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--objective", "nosuch"], "--objective"),
        (["--n-trials", "0"], "--n-trials"),
        (["--storage", "redis://localhost/0"], "--storage"),
        (["--include", "nosuch"], "--include"),
        (["--strategy", "buy_and_hold"], "--strategy"),
        (["--strategy", "nowhere.py:STRATEGY"], "--strategy"),
        (["--jobs", "0"], "--jobs"),
        (["--param", "nosuch=1"], "--param: unknown fixed parameter 'nosuch'"),
        (["--param", "entry_ratio=-1"], "--param"),
        (["--min-trades", "-1"], "--min-trades"),
        (["--include", "entry_ratio", "--param", "entry_ratio=0.9"], "--param"),
    ],
)
def test_bad_input_exits_2(tmp_path, args, message):
    r = runner.invoke(_app(), ["tune", *args, "--cache-dir", str(tmp_path)])
    assert r.exit_code == 2, r.output
    assert message in r.output


def test_bad_settings_are_refused_before_the_panel_is_read(tmp_path, monkeypatch):
    import costbt.backtest.cli.commands.tune_cmd as cmd

    def never(*_a, **_k):
        raise AssertionError("the panel was read before the settings were checked")

    monkeypatch.setattr(cmd, "load_traded_panel", never)
    r = runner.invoke(_app(), ["tune", "--param", "nosuch=1", "--cache-dir", str(tmp_path)])
    assert r.exit_code == 2 and "--param" in r.output


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"objective": "nosuch"}, "objective"),
        ({"n_trials": 0}, "n_trials"),
        ({"jobs": 0}, "jobs"),
        ({"min_trades": -1}, "min_trades"),
        ({"include": ["nosuch"]}, "include"),
        ({"fixed": {"nosuch": 1}}, "fixed"),
        ({"storage": "redis://localhost/0"}, "storage"),
    ],
)
def test_check_study_names_the_setting_at_fault(tmp_path, kwargs, field):
    with pytest.raises(tuning.TuningError) as info:
        tuning.check_study("below_cost", cache_dir=tmp_path, **kwargs)
    assert info.value.field == field


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_database_is_one_line_exit_1_without_its_password(tmp_path):
    url = f"postgresql://me:s3cret-pw@127.0.0.1:{_closed_port()}/optuna"
    r = runner.invoke(_app(), ["tune", "--storage", url, "--cache-dir", str(tmp_path)])
    assert r.exit_code == 1, r.output
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith("error: --storage: cannot reach") and "me:***@" in line
    assert "s3cret-pw" not in r.output


@pytest.mark.parametrize(
    ("storage", "words"),
    [
        ("sqlite:///{tmp}/missing/optuna.db", "does not exist"),
        ("sqlite:///{tmp}/garbage.db", "is not an SQLite database"),
        ("sqlite:///{tmp}", "is a folder"),
        ("{tmp}", "is a folder; give a file name"),
        ("{tmp}/afile/study.log", "is a file, not a folder"),
        ("/proc/study.log", "cannot write in /proc"),
        ("mysql://me:pw@127.0.0.1/optuna", "no mysql driver"),
    ],
)
def test_an_unusable_storage_is_one_line_naming_it_before_any_work(tmp_path, storage, words):
    (tmp_path / "garbage.db").write_bytes(b"not a database at all, just bytes\n" * 4)
    (tmp_path / "afile").write_text("x")
    before = (tmp_path / "garbage.db").read_bytes()
    r = runner.invoke(_app(), ["tune", "--storage", storage.format(tmp=tmp_path)])
    assert r.exit_code == 2, r.output
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith("error: --storage:") and words in line
    assert (tmp_path / "garbage.db").read_bytes() == before


def test_the_documented_url_forms_are_normalised_and_redacted():
    from costbt.backtest.storage_urls import normalise, redact

    assert normalise("postgresql://u@h/db") == "postgresql+psycopg2://u@h/db"
    assert normalise("postgres://u@h/db") == "postgresql+psycopg2://u@h/db"
    assert normalise("postgresql+psycopg2://u@h/db") == "postgresql+psycopg2://u@h/db"
    assert redact("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"


def test_no_defined_value_is_the_worst_not_a_failure(panel, tmp_path, monkeypatch):
    def flat(self, row, start=None, end=None):
        return {k: (0.0 if k != "sharpe" else math.nan) for k in tuning_metrics()}

    def tuning_metrics():
        from costbt.backtest.fast import METRICS

        return METRICS

    monkeypatch.setattr(Evaluator, "metrics", flat)
    res = _run(panel, tmp_path, "nan", n=2, min_trades=0)
    assert [t.value for t in res.study.trials] == [-math.inf, -math.inf]


# ----------------------------------------------------------------------------- beliefs, flags


def test_the_default_search_is_the_trading_rule_not_the_cost_assumptions():
    names = tuning.resolve_include("below_cost", None)
    assert names == ["entry_ratio", "confirm_days", "exit_ratio"]
    assert not set(names) & set(tuning.assumption_names())


def test_searching_a_cost_assumption_takes_an_explicit_flag():
    with pytest.raises(tuning.TuningError, match="power_price: cost assumptions are beliefs"):
        tuning.resolve_include("below_cost", ["entry_ratio", "power_price"])
    assert "power_price" in tuning.resolve_include("below_cost", ["power_price"], True)
    assert {"power_price", "efficiency_scale", "pue"} <= set(
        tuning.resolve_include("below_cost", None, search_assumptions=True)
    )


def test_the_command_refuses_an_assumption_without_the_flag_and_says_so_with_it(tmp_path):
    base = ["tune", "--n-trials", "3", "--cache-dir", str(tmp_path), "--start", "2019-01-01"]
    r = runner.invoke(_app(), [*base, "--study", "a", "--include", "entry_ratio,power_price"])
    assert r.exit_code == 2 and "--include" in r.output and "--search-assumptions" in r.output
    r = runner.invoke(
        _app(),
        [*base, "--study", "b", "--include", "entry_ratio,power_price", "--search-assumptions"],
    )
    assert r.exit_code == 0, r.output
    assert "cost assumptions were searched" in r.output


def test_configurations_indistinguishable_from_buy_and_hold_are_infeasible(panel, tmp_path):
    # An assumed cost so high that price is "below cost" nearly every day: the rule is in the
    # market almost always unless its exit fires (a belief fixed by --param, not searched).
    fixed = {"power_price": 0.19, "efficiency_scale": 1.5}
    res = _run(panel, tmp_path, "bh", n=20, min_trades=1, fixed=fixed)
    done = [t for t in res.study.trials if t.state == TrialState.COMPLETE]
    flagged = [t for t in done if tuning.trial_tags(t)["flag"] is not None]
    assert flagged, "expected buy-and-hold-like trials under these assumptions"
    for t in flagged:
        assert t.constraints["degenerate"] > 0 and tuning.trial_tags(t)["feasible"] is False
    best = tuning.best_trial(res.study)
    assert best is None or tuning.trial_tags(best)["flag"] is None
    assert sum(tuning.flag_counts(res.study).values()) == len(flagged)
    kept = _run(panel, tmp_path, "bh-kept", n=20, min_trades=1, fixed=fixed, allow_degenerate=True)
    assert all(t.constraints["degenerate"] < 0 for t in kept.study.trials if t.constraints)


def test_the_traded_period_ends_where_the_signal_data_ends(bundled_panel, tmp_path):
    res = _run(bundled_panel, tmp_path, "clip", n=2)
    first, last = Evaluator(bundled_panel).signal_days({})
    assert res.period == (first, last)
    assert last < bundled_panel["close_usd"].last_valid_index()  # inputs end before prices


def test_a_searched_cost_model_clips_the_period_to_the_days_every_model_is_known(bundled_panel):
    ev = Evaluator(bundled_panel)
    fixed_first, fixed_last = tuning.signal_days(ev, "below_cost", {})
    first, last = tuning.signal_days(ev, "below_cost", {}, searched=["model", "entry_ratio"])
    for model in ("electricity", "hayes", "all_in", "difficulty_regression"):
        a, b = ev.signal_days({"model": model})
        assert a <= first and last <= b
    assert fixed_first <= first and last <= fixed_last
    assert (last - first).days > 8 * 365  # not shrunk to the analyst estimates' few spans


def test_a_search_never_draws_the_expiring_analyst_estimates(bundled_panel, tmp_path):
    model = tuning.parameters("below_cost")["model"]
    assert "external" in model.choices and "external" not in model.search_choices
    res = _run(
        bundled_panel,
        tmp_path,
        "models",
        n=30,
        include=["model", "entry_ratio"],
        search_assumptions=True,
    )
    drawn = {t.params["model"] for t in res.study.trials}
    assert drawn and "external" not in drawn


def test_the_estimate_age_grid_holds_its_default():
    age = tuning.parameters("below_cost")["estimate_max_age_days"]
    grid = range(int(age.low), int(age.high) + 1, int(age.step))
    assert age.default in grid


def test_ctrl_c_while_optuna_records_a_trial_is_an_interrupt_not_a_bug(
    panel, tmp_path, monkeypatch
):
    # Optuna's finally reads a variable its interrupted try never set (UnboundLocalError): the
    # run must end as the interrupt it was (exit 130 on the command line), not as a bug.
    import optuna.study._optimize as optimize_module

    def interrupted(**_kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(optimize_module, "_tell_with_warning", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _run(panel, tmp_path, "ctrl-c", n=3)
