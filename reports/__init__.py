"""costbt reports: tear sheets, tables and figures from backtest results."""
