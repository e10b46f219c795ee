"""What strategy callbacks cost and how often they failed (the kernel's callback guard keeps it).

Theory of operation: the kernel runs every strategy callback inside a guard (``Kernel._call``,
inlined on the depth-update path); the guard hands each callback's duration to ``account`` and
a raising callback to ``failed`` (inside its ``except``, so the traceback is logged). This
object owns the figures: per strategy the total time, number of calls and longest call (the
``volta`` status line, ``timing``), the failures, and the slow callbacks: one longer than
``slow_ns`` (0: off) is counted and logged, at most once per strategy per
``warn_interval_ns`` of clock time (the rest are only counted). Failures likewise: each is
counted, and the first of each (strategy, callback, exception type) per ``warn_interval_ns``
is logged with its traceback and how many like it were not logged since (a callback failing on
every book update of a busy venue would otherwise write a traceback per update). It never
calls a strategy.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from engine.strategy import Strategy


class CallbackProfile:
    def __init__(self, now_ns: Callable[[], int], log: Any) -> None:
        self._now_ns = now_ns
        self._log = log  # (structlog logger: Any at this boundary)
        self.stats: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # total, calls, max
        self.errors: dict[str, int] = defaultdict(int)
        self.slow: dict[str, int] = defaultdict(int)
        self.slow_ns = 10_000_000
        self.warn_interval_ns = 10_000_000_000
        self._warned_at: dict[str, int] = {}
        self._failed_at: dict[tuple[str, str, str], int] = {}
        self._not_logged: dict[tuple[str, str, str], int] = defaultdict(int)

    def account(self, strategy: Strategy[Any], fn: Callable[..., None], dt: int) -> None:
        """A strategy callback took ``dt`` ns: its totals, and a warning when it was slow."""
        sid = strategy.ctx.strategy_id
        st = self.stats[sid]
        st[0] += dt
        st[1] += 1
        if dt > st[2]:
            st[2] = dt
        if dt > self.slow_ns > 0:
            self._slow(sid, fn, dt)

    def failed(self, strategy: Strategy[Any], fn: Callable[..., None]) -> None:
        """Inside the ``except`` of a strategy callback: count it; log it with its traceback
        unless one like it was logged within ``warn_interval_ns`` (module docstring)."""
        sid = strategy.ctx.strategy_id
        self.errors[sid] += 1
        name = getattr(fn, "__name__", repr(fn))
        key = (sid, name, type(sys.exc_info()[1]).__name__)
        now = self._now_ns()
        last = self._failed_at.get(key)
        if last is not None and now - last < self.warn_interval_ns:
            self._not_logged[key] += 1
            return
        self._failed_at[key] = now
        self._log.exception("strategy_callback_failed", strategy=sid, callback=name, error=key[2],
                            errors_total=self.errors[sid], not_logged=self._not_logged.pop(key, 0))

    def _slow(self, sid: str, fn: Callable[..., None], dt_ns: int) -> None:
        self.slow[sid] += 1
        now = self._now_ns()
        last = self._warned_at.get(sid)
        if last is None or now - last >= self.warn_interval_ns:
            self._warned_at[sid] = now
            self._log.warning("slow_strategy_callback", strategy=sid,
                              callback=getattr(fn, "__name__", repr(fn)),
                              ms=round(dt_ns / 1e6, 3), threshold_ms=self.slow_ns / 1e6,
                              slow_total=self.slow[sid])

    @property
    def callback_ns(self) -> dict[str, int]:
        """Total time spent in each strategy's callbacks (ns)."""
        return {sid: st[0] for sid, st in self.stats.items()}

    def timing(self, strategy_ids: Iterable[str]) -> dict[str, dict[str, float]]:
        """Per strategy: callbacks, total/avg/max time, slow callbacks and errors (status line)."""
        out: dict[str, dict[str, float]] = {}
        for sid in strategy_ids:
            total, calls, max_ns = self.stats.get(sid, (0, 0, 0))
            out[sid] = {"calls": calls, "total_ms": round(total / 1e6, 1),
                        "avg_us": round(total / calls / 1e3, 1) if calls else 0.0,
                        "max_ms": round(max_ns / 1e6, 2),
                        "slow": self.slow.get(sid, 0),
                        "errors": self.errors.get(sid, 0)}
        return out
