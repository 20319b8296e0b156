#!/usr/bin/env python3
"""Build costbt's bundled dataset (``data/bundled/``) from the raw files in ``../shared/data/raw``.

Deterministic: the same raw files give byte-identical outputs (no timestamps, sorted rows, fixed
float formatting), and ``tests/data/test_bundle_build.py`` rebuilds into a temporary folder and
compares hashes whenever the raw folder is present. The project never reads the raw folder at
run time; this script is the only bridge, and its output is committed.

Usage: ``python scripts/build_bundled.py [--raw ../shared/data/raw] [--out data/bundled]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from costbt.data import bundled_files as bf  # noqa: E402
from costbt.data.block_height import (  # noqa: E402
    KNOWN_HALVINGS,
    blocks_from_hashrate,
    cumulative_subsidy_btc,
    halving_days,
    reconstruct_height,
    subsidy_btc,
)
from costbt.data.schema import CsvSchema, read_csv_checked  # noqa: E402

DEFAULT_RAW = ROOT.parent / "shared" / "data" / "raw"
DEFAULT_OUT = ROOT / "data" / "bundled"

#: Coinbase Exchange opened to US customers on 2015-01-26. Earlier rows in the Coinbase file are
#: thin pre-launch prints (median volume under 1 BTC, 34 missing days, closes up to 27 % away from
#: the market), so the consistent history starts here.
COINBASE_FIRST_DAY = "2015-01-26"
BINANCE_FIRST_DAY = "2017-08-17"


@dataclass(frozen=True)
class RawSource:
    key: str
    repository: str
    commit: str
    licence: str
    attribution: str


RAW = {
    s.key: s
    for s in (
        RawSource(
            "farside",
            "moltovy/crypto-market-dynamics",
            "d87e2aaecb98a2b9fa282ce57456d516733dde9f",
            "none stated for the repository; data published by Farside Investors ('treat attribution per their terms')",
            "Spot bitcoin ETF flow data: Farside Investors (farside.co.uk/btc/)",
        ),
        RawSource(
            "ciyberpunk_farside-etf",
            "ciyberpunk/farside-etf",
            "60bb4de9bde4fa0a0a84ee457d7c3b0f5d230235",
            "none stated; data from Farside Investors",
            "Farside Investors (farside.co.uk), scraped by ciyberpunk/farside-etf (cross-check only)",
        ),
        RawSource(
            "lukmol_gamlss-btc-VaR",
            "lukmol/gamlss-btc-VaR",
            "5f40812a657b24ca9c2fdd5cbb0a1b4d55cdfa6b",
            "MIT (Copyright (c) 2026 Lucas Mol)",
            "Lucas Mol, gamlss-btc-VaR (MIT); hashrate and difficulty follow Coin Metrics' community data, funding from Binance",
        ),
        RawSource(
            "RonaldLu66_binance-btc-monitor",
            "RonaldLu66/binance-btc-monitor",
            "812c1b0f4658d27957250f3ce1f963d2a898641c",
            "none stated; data from the Binance public market-data archive and API",
            "Binance market data (data.binance.vision / api.binance.com), collected by RonaldLu66/binance-btc-monitor",
        ),
        RawSource(
            "Athenimadhu_BitcoinAnalytics2025-Coursework2",
            "Athenimadhu/BitcoinAnalytics2025-Coursework2",
            "676fe58da9be32b7c177a040c3d96421fcfa1317",
            "none stated; a CryptoDataDownload export (CryptoDataDownload asks for attribution)",
            "Binance BTCUSDT daily data from CryptoDataDownload (www.CryptoDataDownload.com)",
        ),
        RawSource(
            "QuantConnect_Lean",
            "QuantConnect/Lean",
            "24863901deffa9ec7985e21ef8fbdb0258efb9e4",
            "Apache-2.0 (repository); no separate data licence stated",
            "Coinbase (GDAX) BTC-USD daily trade bars from QuantConnect Lean's sample data",
        ),
        RawSource(
            "dataalways_energy-adjusted-cbeci",
            "dataalways/energy-adjusted-cbeci",
            "5c73825a48b035a3d22f2668571b5d9685faa4b9",
            "none stated; CBECI data from the Cambridge Centre for Alternative Finance, EIA data public domain",
            "Cambridge Bitcoin Electricity Consumption Index (CCAF, ccaf.io/cbnsi/cbeci), API v1.2.0; U.S. Energy Information Administration",
        ),
        RawSource(
            "TullioM94_PhD-code",
            "TullioM94/PhD-code",
            "f89a52568f2c486db7f04806f7987c0fd4eeff82",
            "none stated",
            "TullioM94/PhD-code ('Machine Learning the Carbon Footprint of Bitcoin Mining'); ASIC miner index; electricity price files from commit 20087b09710e37b08066058336d6172e1858602a",
        ),
        RawSource(
            "mattk8_mining-data",
            "mattk8/mining-data",
            "f4b94058100d9b501e3aa01e82d216bc91b74430",
            "none stated; source: F2Pool miner list",
            "F2Pool miner list via mattk8/mining-data",
        ),
        RawSource(
            "yudiyanto88_Onchain-Dashboard",
            "yudiyanto88/Onchain-Dashboard",
            "080e5992579f0c94d9f1065c0164d9ccbc6d74fb",
            "none stated; computed by the repository's update script from public exchange market data",
            "3-month futures basis computed by yudiyanto88/Onchain-Dashboard from Binance COIN-M, Deribit and Bitstamp market data",
        ),
        RawSource(
            "TonieKapital_SOPR",
            "TonieKapital/SOPR",
            "b827fe978751228b35fb589c4e4229eec8b16daf",
            "none stated for the repository; scraped from Checkonchain's public charts (Checkonchain's site repository is MIT)",
            "SOPR and realised prices: Checkonchain, via TonieKapital/SOPR",
        ),
    )
}


def _src(key: str, path: str, **extra: object) -> dict:
    s = RAW[key]
    out = {
        "repository": s.repository,
        "commit": s.commit,
        "path": f"{key}/{path}",
        "licence": s.licence,
        "attribution": s.attribution,
    }
    out.update(extra)
    return out


def _day(ms: pd.Series) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(ms.astype("int64"), unit="ms")).as_unit("ns")


def _span(idx: pd.Index) -> dict:
    return {"first": str(idx.min().date()), "last": str(idx.max().date()), "rows": int(len(idx))}


def _max_rel(a: pd.Series, b: pd.Series) -> float:
    return float((a / b - 1.0).abs().max())


# ---------------------------------------------------------------- readers of the raw files


def read_binance_klines(path: Path) -> pd.DataFrame:
    k = pd.read_csv(path)
    idx = _day(k["open_time"])
    if not (idx == idx.normalize()).all() or not idx.is_monotonic_increasing or not idx.is_unique:
        raise SystemExit(f"{path}: open_time is not one row per UTC day")
    return pd.DataFrame(
        {
            "open_usd": k["open"].to_numpy(float),
            "high_usd": k["high"].to_numpy(float),
            "low_usd": k["low"].to_numpy(float),
            "close_usd": k["close"].to_numpy(float),
            "volume_btc": k["volume"].to_numpy(float),
        },
        index=pd.DatetimeIndex(idx, name="date"),
    )


def build_spot(raw: Path) -> tuple[pd.DataFrame, dict]:
    cb = pd.read_csv(
        raw / "QuantConnect_Lean/coinbase_daily_btcusd_trade.csv",
        header=None,
        names=["t", "open_usd", "high_usd", "low_usd", "close_usd", "volume_btc"],
    )
    cb.index = pd.DatetimeIndex(
        pd.to_datetime(cb.pop("t"), format="%Y%m%d %H:%M"), name="date"
    ).as_unit("ns")
    cdd = pd.read_csv(
        raw / "Athenimadhu_BitcoinAnalytics2025-Coursework2/Binance_BTCUSDT_d.csv", skiprows=1
    )
    cdd_idx = pd.DatetimeIndex(pd.to_datetime(cdd["Date"], format="%Y-%m-%d"), name="date").as_unit(
        "ns"
    )
    if not (cdd_idx == _day(cdd["Unix"])).all():
        raise SystemExit("CryptoDataDownload file: Unix and Date disagree")
    cdd = pd.DataFrame(
        {
            "open_usd": cdd["Open"].to_numpy(float),
            "high_usd": cdd["High"].to_numpy(float),
            "low_usd": cdd["Low"].to_numpy(float),
            "close_usd": cdd["Close"].to_numpy(float),
            "volume_btc": cdd["Volume BTC"].to_numpy(float),
        },
        index=cdd_idx,
    ).sort_index()
    api = read_binance_klines(raw / "RonaldLu66_binance-btc-monitor/spot/BTCUSDT_1d.csv")

    cb_part = cb.loc[
        COINBASE_FIRST_DAY : pd.Timestamp(BINANCE_FIRST_DAY) - pd.Timedelta(days=1)
    ].copy()
    cb_part["source"] = "coinbase_btcusd"
    cdd_part = cdd.copy()
    cdd_part["source"] = "binance_btcusdt_cryptodatadownload"
    cdd_span = pd.date_range(cdd.index.min(), cdd.index.max(), freq="D")
    holes = cdd_span.difference(cdd.index)
    fill = api.loc[api.index.intersection(holes)].copy()
    fill["source"] = "binance_btcusdt_api"
    tail = api.loc[api.index > cdd.index.max()].copy()
    tail["source"] = "binance_btcusdt_api"
    spot = pd.concat([cb_part, cdd_part, fill, tail]).sort_index()
    spot.index.name = "date"

    overlap = cdd.index.intersection(api.index)
    cb_ov = cb.index.intersection(cdd.index)
    close_rel = (cb.loc[cb_ov, "close_usd"] / cdd.loc[cb_ov, "close_usd"] - 1).abs()
    info = {
        "splices": [
            {
                "from": COINBASE_FIRST_DAY,
                "to": str((pd.Timestamp(BINANCE_FIRST_DAY) - pd.Timedelta(days=1)).date()),
                "source": "coinbase_btcusd",
                "rows": int(len(cb_part)),
            },
            {
                "from": str(cdd.index.min().date()),
                "to": str(cdd.index.max().date()),
                "source": "binance_btcusdt_cryptodatadownload",
                "rows": int(len(cdd_part)),
            },
            {
                "dates": [str(d.date()) for d in fill.index],
                "source": "binance_btcusdt_api",
                "rows": int(len(fill)),
                "why": "days missing from the CryptoDataDownload export, filled from the Binance API file",
            },
            {
                "from": str(tail.index.min().date()),
                "to": str(tail.index.max().date()),
                "source": "binance_btcusdt_api",
                "rows": int(len(tail)),
            },
        ],
        "overlap_checks": [
            {
                "a": "binance_btcusdt_cryptodatadownload",
                "b": "binance_btcusdt_api",
                "days": int(len(overlap)),
                "max_rel_diff_close": _max_rel(
                    cdd.loc[overlap, "close_usd"], api.loc[overlap, "close_usd"]
                ),
                "max_rel_diff_open_high_low": max(
                    _max_rel(cdd.loc[overlap, c], api.loc[overlap, c])
                    for c in ("open_usd", "high_usd", "low_usd")
                ),
                "max_rel_diff_volume": _max_rel(
                    cdd.loc[overlap, "volume_btc"], api.loc[overlap, "volume_btc"]
                ),
            },
            {
                "a": "coinbase_btcusd",
                "b": "binance_btcusdt_cryptodatadownload",
                "days": int(len(cb_ov)),
                "max_rel_diff_close": float(close_rel.max()),
                "max_rel_diff_close_date": str(close_rel.idxmax().date()),
                "median_rel_diff_close": float(close_rel.median()),
                "note": "different venues and quote currencies (USD vs USDT); the splice at 2017-08-17 is a venue change",
            },
        ],
        "sources": [
            _src(
                "QuantConnect_Lean",
                "coinbase_daily_btcusd_trade.csv",
                used=f"{COINBASE_FIRST_DAY} to 2017-08-16",
            ),
            _src(
                "Athenimadhu_BitcoinAnalytics2025-Coursework2",
                "Binance_BTCUSDT_d.csv",
                used="2017-08-17 to 2025-05-01",
            ),
            _src(
                "RonaldLu66_binance-btc-monitor",
                "spot/BTCUSDT_1d.csv",
                used="10 April-2025 days and 2025-05-02 on",
            ),
        ],
        "notes": [
            f"Coinbase rows before {COINBASE_FIRST_DAY} (the exchange's public launch) are left out: thin "
            "pre-launch prints with 34 missing days and closes up to 27% away from other venues.",
            "Binance BTCUSDT is quoted in USDT and treated as USD.",
        ],
    }
    return spot, info


def build_perp(raw: Path) -> tuple[pd.DataFrame, dict]:
    perp = read_binance_klines(raw / "RonaldLu66_binance-btc-monitor/futures_um/BTCUSDT_1d.csv")
    return perp, {
        "sources": [_src("RonaldLu66_binance-btc-monitor", "futures_um/BTCUSDT_1d.csv")],
        "notes": [],
    }


def build_funding(raw: Path) -> tuple[pd.DataFrame, dict, pd.DataFrame, dict]:
    r = pd.read_csv(raw / "RonaldLu66_binance-btc-monitor/futures_um/BTCUSDT_funding.csv")
    t = pd.DatetimeIndex(
        pd.to_datetime(r["calc_time"].astype("int64"), unit="ms"), name="funding_time"
    ).as_unit("ns")
    f8 = pd.DataFrame(
        {
            "funding_rate": r["last_funding_rate"].to_numpy(float),
            "funding_interval_hours": r["funding_interval_hours"].to_numpy("int64"),
        },
        index=t,
    ).sort_index()
    per_day = f8.groupby(f8.index.floor("D"))["funding_rate"]
    if not (per_day.size() == 3).all():
        raise SystemExit("funding file: not exactly 3 settlements per day")
    daily_api = per_day.mean()
    lk = pd.read_csv(raw / "lukmol_gamlss-btc-VaR/funding_rates.csv")
    lk.index = pd.DatetimeIndex(pd.to_datetime(lk["date"], format="%Y-%m-%d"), name="date").as_unit(
        "ns"
    )
    ov = lk.index.intersection(daily_api.index)
    early = lk.loc[lk.index < daily_api.index.min(), "funding_mean"]
    d1 = pd.concat(
        [
            pd.DataFrame(
                {"funding_rate_8h_mean": early.to_numpy(), "source": "lukmol_daily_mean"},
                index=early.index,
            ),
            pd.DataFrame(
                {"funding_rate_8h_mean": daily_api.to_numpy(), "source": "binance_8h_settlements"},
                index=daily_api.index,
            ),
        ]
    )
    d1.index.name = "date"
    info8 = {
        "sources": [_src("RonaldLu66_binance-btc-monitor", "futures_um/BTCUSDT_funding.csv")],
        "notes": [
            "funding_time is Binance's calc_time (settlements at 00:00, 08:00 and 16:00 UTC, a few ms late).",
        ],
    }
    info1 = {
        "splices": [
            {
                "from": str(early.index.min().date()),
                "to": str(early.index.max().date()),
                "source": "lukmol_daily_mean",
                "rows": int(len(early)),
            },
            {
                "from": str(daily_api.index.min().date()),
                "to": str(daily_api.index.max().date()),
                "source": "binance_8h_settlements",
                "rows": int(len(daily_api)),
            },
        ],
        "overlap_checks": [
            {
                "a": "lukmol_daily_mean",
                "b": "binance_8h_settlements (mean per UTC day)",
                "days": int(len(ov)),
                "max_abs_diff": float((lk.loc[ov, "funding_mean"] - daily_api[ov]).abs().max()),
            }
        ],
        "sources": [
            _src("lukmol_gamlss-btc-VaR", "funding_rates.csv", used="2019-09-10 to 2020-12-31"),
            _src(
                "RonaldLu66_binance-btc-monitor",
                "futures_um/BTCUSDT_funding.csv",
                used="2021-01-01 on (mean of the day's settlements)",
            ),
        ],
        "notes": [
            "A day's mean covers the settlements stamped 00:00, 08:00 and 16:00 UTC of that day."
        ],
    }
    return f8, info8, d1, info1


def build_chain(raw: Path) -> tuple[pd.DataFrame, dict]:
    hr = pd.read_csv(raw / "lukmol_gamlss-btc-VaR/hashrate.csv")
    df = pd.read_csv(raw / "lukmol_gamlss-btc-VaR/difficulty.csv")
    hr.index = pd.DatetimeIndex(pd.to_datetime(hr["date"], format="%Y-%m-%d")).as_unit("ns")
    df.index = pd.DatetimeIndex(pd.to_datetime(df["date"], format="%Y-%m-%d")).as_unit("ns")
    days = pd.date_range(hr.index.min(), hr.index.max(), freq="D", name="date").as_unit("ns")
    h = hr["hashrate"].reindex(days)
    d = df["difficulty"].reindex(days).astype("float64")
    missing = days.difference(hr.index)
    blocks, corrected = blocks_from_hashrate(h, d)
    frac = (blocks - blocks.round()).abs()
    if (frac > 1e-6).any():
        bad = frac[frac > 1e-6].index[0]
        raise SystemExit(f"chain: non-whole block count on {bad.date()}")
    recon = reconstruct_height(blocks, d.where(d > 0))
    height = recon.height
    supply = pd.Series(cumulative_subsidy_btc(height.to_numpy()), index=days)
    issued = supply.diff()
    issued.iloc[0] = supply.iloc[0]
    chain = pd.DataFrame(
        {
            "hashrate_ths": h,
            "difficulty": d.where(d > 0),
            "blocks_per_day": blocks,
            "block_height": height,
            "blocks_imputed": recon.imputed.astype("int64"),
            "block_subsidy_btc": subsidy_btc(height.to_numpy()),
            "issuance_btc": issued,
            "supply_btc": supply,
        },
        index=days,
    )
    landed = halving_days(height)
    anchors = recon.anchors
    applied = anchors[anchors["applied"]]
    info = {
        "sources": [
            _src("lukmol_gamlss-btc-VaR", "hashrate.csv"),
            _src("lukmol_gamlss-btc-VaR", "difficulty.csv"),
        ],
        "checks": {
            "halvings": {
                str(hh): {
                    "expected": KNOWN_HALVINGS[hh],
                    "reconstructed": str(landed[hh].date()) if hh in landed else None,
                }
                for hh in KNOWN_HALVINGS
            },
            "retarget_anchors_found": int(len(anchors)),
            "retarget_anchors_applied": int(len(applied)),
            "nonzero_corrections": int((applied["correction_blocks"] != 0).sum()),
            "max_abs_correction_blocks": int(applied["correction_blocks"].abs().max())
            if len(applied)
            else 0,
            "days_with_next_day_difficulty_correction": int(corrected.sum()),
        },
        "notes": [
            "blocks_per_day = hashrate_ths*1e12*86400/(difficulty*2^32), a whole number on every day "
            f"(the source's hashrate is count*mean difficulty*2^32/86400); on {int(corrected.sum())} retarget days in "
            f"{corrected[corrected].index.min().date()}..{corrected[corrected].index.max().date()} the source used the next "
            "day's difficulty, so the count is taken with that difficulty.",
            "block_height accumulates the daily counts from the genesis block (height 0 on 2009-01-03) and is re-anchored "
            "at clean difficulty retargets (first block at a new difficulty has a height divisible by 2016); "
            f"{len(applied)} anchors applied, largest correction {int(applied['correction_blocks'].abs().max()) if len(applied) else 0} blocks.",
            "Days 2009-01-04..2009-01-08 had no block: hashrate 0, difficulty blank, 0 blocks.",
            f"Days missing from the source ({', '.join(str(x.date()) for x in missing if x.year > 2009)}) have blank "
            "hashrate, difficulty and block count; 144 blocks a day are assumed for the height (blocks_imputed = 1) until "
            "the next retarget anchor corrects it.",
            "supply_btc counts every subsidy since genesis (the unspendable genesis 50 BTC included); fees are not issuance.",
        ],
    }
    return chain, info


def build_etf(raw: Path) -> tuple[pd.DataFrame, dict]:
    f = pd.read_csv(raw / "farside/farside_btc_etf_flows_daily.csv")
    f.index = pd.DatetimeIndex(
        pd.to_datetime(f.pop("date"), format="%Y-%m-%d"), name="date"
    ).as_unit("ns")
    tickers = [t for t, _ in bf.ETF_FUNDS]
    if list(f.columns) != [*tickers, "Total"]:
        raise SystemExit(f"farside: unexpected columns {list(f.columns)}")
    blank = f[tickers].isna().all(axis=1)
    holidays = f.index[blank]
    if not (f.loc[blank, "Total"].fillna(0) == 0).all():
        raise SystemExit("farside: a row with every fund blank has a non-zero Total")
    f = f.loc[~blank]
    sum_diff = float((f[tickers].sum(axis=1, min_count=1) - f["Total"]).abs().max())
    c = pd.read_csv(raw / "ciyberpunk_farside-etf/bitcoin_etf_flows_wide_daily.csv")
    c.index = pd.DatetimeIndex(pd.to_datetime(c.pop("date"), format="%Y-%m-%d")).as_unit("ns")
    c = c.iloc[:-1]  # the last row (2025-09-03) is an incomplete scrape (all zero)
    ov = f.index.intersection(c.index)
    cols = list(c.columns)
    cross = float((f.loc[ov, cols].fillna(0.0) - c.loc[ov, cols]).abs().max().max())
    out = pd.DataFrame(
        {bf.etf_column(t): f[t] for t in tickers} | {"total_usd_m": f["Total"]}, index=f.index
    )
    info = {
        "sources": [_src("farside", "farside_btc_etf_flows_daily.csv")],
        "checks": {
            "max_abs_diff_sum_of_funds_vs_total_usd_m": sum_diff,
            "cross_check": {
                "against": _src("ciyberpunk_farside-etf", "bitcoin_etf_flows_wide_daily.csv"),
                "trading_days_compared": int(len(ov)),
                "max_abs_diff_usd_m": cross,
                "excluded": "its last row, 2025-09-03, an incomplete scrape (all zero)",
            },
        },
        "notes": [
            f"{len(holidays)} US market holidays appear in the source as rows of blanks with Total 0.0: they are "
            f"missing data, not zero flows, and are dropped ({', '.join(str(x.date()) for x in holidays)}). Later "
            "holidays are absent from the source.",
            "A blank fund cell means no data ('-' on Farside), e.g. BTC before 2024-07-31; never read it as zero.",
            "Values are as scraped around 2026-04; issuers revise late.",
        ],
    }
    return out, info


def build_cbeci(raw: Path) -> tuple[pd.DataFrame, dict]:
    c = pd.read_csv(raw / "dataalways_energy-adjusted-cbeci/cbeci-annualized-consumption.csv")
    idx = pd.DatetimeIndex(
        pd.to_datetime(c.pop("date"), format="%Y-%m-%dT%H:%M:%S"), name="date"
    ).as_unit("ns")
    out = pd.DataFrame(
        {bf.cbeci_column(float(k)): c[k].to_numpy(float) for k in c.columns}, index=idx
    )
    if list(out.columns) != [bf.cbeci_column(p) for p in bf.CBECI_PRICES]:
        raise SystemExit("cbeci: unexpected price columns")
    info = {
        "sources": [_src("dataalways_energy-adjusted-cbeci", "cbeci-annualized-consumption.csv")],
        "notes": [
            "CBECI's best guess under each assumed power price; its default is $0.05/kWh. Implied fleet efficiency "
            "(J/TH) = consumption*1e12/8766 W / hashrate (TH/s).",
        ],
    }
    return out, info


def build_asic_models(raw: Path) -> tuple[pd.DataFrame, dict]:
    m = pd.read_csv(raw / "mattk8_mining-data/mining-devices.csv", encoding="utf-8-sig")
    month = pd.to_datetime(
        m["Year Released"].astype(int).astype(str)
        + "-"
        + m["Month Released"].astype(int).astype(str).str.zfill(2)
        + "-01"
    )
    eff = m["Power Consumption (W)"].astype(float) / m["Hashrate (T)"].astype(float)
    stated = m["Unit Power (W/T) #"].astype(float)
    out = pd.DataFrame(
        {
            "release_month": pd.DatetimeIndex(month).as_unit("ns"),
            "company": m["Company"].str.strip(),
            "model": m["Device"].str.strip(),
            "hashrate_ths": m["Hashrate (T)"].astype(float),
            "power_w": m["Power Consumption (W)"].astype(float),
            "efficiency_j_per_th": eff.round(4),
        }
    )
    out = out.sort_values(["release_month", "company", "model"], kind="mergesort").set_index(
        "release_month"
    )
    info = {
        "sources": [_src("mattk8_mining-data", "mining-devices.csv")],
        "checks": {"max_abs_diff_vs_stated_unit_power_j_per_th": float((eff - stated).abs().max())},
        "notes": [
            "efficiency_j_per_th = power_w / hashrate_ths (the source's 'Unit Power' column is the same, rounded).",
            "Release dates 2016-2020 (up to the S19 Pro, 30 J/TH); newer machines are not in this list.",
        ],
    }
    return out, info


def build_chip_efficiency(raw: Path) -> tuple[pd.DataFrame, dict]:
    e = pd.read_csv(raw / "TullioM94_PhD-code/efficiency.csv")
    e.index = pd.to_datetime(e.pop("Date"), format="%d/%m/%Y")
    long = e.stack().dropna().rename("j_per_gh").reset_index()
    long.columns = ["month", "series", "j_per_gh"]
    long["efficiency_j_per_th"] = (long["j_per_gh"] * 1000).round(6)
    long = long.sort_values(["month", "series"], kind="mergesort").set_index("month")[
        ["series", "efficiency_j_per_th"]
    ]
    long.index = pd.DatetimeIndex(long.index, name="month").as_unit("ns")
    info = {
        "sources": [_src("TullioM94_PhD-code", "efficiency.csv")],
        "notes": [
            "Source values are J/GH; multiplied by 1000 for J/TH. A duplicated 'Pantech' column is named 'Pantech.1'."
        ],
    }
    return long, info


def build_power(raw: Path) -> tuple[pd.DataFrame, dict, pd.DataFrame, dict]:
    import csv

    path = raw / "dataalways_energy-adjusted-cbeci/Average_retail_price_of_electricity.csv"
    rows = list(csv.reader(path.read_text(encoding="utf-8").splitlines()))
    header = next(r for r in rows if r and r[0] == "description")
    ind = next(r for r in rows if r and r[0] == "United States : industrial")
    if ind[1] != "cents per kilowatthour":
        raise SystemExit("EIA: unexpected units")
    months = pd.to_datetime(header[3:], format="%b %Y")
    vals = pd.to_numeric(pd.Series(ind[3 : 3 + len(months)]), errors="coerce").to_numpy()
    us = pd.DataFrame(
        {"price_usd_per_kwh": np.round(vals / 100.0, 6)},
        index=pd.DatetimeIndex(months, name="month").as_unit("ns"),
    )
    us = us.dropna().sort_index()
    info_us = {
        "sources": [
            _src("dataalways_energy-adjusted-cbeci", "Average_retail_price_of_electricity.csv")
        ],
        "notes": [
            "EIA series ELEC.PRICE.US-IND.M, cents/kWh divided by 100. Retrieved 2023-09-03 (last month 2023-05)."
        ],
    }
    parts = []
    for fname, region in (
        ("usaprice_electricity.csv", "United States"),
        ("chinaprice_electricity.csv", "China"),
        ("russiaprice_electricity.csv", "Russia"),
    ):
        t = pd.read_csv(raw / "TullioM94_PhD-code" / fname)
        t["year_end"] = pd.to_datetime(t.pop("Date"), format="%d/%m/%Y")
        long = t.melt(
            id_vars="year_end", var_name="tariff", value_name="price_usd_per_kwh"
        ).dropna()
        long["region"] = region
        long["tariff"] = long["tariff"].replace({"Price": "average"})
        parts.append(long)
    ann = (
        pd.concat(parts)
        .sort_values(["year_end", "region", "tariff"], kind="mergesort")
        .set_index("year_end")
    )
    ann.index = pd.DatetimeIndex(ann.index, name="year_end").as_unit("ns")
    ann = ann[["region", "tariff", "price_usd_per_kwh"]]
    info_ann = {
        "sources": [
            _src("TullioM94_PhD-code", "usaprice_electricity.csv"),
            _src("TullioM94_PhD-code", "chinaprice_electricity.csv"),
            _src("TullioM94_PhD-code", "russiaprice_electricity.csv"),
        ],
        "notes": ["Annual values dated 31 December of their year."],
    }
    return us, info_us, ann, info_ann


# ---------------------------------------------------------------- writing


def build_basis_3m(raw: Path) -> tuple[pd.DataFrame, dict]:
    name = "data_futures_basis_3m.csv"
    b = pd.read_csv(raw / "yudiyanto88_Onchain-Dashboard" / name)
    idx = pd.DatetimeIndex(pd.to_datetime(b.pop("date"), format="%Y-%m-%d"), name="date")
    out = pd.DataFrame(
        {
            "basis_3m_binance_pct_pa": b["basis_binance"].to_numpy(float),
            "basis_3m_deribit_pct_pa": b["basis_deribit"].to_numpy(float),
            "basis_3m_pct_pa": b["basis_3m"].to_numpy(float),
        },
        index=idx.as_unit("ns"),
    ).sort_index()
    venues = out[["basis_3m_binance_pct_pa", "basis_3m_deribit_pct_pa"]].mean(axis=1)
    gap = float((venues - out["basis_3m_pct_pa"]).abs().max())
    if gap > 1e-3:
        raise SystemExit(f"basis: basis_3m is not the mean of the venues (max gap {gap})")
    info = {
        "sources": [_src("yudiyanto88_Onchain-Dashboard", name)],
        "notes": [
            "Simple annualised basis (F/S - 1) * 365 / days to expiry of the current and next quarterlies, linearly "
            "interpolated to a 90-day tenor; contracts under 7 days to expiry dropped; spot = Bitstamp's daily close "
            "(earlier runs: Binance's index). A derived series: no per-contract closes, revisions unknown.",
            f"basis_3m_pct_pa is the mean of the venues available that day (checked: max gap {gap:.1e}).",
        ],
    }
    return out, info


#: Checkonchain's files in TonieKapital/SOPR and the bundled column each becomes.
SOPR_FILES = {
    "sth-sopr.json": "sth_sopr",
    "lth-sopr.json": "lth_sopr",
    "sth-realised-price.json": "sth_realised_price_usd",
    "lth-realised-price.json": "lth_realised_price_usd",
}


def build_sopr(raw: Path) -> tuple[pd.DataFrame, dict]:
    columns, dropped = {}, {}
    for file, column in SOPR_FILES.items():
        rows = json.loads((raw / "TonieKapital_SOPR" / file).read_text(encoding="utf-8"))
        series = pd.Series(
            [float(r["value"]) for r in rows],
            index=pd.DatetimeIndex(pd.to_datetime([r["date"] for r in rows]), name="date"),
        ).sort_index()
        if column.endswith("_sopr"):
            # The vendor fills the days before it has data with exactly 1.0: missing, not a ratio.
            real = series[series != 1.0]
            filler = series.index < real.index.min()
            dropped[column] = (
                f"{int(filler.sum())} leading filler rows of 1.0 (to {series.index[filler].max().date()})"
            )
            series = series.mask(filler)
        else:
            zero = series <= 0
            dropped[column] = f"{int(zero.sum())} rows of 0 (no price yet)"
            series = series.mask(zero)
        columns[column] = series
    out = pd.DataFrame(columns).sort_index()
    last = out.index.max()
    out = out.drop(index=last)  # the scrape's last day is partial (LTH-SOPR jumps on it)
    out = out.dropna(how="all")
    out.index = out.index.as_unit("ns")
    info = {
        "sources": [_src("TonieKapital_SOPR", f"data/{f}") for f in SOPR_FILES],
        "notes": [
            "Values as Checkonchain charts them (STH: coins younger than 155 days); a single scraped vintage, vendor "
            "revisions unknown; other vendors differ by a few hundredths.",
            "Missing, not values: " + "; ".join(f"{c}: {d}" for c, d in dropped.items()) + ".",
            f"The scrape's last day {last.date()} is dropped as partial (LTH-SOPR jumps from 0.81 to 1.66 on it).",
        ],
    }
    return out, info


def to_csv_bytes(frame: pd.DataFrame, schema: CsvSchema) -> bytes:
    out = frame[schema.column_names].copy()
    for col in schema.columns:
        if col.kind == "int":
            out[col.name] = out[col.name].round().astype("Int64")
    if schema.index_kind == "date":
        index = out.index.strftime("%Y-%m-%d")
    else:
        index = out.index.strftime("%Y-%m-%d %H:%M:%S.%f").str[:-3]
    out.index = pd.Index(index, name=schema.index)
    return out.to_csv(lineterminator="\n").encode("utf-8")


def describe_columns(frame: pd.DataFrame, schema: CsvSchema) -> dict:
    cols = {}
    for col in schema.columns:
        s = frame[col.name]
        valid = s.dropna()
        cols[col.name] = {
            "unit": col.unit,
            "description": col.description,
            "non_null": int(valid.size),
            "first": None if valid.empty else str(valid.index.min().date()),
            "last": None if valid.empty else str(valid.index.max().date()),
        }
    return cols


def write_all(raw: Path, out_dir: Path) -> dict:
    spot, spot_info = build_spot(raw)
    perp, perp_info = build_perp(raw)
    f8, f8_info, f1, f1_info = build_funding(raw)
    chain, chain_info = build_chain(raw)
    etf, etf_info = build_etf(raw)
    cbeci, cbeci_info = build_cbeci(raw)
    asic, asic_info = build_asic_models(raw)
    chips, chips_info = build_chip_efficiency(raw)
    us, us_info, ann, ann_info = build_power(raw)
    basis, basis_info = build_basis_3m(raw)
    sopr, sopr_info = build_sopr(raw)
    built = [
        (bf.SPOT_1D, spot, spot_info),
        (bf.PERP_1D, perp, perp_info),
        (bf.CHAIN_1D, chain, chain_info),
        (bf.FUNDING_8H, f8, f8_info),
        (bf.FUNDING_1D, f1, f1_info),
        (bf.ETF_FLOWS_1D, etf, etf_info),
        (bf.CBECI_1D, cbeci, cbeci_info),
        (bf.ASIC_MODELS, asic, asic_info),
        (bf.ASIC_CHIP_EFFICIENCY, chips, chips_info),
        (bf.POWER_US_INDUSTRIAL, us, us_info),
        (bf.POWER_ANNUAL, ann, ann_info),
        (bf.FUTURES_BASIS_3M_1D, basis, basis_info),
        (bf.SOPR_1D, sopr, sopr_info),
    ]
    if [s.file for s, _, _ in built] != [s.file for s in bf.ALL]:
        raise SystemExit("build list and data.bundled_files.ALL disagree")
    out_dir.mkdir(parents=True, exist_ok=True)
    files = []
    for schema, frame, info in built:
        payload = to_csv_bytes(frame, schema)
        target = out_dir / schema.file
        tmp = target.with_suffix(".csv.tmp")
        tmp.write_bytes(payload)
        tmp.replace(target)
        checked = read_csv_checked(target, schema)  # the loaders must accept what we ship
        entry = {
            "file": schema.file,
            "description": schema.description,
            "sha256": hashlib.sha256(payload).hexdigest(),
            "bytes": len(payload),
            **_span(checked.index),
            "columns": describe_columns(checked, schema),
        }
        entry.update(info)
        files.append(entry)
    manifest = {
        "dataset": "costbt bundled dataset",
        "built_by": "scripts/build_bundled.py",
        "raw_folder": "shared/data/raw (see its SOURCES.md)",
        "dates": "UTC calendar days (YYYY-MM-DD); timestamps UTC",
        "files": files,
    }
    (out_dir / "manifest.json").write_text(
        json.dumps(manifest, indent=2, sort_keys=False) + "\n", encoding="utf-8"
    )
    (out_dir / "SOURCES.md").write_text(sources_markdown(files), encoding="utf-8")
    return manifest


def sources_markdown(files: list[dict]) -> str:
    lines = [
        "# Bundled data: sources and attribution",
        "",
        "Generated by `scripts/build_bundled.py` from `shared/data/raw/`; `manifest.json` beside this file has",
        "hashes, coverage, units, splices and checks. Market prices, chain statistics and fund flows are facts;",
        "each source's licence and requested attribution are kept here.",
        "",
    ]
    for f in files:
        lines.append(f"## `{f['file']}`")
        lines.append("")
        lines.append(f"{f['description']}. {f['rows']} rows, {f['first']} to {f['last']}.")
        lines.append("")
        for s in f["sources"]:
            used = f" (used: {s['used']})" if "used" in s else ""
            lines.append(
                f"- {s['attribution']}. Repository `{s['repository']}` at commit `{s['commit']}`, file `{s['path']}`{used}. "
                f"Licence: {s['licence']}."
            )
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--raw",
        type=Path,
        default=DEFAULT_RAW,
        help="folder of raw files (default: ../shared/data/raw)",
    )
    p.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="output folder (default: data/bundled)"
    )
    args = p.parse_args(argv)
    if not (args.raw / "SOURCES.md").exists():
        print(
            f"error: {args.raw} does not look like the raw data folder (no SOURCES.md)",
            file=sys.stderr,
        )
        return 2
    manifest = write_all(args.raw, args.out)
    for f in manifest["files"]:
        print(
            f"{f['file']:40s} {f['rows']:6d} rows  {f['first']} .. {f['last']}  {f['sha256'][:12]}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
