"""`backtest.overfitting`: does the chosen configuration beat holding bitcoin, after deflation?

Every return matrix here is a CONSTRUCTED TEST INPUT, never market data: seeded normal noise
(mean 0, 2 % a day), columns copied to be identical, or one column shifted up by a constant so it
dominates; "buy-and-hold" is seeded noise too (3 % a day). The answers follow from the
construction: a dominant column is the in-sample and the out-of-sample best in every CSCV split
(PBO 0); identical columns are one configuration; for pure noise the in-sample winner lands above
or below the out-of-sample median like a coin flip (PBO about 0.5 on average). Verdict wording is
checked on the pure `verdict` function with chosen numbers, one regime per test. The families
built on real bitcoin returns (noise, a buy-and-hold clone, a planted edge) are in
``test_verdict_families.py``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from costbt.backtest import degenerate
from costbt.backtest import overfitting as o
from costbt.backtest import validation as v

DAYS = pd.date_range("2020-01-01", periods=800)
FAST = {"n_boot": 200, "spa_reps": 200}  # bootstrap sizes: enough for the plumbing checked here


def noise(k: int, seed: int = 0, days: pd.DatetimeIndex = DAYS) -> pd.DataFrame:
    """k columns of i.i.d. N(0, 0.02) daily "returns" (constructed, no market data)."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(0.0, 0.02, (len(days), k)), index=days)


def dominant(k: int = 8, edge: float = 0.01, seed: int = 0) -> pd.DataFrame:
    """Noise with column 0 shifted up by ``edge`` a day: the best in every block."""
    m = noise(k, seed)
    m[0] += edge
    return m


def buy_and_hold(seed: int = 99) -> pd.Series:
    """A constructed zero-drift "benchmark" series (noise, 3 % a day)."""
    return pd.Series(np.random.default_rng(seed).normal(0.0, 0.03, len(DAYS)), index=DAYS)


def _verdict(**overrides) -> tuple[str, str]:
    args = {
        "sharpe": 1.2,
        "benchmark_sharpe": 1.05,
        "dsr_vs_bh": 0.8,
        "pbo": 0.3,
        "spa_pvalue": 0.2,
        "n_obs": 1000,
        "n_trials": 500,
        "min_trl": 900.0,
    } | overrides
    return o.verdict(**args)


# --------------------------------------------------------------------------- PBO


def test_a_dominant_column_has_pbo_zero() -> None:
    value, note = o.pbo(dominant())
    assert value == 0.0
    assert "8 candidates" in note and "16 blocks" in note


def test_cscv_counts_identical_columns_as_overfit_as_its_math_says() -> None:
    # Tied out of sample: average rank (N + 1) / 2, ω = 0.5, λ = 0 <= 0 in every split.
    same = noise(1).iloc[:, [0, 0]].to_numpy()
    assert v.pbo_cscv(same, n_splits=16)[0] == 1.0


def test_identical_columns_are_one_candidate_so_pbo_is_not_computed() -> None:
    value, note = o.pbo(noise(1).iloc[:, [0, 0, 0]])
    assert value is None
    assert "at least two candidates with distinct returns (got 1)" in note


def test_pure_noise_gives_pbo_near_one_half_on_average() -> None:
    values = [o.pbo(noise(10, seed), n_splits=8)[0] for seed in range(20)]
    assert 0.4 <= float(np.mean(values)) <= 0.6


def test_pbo_needs_at_least_as_many_days_as_blocks() -> None:
    value, note = o.pbo(noise(3).iloc[:10], n_splits=16)
    assert value is None and "fewer than the 16 CSCV blocks" in note


def test_pbo_matrix_replaces_the_candidates_for_cscv() -> None:
    a = o.assess(dominant()[0], noise(5), None, 10, pbo_matrix=dominant(), **FAST)
    assert a.pbo == 0.0 and "8 candidates" in a.pbo_note


