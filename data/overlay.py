"""Cached downloads as panel sources: in place of, or beyond, the bundled files.

Each `Overlay` maps one cached series (see `data.cache`) to one panel source of `data.panel` and
converts it to that source's columns and units. Two modes:

* ``extend``: bundled rows are kept; cached rows are added only for days after the bundled file's
  last day (the bundled dataset stays the reference for its span).
* ``replace``: cached rows win wherever the cache has them; bundled rows fill the other days.

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


def _funding_daily_mean(frame: pd.DataFrame, settlements_per_day: int = 3) -> pd.DataFrame:
    """8-hourly funding rates -> the day's mean; a day is used only once all its settlements are in."""
    day = frame.index.floor("D")
    grouped = frame["funding_rate"].groupby(day)
    mean = grouped.mean()[grouped.size() == settlements_per_day]
    out = pd.DataFrame(
        {"funding_rate_8h_mean": mean.to_numpy()}, index=pd.DatetimeIndex(mean.index, name="date")
    )
    return out


@dataclass(frozen=True)
class Overlay:
    """A cached series that can stand for a panel source."""

    source: str
    key: SeriesKey
    convert: Callable[[pd.DataFrame], pd.DataFrame]


OVERLAYS: tuple[Overlay, ...] = (
    Overlay("spot", SeriesKey("binance", "ohlcv", "BTC/USDT", "1d"), _ohlcv_as_usd),
    Overlay("perp", SeriesKey("binance", "ohlcv", "BTC/USDT:USDT", "1d"), _ohlcv_as_usd),
    Overlay("funding", SeriesKey("binance", "funding", "BTC/USDT:USDT", "8h"), _funding_daily_mean),
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
        if ov.source not in out or entry is None:
            continue
        cached_raw = cache.read(ov.key)
        if cached_raw is None or cached_raw.empty:
            continue
        cached = ov.convert(cached_raw)
        combined, counts = _merge(out[ov.source], cached, mode)
        provenance[ov.source] = {
            **counts,
            "cache_file": entry["file"],
            "cache_sha256": entry.get("sha256"),
            "cache_fetched_at": entry.get("fetched_at"),
        }
        out[ov.source] = combined
    if "etf_flows" in out:
        _overlay_etf(out, cache, mode, etf_snapshot, provenance)
    return out, provenance


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
