"""Execution: the one owner of order state, the group-committed journal, trading state.

* ``core.ExecutionCore``: commands in (submit, amend, cancel, cancel-all), venue reports in,
  orders, pending acknowledgements and the journal owned here; group commit before send.
* ``trading.TradingStateOwner``: every hold on trading, per-venue stream state,
  ``TradingStateChanged`` / ``VenueTradingChanged`` events.
* ``reconcile.plan``: reconciliation as a pure function (venue report + engine state ->
  corrections), applied through the core's entries.
* ``ports``: the narrow interfaces the runtime hands to strategies, the kill switch and the
  operator (order entry, market view, portfolio view, trading-state control).
"""

from engine.execution.core import CancelAll, ExecutionCore
from engine.execution.trading import TradingStateChanged, TradingStateOwner, VenueTradingChanged

__all__ = ["CancelAll", "ExecutionCore", "TradingStateChanged", "TradingStateOwner",
           "VenueTradingChanged"]
