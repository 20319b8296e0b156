"""A download cache holding chain data past the bundled chain's last day (2026-02-12).

FORMAT FIXTURE, not real data: no real chain data after 2026-02-12 is bundled, so the days after
it are made up in the layout ``costbt data chain --provider coinmetrics --metric
HashRate,DiffMean`` stores (`data.sources.coinmetrics`): the bundle's last difficulty held
(no retarget) and a whole number of blocks a day, with HashRate = blocks * D * 2^32 / 86400 / 1e12
(TH/s), as Coin Metrics computes it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from costbt.data import bundle
from costbt.data.bundled_files import CHAIN_1D
from costbt.data.cache import Cache, SeriesKey

COINMETRICS_KEY = SeriesKey("coinmetrics", "asset_metrics", "btc", "1d")
HASH_RATE_KEY = SeriesKey("blockchain_com", "chart", "hash-rate", "1d")
DIFFICULTY_KEY = SeriesKey("blockchain_com", "chart", "difficulty", "1d")
BUNDLED_CHAIN_END = pd.Timestamp("2026-02-12")


def bundled_chain() -> pd.DataFrame:
    return bundle.load(CHAIN_1D)


def chain_days(
    start: str = "2026-02-13",
    end: str = "2026-03-31",
    *,
    blocks: float = 144.0,
    skip: Iterable[str] = (),
) -> pd.DataFrame:
    """Days ``start`` .. ``end`` (without ``skip``) with ``hashrate_ths`` (TH/s), ``difficulty``
    and ``blocks``, indexed by ``time`` as the Coin Metrics downloader stores them."""
    d = float(bundled_chain()["difficulty"].iloc[-1])
    days = pd.date_range(start, end, freq="D", name="time").as_unit("ns")
    days = days.drop(pd.DatetimeIndex(list(skip)), errors="ignore")
    return pd.DataFrame(
        {
            "hashrate_ths": blocks * d * 2.0**32 / 86400.0 / 1e12,
            "difficulty": d,
            "blocks": blocks,
        },
        index=days,
    )


def write_coinmetrics(cache_dir: Path, frame: pd.DataFrame) -> Cache:
    """``frame`` written through the Cache API under Coin Metrics' asset-metrics key."""
    cache = Cache(cache_dir)
    cache.write(COINMETRICS_KEY, frame, client="test fixture", provider="format fixture")
    return cache