@pytest.mark.parametrize(
    ("objective", "metric", "log", "words"),
    [
        ("sharpe", "sharpe", False, "per-block Sharpe ratio"),
        ("total_return", "mean", True, "mean daily log return"),
        ("cagr", "mean", True, "mean daily log return"),
        ("final_equity", "mean", True, "mean daily log return"),
        ("max_drawdown", "max_drawdown", False, "maximum drawdown"),
    ],
)
def test_pbo_scores_each_half_by_the_objective_the_search_maximised(
    objective, metric, log, words
) -> None:
    m = noise(6, seed=4)
    expected = v.pbo_cscv(np.log1p(m) if log else m, n_splits=8, metric=metric)[0]
    value, note = o.pbo(m, n_splits=8, objective=objective)
    assert value == expected
    assert words in note and f"({objective})" in note


def test_the_assessment_passes_its_objective_to_pbo() -> None:
    m = noise(6, seed=4)
    a = o.assess(m[0], m, None, 10, objective="total_return", **FAST)
    assert a.objective == "total_return"
    assert a.pbo == o.pbo(m, objective="total_return")[0]


def test_an_unknown_objective_is_refused() -> None:
    with pytest.raises(ValueError, match="objective"):
        o.pbo(noise(3), objective="sortino")


# --------------------------------------------------------------------------- the candidate sample


def test_every_candidate_is_kept_up_to_the_cap() -> None:
    assert o.sample_ranked(126, 500) == list(range(126))


def test_above_the_cap_every_kth_rank_is_kept_from_the_best() -> None:
    assert o.sample_ranked(10, 4) == [0, 3, 6, 9]
    assert o.sample_ranked(10, 4, keep=4) == [0, 3, 4, 6, 9]


@settings(max_examples=200, deadline=None)
@given(n=st.integers(0, 5000), cap=st.integers(100, 1000), keep=st.integers(0, 5000))
def test_the_sample_is_deterministic_spread_and_at_least_fifty(n, cap, keep) -> None:
    picks = o.sample_ranked(n, cap, keep)
    assert picks == o.sample_ranked(n, cap, keep)
    assert picks == sorted(set(picks)) and all(0 <= p < n for p in picks)
    assert len(picks) == n if n <= cap else 50 <= len(picks) <= cap + 1
    if n:
        assert picks[0] == 0  # the best is always in
        assert keep >= n or keep in picks
        gaps = np.diff([*picks, n])
        assert gaps.max() <= math.ceil(n / cap)


# --------------------------------------------------------------------------- DSR, PSR, MinTRL


def test_dsr_uses_the_ledger_n_and_the_candidates_sharpe_variance() -> None:
    m = dominant()
    a = o.assess(m[0], m, None, 500, **FAST)
    per_day = m.mean() / m.std(ddof=1)
    sr, n_obs, skew, kurt = v.sharpe_moments(m[0])
    expected = v.deflated_sharpe_ratio(sr, float(per_day.var(ddof=1)), 500, n_obs, skew, kurt)
    assert a.n_trials == 500 and a.n_candidates == 8
    assert a.sr_variance == pytest.approx(float(per_day.var(ddof=1)))
    assert a.dsr == pytest.approx(expected)
    assert a.sharpe == pytest.approx(sr * math.sqrt(365))
    assert "N = 500 trials in the ledger" in a.dsr_note and "effective N" in a.dsr_note


def test_dsr_against_buy_and_hold_adds_its_sharpe_to_the_luck_threshold() -> None:
    m, bench = dominant(edge=0.003), buy_and_hold() + 0.001
    a = o.assess(m[0], m, bench, 500, **FAST)
    sr, n_obs, skew, kurt = v.sharpe_moments(m[0])
    sr_bh = float(bench.mean() / bench.std(ddof=1))
    var = float((m.mean() / m.std(ddof=1)).var(ddof=1))
    assert a.benchmark_sharpe == pytest.approx(v.metrics.sharpe(bench))
    assert a.psr_vs_bh == pytest.approx(v.probabilistic_sharpe_ratio(sr, sr_bh, n_obs, skew, kurt))
    sr0 = v.expected_max_sharpe(var, 500)
    assert a.dsr_vs_bh == pytest.approx(
        v.probabilistic_sharpe_ratio(sr, sr_bh + sr0, n_obs, skew, kurt)
    )
    assert a.hurdle == pytest.approx((sr_bh + sr0) * math.sqrt(365))
    assert a.dsr_vs_bh < a.dsr and a.psr_vs_bh < a.psr  # holding bitcoin is a higher bar than 0
    assert a.min_trl_vs_bh == pytest.approx(v.min_track_record_length(sr, sr_bh, skew, kurt))


