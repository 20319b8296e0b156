"""Cached downloads as panel sources: in place of, or beyond, the bundled files.

Each `Overlay` maps one cached series (see `data.cache`) to one panel source of `data.panel` and
converts it to that source's columns and units. Two modes:

* ``extend``: bundled rows are kept; cached rows are added only for days after the bundled file's
  last day (the bundled dataset stays the reference for its span).
* ``replace``: cached rows win wherever the cache has them; bundled rows fill the other days.

A cache-only source (`data.panel.PanelSource.bundled` False: transaction fees) has no bundled
rows; its overlays alone build its frame, in order, a later overlay winning on the days it has
(so Coin Metrics' native-BTC fees win over blockchain.com's USD fees converted at the day's
close), whatever the mode. Without a cached series the source is absent and so are its columns.

The chain source (hash rate, difficulty and what follows from them) only ever grows: its
overlays continue the chain frame after its last day (`data.block_height.continue_chain`), in
either mode, because block height, subsidy and supply accumulate from the bundled history. Coin
Metrics comes first, then blockchain.com, each adding the days after the chain so far ends.

Publication lags are those of the panel source, so the point-in-time contract is unchanged.
`apply_overlays` returns the frames and a provenance record per source (which file, hash and
span came from the bundle and which from the cache), kept in ``panel.attrs["provenance"]``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from costbt.data.block_height import continue_chain
from costbt.data.cache import Cache, SeriesKey

Mode = Literal["extend", "replace"]


def _ohlcv_as_usd(frame: pd.DataFrame) -> pd.DataFrame:
    """ccxt candles of BTC/USDT (quote USDT, treated as USD as in the bundle) -> bundled columns."""
    out = pd.DataFrame(
        {
            "open_usd": frame["open_quote"],
            "high_usd": frame["high_quote"],
            "low_usd": frame["low_quote"],
            "close_usd": frame["close_quote"],
            "volume_btc": frame["volume_base"],
        }
    )
    out.index = pd.DatetimeIndex(frame.index.normalize(), name="date")
    return out


def funding_daily_mean(frame: pd.DataFrame, settlements_per_day: int = 3) -> pd.DataFrame:
    """8-hourly funding rates -> the day's mean; a day is used only once all its settlements are in."""
    day = frame.index.floor("D")
    grouped = frame["funding_rate"].groupby(day)
    mean = grouped.mean()[grouped.size() == settlements_per_day]
    out = pd.DataFrame(
        {"funding_rate_8h_mean": mean.to_numpy()}, index=pd.DatetimeIndex(mean.index, name="date")
    )
    return out


def _coinmetrics_fees_btc(frame: pd.DataFrame) -> pd.DataFrame:
    """Coin Metrics asset metrics -> ``fees_btc`` (FeeTotNtv, BTC per day; empty without it).

    FeeTotNtv is stored as ``fees_btc`` (`data.sources.coinmetrics.KNOWN_METRICS`); a cache
    written before that name was declared holds it as ``fee_tot_ntv``, read as well.
    """
    column = next((c for c in ("fees_btc", "fee_tot_ntv") if c in frame.columns), None)
    if column is None:
        return pd.DataFrame({"fees_btc": pd.Series(dtype="float64")}, index=_days([]))
    fees = frame[column].dropna()
    return pd.DataFrame({"fees_btc": fees.to_numpy()}, index=_days(fees.index.normalize()))


def _usd_fees_in_btc(frame: pd.DataFrame, spot: pd.DataFrame) -> pd.DataFrame:
    """blockchain.com ``fees_usd`` (USD per day) -> ``fees_btc`` = fees_usd / that day's close.

    Days without a spot close are dropped (never filled). The conversion uses the panel's spot
    close (`close_usd`, after any spot overlay), not blockchain.com's own USD rate, so it is an
    approximation of the fees in BTC; Coin Metrics' FeeTotNtv is native BTC and wins where both
    are cached.
    """
    usd = frame["fees_usd"].dropna()
    usd.index = usd.index.normalize()
    close = spot["close_usd"].reindex(usd.index)
    btc = (usd / close).dropna()
    return pd.DataFrame({"fees_btc": btc.to_numpy()}, index=_days(btc.index))


def _days(values) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(values, name="date").as_unit("ns")


