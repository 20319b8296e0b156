"""Dated analyst estimates of the cost of producing one bitcoin (the ``external`` cost model).

A CSV with one row per published estimate: ``date`` (the UTC day it was published, from which it
is usable), ``source`` (publisher), ``model`` (what they estimate), ``cost_usd_per_btc`` and a
``note``. The package ships `signals/reference/analyst_cost_estimates.csv` with the two estimates
quoted in the articles behind costbt; users pass their own file (``costbt cost --estimates FILE``).
It is read through `data.schema.read_csv_checked`, so a bad file fails with one clear message.
"""

from __future__ import annotations

from costbt.data.schema import Column, CsvSchema

ESTIMATES = CsvSchema(
    file="analyst_cost_estimates.csv",
    description="Dated published estimates of the production cost of one bitcoin",
    index="date",
    columns=(
        Column("source", "text", "publisher of the estimate", "str", nullable=False),
        Column("model", "text", "what the estimate measures", "str", nullable=False),
        Column(
            "cost_usd_per_btc", "USD per BTC", "the estimated cost", positive=True, nullable=False
        ),
        Column("note", "text", "context and provenance", "str"),
    ),
    unique_index=False,
    cadence="irregular",
)
