"""Schemas of panel sources that exist only in the download cache (no bundled file).

Such a source has no file in ``data/bundled/``; `data.overlay` builds its frame from cached
downloads (`data.cache`), and the panel has its columns only when the cache supplies them
(`load_panel(use_cache=...)`). The schema declares the columns' names, units and meaning, as
`data.bundled_files` does for the bundled files, so the column catalogue and `costbt data
status` describe them the same way.
"""

from __future__ import annotations

from costbt.data.schema import Column, CsvSchema

FEES_1D = CsvSchema(
    file="(download cache: Coin Metrics FeeTotNtv or blockchain.com transaction-fees-usd)",
    description=(
        "Transaction fees paid to miners per UTC day, in BTC: Coin Metrics' FeeTotNtv (native "
        "BTC) where cached, else blockchain.com's transaction-fees-usd divided by that day's "
        "spot close"
    ),
    index="date",
    columns=(
        Column(
            "fees_btc",
            "BTC per day",
            "total transaction fees paid to miners in the UTC day (block subsidy excluded)",
            non_negative=True,
        ),
    ),
)