def test_without_buy_and_hold_the_statistics_against_it_are_not_computed() -> None:
    a = o.assess(dominant()[0], dominant(), None, 10, **FAST)
    assert a.benchmark_sharpe is None and a.psr_vs_bh is None and a.dsr_vs_bh is None
    assert a.min_trl_vs_bh is None and a.hurdle is None
    assert a.benchmark_note == "not computed: no buy-and-hold returns given"
    assert a.dsr is not None  # the secondary statistic against 0 still is


def test_more_ledger_trials_lower_the_dsr() -> None:
    m = dominant(edge=0.003)
    few, many = (o.assess(m[0], m, buy_and_hold(), n, **FAST) for n in (10, 10_000))
    assert many.dsr < few.dsr and many.dsr_vs_bh < few.dsr_vs_bh


def test_the_ledger_n_is_at_least_the_number_of_candidates() -> None:
    assert o.assess(dominant()[0], dominant(), None, 1, **FAST).n_trials == 8


def test_sr_variance_replaces_v_when_given() -> None:
    m = dominant()
    a = o.assess(m[0], m, buy_and_hold(), 100, sr_variance=0.0, sr_variance_from="a test", **FAST)
    assert a.sr_variance == 0.0 and a.expected_max_sharpe == 0.0
    assert a.dsr == pytest.approx(a.psr)  # SR0 = 0: DSR is PSR(0)
    assert a.dsr_vs_bh == pytest.approx(a.psr_vs_bh)  # and PSR(SR_bh) against buy-and-hold
    assert "across a test" in a.dsr_note


def test_deflated_by_names_what_n_counts() -> None:
    a = o.assess(dominant()[0], None, None, 3, sr_variance=0.0, deflated_by="walk-forward runs")
    assert a.n_trials == 3 and "N = 3 walk-forward runs" in a.dsr_note


def test_dsr_is_not_computed_without_two_candidates() -> None:
    a = o.assess(dominant()[0], None, buy_and_hold(), 100, **FAST)
    assert a.dsr is None and a.dsr_vs_bh is None and a.n_candidates == 1
    assert "at least two candidates" in a.dsr_note


def test_min_trl_is_in_days_and_infinite_for_a_losing_configuration() -> None:
    m = dominant(edge=0.003)
    sr, _, skew, kurt = v.sharpe_moments(m[0])
    assert o.min_track_record_days(m[0]) == pytest.approx(
        v.min_track_record_length(sr, 0.0, skew, kurt)
    )
    assert o.min_track_record_days(-m[0]) == math.inf
    assert o.min_track_record_days(m[0], sr_benchmark=sr) == math.inf


def test_the_chosen_returns_join_the_candidates_when_missing() -> None:
    m = noise(4)
    a = o.assess(m[0] + 0.001, m, None, 10, **FAST)
    assert a.n_candidates == 5


# --------------------------------------------------------------------------- SPA and intervals


def test_spa_finds_a_clear_winner_against_buy_and_hold() -> None:
    a = o.assess(dominant()[0], dominant(), buy_and_hold(), 10, **FAST)
    assert a.spa_pvalue is not None and a.spa_pvalue <= 0.05
    assert (
        "best of 8 candidates" in a.spa_note and "scaled to buy-and-hold's volatility" in a.spa_note
    )


