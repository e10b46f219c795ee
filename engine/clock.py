"""Clocks: one interface, a live implementation and a virtual one.

Everything that needs the time or a timer takes a ``Clock``; nothing reads the system time
directly. The live clock schedules on the asyncio loop; the virtual clock keeps a heap of
timers and runs them, in time order, when a driver advances it. That is what lets the same
strategies, gate and simulated venue run live, in paper trading, and in a backtest.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from abc import ABC, abstractmethod
from collections.abc import Callable

TimerCallback = Callable[[int], None]
"""Called with the clock time (ns) at which the timer fired."""

NS_PER_S = 1_000_000_000


class TimerHandle:
    """Returned by ``Clock.call_at``/``every``; ``cancel()`` stops it."""

    __slots__ = ("cancelled", "_live")

    def __init__(self) -> None:
        self.cancelled = False
        self._live: asyncio.TimerHandle | None = None

    def cancel(self) -> None:
        self.cancelled = True
        if self._live is not None:
            self._live.cancel()


class Clock(ABC):
    @abstractmethod
    def now_ns(self) -> int:
        """Current time, integer nanoseconds since the Unix epoch."""

    @abstractmethod
    def call_at(self, at_ns: int, callback: TimerCallback) -> TimerHandle:
        """Run ``callback`` once at ``at_ns`` (immediately on the next turn if in the past)."""

    def call_later(self, delay_ns: int, callback: TimerCallback) -> TimerHandle:
        return self.call_at(self.now_ns() + delay_ns, callback)

    def every(self, interval_ns: int, callback: TimerCallback, start_ns: int | None = None) -> TimerHandle:
        """Run ``callback`` every ``interval_ns``, first at ``start_ns`` (default: one interval on)."""
        if interval_ns <= 0:
            raise ValueError("timer interval must be positive")
        handle = TimerHandle()
        first = self.now_ns() + interval_ns if start_ns is None else start_ns

        def fire(now: int, due: int = first) -> None:
            if handle.cancelled:
                return
            nxt = due + interval_ns
            inner = self.call_at(nxt, lambda t, d=nxt: fire(t, d))
            handle._live = inner._live
            callback(now)

        inner = self.call_at(first, fire)
        handle._live = inner._live
        return handle


class LiveClock(Clock):
    """Wall-clock time; timers run on the running asyncio loop."""

    def now_ns(self) -> int:
        return time.time_ns()

    def call_at(self, at_ns: int, callback: TimerCallback) -> TimerHandle:
        loop = asyncio.get_running_loop()
        handle = TimerHandle()
        delay = max(at_ns - time.time_ns(), 0) / NS_PER_S

        def run() -> None:
            if not handle.cancelled:
                callback(time.time_ns())

        handle._live = loop.call_later(delay, run)
        return handle


class VirtualClock(Clock):
    """Simulated time that moves only when ``advance_to`` is called.

    ``timer_heap`` is the heap of pending timers ``(due_ns, seq, callback, handle)``, cancelled
    ones included: ``timer_heap[0][0]`` is a lower bound of the next deadline. A replay driver
    on its hot path may read it and skip ``advance_to`` while nothing is due, setting ``_now``
    itself (never backwards), which is exactly what ``advance_to`` does in that case.
    """

    def __init__(self, start_ns: int = 0) -> None:
        self._now = start_ns
        self._heap: list[tuple[int, int, TimerCallback, TimerHandle]] = []
        self.timer_heap = self._heap
        self._order = itertools.count()

    def now_ns(self) -> int:
        return self._now

    def call_at(self, at_ns: int, callback: TimerCallback) -> TimerHandle:
        handle = TimerHandle()
        heapq.heappush(self._heap, (max(at_ns, self._now), next(self._order), callback, handle))
        return handle

    def every(self, interval_ns: int, callback: TimerCallback, start_ns: int | None = None) -> TimerHandle:
        """``Clock.every`` without a new closure per period (same timers, same order)."""
        if interval_ns <= 0:
            raise ValueError("timer interval must be positive")
        handle = TimerHandle()
        due = self._now + interval_ns if start_ns is None else start_ns
        heap, order = self._heap, self._order

        def fire(now: int) -> None:
            nonlocal due
            if handle.cancelled:
                return
            due += interval_ns
            heapq.heappush(heap, (max(due, self._now), next(order), fire, TimerHandle()))
            callback(now)

        heapq.heappush(heap, (max(due, self._now), next(order), fire, TimerHandle()))
        return handle

    def next_timer_ns(self) -> int | None:
        while self._heap and self._heap[0][3].cancelled:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def advance_to(self, ts_ns: int) -> int:
        """Fire every timer due up to ``ts_ns`` in time order; returns how many fired."""
        heap = self._heap
        if not heap or heap[0][0] > ts_ns:  # nothing due (the common case of a replay)
            if ts_ns > self._now:
                self._now = ts_ns
            return 0
        fired = 0
        while heap and heap[0][0] <= ts_ns:
            at, _, callback, handle = heapq.heappop(heap)
            if handle.cancelled:
                continue
            self._now = at
            callback(at)
            fired += 1
        if ts_ns > self._now:
            self._now = ts_ns
        return fired
