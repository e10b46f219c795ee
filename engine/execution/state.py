"""The execution core's part of a snapshot (engine/execution/snapshot.py), as data."""

from __future__ import annotations

import msgspec

from engine.model import OrderFilled


REPLAYED_COUNTERS = ("rejects", "late_rejects", "duplicate_terminal")
"""The execution core's counters, besides ``fills``, that a journal replay rebuilds (they count
venue reports as they are applied, and a replay applies every journaled report again): a
snapshot carries them so that a restart from it plus the tail counts what a full replay does.
Every other counter of the core counts what this process did (commands sent, batches, reports
of unknown orders) and starts at 0 in every restart (docs/risk.md)."""


class ExecutionState(msgspec.Struct, frozen=True, kw_only=True):
    """What a journal replay rebuilds in the execution core besides the orders."""

    fills: int
    """Fills applied to our orders (the node's fill counter)."""
    recent_fills: list[OrderFilled]
    """The newest fills (at most ``engine.execution.core.RECENT_FILLS``), oldest first."""
    counters: dict[str, int] = {}
    """``REPLAYED_COUNTERS`` (the non-zero ones); empty in a snapshot written before they were
    kept (the tail's counts only, as then)."""
