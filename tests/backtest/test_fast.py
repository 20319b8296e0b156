"""The numba sweep fast path equals vectorbt, computes each cost series once and chunks exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from costbt.backtest import fast
from costbt.backtest.fast import METRICS, sweep_below_cost, verify_against_vectorbt
from costbt.signals import production_cost as pc


@pytest.fixture(scope="module")
def panel(bundled_panel) -> pd.DataFrame:
    return bundled_panel.copy()


def random_grid(n: int, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "entry_ratio": rng.uniform(0.7, 1.3, n),
            "confirm_days": rng.integers(1, 8, n),
            "exit_ratio": rng.uniform(1.1, 3.0, n),
            "power_price": rng.choice([0.03, 0.05, 0.08], n),
            "efficiency_scale": rng.choice([0.8, 1.0, 1.25], n),
            "fees_bps": rng.integers(0, 40, n).astype(float),
            "slippage_bps": rng.integers(0, 25, n).astype(float),
            "time_stop_days": rng.choice([0, 0, 30, 120, 365], n),
            "model": rng.choice(["electricity", "electricity", "hayes", "all_in"], n),
            "fill": rng.choice(["next_open", "next_open", "next_close"], n),
        }
    )


def test_the_fast_path_equals_vectorbt_on_random_combinations(panel):
    grid = random_grid(30)
    got = sweep_below_cost(panel, grid)
    assert (got["trades"] > 0).sum() >= 20  # the comparison is about real trading
    verify_against_vectorbt(panel, grid, rtol=1e-9, fast=got)


@pytest.mark.parametrize(("start", "close_at_end"), [("2019-07-15", False), ("2020-03-02", True)])
def test_the_fast_path_equals_vectorbt_on_a_span_and_with_a_forced_exit_at_its_end(
    panel, start, close_at_end
):
    grid = random_grid(12, seed=19)
    sub = panel.loc[:"2024-06-30"]
    got = sweep_below_cost(sub, grid, start=start, close_at_end=close_at_end)
    assert got["exits_end"].max() >= 1  # some combination holds at the end
    verify_against_vectorbt(sub, grid, fast=got, start=start, close_at_end=close_at_end)


def test_every_run_says_what_it_was(panel):
    got = sweep_below_cost(panel, random_grid(40, seed=23))
    causes = got[[f"exits_{c}" for c in fast.EXIT_CAUSES]].sum(axis=1)
    held_at_end = got["exits_end"]
    # Every entry is closed by exactly one cause (or still held at the end).
    assert (causes == got["trades"]).all() and held_at_end.isin([0, 1]).all()
    assert got["entry_share"].between(0, 1).all() and got["signal_coverage"].between(0, 1).all()
    assert got["market_corr"].dropna().between(-1, 1).all()
    assert (got["exits_time_stop"] > 0).any() and (got["exits_signal"] > 0).any()


def test_a_difference_fails_loudly(panel):
    grid = random_grid(2, seed=3)
    wrong = sweep_below_cost(panel, grid)
    wrong.loc[wrong.index[0], "final_equity"] *= 1 + 1e-6
    with pytest.raises(AssertionError, match="final_equity"):
        verify_against_vectorbt(panel, grid, fast=wrong)


def test_each_distinct_cost_assumption_set_is_computed_once(panel, monkeypatch):
    calls = []
    real = pc.cost_models

    def spy(p, *args, **kwargs):
        calls.append((args, kwargs))
        return real(p, *args, **kwargs)

    monkeypatch.setattr(pc, "cost_models", spy)
    grid = random_grid(400, seed=11)
    grid["model"] = "electricity"
    # opex_multiplier does not enter the electricity model: it must not create new sets.
    grid["opex_multiplier"] = np.random.default_rng(0).choice([1.1, 1.5], len(grid))
    sweep_below_cost(panel, grid)
    distinct = grid[["power_price", "efficiency_scale"]].drop_duplicates()
    assert len(calls) == len(distinct) == 9


def test_chunking_gives_identical_results(panel):
    grid = random_grid(257, seed=5)
    whole = sweep_below_cost(panel, grid, chunk_size=10_000)
    chunked = sweep_below_cost(panel, grid, chunk_size=17)
    pd.testing.assert_frame_equal(whole, chunked, check_exact=True)
    assert list(whole.columns) == list(METRICS)


def test_price_stops_fall_back_to_vectorbt_or_raise(panel):
    rows = [{"entry_ratio": 1.3, "stop_loss": 0.1}, {"entry_ratio": 1.1}]
    with pytest.raises(ValueError, match="stop_loss"):
        sweep_below_cost(panel, rows, fallback=False)
    got = sweep_below_cost(panel, rows)
    ref = fast.vectorbt_metrics(panel, rows[0])
    assert got.loc[0, "final_equity"] == pytest.approx(ref["final_equity"], rel=1e-12)
    verify_against_vectorbt(panel, rows[1:])


def test_unknown_parameters_are_refused(panel):
    with pytest.raises(ValueError, match="entry_ration"):
        sweep_below_cost(panel, [{"entry_ration": 1.0}])
