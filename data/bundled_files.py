"""Schemas of the files in ``data/bundled/``: names, units and constraints of every column.

The build script (``scripts/build_bundled.py``) writes these files and copies the units into the
manifest; the loaders (`data.bundle`) read them back through `data.schema.read_csv_checked`.
All dates are UTC calendar days (``YYYY-MM-DD``); timestamps are UTC (``YYYY-MM-DD HH:MM:SS.fff``).
"""

from __future__ import annotations

from costbt.data.schema import Column, CsvSchema

_OHLC = (
    ("open_usd", "USD per BTC", "first trade of the UTC day"),
    ("high_usd", "USD per BTC", "highest trade of the UTC day"),
    ("low_usd", "USD per BTC", "lowest trade of the UTC day"),
    ("close_usd", "USD per BTC", "last trade of the UTC day (the daily close at 00:00 UTC)"),
)

SPOT_1D = CsvSchema(
    file="btc_usd_spot_1d.csv",
    description=(
        "BTC spot daily OHLCV, UTC days: Coinbase BTC-USD to 2017-08-16, Binance BTCUSDT from "
        "2017-08-17 (USDT quoted, treated as USD)"
    ),
    index="date",
    columns=(
        *(Column(n, u, d, positive=True, nullable=False) for n, u, d in _OHLC),
        Column("volume_btc", "BTC", "traded volume in the UTC day", non_negative=True),
        Column("source", "text", "which raw file the row comes from (see manifest splices)", "str"),
    ),
    max_gap_days=3,
)

PERP_1D = CsvSchema(
    file="btcusdt_perp_1d.csv",
    description="Binance USDT-M BTCUSDT perpetual swap daily OHLCV, UTC days",
    index="date",
    columns=(
        *(
            Column(n, u.replace("USD", "USDT"), d, positive=True, nullable=False)
            for n, u, d in _OHLC
        ),
        Column(
            "volume_btc",
            "BTC",
            "traded volume in the UTC day (contracts of 1 BTC)",
            non_negative=True,
        ),
    ),
    max_gap_days=3,
)

CHAIN_1D = CsvSchema(
    file="chain_1d.csv",
    description="Bitcoin network statistics per UTC day, with block height, subsidy and supply",
    index="date",
    columns=(
        Column(
            "hashrate_ths",
            "TH/s",
            "mean network hashrate of the day (Coin Metrics method)",
            non_negative=True,
        ),
        Column(
            "difficulty",
            "dimensionless",
            "mean difficulty of the blocks mined that day",
            positive=True,
        ),
        Column(
            "blocks_per_day",
            "blocks",
            "blocks mined that day, derived as H*86400/(D*2^32) (see manifest notes)",
            "int",
            non_negative=True,
        ),
        Column(
            "block_height",
            "block height",
            "height of the last block mined by the end of the day",
            "int",
            nullable=False,
            non_negative=True,
        ),
        Column(
            "blocks_imputed",
            "flag (0/1)",
            "1 where the day's block count is unknown and 144 blocks were assumed for the height",
            "int",
            nullable=False,
            non_negative=True,
        ),
        Column(
            "block_subsidy_btc",
            "BTC per block",
            "subsidy of the last block of the day (halving schedule)",
            nullable=False,
            positive=True,
        ),
        Column(
            "issuance_btc",
            "BTC per day",
            "new BTC issued that day: sum of block subsidies (fees excluded)",
            nullable=False,
            non_negative=True,
        ),
        Column(
            "supply_btc",
            "BTC",
            "circulating supply at the end of the day (all subsidies since genesis)",
            nullable=False,
            positive=True,
        ),
    ),
    max_gap_days=0,
)

FUNDING_8H = CsvSchema(
    file="btcusdt_funding_8h.csv",
    description="Binance USDT-M BTCUSDT perpetual funding rate at each 8-hour settlement",
    index="funding_time",
    index_kind="datetime",
    columns=(
        Column(
            "funding_rate",
            "fraction per 8 h",
            "rate paid by longs to shorts at the settlement (0.0001 = 0.01 %)",
            nullable=False,
        ),
        Column(
            "funding_interval_hours",
            "hours",
            "settlement interval",
            "int",
            nullable=False,
            positive=True,
        ),
    ),
    max_gap_days=0,
    cadence="irregular",
)

