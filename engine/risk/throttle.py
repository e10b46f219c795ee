"""Pacing primitives for the gate: a token bucket, a windowed event counter, a duplicate filter.

All three take the time as an argument (engine clock nanoseconds), never read a clock
themselves, and do O(1) amortized work per call, so they run inside the synchronous gate on
the live clock and on a virtual one alike. ``engine`` must not import ``adapters``, so this is
a deliberately small bucket; the venue rate tables of ``adapters/ratelimit.py`` reach it as
numbers through the config (``[risk.venue_rates.<venue>]``) or the adapter's
``order_rate_limit`` attribute.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterable

import msgspec


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` banked; one token per order."""

    __slots__ = ("rate_per_ns", "burst", "tokens", "last_ns")

    def __init__(self, rate: float, burst: float, now_ns: int = 0) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"token bucket needs rate > 0 and burst >= 1 (got {rate}, {burst})")
        self.rate_per_ns = rate / 1e9
        self.burst = float(burst)
        self.tokens = float(burst)
        self.last_ns = now_ns

    def _refill(self, now_ns: int) -> None:
        if now_ns > self.last_ns:
            self.tokens = min(self.burst, self.tokens + (now_ns - self.last_ns) * self.rate_per_ns)
            self.last_ns = now_ns

    def available(self, now_ns: int) -> float:
        self._refill(now_ns)
        return self.tokens

    def try_take(self, now_ns: int, cost: float = 1.0) -> bool:
        tokens = self.tokens
        if now_ns > self.last_ns:  # (``_refill`` inline, ``min`` as a comparison: every order)
            tokens += (now_ns - self.last_ns) * self.rate_per_ns
            if not tokens < self.burst:  # (what min(burst, tokens) returns, NaN included)
                tokens = self.burst
            self.last_ns = now_ns
        if tokens >= cost:
            self.tokens = tokens - cost
            return True
        self.tokens = tokens
        return False

    def give_back(self, cost: float = 1.0) -> None:
        """Return a token taken for an order a later check refused."""
        self.tokens = min(self.burst, self.tokens + cost)

    def snapshot(self) -> tuple[float, int]:
        """(tokens, last refill time): the bucket goes on refilling from there after a restore."""
        return self.tokens, self.last_ns

    def restore(self, tokens: float, last_ns: int) -> None:
        self.tokens = min(self.burst, float(tokens))
        self.last_ns = last_ns


class WindowCounter:
    """How many events happened in the last ``window_ns`` (timestamps kept in a deque)."""

    __slots__ = ("window_ns", "_times")

    def __init__(self, window_ns: int) -> None:
        self.window_ns = window_ns
        self._times: deque[int] = deque()

    def add(self, now_ns: int) -> int:
        self._times.append(now_ns)
        return self.count(now_ns)

    def count(self, now_ns: int) -> int:
        times, edge = self._times, now_ns - self.window_ns
        while times and times[0] <= edge:
            times.popleft()
        return len(times)

    def clear(self) -> None:
        self._times.clear()

    def snapshot(self) -> list[int]:
        """The event times still kept (oldest first)."""
        return list(self._times)

    def restore(self, times: Iterable[int]) -> None:
        self._times = deque(sorted(times))


