"""The execution core's part of a snapshot (engine/execution/snapshot.py), as data."""

from __future__ import annotations

import msgspec

from engine.model import OrderFilled


class ExecutionState(msgspec.Struct, frozen=True, kw_only=True):
    """What a journal replay rebuilds in the execution core besides the orders."""

    fills: int
    """Fills applied to our orders (the node's fill counter)."""
    recent_fills: list[OrderFilled]
    """The newest fills (at most ``engine.execution.core.RECENT_FILLS``), oldest first."""