FUNDING_1D = CsvSchema(
    file="btcusdt_funding_1d.csv",
    description="Daily mean of the Binance USDT-M BTCUSDT 8-hourly funding rates settled in the UTC day",
    index="date",
    columns=(
        Column(
            "funding_rate_8h_mean",
            "fraction per 8 h",
            "mean of the day's 8-hourly funding rates",
            nullable=False,
        ),
        Column("source", "text", "which raw file the row comes from", "str", nullable=False),
    ),
    max_gap_days=0,
)

ETF_FUNDS: tuple[tuple[str, str], ...] = (
    ("IBIT", "iShares Bitcoin Trust"),
    ("FBTC", "Fidelity Wise Origin Bitcoin Fund"),
    ("BITB", "Bitwise Bitcoin ETF"),
    ("ARKB", "ARK 21Shares Bitcoin ETF"),
    ("BTCO", "Invesco Galaxy Bitcoin ETF"),
    ("EZBC", "Franklin Bitcoin ETF"),
    ("BRRR", "Valkyrie / CoinShares Bitcoin ETF"),
    ("HODL", "VanEck Bitcoin ETF"),
    ("BTCW", "WisdomTree Bitcoin Fund"),
    ("MSBT", "Morgan Stanley Bitcoin Trust"),
    ("GBTC", "Grayscale Bitcoin Trust"),
    ("BTC", "Grayscale Bitcoin Mini Trust"),
)


def etf_column(ticker: str) -> str:
    """Column name of a fund's flow: ``ibit_usd_m`` for IBIT."""
    return f"{ticker.lower()}_usd_m"


ETF_FLOWS_1D = CsvSchema(
    file="etf_flows_1d.csv",
    description=(
        "US spot bitcoin ETF daily net flows (creations minus redemptions) per fund and in total, "
        "US$ millions, US trading days (Farside Investors); blank = no data, never zero"
    ),
    index="date",
    columns=(
        *(
            Column(etf_column(t), "US$ millions", f"net flow of {t} ({name})")
            for t, name in ETF_FUNDS
        ),
        Column(
            "total_usd_m", "US$ millions", "net flow of all funds (Farside 'Total')", nullable=False
        ),
    ),
    max_gap_days=4,
    cadence="B",
)

CBECI_PRICES = tuple(round(0.01 * k, 2) for k in range(1, 20))


def cbeci_column(price_usd_kwh: float) -> str:
    """Column of CBECI consumption at an assumed power price: ``twh_yr_at_0_05_usd_kwh``."""
    return f"twh_yr_at_{price_usd_kwh:.2f}_usd_kwh".replace(".", "_")


CBECI_1D = CsvSchema(
    file="cbeci_consumption_1d.csv",
    description=(
        "Cambridge CBECI best-guess annualised network electricity consumption (TWh/yr) under each "
        "assumed power price from $0.01 to $0.19 per kWh (a model output, not a measurement)"
    ),
    index="date",
    columns=tuple(
        Column(
            cbeci_column(p),
            "TWh per year",
            f"CBECI consumption if miners pay ${p:.2f}/kWh",
            positive=True,
            nullable=False,
        )
        for p in CBECI_PRICES
    ),
    max_gap_days=0,
)

ASIC_MODELS = CsvSchema(
    file="asic_models.csv",
    description="SHA-256 ASIC miner models with release month, nameplate hashrate, power and efficiency",
    index="release_month",
    columns=(
        Column("company", "text", "manufacturer", "str", nullable=False),
        Column("model", "text", "device name", "str", nullable=False),
        Column("hashrate_ths", "TH/s", "nameplate hashrate", positive=True, nullable=False),
        Column("power_w", "W", "nameplate power draw", positive=True, nullable=False),
        Column(
            "efficiency_j_per_th",
            "J/TH",
            "nameplate efficiency (W per TH/s)",
            positive=True,
            nullable=False,
        ),
    ),
    unique_index=False,
    cadence="irregular",
)

