"""costbt backtest engine and the costbt command-line interface."""
