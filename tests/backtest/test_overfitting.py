"""`backtest.overfitting`: the assessment of a chosen configuration and its one-line verdict.

Every return matrix here is a CONSTRUCTED TEST INPUT, never market data: seeded normal noise
(mean 0, 2 % a day), columns copied to be identical, or one column shifted up by a constant so it
dominates. The answers follow from the construction: a dominant column is the in-sample and the
out-of-sample best in every CSCV split (PBO 0); identical columns are one configuration; for
pure noise the in-sample winner lands above or below the out-of-sample median like a coin flip
(PBO about 0.5 on average). Verdict wording is checked on the pure `verdict` function with chosen
numbers, one regime per test.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from backtest import overfitting as o
from backtest import validation as v

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
        "psr": 0.99,
        "dsr": 0.8,
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


# --------------------------------------------------------------------------- DSR, PSR, MinTRL


def test_dsr_uses_the_ledger_n_and_the_candidates_sharpe_variance() -> None:
    m = dominant()
    a = o.assess(m[0], m, None, 500, **FAST)
    per_day = m.mean() / m.std(ddof=1)
    sr, n_obs, skew, kurt = v._moments(m[0])
    expected = v.deflated_sharpe_ratio(sr, float(per_day.var(ddof=1)), 500, n_obs, skew, kurt)
    assert a.n_trials == 500 and a.n_candidates == 8
    assert a.sr_variance == pytest.approx(float(per_day.var(ddof=1)))
    assert a.dsr == pytest.approx(expected)
    assert a.sharpe == pytest.approx(sr * math.sqrt(365))
    assert "N = 500 trials (ledger)" in a.dsr_note and "effective N" in a.dsr_note


def test_more_ledger_trials_lower_the_dsr() -> None:
    m = dominant(edge=0.003)
    few, many = (o.assess(m[0], m, None, n, **FAST).dsr for n in (10, 10_000))
    assert many < few


def test_the_ledger_n_is_at_least_the_number_of_candidates() -> None:
    assert o.assess(dominant()[0], dominant(), None, 1, **FAST).n_trials == 8


def test_sr_variance_replaces_v_when_given() -> None:
    m = dominant()
    a = o.assess(m[0], m, None, 100, sr_variance=0.0, sr_variance_from="a test", **FAST)
    assert a.sr_variance == 0.0 and a.expected_max_sharpe == 0.0
    assert a.dsr == pytest.approx(a.psr)  # SR0 = 0: DSR is PSR(0)
    assert "across a test" in a.dsr_note


def test_dsr_is_not_computed_without_two_candidates() -> None:
    a = o.assess(dominant()[0], None, None, 100, **FAST)
    assert a.dsr is None and a.n_candidates == 1
    assert "at least two candidates" in a.dsr_note


def test_min_trl_is_in_days_and_infinite_for_a_losing_configuration() -> None:
    m = dominant(edge=0.003)
    sr, _, skew, kurt = v._moments(m[0])
    assert o.min_track_record_days(m[0]) == pytest.approx(
        v.min_track_record_length(sr, 0.0, skew, kurt)
    )
    assert o.min_track_record_days(-m[0]) == math.inf


def test_the_chosen_returns_join_the_candidates_when_missing() -> None:
    m = noise(4)
    a = o.assess(m[0] + 0.001, m, None, 10, **FAST)
    assert a.n_candidates == 5


# --------------------------------------------------------------------------- SPA and intervals


def test_spa_finds_a_clear_winner_against_buy_and_hold() -> None:
    a = o.assess(dominant()[0], dominant(), buy_and_hold(), 10, **FAST)
    assert a.spa_pvalue is not None and a.spa_pvalue <= 0.05
    assert "best of 8 candidates" in a.spa_note


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


# --------------------------------------------------------------------------- verdict wording


def test_verdict_says_likely_overfit_when_pbo_is_high() -> None:
    regime, line = _verdict(dsr=0.41, pbo=0.62)
    assert regime == "overfit"
    assert line == (
        "Likely overfit: PBO 0.62 and DSR 0.41 — the best in-sample configuration is not "
        "reliably better than the median one out of sample; a Sharpe of 1.20 is what the best "
        "of 500 zero-skill trials would show by luck"
    )


def test_verdict_says_likely_overfit_when_dsr_is_below_one_half() -> None:
    regime, line = _verdict(dsr=0.3, pbo=0.1)
    assert regime == "overfit"
    assert line.startswith("Likely overfit: DSR 0.30, PBO 0.10 — a Sharpe of 1.20")


def test_verdict_says_evidence_of_skill_after_deflation() -> None:
    regime, line = _verdict(dsr=0.97, pbo=0.12, spa_pvalue=0.03)
    assert regime == "skill"
    assert (
        line == "Evidence of skill after deflation: DSR 0.97, PBO 0.12, SPA p=0.03 vs buy-and-hold"
    )


def test_verdict_says_skill_without_an_edge_over_buy_and_hold() -> None:
    regime, line = _verdict(dsr=0.97, pbo=0.12, spa_pvalue=0.4)
    assert regime == "skill_no_edge"
    assert line.startswith("Evidence of skill after deflation, but no edge over buy-and-hold")


def test_verdict_is_inconclusive_between_the_thresholds() -> None:
    regime, line = _verdict(dsr=0.8, pbo=0.3, spa_pvalue=0.2, min_trl=1400.0, n_obs=900)
    assert regime == "inconclusive"
    assert line == (
        "Inconclusive: DSR 0.80, PBO 0.30, SPA p=0.20 vs buy-and-hold — neither overfit nor "
        "proven after deflation; MinTRL 1,400 days against 900 observed"
    )


def test_verdict_says_no_skill_for_a_losing_configuration() -> None:
    regime, line = _verdict(sharpe=-0.3, psr=0.2, dsr=0.01)
    assert regime == "no_skill" and line.startswith("No skill: Sharpe -0.30 over 1,000 days")


def test_verdict_needs_enough_days() -> None:
    regime, line = _verdict(n_obs=30)
    assert regime == "insufficient"
    assert line == "Not enough data to judge: 30 days of returns (at least 60 needed)"


def test_verdict_thresholds_are_inclusive_where_documented() -> None:
    assert _verdict(dsr=0.95, pbo=0.2, spa_pvalue=0.05)[0] == "skill"
    assert _verdict(dsr=0.97, pbo=0.5)[0] == "overfit"
    assert _verdict(dsr=0.5, pbo=0.3)[0] == "inconclusive"
    assert _verdict(dsr=0.97, pbo=None, spa_pvalue=None)[1] == (
        "Evidence of skill after deflation: DSR 0.97, PBO n/a"
    )


# --------------------------------------------------------------------------- end to end


def test_a_constructed_edge_among_noise_is_called_skill() -> None:
    m = dominant(k=20, edge=0.006)
    a = o.assess(m[0], m, buy_and_hold(), 100, **FAST)
    assert a.regime == "skill", a.verdict
    assert a.verdict.startswith("Evidence of skill after deflation: DSR")


def test_the_best_of_pure_noise_after_many_trials_is_called_overfit() -> None:
    m = noise(20, seed=3)
    a = o.assess(m[m.mean().idxmax()], m, buy_and_hold(), 1000, **FAST)
    assert a.regime == "overfit", a.verdict
    assert "best of 1,000 zero-skill trials" in a.verdict
