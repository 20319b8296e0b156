"""Cached downloads in place of, or beyond, the bundled files; provenance says which."""

from __future__ import annotations

import pandas as pd
import pytest

from costbt.data import bundle
from costbt.data.cache import Cache, SeriesKey
from costbt.data.overlay import OVERLAYS, combine, funding_daily_mean
from costbt.data.panel import SOURCES_BY_NAME, build_panel, load_panel, truncate_sources

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
    from costbt.data.overlay import apply_overlays
    from costbt.data.panel import load_sources

    cache = Cache(tmp_path)
    cache.write(SPOT_KEY, as_ccxt_candles(spot.loc["2020-01-01":]), client="ccxt")
    frames, _ = apply_overlays(load_sources(), cache, "replace")
    full = build_panel(frames)
    for t in ("2021-03-01", "2025-11-18"):
        cut = build_panel(truncate_sources(frames, t))
        pd.testing.assert_frame_equal(full.loc[:t], cut.loc[:t], check_freq=False)


def test_every_overlay_targets_a_panel_source():
    from costbt.data.panel import SOURCES_BY_NAME

    assert {o.source for o in OVERLAYS} <= set(SOURCES_BY_NAME)
    assert FUNDING_KEY in {o.key for o in OVERLAYS}


def test_the_panel_can_be_built_as_of_a_farside_snapshot(tmp_path):
    from datetime import UTC, datetime

    from costbt.data.sources.farside import snapshot_key

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


# ----------------------------------------------------------------------------- chain

CHAIN_COLS = [c for _, c in SOURCES_BY_NAME["chain"].columns]


@pytest.fixture(scope="module")
def chain_cache(tmp_path_factory):
    """Coin Metrics chain days 2026-02-13 .. 2026-03-31 in a cache, 2026-03-02 missing."""
    from tests.data.cached_chain import chain_days, write_coinmetrics

    folder = tmp_path_factory.mktemp("chain-cache")
    write_coinmetrics(folder, chain_days(skip=["2026-03-02"]))
    return folder


@pytest.fixture(scope="module")
def extended(chain_cache) -> pd.DataFrame:
    return load_panel(cache_dir=chain_cache, use_cache="extend")


def test_cached_chain_data_extends_the_chain_columns_past_the_bundled_chain(extended):
    from tests.data.cached_chain import bundled_chain

    last = bundled_chain().iloc[-1]
    row = extended.loc["2026-02-13"]
    assert row["difficulty"] == last["difficulty"]
    assert row["blocks_per_day"] == 144 and row["block_height"] == last["block_height"] + 144
    assert row["block_subsidy_btc"] == 3.125 and row["issuance_btc"] == 144 * 3.125
    assert row["supply_btc"] == last["supply_btc"] + 144 * 3.125
    added = extended.loc["2026-02-13":"2026-03-31"].drop(pd.Timestamp("2026-03-02"))
    assert added[["hashrate_ths", "difficulty", "block_subsidy_btc"]].notna().all().all()


def test_the_cached_hash_rate_keeps_the_bundled_unit_th_per_second(extended):
    from tests.data.cached_chain import chain_days

    expected = chain_days()["hashrate_ths"].iloc[0]  # 144 blocks at the last difficulty, in TH/s
    assert extended.loc["2026-02-13", "hashrate_ths"] == pytest.approx(expected, rel=1e-12)
    assert 5e8 < expected < 2e9  # about 1 ZH/s, as the bundle's last days


def test_the_chain_overlay_leaves_every_bundled_chain_day_unchanged(extended, bundled_panel):
    pd.testing.assert_frame_equal(
        extended.loc[:"2026-02-12", CHAIN_COLS], bundled_panel.loc[:"2026-02-12", CHAIN_COLS]
    )


def test_a_day_missing_from_the_cached_chain_stays_missing(extended):
    from costbt.signals.production_cost import cost_models

    day = extended.loc["2026-03-02"]
    assert day[CHAIN_COLS].isna().all()  # hash rate, difficulty and all that follows from them
    assert cost_models(extended).drop(columns="external").loc["2026-03-02"].isna().all()
    # the height counts 144 blocks for it (flagged in the source frame), so later days go on
    assert (
        extended.loc["2026-03-03", "block_height"] - extended.loc["2026-03-01", "block_height"]
        == 288
    )


def test_the_chain_ends_with_the_cache_and_is_not_carried_further(extended):
    assert extended.loc["2026-04-01":, ["hashrate_ths", "difficulty"]].isna().all().all()


