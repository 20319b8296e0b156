"""Sub-commands of ``costbt data`` for the non-exchange providers, one module per provider family.

Each module defines ``register(data_app: typer.Typer) -> None``; `backtest.cli` calls it. Modules
import their heavy or network code inside the command functions, not at import time.
"""

PROVIDER_COMMAND_MODULES = ("exchange_sources", "chain_sources", "etf_sources", "sopr_sources")
