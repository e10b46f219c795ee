"""Backtesting: the live engine, strategies, gate and router on recorded or synthetic data."""