def coinmetrics_chain(frame: pd.DataFrame, chain: pd.DataFrame) -> pd.DataFrame:
    """Coin Metrics asset metrics -> chain rows after ``chain``'s last day (`continue_chain`).

    Hash rate: ``hashrate_ths`` (HashRate, TH/s, the day's mean: the method of the bundled
    chain). Difficulty: ``difficulty`` (DiffMean, the mean difficulty of the day's blocks); where
    it is not cached, it follows from HashRate and ``blocks`` (BlkCnt), because Coin Metrics
    computes HashRate as n * D * 2^32 / 86400 from the day's n blocks:
    D = H * 1e12 * 86400 / (n * 2^32) (n > 0). Blocks, height, subsidy, issuance and supply are
    derived as for the bundle; a day without a hash rate or a difficulty stays blank. Empty
    without a hash rate column.
    """
    h = frame["hashrate_ths"] if "hashrate_ths" in frame.columns else pd.Series(np.nan, frame.index)
    d = frame["difficulty"] if "difficulty" in frame.columns else pd.Series(np.nan, frame.index)
    if "blocks" in frame.columns:
        n = frame["blocks"].where(frame["blocks"] > 0)
        d = d.fillna(h * 1e12 * 86400.0 / (n * 2.0**32))
    return continue_chain(h, d, chain)


def blockchain_com_chain(
    hash_rate: pd.DataFrame, difficulty: pd.DataFrame, chain: pd.DataFrame
) -> pd.DataFrame:
    """blockchain.com ``hash-rate`` and ``difficulty`` charts -> chain rows after ``chain``'s
    last day (`continue_chain`).

    ``hashrate_ths`` is blockchain.com's estimate 2^32 * D / T from the day's blocks, in TH/s
    (the downloader checks the response's unit, "Hash Rate TH/s"), the bundle's unit; the block
    count H * 1e12 * 86400 / (D * 2^32) is rounded to whole blocks. A day missing from either
    chart stays blank.
    """
    return continue_chain(hash_rate["hashrate_ths"], difficulty["difficulty"], chain)


@dataclass(frozen=True)
class Overlay:
    """A cached series that can stand for a panel source.

    Attributes:
        source: the panel source (`data.panel.PanelSource.name`) it supplies.
        key: the cached series.
        convert: cached frame (then those of ``also``, then the frames named in ``uses``) ->
            the source's columns.
        uses: panel sources whose frames (bundled or already overlaid) the conversion needs,
            passed after the cached frames in this order (e.g. the spot close to value fees;
            the chain so far, for the chain source itself).
        cache_only: the source has no bundled file; this series alone builds it.
        also: further cached series the conversion needs (e.g. the difficulty chart beside the
            hash-rate chart); the overlay applies only when every one is cached.
    """

    source: str
    key: SeriesKey
    convert: Callable[..., pd.DataFrame]
    uses: tuple[str, ...] = ()
    cache_only: bool = False
    also: tuple[SeriesKey, ...] = ()


OVERLAYS: tuple[Overlay, ...] = (
    Overlay("spot", SeriesKey("binance", "ohlcv", "BTC/USDT", "1d"), _ohlcv_as_usd),
    Overlay("perp", SeriesKey("binance", "ohlcv", "BTC/USDT:USDT", "1d"), _ohlcv_as_usd),
    Overlay("funding", SeriesKey("binance", "funding", "BTC/USDT:USDT", "8h"), funding_daily_mean),
    # Fees: blockchain.com first, Coin Metrics (native BTC) second, so it wins where both are.
    Overlay(
        "fees",
        SeriesKey("blockchain_com", "chart", "transaction-fees-usd", "1d"),
        _usd_fees_in_btc,
        uses=("spot",),
        cache_only=True,
    ),
    Overlay(
        "fees",
        SeriesKey("coinmetrics", "asset_metrics", "btc", "1d"),
        _coinmetrics_fees_btc,
        cache_only=True,
    ),
    # Chain: Coin Metrics first, then blockchain.com for the days after it; both only extend.
    Overlay(
        "chain",
        SeriesKey("coinmetrics", "asset_metrics", "btc", "1d"),
        coinmetrics_chain,
        uses=("chain",),
    ),
    Overlay(
        "chain",
        SeriesKey("blockchain_com", "chart", "hash-rate", "1d"),
        blockchain_com_chain,
        uses=("chain",),
        also=(SeriesKey("blockchain_com", "chart", "difficulty", "1d"),),
    ),
)


def _span(frame: pd.DataFrame) -> list[str] | None:
    if frame.empty:
        return None
    return [str(frame.index.min().date()), str(frame.index.max().date())]


def combine(bundled: pd.DataFrame, cached: pd.DataFrame, mode: Mode) -> pd.DataFrame:
    """Bundled and cached rows of one source, by ``mode`` (columns of ``bundled`` are kept)."""
    cached = cached.reindex(columns=bundled.columns)
    if mode == "extend":
        extra = cached.loc[cached.index > bundled.index.max()] if len(bundled) else cached
        out = pd.concat([bundled, extra])
    elif mode == "replace":
        out = pd.concat([bundled.loc[~bundled.index.isin(cached.index)], cached])
    else:  # pragma: no cover - guarded by the CLI
        raise ValueError(f"unknown overlay mode {mode!r}")
    out = out[~out.index.duplicated(keep="last")].sort_index()
    out.index.name = bundled.index.name
    return out