def test_spa_loss_follows_sharpe_not_raw_return() -> None:
    # Constructed: buy-and-hold N(0.3 %, 4 %) a day; a model with 30 % of its moves plus its own
    # N(0.1 %, 0.5 %): a lower mean than buy-and-hold, a higher Sharpe. On raw returns SPA sees no
    # edge; with the returns scaled to buy-and-hold's volatility (what Sharpe tuning rewards) it
    # does.
    rng = np.random.default_rng(0)
    days = pd.date_range("2015-01-01", periods=1500)
    bench = pd.Series(rng.normal(0.003, 0.04, len(days)), index=days)
    model = (0.3 * bench + rng.normal(0.001, 0.005, len(days))).to_frame("model")
    assert model["model"].mean() < bench.mean()
    assert o.per_day_sharpe(model["model"]) > o.per_day_sharpe(bench)
    assert v.spa_test(bench, model, reps=300, seed=0)["consistent"] > 0.5
    assert o.spa_pvalue(bench, model, reps=300, seed=0)[0] <= 0.05


def test_spa_drops_models_that_never_moved_or_copy_buy_and_hold() -> None:
    bench = buy_and_hold()
    models = pd.DataFrame({"flat": 0.0, "copy": 2.0 * bench, "edge": dominant()[0]}, index=DAYS)
    p, note = o.spa_pvalue(bench, models, reps=200)
    assert p is not None and p <= 0.05
    assert "the chosen configuration has no higher Sharpe" in note
    assert "1 never in (no volatility to scale) dropped" in note
    assert "1 equal to buy-and-hold after scaling dropped" in note
    p, note = o.spa_pvalue(bench, models[["flat"]], reps=200)
    assert p is None and note.startswith("not computed: no candidate left to test")


def test_spa_is_not_computed_without_buy_and_hold() -> None:
    a = o.assess(dominant()[0], dominant(), None, 10, **FAST)
    assert a.spa_pvalue is None and "no buy-and-hold" in a.spa_note


def test_bootstrap_intervals_are_seeded_and_bracket_the_point() -> None:
    r = dominant(edge=0.002)[0]
    first = o.intervals(r, 0.9, 200, seed=3)
    assert first == o.intervals(r, 0.9, 200, seed=3)
    (s_lo, s_hi), (c_lo, c_hi) = first
    assert s_lo < v.metrics.sharpe(r) < s_hi
    assert c_lo < v.metrics.cagr(r) < c_hi


def test_candidates_and_benchmark_are_aligned_on_the_chosen_days() -> None:
    m = dominant()
    short = m[0].iloc[100:500]
    a = o.assess(short, m, buy_and_hold(), 10, **FAST)
    assert a.n_obs == 400


# --------------------------------------------------------------------------- degeneracy


def test_the_callers_flag_is_taken_as_given() -> None:
    a = o.assess(dominant()[0], dominant(), buy_and_hold(), 10, degenerate="buy_and_hold", **FAST)
    assert a.flag == "buy_and_hold" and a.regime == "buy_and_hold"


def test_without_a_flag_the_correlation_with_buy_and_hold_decides() -> None:
    bench = buy_and_hold()
    clone = bench + np.random.default_rng(1).normal(0.0, 0.001, len(bench))
    a = o.assess(clone, None, bench, 10, **FAST)
    assert a.correlation > degenerate.THRESHOLDS.correlation
    assert a.flag == "buy_and_hold" and a.regime == "buy_and_hold"
    b = o.assess(dominant()[0], None, bench, 10, **FAST)
    assert b.flag is None and abs(b.correlation) < 0.2


def test_returns_that_are_all_zero_were_never_in_the_market() -> None:
    a = o.assess(pd.Series(0.0, index=DAYS), None, buy_and_hold(), 10, **FAST)
    assert a.flag == "never_in" and a.regime == "never_in" and a.correlation is None


def test_an_unknown_flag_is_refused() -> None:
    with pytest.raises(ValueError, match="flag"):
        o.assess(dominant()[0], None, None, 10, degenerate="sideways", **FAST)


def test_cost_assumptions_are_picked_from_the_searched_names() -> None:
    names = ["entry_ratio", "power_price", "confirm_days", "efficiency_scale", "power_price"]
    assert o.cost_assumptions(names) == ("power_price", "efficiency_scale")
    assert o.cost_assumptions(["model", "exit_ratio"]) == ("model",)  # the model is a belief too


# --------------------------------------------------------------------------- verdict wording

