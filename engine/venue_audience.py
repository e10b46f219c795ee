"""Which strategies trade on which venue: the audience of each venue's own halts.

Theory of operation: a strategy trades on its own venue (the ``venue`` it was configured
with), on the venue of every instrument or chain it subscribed to, and on every venue it has
sent an order to (a denied one too), from that moment on; nothing is forgotten while the
process runs. The kernel feeds this table (``joins`` at ``add_strategy``, ``joins_instrument``
at each subscription and at the first order event of a strategy on an instrument) and tells a
venue's audience ``on_venue_halt``/``on_venue_resume`` when the trading-state owner publishes
``VenueTradingChanged``. The order path pays one call and one set lookup per order event.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any


class VenueAudience:
    def __init__(self) -> None:
        # venue -> strategy id -> strategy, in join order
        self._members: dict[str, dict[str, Any]] = defaultdict(dict)
        # strategy id -> the instrument (or ``venue:underlying`` chain) ids already accounted for
        self._counted: dict[str, set[str]] = defaultdict(set)

    def joins(self, strategy_id: str, strategy: Any, venue: str) -> None:
        """``strategy`` trades on ``venue`` from now on (once)."""
        self._members[venue].setdefault(strategy_id, strategy)

    def joins_instrument(self, strategy_id: str, strategy: Any, instrument_id: str) -> None:
        """``strategy`` subscribed to, or ordered on, ``instrument_id`` (``venue:...``)."""
        counted = self._counted[strategy_id]
        if instrument_id not in counted:
            counted.add(instrument_id)
            self.joins(strategy_id, strategy, instrument_id.partition(":")[0])

    def of(self, venue: str) -> list[Any]:
        """The strategies trading on ``venue`` (a copy: a callback may make another join)."""
        members = self._members.get(venue)
        return list(members.values()) if members else []

    def venues_of(self, strategy_id: str) -> list[str]:
        """The venues ``strategy_id`` trades on, sorted."""
        return sorted(v for v, members in self._members.items() if strategy_id in members)