def _merge(
    bundled: pd.DataFrame,
    cached: pd.DataFrame,
    mode: Mode,
    cache_days: pd.Index | None = None,
) -> tuple[pd.DataFrame, dict, pd.Index]:
    """`combine` plus the provenance counts (rows kept from the bundle, rows from the cache) and
    the days from the cache; ``cache_days``: days of ``bundled`` that an earlier cached file of
    the same source supplied (they still count as cached)."""
    combined = combine(bundled, cached, mode)
    from_cache = combined.index.isin(cached.index) & (
        ~combined.index.isin(bundled.index) if mode == "extend" else True
    )
    if cache_days is not None:
        from_cache |= combined.index.isin(cache_days)
    counts = {
        "mode": mode,
        "bundled_rows": int((~from_cache).sum()),
        "cache_rows": int(from_cache.sum()),
        "cache_span": _span(combined.loc[from_cache]),
    }
    return combined, counts, combined.index[from_cache]


def apply_overlays(
    frames: Mapping[str, pd.DataFrame],
    cache: Cache,
    mode: Mode,
    overlays: tuple[Overlay, ...] = OVERLAYS,
    etf_snapshot: str | pd.Timestamp | None = None,
) -> tuple[dict[str, pd.DataFrame], dict[str, dict]]:
    """Merge every available cached series into ``frames``; returns (frames, provenance).

    Spot-ETF flows come from a Farside snapshot (`data.sources.farside`): the latest taken at or
    before ``etf_snapshot`` (None: the latest stored). No snapshot that early: bundled flows only.
    """
    out = dict(frames)
    entries = cache.manifest()["files"]
    provenance: dict[str, dict] = {}
    cache_days: dict[str, pd.Index] = {}
    for ov in overlays:
        keys = (ov.key, *ov.also)
        used = [entries.get(k.filename) for k in keys]
        if any(e is None for e in used) or (ov.source not in out and not ov.cache_only):
            continue
        if any(u not in out for u in ov.uses):
            continue
        raws = [cache.read(k) for k in keys]
        if any(raw is None or raw.empty for raw in raws):
            continue
        cached = ov.convert(*raws, *(out[u] for u in ov.uses))
        if cached.empty:
            continue
        record = None
        for e in used:
            record = _joined(
                record,
                {
                    "cache_file": e["file"],
                    "cache_sha256": e.get("sha256"),
                    "cache_fetched_at": e.get("fetched_at"),
                },
            )
        if ov.cache_only:
            earlier = out.get(ov.source)
            combined = cached if earlier is None else combine(earlier, cached, "replace")
            combined.index.name = "date"
            record = _joined(provenance.get(ov.source), record)
            counts = {
                "mode": "cache only",
                "bundled_rows": 0,
                "cache_rows": len(combined),
                "cache_span": _span(combined),
            }
        else:
            combined, counts, days = _merge(out[ov.source], cached, mode, cache_days.get(ov.source))
            cache_days[ov.source] = days
            record = _joined(_files(provenance.get(ov.source)), record)
        provenance[ov.source] = {**counts, **record}
        out[ov.source] = combined
    if "etf_flows" in out:
        _overlay_etf(out, cache, mode, etf_snapshot, provenance)
    return out, provenance


def _files(provenance: dict | None) -> dict | None:
    """The cached-file fields of a provenance record (None without one)."""
    if provenance is None:
        return None
    return {k: provenance.get(k) for k in ("cache_file", "cache_sha256", "cache_fetched_at")}


def _joined(earlier: dict | None, record: dict) -> dict:
    """Provenance of a source built from several cached files: their names and hashes joined."""
    if earlier is None:
        return record
    return {
        k: f"{earlier.get(k)}, {record.get(k)}" if earlier.get(k) != record.get(k) else record[k]
        for k in record
    }


def _overlay_etf(out: dict, cache: Cache, mode: Mode, etf_snapshot, provenance: dict) -> None:
    from costbt.data.errors import DataError
    from costbt.data.sources import farside

    if not farside.list_snapshots(cache):
        return
    try:
        snap = farside.load_snapshot(cache, etf_snapshot)
    except DataError:
        return  # no snapshot taken that early
    cached = farside.etf_frame_for_panel(cache, snap.taken_at)
    combined, counts, _ = _merge(out["etf_flows"], cached, mode)
    provenance["etf_flows"] = {
        **counts,
        "cache_file": snap.key.filename,
        "cache_sha256": (cache.entry(snap.key) or {}).get("sha256"),
        "snapshot_taken_at": snap.taken_at.isoformat(),
    }
    out["etf_flows"] = combined
