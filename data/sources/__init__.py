"""Downloaders: exchanges through ccxt and the other providers, all writing to `data.cache`."""
