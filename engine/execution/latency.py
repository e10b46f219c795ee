"""Latency samples of the execution core, recorded on the trading path, read off it.

Theory of operation. The execution core times three things with ``time.perf_counter_ns``:
the risk gate's decision per order (``gate``), the journal commit before a batch of commands
leaves (``journal``), and tick-to-order: from the start of handling the market-data event
that caused an order (the kernel stamps ``ExecutionCore.tick_ns`` when a book event arrives)
to the order being handed to its venue adapter (``tick_to_order``). An order not caused by a
book event (a timer, an operator command, a fill) has no tick and is not counted.

Recording must cost next to nothing and never allocate per order: each sample is one store
into a preallocated list used as a ring (a power of two long, indexed by a running count).
Consumers (the operator's ``/metrics``) ``drain`` the ring off the trading path and feed
their own histograms; a consumer that falls more than a ring behind loses the oldest samples
and is told how many (``dropped``), never silently.
"""

from __future__ import annotations

from collections.abc import Callable

DEFAULT_CAPACITY = 8192


class LatencyRing:
    """A fixed ring of nanosecond durations; ``add`` is the only call on the trading path."""

    __slots__ = ("_buf", "_mask", "count", "_read", "dropped")

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity <= 0 or capacity & (capacity - 1):
            raise ValueError(f"latency ring capacity must be a power of two, not {capacity}")
        self._buf: list[int] = [0] * capacity
        self._mask = capacity - 1
        self.count = 0
        """Samples recorded since start."""
        self._read = 0
        self.dropped = 0
        """Samples overwritten before a consumer drained them."""

    def add(self, ns: int) -> None:
        n = self.count
        self._buf[n & self._mask] = ns
        self.count = n + 1

    def add_all(self, samples: list[int], since: int = 0) -> None:
        """``add(t - since)`` for each ``t`` of ``samples``, in one call (a batch's samples)."""
        buf, mask = self._buf, self._mask
        n = self.count
        for t in samples:
            buf[n & mask] = t - since
            n += 1
        self.count = n

    def drain(self, observe: Callable[[float], None]) -> int:
        """Pass every sample recorded since the last drain to ``observe`` (in seconds);
        returns how many."""
        end = self.count
        start = self._read
        cap = self._mask + 1
        if end - start > cap:
            self.dropped += end - start - cap
            start = end - cap
        buf, mask = self._buf, self._mask
        for i in range(start, end):
            observe(buf[i & mask] / 1e9)
        self._read = end
        return end - start


class ExecutionLatency:
    """The execution core's three rings (see the module docstring)."""

    __slots__ = ("tick_to_order", "gate", "journal")

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.tick_to_order = LatencyRing(capacity)
        self.gate = LatencyRing(capacity)
        self.journal = LatencyRing(capacity)
