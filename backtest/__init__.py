"""Backtesting: the live engine and strategies on a virtual clock, over recorded or generated data.

``volta backtest CONFIG`` (``backtest.cli``) runs a deployment file with a ``[backtest]`` section;
``run_backtest`` is the same from Python. See ``docs/backtesting.md``.
"""

from backtest.runner import BacktestResult, load_data, run_backtest

__all__ = ["BacktestResult", "load_data", "run_backtest"]