def test_the_electricity_cost_is_known_on_the_days_the_cache_adds(extended):
    from costbt.signals import production_cost as pc

    costs = pc.cost_models(extended, models=pc.CHAIN_MODELS)
    known = costs.loc["2026-02-13":"2026-03-31"].drop(pd.Timestamp("2026-03-02"))
    assert known.notna().all().all()
    # a constant difficulty: the electricity cost on the trailing week is Hayes' cost
    assert costs.loc["2026-03-20", "electricity"] == pytest.approx(costs.loc["2026-03-20", "hayes"])


def test_provenance_names_the_cached_chain_file_and_its_days(extended, chain_cache):
    from tests.data.cached_chain import COINMETRICS_KEY

    prov = extended.attrs["provenance"]["cache"]["chain"]
    assert prov["cache_file"] == COINMETRICS_KEY.filename
    assert prov["cache_sha256"] == Cache(chain_cache).entry(COINMETRICS_KEY)["sha256"]
    assert prov["cache_span"] == ["2026-02-13", "2026-03-31"] and prov["bundled_rows"] == 6250


def test_cached_chain_rows_inside_the_bundled_span_are_ignored_in_either_mode(
    tmp_path, bundled_panel
):
    from tests.data.cached_chain import chain_days, write_coinmetrics

    write_coinmetrics(tmp_path, chain_days("2026-02-01", "2026-02-20", blocks=100.0))
    for mode in ("extend", "replace"):
        panel = load_panel(cache_dir=tmp_path, use_cache=mode)
        assert (
            panel.loc["2026-02-12", "blocks_per_day"]
            == bundled_panel.loc["2026-02-12", "blocks_per_day"]
        )
        assert panel.loc["2026-02-13", "blocks_per_day"] == 100


def test_without_diffmean_coin_metrics_difficulty_follows_from_hash_rate_and_block_count(tmp_path):
    from tests.data.cached_chain import chain_days, write_coinmetrics

    frame = chain_days(blocks=150.0).drop(columns="difficulty")  # HashRate and BlkCnt only
    write_coinmetrics(tmp_path, frame)
    panel = load_panel(cache_dir=tmp_path, use_cache="extend")
    expected = chain_days()["difficulty"].iloc[0]
    assert panel.loc["2026-02-13", "difficulty"] == pytest.approx(expected, rel=1e-12)
    assert panel.loc["2026-02-13", "blocks_per_day"] == 150


def test_a_hash_rate_without_any_difficulty_adds_no_chain_day(tmp_path, bundled_panel):
    from tests.data.cached_chain import chain_days, write_coinmetrics

    write_coinmetrics(tmp_path, chain_days()[["hashrate_ths"]])
    panel = load_panel(cache_dir=tmp_path, use_cache="extend")
    assert "chain" not in panel.attrs["provenance"]["cache"]
    assert panel.loc["2026-02-13":, "hashrate_ths"].isna().all()


def test_blockchain_com_charts_extend_the_chain_after_coin_metrics_ends(tmp_path):
    from tests.data.cached_chain import (
        DIFFICULTY_KEY,
        HASH_RATE_KEY,
        chain_days,
        write_coinmetrics,
    )

    cache = write_coinmetrics(tmp_path, chain_days("2026-02-13", "2026-02-28"))
    charts = chain_days("2026-02-01", "2026-03-15", blocks=150.0)
    cache.write(HASH_RATE_KEY, charts[["hashrate_ths"]], client="test fixture")
    cache.write(DIFFICULTY_KEY, charts[["difficulty"]], client="test fixture")
    panel = load_panel(cache_dir=tmp_path, use_cache="extend")
    assert panel.loc["2026-02-28", "blocks_per_day"] == 144  # Coin Metrics
    assert panel.loc["2026-03-01", "blocks_per_day"] == 150  # blockchain.com, after it
    heights = panel.loc["2026-02-27":"2026-03-02", "block_height"].diff().dropna()
    assert heights.tolist() == [144, 150, 150]
    prov = panel.attrs["provenance"]["cache"]["chain"]
    assert prov["cache_span"] == ["2026-02-13", "2026-03-15"] and prov["cache_rows"] == 31
    for key in (HASH_RATE_KEY, DIFFICULTY_KEY):
        assert key.filename in prov["cache_file"]


def test_a_chain_day_is_the_same_whether_or_not_later_days_are_cached(extended, tmp_path):
    """Point in time: the cache cut at T (as a download on T+1 would leave it) gives the same
    rows up to T, heights and supply included."""
    from tests.data.cached_chain import chain_days, write_coinmetrics

    for t in ("2026-02-20", "2026-03-02", "2026-03-10"):
        folder = tmp_path / t
        write_coinmetrics(folder, chain_days(end=t, skip=["2026-03-02"]))
        cut = load_panel(cache_dir=folder, use_cache="extend")
        pd.testing.assert_frame_equal(extended.loc[:t, CHAIN_COLS], cut.loc[:t, CHAIN_COLS])
