"""Subsidy schedule, block counts and height reconstruction (data.block_height)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from data.block_height import (
    blocks_from_hashrate,
    cumulative_subsidy_btc,
    reconstruct_height,
    subsidy_btc,
)


@pytest.mark.parametrize(
    ("height", "btc"),
    [
        (0, 50.0),
        (209_999, 50.0),
        (210_000, 25.0),
        (420_000, 12.5),
        (630_000, 6.25),
        (840_000, 3.125),
        (1_050_000, 1.5625),
    ],
)
def test_subsidy_halves_every_210000_blocks(height, btc):
    assert subsidy_btc(height) == btc


def test_subsidy_reaches_zero_after_33_halvings():
    assert subsidy_btc(33 * 210_000) == 0.0
    assert subsidy_btc(32 * 210_000) == 1e-8


def test_total_supply_never_exceeds_21_million():
    total = cumulative_subsidy_btc(64 * 210_000)
    assert total == pytest.approx(20_999_999.9769, abs=1e-4)


@given(st.integers(min_value=-1, max_value=3_000_000))
def test_cumulative_subsidy_is_the_sum_of_block_subsidies(height):
    if height < 0:
        assert cumulative_subsidy_btc(height) == 0
        return
    era_sizes = [min(max(height + 1 - e * 210_000, 0), 210_000) for e in range(20)]
    brute = sum(n * subsidy_btc(e * 210_000) for e, n in enumerate(era_sizes))
    assert cumulative_subsidy_btc(height) == pytest.approx(brute, abs=1e-8)


def _days(n: int) -> pd.DatetimeIndex:
    return pd.date_range("2020-01-01", periods=n, freq="D")


def test_blocks_are_hashrate_times_seconds_over_hashes_per_block():
    idx = _days(2)
    d = pd.Series([1e12, 1e12], index=idx)
    blocks = pd.Series([144.0, 150.0], index=idx)
    h = blocks * d * 2**32 / 86400 / 1e12
    got, corrected = blocks_from_hashrate(h, d)
    assert got.tolist() == [144.0, 150.0]
    assert not corrected.any()


def test_blocks_use_the_next_days_difficulty_when_the_source_did():
    idx = _days(3)
    d = pd.Series([1e12, 1.05e12, 1.1e12], index=idx)  # day 2: mean of old and new
    h = pd.Series([144 * 1e12, 140 * 1.1e12, 150 * 1.1e12], index=idx) * 2**32 / 86400 / 1e12
    got, corrected = blocks_from_hashrate(h, d)
    assert got.tolist()[:2] == [144.0, 140.0]
    assert corrected.tolist() == [False, True, False]


def test_a_day_without_hashrate_has_no_block_count():
    idx = _days(2)
    got, _ = blocks_from_hashrate(
        pd.Series([np.nan, 0.0], index=idx), pd.Series([np.nan, 0.0], index=idx)
    )
    assert np.isnan(got.iloc[0]) and got.iloc[1] == 0.0


def _epoch_days(
    counts: list[int], *, d_old: float, d_new: float, n1_on_retarget: int, retarget_day: int
):
    """Daily mean difficulties for a chain whose retarget happens on ``retarget_day``."""
    diffs = []
    for i, n in enumerate(counts):
        if i < retarget_day:
            diffs.append(d_old)
        elif i == retarget_day:
            diffs.append((n1_on_retarget * d_old + (n - n1_on_retarget) * d_new) / n)
        else:
            diffs.append(d_new)
    return diffs


def test_height_is_reanchored_to_the_retarget_multiple_of_2016():
    # Day k ends at height 133 + 144k, so block 2016 (the first at the new difficulty) is the
    # 11th block of day 14: n1 = 10 blocks of that day are mined at the old difficulty.
    counts = [134] + [144] * 19
    diffs = _epoch_days(counts, d_old=1e12, d_new=1.2e12, n1_on_retarget=10, retarget_day=14)
    observed = pd.Series(counts, index=_days(20), dtype="float64")
    observed.iloc[3] += 5  # a counting error of +5 blocks before the retarget
    rec = reconstruct_height(observed, pd.Series(diffs, index=_days(20)))
    true_end = np.cumsum(counts) - 1
    assert rec.height.iloc[2] == true_end[2]
    assert rec.height.iloc[3] == true_end[3] + 5  # the error propagates ...
    assert (rec.height.iloc[14:] == true_end[14:]).all()  # ... until the retarget anchor fixes it
    assert rec.anchors["retarget_height"].tolist() == [2016]
    assert rec.anchors["correction_blocks"].tolist() == [-5]


def test_an_implausible_anchor_is_recorded_but_not_applied():
    counts = [134] + [144] * 19
    diffs = _epoch_days(counts, d_old=1e12, d_new=1.2e12, n1_on_retarget=10, retarget_day=14)
    observed = pd.Series(counts, index=_days(20), dtype="float64")
    observed.iloc[3] += 300  # far beyond the tolerance: not a counting drift
    rec = reconstruct_height(observed, pd.Series(diffs, index=_days(20)))
    assert rec.anchors["applied"].tolist() == [False]
    assert rec.height.iloc[-1] == np.cumsum(counts)[-1] - 1 + 300


def test_missing_days_are_imputed_at_144_blocks_and_flagged():
    counts = pd.Series([100.0, np.nan, 120.0], index=_days(3))
    rec = reconstruct_height(counts, pd.Series([1.0, np.nan, 1.0], index=_days(3)))
    assert rec.height.tolist() == [99, 243, 363]
    assert rec.imputed.tolist() == [False, True, False]


def test_reconstruction_of_the_real_chain_needs_only_small_corrections_since_2018(chain):
    from data.block_height import blocks_from_hashrate as bfh

    blocks, _ = bfh(chain["hashrate_ths"], chain["difficulty"])
    rec = reconstruct_height(blocks, chain["difficulty"])
    recent = rec.anchors[rec.anchors["date"] >= "2018-01-01"]
    assert len(recent) > 100
    assert recent["correction_blocks"].abs().max() <= 5
    assert (rec.height == chain["block_height"]).all()