ASIC_CHIP_EFFICIENCY = CsvSchema(
    file="asic_chip_efficiency_monthly.csv",
    description="Efficiency of newly released ASIC chips by manufacturer series, monthly (ASIC miner index)",
    index="month",
    columns=(
        Column(
            "series", "text", "manufacturer series as named in the source", "str", nullable=False
        ),
        Column(
            "efficiency_j_per_th",
            "J/TH",
            "efficiency of the newly released chip",
            positive=True,
            nullable=False,
        ),
    ),
    unique_index=False,
    cadence="irregular",
)

POWER_US_INDUSTRIAL = CsvSchema(
    file="power_price_us_industrial_monthly.csv",
    description="US average retail price of electricity to industrial customers, monthly (EIA)",
    index="month",
    columns=(
        Column(
            "price_usd_per_kwh",
            "USD per kWh",
            "monthly average industrial retail price",
            positive=True,
            nullable=False,
        ),
    ),
    max_gap_days=31,
    cadence="irregular",
)

POWER_ANNUAL = CsvSchema(
    file="power_price_annual.csv",
    description="Annual electricity price references: USA residential and industry, China tariff categories, Russia",
    index="year_end",
    columns=(
        Column("region", "text", "country", "str", nullable=False),
        Column(
            "tariff",
            "text",
            "customer class or tariff category as named in the source",
            "str",
            nullable=False,
        ),
        Column(
            "price_usd_per_kwh",
            "USD per kWh",
            "annual average price",
            positive=True,
            nullable=False,
        ),
    ),
    unique_index=False,
    cadence="irregular",
)

FUTURES_BASIS_3M_1D = CsvSchema(
    file="btc_futures_basis_3m_1d.csv",
    description=(
        "BTC 3-month constant-maturity annualised futures basis, % per year, per UTC day: "
        "(F/S - 1) * 365 / days to expiry of the quarterly futures, interpolated to a 90-day tenor "
        "(Binance COIN-M, Deribit, and their mean); blank = no data for that venue"
    ),
    index="date",
    columns=(
        Column(
            "basis_3m_binance_pct_pa",
            "% per year",
            "Binance COIN-M quarterlies against spot, interpolated to 90 days",
        ),
        Column(
            "basis_3m_deribit_pct_pa",
            "% per year",
            "Deribit quarterlies (23:00 UTC bar) against spot, interpolated to 90 days",
        ),
        Column(
            "basis_3m_pct_pa",
            "% per year",
            "mean of the venues available that day",
            nullable=False,
        ),
    ),
    max_gap_days=0,
)

SOPR_1D = CsvSchema(
    file="btc_sopr_checkonchain_1d.csv",
    description=(
        "Spent output profit ratio of short- and long-term holders (coins younger / older than "
        "155 days) and their realised prices, per UTC day, as Checkonchain charts them; blank = "
        "no data (the vendor's pre-data filler 1.0 is dropped)"
    ),
    index="date",
    columns=(
        Column(
            "sth_sopr",
            "ratio",
            "STH-SOPR: USD value at spending / USD value at creation of coins spent that day "
            "that were younger than 155 days",
            positive=True,
        ),
        Column(
            "lth_sopr", "ratio", "LTH-SOPR: the same for coins older than 155 days", positive=True
        ),
        Column(
            "sth_realised_price_usd",
            "USD per BTC",
            "short-term holders' realised price: their coins valued at the price they last moved",
            positive=True,
        ),
        Column(
            "lth_realised_price_usd",
            "USD per BTC",
            "long-term holders' realised price",
            positive=True,
        ),
    ),
    max_gap_days=0,
)

ALL: tuple[CsvSchema, ...] = (
    SPOT_1D,
    PERP_1D,
    CHAIN_1D,
    FUNDING_8H,
    FUNDING_1D,
    ETF_FLOWS_1D,
    CBECI_1D,
    ASIC_MODELS,
    ASIC_CHIP_EFFICIENCY,
    POWER_US_INDUSTRIAL,
    POWER_ANNUAL,
    FUTURES_BASIS_3M_1D,
    SOPR_1D,
)

BY_FILE: dict[str, CsvSchema] = {s.file: s for s in ALL}
