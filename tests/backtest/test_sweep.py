"""`costbt sweep`: grid syntax, bad input before any work, results, ledger, interruption and resume."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from costbt.backtest import fast, ledger
from costbt.backtest import overfitting as o
from costbt.backtest.cli import app
from costbt.backtest.engine import EngineConfig
from costbt.backtest.evaluator import Evaluator
from costbt.backtest.grid import GridError, grid_size, parse_axis
from costbt.backtest.sweep import SweepError, SweepSpec, combinations, run_sweep
from costbt.signals.params import space
from costbt.strategies import STRATEGIES

PARAMS = {p.name: p for p in (*space(STRATEGIES["below_cost"].params), *space(EngineConfig))}
runner = CliRunner()


@pytest.fixture(scope="module")
def panel(bundled_panel) -> pd.DataFrame:
    return bundled_panel.copy()


def test_a_range_includes_both_ends():
    assert parse_axis("entry_ratio=0.6:0.7:0.05", PARAMS).values == (0.6, 0.65, 0.7)


def test_a_list_and_a_log_range():
    assert parse_axis("confirm_days=1,3,7", PARAMS).values == (1, 3, 7)
    logs = parse_axis("power_price=log:0.02:0.08:3", PARAMS).values
    assert logs == pytest.approx((0.02, 0.04, 0.08))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("entry_ratio=0.6:1.2:0", "step must be > 0"),
        ("entry_ratio=1.2:0.6:0.1", "empty range"),
        ("nosuch=1,2", "unknown parameter 'nosuch'"),
        ("entry_ratio=0.1:0.3:0.1", "below its minimum"),
        ("entry_ratio", "expected NAME="),
        ("power_price=log:0:1:3", "log range"),
    ],
)
def test_bad_grids_are_named(spec, message):
    with pytest.raises(GridError, match=message):
        parse_axis(spec, PARAMS)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--grid", "entry_ratio=0.6:1.2:-0.1"], "step must be > 0"),
        (["--grid", "bogus=1,2"], "unknown parameter 'bogus'"),
        (
            ["--grid", "entry_ratio=0.5:1.5:0.0001", "--grid", "exit_ratio=1:4:0.001"],
            "exceed --max-combinations",
        ),
        (["--grid", "entry_ratio=0.9,1.0", "--metric", "luck"], "--metric"),
        (["--grid", "entry_ratio=0.9,1.0", "--param", "entry_ratio=1"], "also swept"),
    ],
)
def test_bad_sweeps_exit_2_before_any_work(tmp_path, args, message):
    out = tmp_path / "sweep"
    r = runner.invoke(app, ["sweep", *args, "--out", str(out)])
    assert r.exit_code == 2, r.output
    assert message in r.stderr and not out.exists()


def test_combinations_are_decoded_in_product_order():
    axes = (parse_axis("entry_ratio=0.8,0.9", PARAMS), parse_axis("exit_ratio=1.5,2,3", PARAMS))
    spec = SweepSpec("below_cost", axes, {"fees_bps": 20.0}, chunk_size=4)
    frame = combinations(spec, 0, grid_size(list(axes)))
    assert list(zip(frame["entry_ratio"], frame["exit_ratio"], strict=True)) == [
        (0.8, 1.5),
        (0.8, 2.0),
        (0.8, 3.0),
        (0.9, 1.5),
        (0.9, 2.0),
        (0.9, 3.0),
    ]
    assert (frame["fees_bps"] == 20.0).all()


def spec_small(chunk: int = 7) -> SweepSpec:
    axes = (
        parse_axis("entry_ratio=0.8:1.1:0.1", PARAMS),
        parse_axis("exit_ratio=1.5,2,2.5", PARAMS),
        parse_axis("power_price=0.04,0.06", PARAMS),
    )
    return SweepSpec("below_cost", axes, {}, chunk_size=chunk)


def test_a_sweep_writes_every_metric_for_every_combination(panel, tmp_path):
    spec = spec_small()
    results = run_sweep(panel, spec, tmp_path)
    assert len(results) == spec.size == 24
    on_disk = pd.read_parquet(tmp_path / "results.parquet")
    pd.testing.assert_frame_equal(on_disk, results)
    assert set(fast.METRICS) <= set(pd.read_csv(tmp_path / "results.csv").columns)
    direct = fast.sweep_below_cost(panel, results[["entry_ratio", "exit_ratio", "power_price"]])
    assert np.allclose(direct["final_equity"], results["final_equity"], rtol=1e-12)
    assert json.loads((tmp_path / "sweep_state.json").read_text())["status"] == "complete"


def test_an_interrupted_sweep_keeps_its_chunks_and_resumes(panel, tmp_path):
    spec = spec_small(chunk=5)

    def stop_after_two(chunk: int, size: int) -> None:
        if chunk == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(panel, spec, tmp_path, on_chunk=stop_after_two)
    state = json.loads((tmp_path / "sweep_state.json").read_text())
    assert state["status"] == "partial" and state["done"] == [0, 1]
    with pytest.raises(SweepError, match="--resume"):
        run_sweep(panel, spec, tmp_path)
    other = SweepSpec("below_cost", spec.axes[:2], {}, chunk_size=5)
    with pytest.raises(SweepError, match="the grid, fixed values or --start/--end differ"):
        run_sweep(panel, other, tmp_path, resume=True)
    evaluated = []
    resumed = run_sweep(
        panel, spec, tmp_path, resume=True, on_chunk=lambda c, k: evaluated.append(c)
    )
    fresh = run_sweep(panel, spec, tmp_path / "fresh")
    pd.testing.assert_frame_equal(resumed, fresh)


def test_the_cli_verifies_against_vectorbt_and_records_the_ledger(panel, tmp_path):
    out = tmp_path / "sweep"
    args = [
        "sweep",
        "--grid",
        "entry_ratio=0.9,1.0",
        "--grid",
        "exit_ratio=1.5,2",
        "--top",
        "2",
        "--verify-sample",
        "1",
    ]
    r = runner.invoke(app, [*args, "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "verified 3 combinations against vectorbt" in r.output
    key = ledger.data_key(panel)  # the command's panel: the bundle, no cached downloads
    assert ledger.trials("below_cost", key) == 4
    assert "ledger: 4 configurations tried for below_cost on data bundle" in " ".join(
        r.output.split()
    )
    runner.invoke(app, [*args, "--out", str(tmp_path / "again")])
    assert ledger.trials("below_cost", key) == 8


def test_a_verification_difference_fails_loudly(tmp_path, monkeypatch):
    real = fast.vectorbt_metrics

    def off_by_a_hair(panel, row, *args, **kwargs):
        m = dict(real(panel, row, *args, **kwargs))
        m["final_equity"] *= 1 + 1e-6
        return m

    monkeypatch.setattr(fast, "vectorbt_metrics", off_by_a_hair)
    r = runner.invoke(
        app,
        [
            "sweep",
            "--grid",
            "entry_ratio=0.9,1.0",
            "--top",
            "1",
            "--verify-sample",
            "0",
            "--out",
            str(tmp_path / "s"),
        ],
    )
    assert r.exit_code == 1 and "FAILED" in r.stderr


def test_an_accumulation_sweep_runs_on_the_engine_and_matches_a_backtest(panel, tmp_path):
    from costbt.backtest.engine import run_strategy
    from costbt.backtest.metrics import sharpe
    from costbt.signals.params import build

    axes = (parse_axis("tranches=2,4", PARAMS_ACC), parse_axis("fees_bps=10,30", PARAMS_ACC))
    results = run_sweep(panel, SweepSpec("accumulation", axes, {}, chunk_size=3), tmp_path)
    assert len(results) == 4
    row = results.iloc[3]
    strat = STRATEGIES["accumulation"]
    run = run_strategy(
        panel, strat, build(strat.params, {"tranches": 4}), EngineConfig(fees_bps=30.0)
    )
    assert row["final_equity"] == pytest.approx(run.equity.iloc[-1], rel=1e-12)
    assert row["sharpe"] == pytest.approx(sharpe(run.returns), rel=1e-12)
    assert (
        results.loc[results["fees_bps"] == 30, "final_equity"]
        .lt(results.loc[results["fees_bps"] == 10, "final_equity"].to_numpy())
        .all()
    )


def test_price_stops_in_a_below_cost_sweep_fall_back_to_vectorbt_exactly(panel, tmp_path):
    axes = (
        parse_axis("stop_loss=0,0.1", PARAMS),
        parse_axis("take_profit=0,0.5", PARAMS),
        parse_axis("trailing_stop=false,true", PARAMS),
    )
    spec = SweepSpec("below_cost", axes, {"entry_ratio": 1.2}, chunk_size=8)
    results = run_sweep(panel, spec, tmp_path)
    rows = results[["stop_loss", "take_profit", "trailing_stop", "entry_ratio"]]
    fast.verify_against_vectorbt(panel, rows, fast=results[list(fast.METRICS)])
    assert results["final_equity"].nunique() > 1  # the stops change the outcome


PARAMS_ACC = {p.name: p for p in (*space(STRATEGIES["accumulation"].params), *space(EngineConfig))}


def test_the_best_of_a_sweep_is_deflated_by_the_number_of_trials(panel, tmp_path):
    from costbt.backtest.sweep import deflated_best

    spec = spec_small()
    results = run_sweep(panel, spec, tmp_path)
    few = deflated_best(panel, results, spec, "sharpe", n_trials=24)
    many = deflated_best(panel, results, spec, "sharpe", n_trials=100_000)
    assert 0.0 <= many["dsr"] < few["dsr"] <= 1.0
    best = results.sort_values("sharpe", ascending=False).iloc[0]
    assert few["sharpe_annual"] == pytest.approx(best["sharpe"], rel=1e-9)
    assert 0.0 <= many["dsr_vs_bh"] < few["dsr_vs_bh"] <= 1.0


def test_the_best_of_a_sweep_is_judged_against_buy_and_hold_over_every_combination(panel, tmp_path):
    from costbt.backtest import validation
    from costbt.backtest.benchmarks import buy_and_hold_returns
    from costbt.backtest.metrics import sharpe
    from costbt.backtest.sweep import deflated_best

    spec = spec_small()
    results = run_sweep(panel, spec, tmp_path)
    d = deflated_best(panel, results, spec, "sharpe", n_trials=24, n_boot=100, spa_reps=200)
    a = d["assessment"]
    best = results.sort_values("sharpe", ascending=False).iloc[0]
    returns = Evaluator(panel).returns({k: best[k] for k in d["best"]})
    # Buy-and-hold on the same days with the same costs: the one benchmark function.
    bench = buy_and_hold_returns(panel, EngineConfig(), returns.index[0], returns.index[-1])
    assert bench.index.equals(returns.index)
    assert d["benchmark_sharpe"] == pytest.approx(sharpe(bench))
    sr, n_obs, skew, kurt = validation.sharpe_moments(returns)
    sr_bh = validation.sharpe_moments(bench)[0]
    sr0 = validation.expected_max_sharpe(d["sr_variance"], 24)
    assert d["dsr_vs_bh"] == pytest.approx(
        validation.probabilistic_sharpe_ratio(sr, sr_bh + sr0, n_obs, skew, kurt)
    )
    defined = int(results["sharpe"].notna().sum())  # never in the market: no Sharpe
    assert a.pbo_note.startswith(f"all {defined} combinations with a defined objective; CSCV")
    assert a.searched_assumptions == ("power_price",)
    assert "cost assumptions were fitted too (power_price)" in d["verdict"]
    assert d["regime"] in o.REGIMES


def test_a_sweep_trades_from_start_with_warm_signals_like_the_evaluator(panel, tmp_path):
    from dataclasses import replace

    spec = replace(spec_small(), start="2020-01-01", end="2023-12-31")
    assert spec.digest != spec_small().digest  # a resume must match the span too
    results = run_sweep(panel, spec, tmp_path)
    ev = Evaluator(panel)
    names = [a.name for a in spec.axes]
    for i in (0, 5, 17):
        row = {k: results.iloc[i][k] for k in names}
        want = ev.metrics(row, "2020-01-01", "2023-12-31")
        assert results.iloc[i]["final_equity"] == pytest.approx(want["final_equity"], rel=1e-12)
    assert set(results["flag"]) <= {"", "never_in", "buy_and_hold"}


def test_the_sweep_page_leads_with_the_verdict_against_buy_and_hold(tmp_path, monkeypatch):
    import html
    import re

    monkeypatch.setenv("COSTBT_HOME", str(tmp_path / "home"))
    out = tmp_path / "sweep"
    r = runner.invoke(
        app,
        ["sweep", "--grid", "entry_ratio=0.9,1.0", "--grid", "exit_ratio=2,3", "--out", str(out)],
    )
    assert r.exit_code == 0, r.output
    text = " ".join(r.stdout.split())
    terminal = re.search(r"verdict: (.*?) page:", text).group(1)
    sharpes = re.search(r"\(Sharpe (\S+) vs (\S+) for buy-and-hold on the same ([\d,]+) days", text)
    page = html.unescape((out / "sweep.html").read_text())
    lead = re.search(r'<p class="verdict \w+"><strong>Verdict:</strong> (.*?)</p>', page).group(1)
    assert " ".join(lead.split()) == terminal
    assert page.index('<p class="verdict') < page.index("<section")
    best, held, days = sharpes.groups()
    assert f"Sharpe {best} vs {held} on the same {days} days" in page
    assert "entry rule known on" in page and "N = 4 configurations in the ledger" in page


def test_sweep_study_is_the_whole_workflow_in_one_call_returning_a_dataclass(panel, tmp_path):
    from costbt.backtest.sweep import SweepStudy, sweep_study

    known = {p.name: p for p in space(STRATEGIES["below_cost"].params)}
    axes = (parse_axis("entry_ratio=0.8:1.0:0.1", known), parse_axis("exit_ratio=1.5,2.0", known))
    spec = SweepSpec("below_cost", axes, fixed={}, start="2018-01-01")
    study = sweep_study(panel, spec, tmp_path / "s", top=2, verify_sample=2)
    assert isinstance(study, SweepStudy) and len(study.results) == 6
    assert len(study.verified) == 4  # the kernel ran them: the top 2 and 2 random re-run
    assert study.ledger_trials == ledger.trials("below_cost", study.data_key) >= 6
    assert study.assessment.verdict and study.span[0] >= pd.Timestamp("2018-01-01")
    assert list(study.best(2).index) == list(
        study.results.sort_values("sharpe", ascending=False).index[:2]
    )
