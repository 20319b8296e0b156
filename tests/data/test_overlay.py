"""Cached downloads in place of, or beyond, the bundled files; provenance says which."""

from __future__ import annotations

import pandas as pd
import pytest

from data import bundle
from data.cache import Cache, SeriesKey
from data.overlay import OVERLAYS, combine, funding_daily_mean
from data.panel import build_panel, load_panel, truncate_sources

SPOT_KEY = SeriesKey("binance", "ohlcv", "BTC/USDT", "1d")
FUNDING_KEY = SeriesKey("binance", "funding", "BTC/USDT:USDT", "8h")


def as_ccxt_candles(spot: pd.DataFrame) -> pd.DataFrame:
    """The bundled Binance rows in the cache's column layout (as `costbt data fetch` stores them)."""
    frame = pd.DataFrame(
        {
            "open_quote": spot["open_usd"],
            "high_quote": spot["high_usd"],
            "low_quote": spot["low_usd"],
            "close_quote": spot["close_usd"],
            "volume_base": spot["volume_btc"],
        }
    )
    frame.index = pd.DatetimeIndex(spot.index, name="time")
    return frame


@pytest.fixture(scope="module")
def spot() -> pd.DataFrame:
    return bundle.load_spot_ohlcv()


def test_extend_keeps_bundled_rows_and_adds_only_later_ones(spot):
    cols = ["open_usd", "high_usd", "low_usd", "close_usd", "volume_btc"]
    bundled = spot.loc[:"2026-06-30", cols]
    cached = spot.loc["2026-06-01":, cols].copy()
    cached.loc["2026-06-15", "close_usd"] = (
        1.0  # a disagreeing cached value inside the bundled span
    )
    out = combine(bundled, cached, "extend")
    assert out.index.max() == pd.Timestamp("2026-08-13")
    assert out.loc["2026-06-15", "close_usd"] == bundled.loc["2026-06-15", "close_usd"]
    assert out.loc["2026-07-01":].equals(spot.loc["2026-07-01":, cols])


def test_replace_prefers_cached_rows_wherever_present(spot):
    cols = ["open_usd", "high_usd", "low_usd", "close_usd", "volume_btc"]
    cached = spot.loc["2026-06-01":, cols].copy()
    cached.loc["2026-06-15", "close_usd"] = 1.0
    out = combine(spot[cols], cached, "replace")
    assert out.loc["2026-06-15", "close_usd"] == 1.0 and len(out) == len(spot)


def test_funding_daily_mean_uses_only_complete_days():
    f8 = bundle.load_funding_8h().iloc[:-1]  # the last day loses its 16:00 settlement
    daily = funding_daily_mean(f8)
    assert daily.index.max() == pd.Timestamp("2026-07-30")
    ref = bundle.load_funding_1d()
    assert (
        daily["funding_rate_8h_mean"] - ref.loc[daily.index, "funding_rate_8h_mean"]
    ).abs().max() < 1e-15


def test_load_panel_records_which_rows_came_from_the_cache(tmp_path, spot):
    cache = Cache(tmp_path)
    cached = as_ccxt_candles(spot[spot["source"] != "coinbase_btcusd"]).copy()
    cached.loc["2025-01-02", "close_quote"] = 12345.0
    cache.write(SPOT_KEY, cached, client="ccxt", exchange="binance")
    panel = load_panel(cache_dir=tmp_path, use_cache="replace")
    assert panel.loc["2025-01-02", "close_usd"] == 12345.0
    prov = panel.attrs["provenance"]["cache"]["spot"]
    assert (
        prov["cache_rows"] == len(cached)
        and prov["bundled_rows"] == (spot["source"] == "coinbase_btcusd").sum()
    )
    assert prov["cache_sha256"] == cache.entry(SPOT_KEY)["sha256"]
    plain = load_panel()
    assert (
        plain.loc["2025-01-02", "close_usd"] != 12345.0 and plain.attrs["provenance"]["cache"] == {}
    )


def test_overlays_keep_the_point_in_time_contract(tmp_path, spot):
    from data.overlay import apply_overlays
    from data.panel import load_sources

    cache = Cache(tmp_path)
    cache.write(SPOT_KEY, as_ccxt_candles(spot.loc["2020-01-01":]), client="ccxt")
    frames, _ = apply_overlays(load_sources(), cache, "replace")
    full = build_panel(frames)
    for t in ("2021-03-01", "2025-11-18"):
        cut = build_panel(truncate_sources(frames, t))
        pd.testing.assert_frame_equal(full.loc[:t], cut.loc[:t], check_freq=False)


def test_every_overlay_targets_a_panel_source():
    from data.panel import SOURCES_BY_NAME

    assert {o.source for o in OVERLAYS} <= set(SOURCES_BY_NAME)
    assert FUNDING_KEY in {o.key for o in OVERLAYS}


def test_the_panel_can_be_built_as_of_a_farside_snapshot(tmp_path):
    from datetime import UTC, datetime

    from data.sources.farside import snapshot_key

    cache = Cache(tmp_path)
    flows = bundle.load_etf_flows()
    early = flows.loc[:"2025-11-17"].copy()
    early.loc["2025-11-17", "ibit_usd_m"] = -100.0  # as first published; revised later
    late = flows.copy()
    late.loc["2025-11-18", "ibit_usd_m"] = -500.0  # a later revision
    cache.write(snapshot_key(datetime(2025, 11, 18, 6, tzinfo=UTC)), early, client="urllib")
    cache.write(snapshot_key(datetime(2026, 4, 11, 12, tzinfo=UTC)), late, client="urllib")

    latest = load_panel(cache_dir=tmp_path, use_cache="replace")
    assert latest.loc["2025-11-19", "etf_flow_ibit_usd_m"] == -500.0
    assert latest.attrs["provenance"]["cache"]["etf_flows"]["snapshot_taken_at"].startswith(
        "2026-04-11"
    )

    then = load_panel(cache_dir=tmp_path, use_cache="replace", as_of="2025-11-19")
    assert then.attrs["provenance"]["cache"]["etf_flows"]["snapshot_taken_at"].startswith(
        "2025-11-18"
    )
    assert then.loc["2025-11-18", "etf_flow_ibit_usd_m"] == -100.0  # as that snapshot had it
    assert latest.loc["2025-11-18", "etf_flow_ibit_usd_m"] == flows.loc["2025-11-17", "ibit_usd_m"]

    chosen = load_panel(cache_dir=tmp_path, use_cache="replace", etf_snapshot="2025-12-01")
    assert chosen.attrs["provenance"]["cache"]["etf_flows"]["snapshot_taken_at"].startswith(
        "2025-11-18"
    )
