"""Subsidy schedule, block counts and height reconstruction (data.block_height)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from costbt.data.block_height import (
    blocks_from_hashrate,
    continue_chain,
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
    from costbt.data.block_height import blocks_from_hashrate as bfh

    blocks, _ = bfh(chain["hashrate_ths"], chain["difficulty"])
    rec = reconstruct_height(blocks, chain["difficulty"])
    recent = rec.anchors[rec.anchors["date"] >= "2018-01-01"]
    assert len(recent) > 100
    assert recent["correction_blocks"].abs().max() <= 5
    assert (rec.height == chain["block_height"]).all()


# ----------------------------------------------------------------------------- continue_chain

D_2026 = 1.25e14  # dimensionless; about the bundle's last difficulty


def _previous(height: int) -> pd.DataFrame:
    """A one-row chain frame ending on 2026-02-12 at ``height``."""
    return pd.DataFrame(
        {"block_height": [height], "supply_btc": [cumulative_subsidy_btc(height)]},
        index=pd.DatetimeIndex(["2026-02-12"], name="date"),
    )


def _inputs(blocks: list[float], start: str = "2026-02-13") -> tuple[pd.Series, pd.Series]:
    """Hashrate (TH/s) and difficulty giving ``blocks`` a day (NaN: a missing day)."""
    idx = pd.date_range(start, periods=len(blocks), freq="D")
    d = pd.Series(D_2026, index=idx)
    h = pd.Series(blocks, index=idx) * d * 2**32 / 86400 / 1e12
    return h, d


def test_a_continued_chain_adds_each_days_blocks_to_the_last_height():
    h, d = _inputs([144.0, 150.0])
    out = continue_chain(h, d, _previous(936_301))
    assert out["blocks_per_day"].tolist() == [144, 150]
    assert out["block_height"].tolist() == [936_445, 936_595]
    assert out["block_subsidy_btc"].tolist() == [3.125, 3.125]
    assert out["issuance_btc"].tolist() == [450.0, 468.75]
    assert out["supply_btc"].iloc[-1] == cumulative_subsidy_btc(936_595)


def test_a_continued_chain_issues_each_blocks_own_subsidy_across_a_halving():
    h, d = _inputs([200.0])  # blocks 1,049,901 .. 1,050,100
    out = continue_chain(h, d, _previous(1_049_900)).iloc[0]
    assert out["block_subsidy_btc"] == 1.5625  # the last block's, after the halving
    assert out["issuance_btc"] == 99 * 3.125 + 101 * 1.5625


def test_a_day_missing_from_a_continued_chain_is_blank_and_counts_144_blocks_after_it():
    h, d = _inputs([144.0, np.nan, 150.0])
    out = continue_chain(h, d, _previous(936_301))
    missing = out.iloc[1]
    assert missing.drop("blocks_imputed").isna().all() and missing["blocks_imputed"] == 1
    assert out["block_height"].iloc[2] == 936_301 + 144 + 144 + 150


def test_a_continued_chain_ends_on_the_last_day_with_hashrate_and_difficulty():
    h, d = _inputs([144.0, 144.0, np.nan])
    out = continue_chain(h, d.where(d.index < "2026-02-14"), _previous(936_301))
    assert out.index.max() == pd.Timestamp("2026-02-13")


def test_days_up_to_the_previous_chains_end_are_not_continued():
    h, d = _inputs([144.0, 144.0], start="2026-02-11")
    out = continue_chain(h, d, _previous(936_301))
    assert out.empty and list(out.columns)[:2] == ["hashrate_ths", "difficulty"]
