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

Publication lags are those of the panel source, so the point-in-time contract is unchanged.
`apply_overlays` returns the frames and a provenance record per source (which file, hash and
span came from the bundle and which from the cache), kept in ``panel.attrs["provenance"]``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import pandas as pd

from data.cache import Cache, SeriesKey

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


@dataclass(frozen=True)
class Overlay:
    """A cached series that can stand for a panel source.

    Attributes:
        source: the panel source (`data.panel.PanelSource.name`) it supplies.
        key: the cached series.
        convert: cached frame (and the frames named in ``uses``) -> the source's columns.
        uses: panel sources whose frames (bundled or already overlaid) the conversion needs,
            passed after the cached frame in this order (e.g. the spot close to value fees).
        cache_only: the source has no bundled file; this series alone builds it.
    """

    source: str
    key: SeriesKey
    convert: Callable[..., pd.DataFrame]
    uses: tuple[str, ...] = ()
    cache_only: bool = False


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


def _merge(bundled: pd.DataFrame, cached: pd.DataFrame, mode: Mode) -> tuple[pd.DataFrame, dict]:
    """`combine` plus the provenance counts: rows kept from the bundle and rows from the cache."""
    combined = combine(bundled, cached, mode)
    from_cache = combined.index.isin(cached.index) & (
        ~combined.index.isin(bundled.index) if mode == "extend" else True
    )
    counts = {
        "mode": mode,
        "bundled_rows": int((~from_cache).sum()),
        "cache_rows": int(from_cache.sum()),
        "cache_span": _span(combined.loc[from_cache]),
    }
    return combined, counts


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
    for ov in overlays:
        entry = entries.get(ov.key.filename)
        if entry is None or (ov.source not in out and not ov.cache_only):
            continue
        if any(u not in out for u in ov.uses):
            continue
        cached_raw = cache.read(ov.key)
        if cached_raw is None or cached_raw.empty:
            continue
        cached = ov.convert(cached_raw, *(out[u] for u in ov.uses))
        if cached.empty:
            continue
        record = {
            "cache_file": entry["file"],
            "cache_sha256": entry.get("sha256"),
            "cache_fetched_at": entry.get("fetched_at"),
        }
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
            combined, counts = _merge(out[ov.source], cached, mode)
        provenance[ov.source] = {**counts, **record}
        out[ov.source] = combined
    if "etf_flows" in out:
        _overlay_etf(out, cache, mode, etf_snapshot, provenance)
    return out, provenance


def _joined(earlier: dict | None, record: dict) -> dict:
    """Provenance of a source built from several cached files: their names and hashes joined."""
    if earlier is None:
        return record
    return {
        k: f"{earlier.get(k)}, {record.get(k)}" if earlier.get(k) != record.get(k) else record[k]
        for k in record
    }


def _overlay_etf(out: dict, cache: Cache, mode: Mode, etf_snapshot, provenance: dict) -> None:
    from data.errors import DataError
    from data.sources import farside

    if not farside.list_snapshots(cache):
        return
    try:
        snap = farside.load_snapshot(cache, etf_snapshot)
    except DataError:
        return  # no snapshot taken that early
    cached = farside.etf_frame_for_panel(cache, snap.taken_at)
    combined, counts = _merge(out["etf_flows"], cached, mode)
    provenance["etf_flows"] = {
        **counts,
        "cache_file": snap.key.filename,
        "cache_sha256": (cache.entry(snap.key) or {}).get("sha256"),
        "snapshot_taken_at": snap.taken_at.isoformat(),
    }
    out["etf_flows"] = combined
