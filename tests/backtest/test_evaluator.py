"""`backtest.evaluator.Evaluator`: one combination at a time, equal to the sweep and to vectorbt."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from costbt.backtest import fast
from costbt.backtest import metrics as m
from costbt.backtest.engine import EngineConfig, run_strategy
from costbt.backtest.evaluator import Evaluator
from costbt.signals import production_cost as pc
from costbt.signals.params import build
from costbt.strategies import STRATEGIES
from costbt.strategies.below_cost import BelowCostStrategyParams

ROWS = [
    {"entry_ratio": 1.0, "exit_ratio": 1.6, "power_price": 0.06},
    {"entry_ratio": 0.9, "confirm_days": 3, "exit_ratio": 2.0, "pue": 1.2, "time_stop_days": 200},
    {"model": "hayes", "entry_ratio": 1.1, "fill": "next_close", "fees_bps": 20.0},
    {"model": "difficulty_regression", "entry_ratio": 0.8, "exit_ratio": 1.3},
]


@pytest.fixture(scope="module")
def panel(bundled_panel) -> pd.DataFrame:
    return bundled_panel.loc[:"2025-12-31"].copy()


@pytest.fixture(scope="module")
def evaluator(panel) -> Evaluator:
    return Evaluator(panel)


def _same(a: float, b: float) -> bool:
    return a == b or (np.isnan(a) and np.isnan(b))


def test_metrics_equal_the_sweep_fast_path_bit_for_bit(panel, evaluator):
    ref = fast.sweep_below_cost(panel, ROWS)
    for i, row in enumerate(ROWS):
        got = evaluator.metrics(row)
        assert all(_same(got[k], float(ref.iloc[i][k])) for k in fast.METRICS), (row, got)


def _engine(panel, row, start):
    engine = {k: v for k, v in row.items() if k in ("fees_bps", "fill")}
    params = build(BelowCostStrategyParams, {k: v for k, v in row.items() if k not in engine})
    config = EngineConfig(**engine)
    run = run_strategy(panel, STRATEGIES["below_cost"], params, config, start)
    return run.equity, run.returns


@pytest.mark.parametrize("row", ROWS[:3])
def test_a_span_trades_like_the_engine_started_flat_on_that_day(panel, evaluator, row):
    start, end = "2019-03-01", "2023-06-30"
    _, want = _engine(panel.loc[:end], row, start)
    got = evaluator.returns(row, start, end)
    assert got.index.equals(want.index)
    np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), rtol=1e-9, atol=1e-12)
    metrics = evaluator.metrics(row, start, end)
    assert metrics["sharpe"] == pytest.approx(m.sharpe(want), rel=1e-9)
    assert metrics["total_return"] == pytest.approx(m.total_return(want), rel=1e-9, abs=1e-12)


def test_the_span_is_the_known_closes_inside_start_and_end(evaluator, panel):
    t0, t1 = evaluator.span("2020-01-01", "2020-12-31")
    assert panel.index[t0] == pd.Timestamp("2020-01-01")
    assert panel.index[t1] == pd.Timestamp("2020-12-31")
    first, _ = evaluator.span()
    assert panel.index[first] == panel["close_usd"].first_valid_index()
    with pytest.raises(ValueError, match="fewer than two spot prices"):
        evaluator.span("2010-01-01", "2010-12-31")


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    cut=st.dates(
        min_value=pd.Timestamp("2018-01-01").date(), max_value=pd.Timestamp("2025-06-30").date()
    ),
    row=st.sampled_from(ROWS),
)
def test_days_after_the_span_cannot_change_its_result(panel, evaluator, cut, row):
    end = pd.Timestamp(cut)
    start = end - pd.Timedelta(days=540)
    full = evaluator.metrics(row, start, end)
    truncated = Evaluator(panel.loc[:end]).metrics(row, start, end)
    assert all(_same(full[k], truncated[k]) for k in fast.METRICS)


def test_each_cost_assumption_set_is_computed_once(panel, monkeypatch):
    calls = []
    real = pc.cost_model

    def spy(p, a, model, eff=None):
        calls.append((model, a.power_price))
        return real(p, a, model, eff)

    monkeypatch.setattr(pc, "cost_model", spy)
    ev = Evaluator(panel)
    for entry in (0.8, 0.9, 1.0):
        ev.metrics({"entry_ratio": entry, "power_price": 0.05})
        ev.metrics({"entry_ratio": entry, "power_price": 0.07})
        # A field the model does not read does not make a new set.
        ev.metrics({"entry_ratio": entry, "model": "difficulty_regression", "pue": 1.3})
    assert sorted(calls) == [
        ("difficulty_regression", 0.05),
        ("electricity", 0.05),
        ("electricity", 0.07),
    ]
    assert (ev.misses, ev.hits) == (3, 6)


def test_the_ratio_cache_is_bounded(panel):
    ev = Evaluator(panel, cache_size=2)
    for price in (0.03, 0.04, 0.05):
        ev.metrics({"power_price": price})
    assert len(ev._ratios) == 2


def test_price_stops_on_a_sub_period_are_refused(evaluator):
    with pytest.raises(ValueError, match="stop_loss"):
        evaluator.metrics({"stop_loss": 0.2}, "2020-01-01", "2021-01-01")


def test_an_unknown_parameter_is_refused(evaluator):
    with pytest.raises(ValueError, match="nosuch"):
        evaluator.metrics({"nosuch": 1})
