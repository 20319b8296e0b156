"""Facts the bundled dataset must reproduce: known supply, halving days, fund flows, identities."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from costbt.data import bundle
from costbt.data.block_height import KNOWN_HALVINGS, subsidy_btc

from .conftest import manifest_entry


def test_every_bundled_file_matches_its_manifest_sha256():
    checks = bundle.verify()
    assert checks, "manifest lists no files"
    assert [c.file for c in checks if not c.ok] == []


def test_supply_on_2026_02_01_is_within_half_a_percent_of_19_98_million(chain):
    supply = chain.loc["2026-02-01", "supply_btc"]
    assert abs(supply / 19.98e6 - 1) < 0.005, supply


@pytest.mark.parametrize("height", sorted(KNOWN_HALVINGS))
def test_halving_lands_on_its_known_day(chain, height):
    day = pd.Timestamp(KNOWN_HALVINGS[height])
    before = chain.loc[day - pd.Timedelta(days=1)]
    on = chain.loc[day]
    assert before["block_height"] < height <= on["block_height"]
    assert on["block_subsidy_btc"] == subsidy_btc(height) == before["block_subsidy_btc"] / 2


def test_2024_halving_day_issues_both_subsidies(chain):
    day = chain.loc["2024-04-20"]
    prev_height = chain.loc["2024-04-19", "block_height"]
    old_blocks = 840_000 - 1 - prev_height
    new_blocks = day["block_height"] - 839_999
    assert day["issuance_btc"] == pytest.approx(old_blocks * 6.25 + new_blocks * 3.125)


def test_issuance_is_blocks_times_subsidy_between_anchors(chain):
    steady = chain.loc["2025-01-01":"2025-06-30"]
    steady = steady[steady["blocks_imputed"] == 0]
    # Height moves by the day's block count except on retarget-anchor corrections (rare).
    moved = steady["block_height"].diff().dropna()
    agree = (moved == steady["blocks_per_day"].loc[moved.index]).mean()
    assert agree > 0.98
    issued = steady["issuance_btc"].loc[moved.index]
    assert np.allclose(issued, moved * 3.125)


def test_ibit_flow_on_2025_11_18_is_minus_523_2_million(etf):
    assert etf.loc["2025-11-18", "ibit_usd_m"] == -523.2


def test_hashrate_and_difficulty_satisfy_the_block_time_identity(chain):
    """H[H/s] * 86400 = blocks * D * 2^32: the day's hashes equal blocks times hashes per block."""
    c = chain.dropna(subset=["hashrate_ths", "difficulty", "blocks_per_day"])
    c = c[c["blocks_per_day"] > 0]
    implied = c["hashrate_ths"] * 1e12 * 86400 / (c["difficulty"] * 2**32)
    exact = (implied - c["blocks_per_day"]).abs() < 1e-6
    # The documented exception: on some retarget days the source computed H with the next
    # day's difficulty; the identity then holds with that difficulty.
    nxt = chain["difficulty"].shift(-1).loc[c.index]
    implied_next = c["hashrate_ths"] * 1e12 * 86400 / (nxt * 2**32)
    exact_next = (implied_next - c["blocks_per_day"]).abs() < 1e-6
    assert (exact | exact_next).all()
    assert (~exact).sum() == 63
    # Long-run block time is ten minutes: 144 blocks a day within a few percent.
    assert 140 <= c.loc["2012":, "blocks_per_day"].mean() <= 155


def test_binance_files_agree_on_every_overlapping_close(manifest):
    check = manifest_entry(manifest, "btc_usd_spot_1d.csv")["overlap_checks"][0]
    assert check["a"] == "binance_btcusdt_cryptodatadownload"
    assert check["days"] > 1500
    assert check["max_rel_diff_close"] == 0.0
    assert check["max_rel_diff_open_high_low"] == 0.0


def test_coinbase_and_binance_overlap_is_reported_and_close_in_the_median(manifest):
    check = manifest_entry(manifest, "btc_usd_spot_1d.csv")["overlap_checks"][1]
    assert check["days"] > 300
    assert check["median_rel_diff_close"] < 0.01
    # The largest difference is reported, not hidden (Dec 2017 venue dislocation).
    assert 0 < check["max_rel_diff_close"] < 0.2


def test_spot_history_is_spliced_without_gaps_from_coinbase_to_binance(spot):
    days = pd.date_range(spot.index.min(), spot.index.max(), freq="D")
    assert spot.index.equals(days)
    assert spot.loc[:"2017-08-16", "source"].eq("coinbase_btcusd").all()
    assert spot.loc["2017-08-17", "source"] == "binance_btcusdt_cryptodatadownload"
    april = spot.loc["2025-04-17":"2025-04-28", "source"]
    assert (april == "binance_btcusdt_api").sum() == 10
    assert spot.loc["2025-05-02":, "source"].eq("binance_btcusdt_api").all()


def test_etf_holiday_rows_are_missing_not_zero(etf, manifest):
    # 2024-01-15 (Martin Luther King Day) is a row of blanks with Total 0.0 in the source.
    assert pd.Timestamp("2024-01-15") not in etf.index
    notes = " ".join(manifest_entry(manifest, "etf_flows_1d.csv")["notes"])
    assert "16 US market holidays" in notes


def test_etf_fund_blanks_stay_missing(etf):
    assert etf.loc[:"2024-07-30", "btc_usd_m"].isna().all()
    assert etf.loc["2024-07-31":, "btc_usd_m"].notna().mean() > 0.95


def test_etf_funds_sum_to_the_total(etf):
    funds = etf.drop(columns="total_usd_m")
    assert np.allclose(funds.sum(axis=1, min_count=1), etf["total_usd_m"], atol=1e-6)


def test_daily_funding_mean_agrees_with_the_8_hour_rates():
    f8 = bundle.load_funding_8h()
    f1 = bundle.load_funding_1d()
    mean = f8["funding_rate"].groupby(f8.index.floor("D")).mean()
    assert np.allclose(f1.loc[mean.index, "funding_rate_8h_mean"], mean, rtol=0, atol=1e-15)
    assert f1.index.min() == pd.Timestamp("2019-09-10")


def test_manifest_records_units_sources_and_licences_for_every_file(manifest):
    from costbt.data import bundled_files as bf

    assert [e["file"] for e in manifest["files"]] == [s.file for s in bf.ALL]
    for entry in manifest["files"]:
        schema = bf.BY_FILE[entry["file"]]
        assert set(entry["columns"]) == set(schema.column_names)
        assert all(c["unit"] for c in entry["columns"].values())
        assert entry["sources"], entry["file"]
        for src in entry["sources"]:
            assert (
                len(src["commit"]) == 40
                and src["repository"]
                and src["licence"]
                and src["attribution"]
            )