N_SUFFIX = " (N = 500 trials in the ledger)"


def test_verdict_needs_enough_days() -> None:
    regime, line = _verdict(n_obs=30)
    assert regime == "insufficient"
    assert line == "Not enough data to judge: 30 days of returns (at least 60 needed)"


def test_verdict_says_never_in_for_a_configuration_without_trades() -> None:
    regime, line = _verdict(sharpe=float("nan"), flag="never_in")
    assert regime == "never_in"
    assert line == (
        "Never in the market: the chosen configuration made no trade, so it tests nothing about "
        "its signal" + N_SUFFIX
    )


def test_verdict_needs_a_defined_sharpe() -> None:
    regime, line = _verdict(sharpe=float("nan"))
    assert regime == "insufficient" and "Sharpe undefined" in line


def test_verdict_says_indistinguishable_from_buy_and_hold() -> None:
    regime, line = _verdict(sharpe=1.5, dsr_vs_bh=0.99, flag="buy_and_hold", correlation=0.996)
    assert regime == "buy_and_hold"
    assert line == (
        "Indistinguishable from buy-and-hold: its daily returns move with buy-and-hold's "
        "(correlation 0.996) — it tests nothing about the cost signal; Sharpe 1.50 vs 1.05 for "
        "buy-and-hold" + N_SUFFIX
    )
    _, by_exposure = _verdict(flag="buy_and_hold")
    assert "in the market nearly every day or moving with it" in by_exposure


def test_verdict_says_no_edge_when_holding_did_at_least_as_well() -> None:
    regime, line = _verdict(sharpe=0.8, dsr_vs_bh=0.01, pbo=0.1, spa_pvalue=0.9)
    assert regime == "no_edge"
    assert line == (
        "No edge over buy-and-hold: Sharpe 0.80 vs 1.05 for buy-and-hold on the same 1,000 days"
        + N_SUFFIX
    )
    assert _verdict(sharpe=1.05)[0] == "no_edge"  # equal is no edge
    assert _verdict(sharpe=-0.5, benchmark_sharpe=-0.9, dsr_vs_bh=0.7)[0] == "inconclusive"


def test_verdict_says_likely_overfit_when_pbo_is_high() -> None:
    regime, line = _verdict(dsr_vs_bh=0.41, pbo=0.62)
    assert regime == "overfit"
    assert line == (
        "Likely overfit: PBO 0.62 and DSR 0.41 vs buy-and-hold — the best in-sample "
        "configuration is not reliably better than the median one out of sample; a Sharpe of "
        "1.20 against buy-and-hold's 1.05 is what the best of 500 configurations with no edge "
        "over holding would show by luck" + N_SUFFIX
    )


def test_verdict_says_likely_overfit_when_dsr_is_below_one_half() -> None:
    regime, line = _verdict(dsr_vs_bh=0.3, pbo=0.1)
    assert regime == "overfit"
    assert line.startswith(
        "Likely overfit: DSR 0.30 vs buy-and-hold, PBO 0.10, SPA p=0.20 — a Sharpe of 1.20"
    )


def test_verdict_says_evidence_of_an_edge_after_deflation() -> None:
    regime, line = _verdict(sharpe=1.6, dsr_vs_bh=0.97, pbo=0.12, spa_pvalue=0.03)
    assert regime == "skill"
    assert line == (
        "Evidence of an edge over buy-and-hold after deflation: Sharpe 1.60 vs 1.05, DSR 0.97 "
        "vs buy-and-hold, PBO 0.12, SPA p=0.03" + N_SUFFIX
    )


def test_verdict_wants_spa_to_confirm_the_edge() -> None:
    assert _verdict(dsr_vs_bh=0.97, pbo=0.12, spa_pvalue=0.4)[0] == "inconclusive"
    assert _verdict(dsr_vs_bh=0.97, pbo=0.12, spa_pvalue=None)[0] == "inconclusive"


