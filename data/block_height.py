"""Blocks per day, block height, subsidy and supply reconstructed from daily hashrate and difficulty.

Facts used (Bitcoin protocol):

* expected hashes per block = D * 2^32, so blocks in a day = H[H/s] * 86400 / (D * 2^32);
* block subsidy = 50 BTC, halved every 210,000 blocks (heights 210000, 420000, 630000,
  840000, ...; 2012-11-28, 2016-07-09, 2020-05-11, 2024-04-20), integer satoshis;
* difficulty retargets every 2016 blocks, so the first block at a new difficulty has a height
  that is a multiple of 2016.

The daily source (Coin Metrics' method) gives H and the mean difficulty of the day's blocks, so
H*86400/(D*2^32) is the block count. On 63 retarget days between 2016-04 and 2018-07 the source's
hashrate was computed with the day's *new* difficulty instead; there the count is
H*86400/(D_next*2^32) (an integer to 1e-12, which is how these days are recognised).

Block height is accumulated from the daily counts. Accumulated counts drift by a few blocks
(timestamp quirks at day boundaries), so at each clean retarget day (the day's mean difficulty
lies strictly between a stable old and a stable new difficulty) the number of blocks mined
before the retarget, n1 = n * (D_new - D_mean) / (D_new - D_old), pins the height of the first
new-difficulty block to a multiple of 2016; the accumulated height is re-anchored there when it
is within `ANCHOR_TOLERANCE_BLOCKS`. Block height and supply were exactly observable on-chain at
every moment, so reconstructing them with a neighbouring day's difficulty leaks no future
information into the values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

HALVING_INTERVAL_BLOCKS = 210_000
RETARGET_INTERVAL_BLOCKS = 2016
INITIAL_SUBSIDY_SATS = 50 * 100_000_000
SATS_PER_BTC = 100_000_000
EXPECTED_BLOCKS_PER_DAY = 144
ANCHOR_TOLERANCE_BLOCKS = 50

#: Height of each halving and the UTC day its first block was mined.
KNOWN_HALVINGS: dict[int, str] = {
    210_000: "2012-11-28",
    420_000: "2016-07-09",
    630_000: "2020-05-11",
    840_000: "2024-04-20",
}


def subsidy_btc(height: np.ndarray | int) -> np.ndarray:
    """Block subsidy in BTC at ``height``: 50 * 2^-floor(height / 210000), in whole satoshis."""
    h = np.asarray(height, dtype=np.int64)
    era = np.minimum(h // HALVING_INTERVAL_BLOCKS, 63)
    sats = np.right_shift(np.int64(INITIAL_SUBSIDY_SATS), era)
    return sats / SATS_PER_BTC


def cumulative_subsidy_btc(height: np.ndarray | int) -> np.ndarray:
    """Sum of the subsidies of blocks 0..``height`` in BTC (genesis included; -1 gives 0).

    Computed era by era in integer satoshis: sum_e clip(h + 1 - 210000 e, 0, 210000) * (5e9 >> e).
    """
    h = np.asarray(height, dtype=np.int64)
    total = np.zeros(h.shape, dtype=np.int64)
    for era in range(34):  # subsidy is 0 from era 33 on
        n = np.clip(h + 1 - era * HALVING_INTERVAL_BLOCKS, 0, HALVING_INTERVAL_BLOCKS)
        total += n * (INITIAL_SUBSIDY_SATS >> era)
    return total / SATS_PER_BTC


def blocks_from_hashrate(
    hashrate_ths: pd.Series, difficulty: pd.Series
) -> tuple[pd.Series, pd.Series]:
    """Blocks mined per day from hashrate (TH/s) and the day's mean difficulty.

    blocks = H * 1e12 * 86400 / (D * 2^32), rounded to whole blocks. Days with H = 0 have 0 blocks.
    Where that is not a whole number (to 1e-6), the source used the next day's difficulty for
    H, and blocks = H * 1e12 * 86400 / (D_next * 2^32) is used instead; if that is not whole
    either the value is left unrounded so that validation flags it.

    Returns ``(blocks, corrected)``: the counts (NaN where H or D is missing) and a boolean mask
    of the days where the next-day correction was applied.
    """
    h = hashrate_ths.astype("float64")
    d = difficulty.astype("float64").where(difficulty > 0)
    raw = h * 1e12 * 86400.0 / (d * 2.0**32)
    raw = raw.where(h != 0, 0.0)
    whole = (raw - raw.round()).abs() <= 1e-6
    alt = h * 1e12 * 86400.0 / (d.shift(-1) * 2.0**32)
    alt_whole = (alt - alt.round()).abs() <= 1e-6
    corrected = raw.notna() & ~whole & alt_whole
    blocks = raw.where(~corrected, alt)
    blocks = blocks.where(~(whole | corrected), blocks.round())
    return blocks, corrected


@dataclass(frozen=True)
class HeightReconstruction:
    """Result of `reconstruct_height`.

    Attributes:
        height: height of the last block mined by the end of each day (int64).
        imputed: True where the day's block count was missing and 144 was assumed.
        anchors: one row per clean retarget day: ``date``, ``retarget_height`` (the multiple of
            2016 implied), ``correction_blocks`` (applied to the accumulated height; 0 when
            already exact), ``applied`` (False when beyond the tolerance).
    """

    height: pd.Series
    imputed: pd.Series
    anchors: pd.DataFrame


def reconstruct_height(
    blocks: pd.Series, difficulty: pd.Series, tolerance: int = ANCHOR_TOLERANCE_BLOCKS
) -> HeightReconstruction:
    """Accumulate daily block counts into block heights, re-anchored at clean retargets.

    ``blocks`` and ``difficulty`` are indexed by consecutive calendar days starting with the
    genesis day (2009-01-03, one block: height 0). See the module docstring for the anchoring.
    """
    idx = blocks.index
    n = blocks.to_numpy(dtype="float64")
    d = difficulty.reindex(idx).to_numpy(dtype="float64")
    imputed = np.isnan(n)
    counts = np.where(imputed, EXPECTED_BLOCKS_PER_DAY, n).astype(np.int64)
    heights = np.empty(len(idx), dtype=np.int64)
    anchors = []
    height = -1  # before genesis
    for i in range(len(idx)):
        if 2 <= i < len(idx) - 2 and not imputed[i]:
            d_old, d_old2, d_mean, d_new, d_new2 = d[i - 1], d[i - 2], d[i], d[i + 1], d[i + 2]
            clean = (
                np.isfinite([d_old, d_old2, d_mean, d_new, d_new2]).all()
                and d_old == d_old2
                and d_new == d_new2
                and min(d_old, d_new) < d_mean < max(d_old, d_new)
            )
            if clean:
                n1 = counts[i] * (d_new - d_mean) / (d_new - d_old)
                if abs(n1 - round(n1)) <= 1e-6 and 1 <= round(n1) <= counts[i] - 1:
                    first_new = height + 1 + int(round(n1))
                    err = (first_new + RETARGET_INTERVAL_BLOCKS // 2) % RETARGET_INTERVAL_BLOCKS - (
                        RETARGET_INTERVAL_BLOCKS // 2
                    )
                    applied = abs(err) <= tolerance
                    if applied:
                        height -= err
                    anchors.append(
                        {
                            "date": idx[i],
                            "retarget_height": first_new - err,
                            "correction_blocks": -err if applied else 0,
                            "applied": applied,
                        }
                    )
        height += counts[i]
        heights[i] = height
    anchor_frame = pd.DataFrame(
        anchors, columns=["date", "retarget_height", "correction_blocks", "applied"]
    )
    return HeightReconstruction(
        height=pd.Series(heights, index=idx, name="block_height"),
        imputed=pd.Series(imputed, index=idx, name="blocks_imputed"),
        anchors=anchor_frame,
    )


def halving_days(height: pd.Series) -> dict[int, pd.Timestamp]:
    """UTC day on which each halving height was first reached by the end-of-day height."""
    out = {}
    for h in KNOWN_HALVINGS:
        reached = height.index[height.to_numpy() >= h]
        if len(reached):
            out[h] = reached[0]
    return out


#: The columns of a chain frame (the bundled ``chain_1d.csv`` after its ``date`` index).
CHAIN_COLUMNS = (
    "hashrate_ths",
    "difficulty",
    "blocks_per_day",
    "block_height",
    "blocks_imputed",
    "block_subsidy_btc",
    "issuance_btc",
    "supply_btc",
)


def continue_chain(
    hashrate_ths: pd.Series, difficulty: pd.Series, previous: pd.DataFrame
) -> pd.DataFrame:
    """Chain rows for the days after ``previous`` ends, from daily hashrate and difficulty.

    ``hashrate_ths`` (TH/s, the day's mean) and ``difficulty`` (dimensionless, the day's mean)
    are indexed by UTC day; ``previous`` is a chain frame (`CHAIN_COLUMNS`, e.g. the bundled
    ``chain_1d``) whose last row gives the height to continue from. The rows run from the day after
    ``previous``'s last day to the last day on which both hashrate and difficulty are known (none:
    an empty frame), one per calendar day:

    * ``blocks_per_day`` = round(H * 1e12 * 86400 / (D * 2^32)) (`blocks_from_hashrate`);
    * ``block_height`` = the previous day's height + the day's blocks;
    * ``block_subsidy_btc`` = `subsidy_btc` (height) in BTC per block, ``supply_btc`` =
      `cumulative_subsidy_btc` (height) in BTC, ``issuance_btc`` = the subsidies of the day's
      blocks, supply(height) - supply(height - blocks), in BTC per day.

    A day whose hashrate or difficulty is missing is blank in every column (never held or
    filled) with ``blocks_imputed`` = 1, and counts `EXPECTED_BLOCKS_PER_DAY` blocks for the
    heights after it, as the bundled chain does. (The bundle also fills height, subsidy,
    issuance and supply on its missing days; here they stay blank, because a row for a missing
    day exists only once a later day has arrived, and the panel up to any day must not depend
    on later days.)

    Unlike `reconstruct_height` the height is not re-anchored at retargets: a continuation drifts
    by the counting error of the source (none for Coin Metrics' exact counts, below one block a
    day for a rounded estimate), which moves the subsidy only around a halving (the next at
    height 1,050,000). Day d's values use rows <= d (`blocks_from_hashrate` looks at the next
    day's difficulty only for a count that is not whole yet whole with it, a quirk of the
    2016-2018 source; a count observable on-chain at the day's end either way).
    """
    empty = pd.DataFrame(
        {c: pd.Series(dtype="float64") for c in CHAIN_COLUMNS},
        index=pd.DatetimeIndex([], name="date").as_unit("ns"),
    )
    if previous.empty:
        return empty
    h, d = (_by_day(s) for s in (hashrate_ths, difficulty))
    d = d.where(d > 0)
    last = pd.Timestamp(previous.index.max())
    both = h.reindex(d.index).notna() & d.notna()
    known = d.index[both.to_numpy() & (d.index > last)]
    if not len(known):
        return empty
    days = pd.date_range(last + pd.Timedelta(days=1), known.max(), freq="D", name="date")
    h, d = h.reindex(days), d.reindex(days)
    missing = h.isna() | d.isna()
    h, d = h.where(~missing), d.where(~missing)
    blocks = blocks_from_hashrate(h, d)[0].round()
    counts = blocks.fillna(EXPECTED_BLOCKS_PER_DAY).to_numpy(dtype=np.int64)
    start_height = int(previous["block_height"].iloc[-1])
    height = start_height + np.cumsum(counts)
    supply = cumulative_subsidy_btc(height)
    gap = missing.to_numpy()

    def known_only(values: np.ndarray) -> np.ndarray:
        return np.where(gap, np.nan, values)

    return pd.DataFrame(
        {
            "hashrate_ths": h.to_numpy(),
            "difficulty": d.to_numpy(),
            "blocks_per_day": blocks.to_numpy(),
            "block_height": known_only(height),
            "blocks_imputed": gap.astype(np.int64),
            "block_subsidy_btc": known_only(subsidy_btc(height)),
            "issuance_btc": known_only(supply - cumulative_subsidy_btc(height - counts)),
            "supply_btc": known_only(supply),
        },
        index=days.as_unit("ns"),
    )


def _by_day(series: pd.Series) -> pd.Series:
    """``series`` as float64 on midnight UTC days, the later of two values on one day kept."""
    out = series.astype("float64").copy()
    out.index = pd.DatetimeIndex(out.index).normalize().as_unit("ns")
    return out[~out.index.duplicated(keep="last")].sort_index()