class DuplicateFilter:
    """Remembers keys for ``window_ns``; ``seen`` says whether a key came in that window.

    Two generations of keys (key -> last time): the current one, started at ``_start``, and
    the one before. When the current generation is a window old it becomes the previous one
    and the previous one is dropped whole: every time in it is outside the window by then (a
    key enters the current generation less than a window after its start). So a call does a
    comparison and one or two dict lookups: nothing is trimmed per order, nothing allocated
    per key but its dict entry, and memory stays within two windows of keys."""

    __slots__ = ("window_ns", "_cur", "_prev", "_start", "_now", "_undo_key", "_undo_ts")

    def __init__(self, window_ns: int) -> None:
        self.window_ns = window_ns
        self._cur: dict[Hashable, int] = {}
        self._prev: dict[Hashable, int] = {}
        self._start = 0  # when the current generation began
        self._now = 0  # the latest time seen (what a snapshot's window ends at)
        self._undo_key: Hashable = _NOTHING  # what ``forget`` takes back (the last ``admit``)
        self._undo_ts: int | None = None

    def _turn(self, now_ns: int) -> None:
        self._prev = self._cur
        self._cur = {}
        self._start = now_ns
        self._undo_key = _NOTHING  # (an undo belongs to the generation it was made in)

    def admit(self, key: Hashable, now_ns: int) -> int | None:
        """``seen``; when not seen, ``remember`` too, in the same call (the gate's one call per
        order: most orders are approved). ``forget`` takes it back when the order is refused
        after all, leaving the filter as if only ``seen`` had been asked."""
        if now_ns - self._start >= self.window_ns:
            self._turn(now_ns)
        if now_ns > self._now:
            self._now = now_ns
        cur = self._cur
        old = cur.get(key)
        ts = old if old is not None else self._prev.get(key)
        if ts is not None and ts > now_ns - self.window_ns:
            return ts
        cur[key] = now_ns
        self._undo_key = key
        self._undo_ts = old  # (the key's older time in this generation, if any: put back)
        return None

    def forget(self) -> None:
        """Undo the last ``admit`` that remembered its key (the order was refused later on); a
        ``seen`` or ``remember`` since leaves nothing to undo."""
        key = self._undo_key
        if key is _NOTHING:
            return
        self._undo_key = _NOTHING
        if self._undo_ts is None:
            del self._cur[key]
        else:
            self._cur[key] = self._undo_ts

    # ``seen`` and ``remember`` are ``admit`` and a step after it: one copy of the window
    # logic, written out in ``admit`` (the gate's call per order: no helper frame)
    def seen(self, key: Hashable, now_ns: int) -> int | None:
        """When ``key`` was last remembered within the window, else None: an ``admit`` taken
        back at once (nothing new is remembered)."""
        ts = self.admit(key, now_ns)
        if ts is None:
            self.forget()
        self._undo_key = _NOTHING  # (and an earlier admit is no longer the last call)
        return ts

    def remember(self, key: Hashable, now_ns: int) -> None:
        """Remember ``key`` at ``now_ns``, whether or not it came within the window."""
        if self.admit(key, now_ns) is not None:
            self._cur[key] = now_ns  # (seen: ``admit`` kept its older time)
        self._undo_key = _NOTHING  # (not for ``forget`` to take back)

    def snapshot(self) -> list[tuple[int, Hashable]]:
        """``(time, key)`` of every key remembered within the window that ends at the latest
        time seen, and not superseded, oldest first."""
        edge, cur = self._now - self.window_ns, self._cur
        out = [(ts, key) for key, ts in self._prev.items() if ts > edge and key not in cur]
        out += [(ts, key) for key, ts in cur.items() if ts > edge]
        out.sort(key=_first)
        return out

    def restore(self, entries: Iterable[tuple[int, Hashable]]) -> None:
        self._cur, self._prev, self._start, self._now = {}, {}, 0, 0
        self._undo_key = _NOTHING
        for ts, key in sorted(entries, key=_first):
            self.remember(key, ts)


_NOTHING: Hashable = object()
"""``DuplicateFilter``'s undo key when there is nothing to undo."""


def _first(entry: tuple[int, Hashable]) -> int:
    return entry[0]


class ThrottleState(msgspec.Struct, frozen=True, kw_only=True):
    """The gate's pacing state in a snapshot (``RiskGate.snapshot``); times in engine-clock ns."""

    fills: dict[str, list[int]]
    """Strategy -> its fill times inside the repeated-execution window."""
    disabled: dict[str, str]
    """Strategy -> why it is disabled (until an operator enables it)."""
    duplicates: list[tuple[int, str, str, str, float | None, float]]
    """(time, strategy, instrument, side, price, quantity) of orders in the duplicate window."""
    buckets: dict[str, tuple[float, int]]
    """Rate buckets: ``""`` the global one, else a venue -> (tokens, last refill time)."""
