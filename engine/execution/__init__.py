"""Execution: the one owner of order state, the group-committed journal, trading state.

* ``core.ExecutionCore``: commands in (submit, amend, cancel, cancel-all), venue reports in,
  orders, pending acknowledgements and the journal owned here; group commit before send.
  ``reports.VenueReports``, its base class, is the venue-report half (order events, status
  reports, ack timeouts) of the same object.
* ``inflight``: the decisions on orders in flight (overdue, what a status report means),
  applied by the core; ``commands``: ``CancelAll`` and the commands the core derives (an
  amend's risk probe, a smart order's IOC children).
* ``trading.TradingStateOwner``: every hold on trading, per-venue stream state,
  ``TradingStateChanged`` / ``VenueTradingChanged`` events.
* ``reconcile.plan``: reconciliation as a pure function (venue report + engine state ->
  corrections), applied through the core's entries.
* ``ports``: the narrow interfaces the runtime hands to strategies, the kill switch and the
  operator (order entry, market view, portfolio view, trading-state control).
"""

from engine.execution.commands import CancelAll
from engine.execution.core import ExecutionCore
from engine.execution.trading import TradingStateChanged, TradingStateOwner, VenueTradingChanged

__all__ = ["CancelAll", "ExecutionCore", "TradingStateChanged", "TradingStateOwner",
           "VenueTradingChanged"]
