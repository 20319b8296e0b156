"""Overfitting-aware evaluation: published test vectors (reference/models.md section 5) and sanity."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from costbt.backtest import metrics as m
from costbt.backtest import validation as v

# Bailey & Lopez de Prado (2014) DSR example: annual SR 2.5 at 250 obs/yr over 5 years.
SR = 2.5 / math.sqrt(250)
V = 0.5 / 250
T, N, SKEW, KURT = 1250, 100, -3.0, 10.0

# Bailey, Borwein, Lopez de Prado & Zhu (2015) CSCV example; rows are time blocks, columns A-D.
PBO_MATRIX = [[3, 5, 1, 4], [3.1, 0, 1.2, 0.5], [2.9, 0.1, 0.8, 3.9], [3.05, 6.2, 1.1, 0.4]]
PBO_LAMBDAS = [0.4055, -1.3863, -1.3863, 0.4055, -0.4055, 0.4055]


@pytest.fixture(scope="module")
def btc_returns(bundled_panel) -> pd.Series:
    return bundled_panel["close_usd"].pct_change().dropna()


def test_dsr_published_vector() -> None:
    sr0 = v.expected_max_sharpe(V, N)
    assert round(sr0, 5) == 0.11317
    assert round(SR, 5) == 0.15811
    assert round(v.psr_z(SR, sr0, T, SKEW, KURT), 4) == 1.2838
    dsr = v.deflated_sharpe_ratio(SR, V, N, T, SKEW, KURT)
    assert round(dsr, 4) == 0.9004
    assert dsr == pytest.approx(v.probabilistic_sharpe_ratio(SR, sr0, T, SKEW, KURT))


def test_psr_formula_and_monotone_in_sr() -> None:
    # Normal returns (γ3 = 0, γ4 = 3), SR* = SR -> exactly 0.5.
    assert v.probabilistic_sharpe_ratio(0.1, 0.1, 500, 0.0, 3.0) == pytest.approx(0.5)
    grid = np.linspace(-0.2, 0.3, 26)
    psr = [v.probabilistic_sharpe_ratio(s, 0.0, 500, -0.5, 6.0) for s in grid]
    assert all(b > a for a, b in zip(psr, psr[1:], strict=False))
    assert psr[0] < 0.01 and psr[-1] > 0.99


def test_psr_from_returns_matches_moments() -> None:
    rng = np.random.default_rng(1)
    r = pd.Series(rng.standard_t(5, 800) * 0.02 + 0.002)
    sr = r.mean() / r.std(ddof=1)
    z = (r - r.mean()) / r.std(ddof=0)
    skew, kurt = float((z**3).mean()), float((z**4).mean())
    expected = v.probabilistic_sharpe_ratio(sr, 0.0, len(r), skew, kurt)
    assert v.psr_from_returns(r) == pytest.approx(expected)
    assert v.psr_from_returns(r, sr_benchmark=sr) == pytest.approx(0.5)


def test_dsr_decreases_as_trials_grow() -> None:
    dsr = [v.deflated_sharpe_ratio(SR, V, n, T, SKEW, KURT) for n in (2, 5, 10, 100, 1000, 10_000)]
    assert all(b < a for a, b in zip(dsr, dsr[1:], strict=False))
    assert v.expected_max_sharpe(V, 1) == 0.0


def test_min_track_record_length() -> None:
    sr, sr_b, alpha = 0.1, 0.0, 0.05
    z = 1.6448536269514722
    expected = 1 + (1 - SKEW * sr + (KURT - 1) / 4 * sr**2) * (z / (sr - sr_b)) ** 2
    assert v.min_track_record_length(sr, sr_b, SKEW, KURT, alpha) == pytest.approx(expected)
    # At T = MinTRL the PSR is exactly 1 - alpha (the two formulas are inverses).
    mintrl = v.min_track_record_length(SR, 0.05, SKEW, KURT)
    assert v.probabilistic_sharpe_ratio(SR, 0.05, mintrl, SKEW, KURT) == pytest.approx(0.95)
    assert v.min_track_record_length(0.05, 0.1, 0.0, 3.0) == math.inf


def test_pbo_published_vector() -> None:
    for matrix in (PBO_MATRIX, pd.DataFrame(PBO_MATRIX, columns=list("ABCD"))):
        pbo, lambdas = v.pbo_cscv(matrix, n_splits=4, metric="mean")
        assert pbo == 0.5
        assert len(lambdas) == math.comb(4, 2)
        assert sorted(round(x, 4) for x in lambdas) == sorted(PBO_LAMBDAS)
    # A callable metric gives the same answer.
    pbo, lambdas = v.pbo_cscv(PBO_MATRIX, n_splits=4, metric=lambda b: b.mean(axis=0))
    assert pbo == 0.5 and sorted(round(x, 4) for x in lambdas) == sorted(PBO_LAMBDAS)


def test_pbo_dominant_strategy_is_zero() -> None:
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 0.01, size=(120, 6))
    noise[:, 2] += 1.0  # column 2 beats every other column in every block
    pbo, lambdas = v.pbo_cscv(noise, n_splits=8)
    assert pbo == 0.0
    assert len(lambdas) == math.comb(8, 4)
    assert all(x == pytest.approx(math.log(6 / 1)) for x in lambdas)


def test_pbo_rejects_bad_splits() -> None:
    with pytest.raises(ValueError):
        v.pbo_cscv(PBO_MATRIX, n_splits=3)


@pytest.mark.parametrize("statistic", ["sharpe", "cagr"])
def test_bootstrap_ci_contains_point_and_reproducible(btc_returns: pd.Series, statistic) -> None:
    low, point, high = v.stationary_bootstrap_ci(btc_returns, statistic, n_boot=300, seed=7)
    assert low < point < high
    expected = m.sharpe(btc_returns) if statistic == "sharpe" else m.cagr(btc_returns)
    assert point == pytest.approx(expected)
    assert v.stationary_bootstrap_ci(btc_returns, statistic, n_boot=300, seed=7) == (
        low,
        point,
        high,
    )
    assert v.stationary_bootstrap_ci(btc_returns, statistic, n_boot=300, seed=8) != (
        low,
        point,
        high,
    )


def test_spa_detects_clear_winner_and_not_a_loser(btc_returns: pd.Series) -> None:
    # Labelled construction: benchmark = real BTC daily returns; model = the same + 0.002/day
    # (a clear edge), exactly as specified. The loss differential is then a constant (zero
    # variance), which the function flags with a RuntimeWarning; the p-values are still 0.
    bench = btc_returns
    with pytest.warns(RuntimeWarning, match="constant"):
        p = v.spa_test(bench, pd.DataFrame({"btc_plus_20bp": bench + 0.002}), 10, reps=500)
    assert set(p) == {"consistent", "lower", "upper"}
    assert p["consistent"] < 0.05 and p["upper"] < 0.05
    # Benchmark - 0.002/day exactly is degenerate for the consistent/lower p-values, so the
    # non-degenerate checks add labelled seeded tracking noise (N(0, 1%) a day) to the model.
    eps = pd.Series(np.random.default_rng(0).normal(0.0, 0.01, len(bench)), index=bench.index)
    better = pd.DataFrame({"btc_plus_20bp_noisy": bench + 0.002 + eps})
    p = v.spa_test(bench, better, block_size=10, reps=500, seed=0)
    assert p["consistent"] < 0.05 and p["lower"] <= p["consistent"] <= p["upper"] < 0.05
    worse = pd.DataFrame({"btc_minus_20bp_noisy": bench - 0.002 + eps})
    p = v.spa_test(bench, worse, block_size=10, reps=500, seed=0)
    assert p["consistent"] > 0.3 and p["upper"] > 0.9
    assert v.spa_test(bench, worse, block_size=10, reps=500, seed=0) == p
    with pytest.warns(RuntimeWarning):
        p = v.spa_test(bench, pd.DataFrame({"btc_minus_20bp": bench - 0.002}), 10, reps=500)
    assert p["upper"] > 0.9


def test_spa_accepts_arrays() -> None:
    rng = np.random.default_rng(3)
    bench = rng.normal(0.0, 0.02, 600)
    models = np.column_stack(
        [bench + 0.003 + rng.normal(0, 0.01, 600), bench + rng.normal(0, 0.01, 600)]
    )
    p = v.spa_test(bench, models, block_size=5, reps=300)
    assert p["consistent"] < 0.05


def test_vectorised_cscv_matches_the_split_by_split_loop() -> None:
    # Constructed noise (no market data) with the awkward cases: identical columns (ties) and a
    # column flat for half the rows (no variance in some halves). A callable metric takes the
    # original loop; the named metrics the vectorised path.
    rng = np.random.default_rng(0)
    for case in range(8):
        m = rng.normal(0.001, 0.02, (int(rng.integers(40, 200)), int(rng.integers(2, 7))))
        if case % 3 == 0:
            m[:, 1] = m[:, 0]
        if case % 4 == 0:
            m[: len(m) // 2, 0] = 0.0
        for metric in v.METRICS:
            fast = v.pbo_cscv(m, n_splits=8, metric=metric)
            loop = v.pbo_cscv(m, n_splits=8, metric=lambda b, k=metric: v._block_metric(b, k))
            assert fast[0] == loop[0]
            np.testing.assert_allclose(fast[1], loop[1], atol=1e-9)


def test_dsr_against_a_benchmark_sharpe_raises_the_threshold_by_it() -> None:
    sr0 = v.expected_max_sharpe(V, N)
    assert v.deflated_sharpe_ratio(SR, V, N, T, SKEW, KURT, sr_benchmark=0.0) == pytest.approx(
        0.9004, abs=5e-5
    )
    vs = v.deflated_sharpe_ratio(SR, V, N, T, SKEW, KURT, sr_benchmark=0.02)
    assert vs == pytest.approx(v.probabilistic_sharpe_ratio(SR, 0.02 + sr0, T, SKEW, KURT))
    assert vs < v.deflated_sharpe_ratio(SR, V, N, T, SKEW, KURT)


def test_a_flat_column_scores_the_sharpe_of_cash_in_cscv() -> None:
    # Constructed: column 0 never in the market for the first half of the rows. Its Sharpe there
    # is 0 (cash), not undefined, so no split drops out of the PBO as NaN.
    rng = np.random.default_rng(1)
    m = rng.normal(0.0, 0.02, (160, 4))
    m[:80, 0] = 0.0
    assert v._block_metric(m[:80], "sharpe")[0] == 0.0
    _, lambdas = v.pbo_cscv(m, n_splits=8, metric="sharpe")
    assert np.isfinite(lambdas).all()


def test_the_drawdown_metric_is_the_max_drawdown_of_each_column() -> None:
    rng = np.random.default_rng(2)
    block = rng.normal(0.0, 0.03, (90, 3))
    expected = [m.max_drawdown(pd.Series(block[:, j])) for j in range(3)]
    np.testing.assert_allclose(v._block_metric(block, "max_drawdown"), expected, atol=1e-12)


def test_pbo_refuses_an_unknown_named_metric() -> None:
    with pytest.raises(ValueError, match="unknown metric"):
        v.pbo_cscv(PBO_MATRIX, n_splits=4, metric="sortino")


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    scale=st.floats(0.1, 10.0),
    drift=st.floats(-0.002, 0.004),
)
def test_volatility_matching_gives_the_benchmark_volatility_and_orders_by_sharpe(
    seed, scale, drift
) -> None:
    rng = np.random.default_rng(seed)
    bench = pd.Series(rng.normal(0.001, 0.03, 300))
    model = pd.Series(rng.normal(drift, 0.01, 300))
    scaled = v.volatility_matched(pd.DataFrame({"a": model, "b": scale * model}), bench)
    assert scaled["a"].std(ddof=1) == pytest.approx(bench.std(ddof=1))
    np.testing.assert_allclose(scaled["a"], scaled["b"])  # leverage does not change it
    sr_m, sr_b = model.mean() / model.std(ddof=1), bench.mean() / bench.std(ddof=1)
    gap = scaled["a"].mean() - bench.mean()
    assert gap == pytest.approx(bench.std(ddof=1) * (sr_m - sr_b), abs=1e-15)


def test_volatility_matching_leaves_a_flat_model_unscaled() -> None:
    bench = pd.Series(np.random.default_rng(0).normal(0.0, 0.03, 50))
    scaled = v.volatility_matched(pd.DataFrame({"flat": np.zeros(50)}), bench)
    assert scaled["flat"].isna().all()


@settings(max_examples=100, deadline=None)
@given(
    sr=st.floats(-0.1, 0.3),
    b=st.floats(-0.1, 0.2),
    db=st.floats(0.001, 0.1),
    var=st.floats(0.0, 0.01),
    n=st.integers(1, 10_000),
)
def test_the_dsr_against_a_benchmark_falls_as_the_benchmark_rises(sr, b, db, var, n) -> None:
    args = (sr, var, n, 1500, -0.5, 8.0)
    low, high = (v.deflated_sharpe_ratio(*args, sr_benchmark=x) for x in (b, b + db))
    assert high <= low
    assert low <= v.probabilistic_sharpe_ratio(sr, b, 1500, -0.5, 8.0) + 1e-12  # SR0 >= 0
