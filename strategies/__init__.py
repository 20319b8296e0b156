"""costbt strategies: cost-based Bitcoin trading strategies."""