def test_verdict_is_inconclusive_between_the_thresholds() -> None:
    regime, line = _verdict(dsr_vs_bh=0.8, pbo=0.3, spa_pvalue=0.2, min_trl=1400.0, n_obs=900)
    assert regime == "inconclusive"
    assert line == (
        "Inconclusive: Sharpe 1.20 vs 1.05 for buy-and-hold, DSR 0.80 vs buy-and-hold, PBO 0.30, "
        "SPA p=0.20 — neither overfit nor proven better than holding after deflation; MinTRL "
        "1,400 days against 900 observed" + N_SUFFIX
    )


def test_verdict_without_buy_and_hold_cannot_say_skill() -> None:
    regime, line = _verdict(benchmark_sharpe=None, dsr_vs_bh=None, pbo=0.1, spa_pvalue=None)
    assert regime == "inconclusive"
    assert line.startswith("Inconclusive: no buy-and-hold returns to compare with")
    assert _verdict(benchmark_sharpe=None, dsr_vs_bh=None, pbo=0.7)[0] == "overfit"


def test_verdict_names_the_n_and_the_fitted_cost_assumptions() -> None:
    _, line = _verdict(
        n_trials=3,
        deflated_by="walk-forward configurations run on this data",
        searched_assumptions=("power_price", "efficiency_scale"),
    )
    assert line.endswith(
        " (N = 3 walk-forward configurations run on this data) — cost assumptions were fitted "
        "too (power_price, efficiency_scale): the thesis was not held fixed"
    )


def test_verdict_thresholds_are_inclusive_where_documented() -> None:
    assert _verdict(dsr_vs_bh=0.95, pbo=0.2, spa_pvalue=0.05)[0] == "skill"
    assert _verdict(dsr_vs_bh=0.97, pbo=0.5)[0] == "overfit"
    assert _verdict(dsr_vs_bh=0.5, pbo=0.3)[0] == "inconclusive"
    assert _verdict(dsr_vs_bh=0.97, pbo=None, spa_pvalue=0.01)[0] == "skill"


def test_verdict_regimes_are_tested_in_order() -> None:
    # Each flag or condition wins over everything after it.
    assert _verdict(n_obs=10, flag="never_in")[0] == "insufficient"
    assert _verdict(flag="never_in", sharpe=float("nan"))[0] == "never_in"
    assert _verdict(flag="buy_and_hold", sharpe=0.5)[0] == "buy_and_hold"
    assert _verdict(sharpe=1.0, pbo=0.9, dsr_vs_bh=0.01)[0] == "no_edge"
    assert _verdict(dsr_vs_bh=0.99, pbo=0.55, spa_pvalue=0.0)[0] == "overfit"


def test_thresholds_are_validated_on_construction() -> None:
    with pytest.raises(ValueError):
        o.Thresholds(dsr_skill=1.5)
    with pytest.raises(ValueError):
        o.Thresholds(pbo_skill=0.6, pbo_overfit=0.5)
    with pytest.raises(ValueError):
        o.Thresholds(min_days=1)
    assert o.Thresholds(dsr_skill=0.9).dsr_skill == 0.9


def test_an_assessment_refuses_an_unknown_regime_or_a_probability_out_of_range() -> None:
    from dataclasses import replace

    a = o.assess(dominant()[0], dominant(), buy_and_hold(), 10, **FAST)
    with pytest.raises(ValueError, match="regime"):
        replace(a, regime="skill_no_edge")
    with pytest.raises(ValueError, match="pbo"):
        replace(a, pbo=1.5)


# --------------------------------------------------------------------------- end to end


def test_a_constructed_edge_among_noise_is_called_skill() -> None:
    m = dominant(k=20, edge=0.006)
    a = o.assess(m[0], m, buy_and_hold(), 100, **FAST)
    assert a.regime == "skill", a.verdict
    assert a.verdict.startswith("Evidence of an edge over buy-and-hold after deflation: Sharpe")


def test_the_best_of_pure_noise_after_many_trials_is_called_overfit() -> None:
    m = noise(20, seed=3)
    a = o.assess(m[m.mean().idxmax()], m, buy_and_hold(), 1000, **FAST)
    assert a.regime == "overfit", a.verdict
    assert "best of 1,000 configurations with no edge over holding" in a.verdict
