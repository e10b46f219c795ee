"""``InFlight``: the one path of client commands (and, on the replay exchange, the venue's
answers) between the engine and a simulator, shared by ``SimVenue`` and ``ReplayExchange``.

Theory of operation. A command handed to a simulator is either

* *held*: between the execution core's ``hold_commands`` and ``release_commands`` (one
  committed batch) with zero order-entry latency it is only queued (with latency it is sent
  at once: it arrives through a timer, after the batch anyway), as a real adapter's corked socket write only queues
  bytes; at the release every held command is sent, in the order handed over, so a venue
  never matches the first command of a batch before the engine finished handing it over
  (and published its ``OrderSubmitted`` events). Both simulators hold the same way, so a
  batch gives the same event order on the paper venue and in a backtest;
* *sent*: with a zero order-entry latency the venue handles it at once; otherwise it arrives
  at ``channel.due(now)`` (the seeded FIFO channels of ``adapters.sim.latency``) through a
  clock timer, and is kept here, in sending order, until it has run.

Anything the venue sends back after its response latency travels the same way (``later``).
At ``stop`` whatever is still in flight reached the wire before the engine stopped (the
cancels of its open orders above all): ``drain`` runs it in due order on a timeline of its
own (the engine's clock no longer moves), and what it sends in turn joins that timeline. A
held command that fails at the release is logged and the batch goes on: its order gets no
answer and the engine's status query settles it.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Any, Protocol

import structlog

from adapters.sim.latency import LatencyChannel

__all__ = ["DrainClock", "InFlight", "Timeline", "Unbound"]

_log = structlog.get_logger("volta.sim")


class _Handle(Protocol):
    def cancel(self) -> None: ...


class Timeline(Protocol):
    """What ``InFlight`` needs of a clock: the time and one-shot timers."""

    def now_ns(self) -> int: ...

    def call_at(self, when_ns: int, callback: Callable[[int], None]) -> Any: ...


class DrainClock:
    """The timeline of a drain (``InFlight.drain``): what was in flight runs in due order, each
    at its due time, and what it sends joins in."""

    def __init__(self, now_ns: int) -> None:
        self._heap: list[tuple[int, int, Callable[[int], None]]] = []
        self._seq = itertools.count()
        self._now = now_ns

    def now_ns(self) -> int:
        return self._now

    def call_at(self, due: int, callback: Callable[[int], None]) -> DrainClock:
        heapq.heappush(self._heap, (max(due, self._now), next(self._seq), callback))
        return self

    def cancel(self) -> None:  # (the handle ``call_at`` returns: nothing is cancelled in a drain)
        pass

    def run(self) -> None:
        heap = self._heap
        while heap:
            due, _, callback = heapq.heappop(heap)
            self._now = due
            callback(due)


class Unbound:
    """The clock of a simulator not yet bound: using it is a clear error."""

    def now_ns(self) -> int:
        raise RuntimeError("simulated venue used before bind()")

    def call_at(self, when_ns: int, callback: Callable[[int], None]) -> Any:
        raise RuntimeError("simulated venue used before bind()")


class InFlight:
    """Held and in-flight commands (and delayed answers) of one simulator; see the module
    docstring. ``clock`` is the timeline the timers run on (the engine's, or a drain's)."""

    __slots__ = ("clock", "channel", "_zero", "_held", "_flights", "_ids")

    def __init__(self, clock: Timeline, channel: LatencyChannel) -> None:
        self.clock = clock
        self.channel = channel
        """The order-entry latency."""
        self._zero = channel.is_zero
        self._held: list[tuple[Callable[[Any], None], Any]] | None = None
        self._flights: dict[int, tuple[int, Callable[[int], None], _Handle]] = {}
        """key -> (due, fire, timer), in the order sent."""
        self._ids = itertools.count()

    @property
    def pending(self) -> int:
        """Messages held or in flight."""
        return len(self._flights) + (len(self._held) if self._held else 0)

    # -- commands --------------------------------------------------------------------------
    def send(self, handle: Callable[[Any], None], cmd: Any) -> None:
        """Hand ``cmd`` over: ``handle(cmd)`` runs when it reaches the venue (see above)."""
        held = self._held
        if held is not None:
            held.append((handle, cmd))
        elif self._zero:
            handle(cmd)
        else:
            self.later(self.channel.due(self.clock.now_ns()), lambda: handle(cmd))

    def hold(self) -> None:
        """A batch follows: keep its commands, in order, until ``release``. With order-entry
        latency there is nothing to keep: every command arrives through a timer, after the
        whole batch was handed over, at the time (and in the order) it would at the release."""
        if self._held is None and self._zero:
            self._held = []

    def release(self) -> None:
        """Send the held commands in the order handed over (a failing one is logged)."""
        held, self._held = self._held, None
        if not held:
            return
        for handle, cmd in held:
            try:
                self.send(handle, cmd)
            except Exception as exc:  # noqa: BLE001 - the other commands of the batch still go
                _log.error("sim_command_failed", client_order_id=getattr(cmd, "client_order_id", ""),
                           command=type(cmd).__name__, error=repr(exc))

    # -- anything delayed ------------------------------------------------------------------
    def later(self, due: int, run: Callable[[], None]) -> None:
        """Run ``run`` at ``due`` on the clock; kept in flight until it has run."""
        key = next(self._ids)
        flights = self._flights

        def fire(_t: int) -> None:
            del flights[key]
            run()

        flights[key] = (due, fire, self.clock.call_at(due, fire))

    def drain(self, use_clock: Callable[[Timeline], None] | None = None) -> None:
        """Run everything held or in flight now, in due order (held commands first sent):
        the venue is stopping. ``use_clock`` is told the drain's timeline before and the
        previous clock after, for a venue that reads the time from its own clock."""
        if self._held is not None:
            self.release()
        if not self._flights:
            return
        clock = self.clock
        drain = DrainClock(clock.now_ns())
        for due, fire, handle in self._flights.values():
            handle.cancel()
            drain.call_at(due, fire)
        self.clock = drain
        if use_clock is not None:
            use_clock(drain)
        try:
            drain.run()
        finally:
            self.clock = clock
            if use_clock is not None:
                use_clock(clock)
