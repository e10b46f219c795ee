"""Repeated log events aggregated per key and interval (risk denials, for one).

Theory of operation. A strategy that keeps asking for what the gate refuses produces the same
denial many times a second. ``RepeatAggregator.record(key, now_ns, **fields)`` logs the first
occurrence of each key in an interval in full (with its fields), and only counts the others.
When an interval has ended, the next ``record`` or an explicit ``flush`` logs one summary line
with the count per key of the occurrences not logged. So each reason is seen at once, nothing
is lost from the totals, and the log grows by at most (keys + 1) lines per interval. Time is
the engine clock's, so a backtest aggregates per simulated interval.
"""

from __future__ import annotations

from typing import Any

__all__ = ["RepeatAggregator"]


class RepeatAggregator:
    """First occurrence per key and interval logged in full, the rest counted and summarised."""

    __slots__ = ("_log", "event", "summary_event", "interval_ns", "_window_start", "_seen", "_suppressed")

    def __init__(self, log: Any, event: str, summary_event: str, interval_ns: int) -> None:
        self._log = log
        self.event = event
        self.summary_event = summary_event
        self.interval_ns = interval_ns
        self._window_start: int | None = None
        self._seen: set[str] = set()
        self._suppressed: dict[str, int] = {}

    def record(self, key: str, now_ns: int, **fields: Any) -> None:
        if self._window_start is None or now_ns - self._window_start >= self.interval_ns:
            self.flush(now_ns)
            self._window_start = now_ns
        if key in self._seen:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return
        self._seen.add(key)
        self._log.info(self.event, reason=key, **fields)

    def flush(self, now_ns: int) -> None:
        """Log the summary of the interval so far (if anything was suppressed); start afresh."""
        if self._suppressed:
            start = self._window_start if self._window_start is not None else now_ns
            self._log.warning(self.summary_event, counts=dict(self._suppressed),
                              total=sum(self._suppressed.values()),
                              interval_s=round((now_ns - start) / 1e9, 3))
        self._seen.clear()
        self._suppressed = {}
        self._window_start = None
