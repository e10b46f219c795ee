"""``LiveSession``: the venue-neutral core of a live venue session, composed into every venue.

Theory of operation. Every live venue (``adapters.<venue>``) owns websockets, maybe a REST
client, and tasks; what it does with them is its venue's protocol (``SessionHooks``, written by
the venue), but the frame around it is the same for every venue and lives here, in one object
each venue builds with an explicit constructor:

* lifecycle: ``start(hooks)`` runs the venue's ``connect`` and, if anything in it fails,
  ``stop``s what was half started (nothing survives a failed start) and reports each market
  data stream it had opened ``disconnected`` (a book it published froze: the kernel makes it
  SYNCING until a later start re-snapshots it, whose ``connected`` pairs with it; a private
  stream carries no book); ``run`` waits until
  ``stop``; ``stop(hooks)`` runs the venue's ``before_stop`` (disarm a dead-man switch, cancel
  orders), gives requests in flight their answer (bounded by ``params.ack_timeout_s``), closes
  the venue's ``websockets()``, runs ``after_streams_closed`` (release a listen key), cancels
  every task and closes the REST client.
* tasks: ``spawn`` owns a task until it ends and logs a failure (an exception in a task must
  never vanish); ``order`` tasks are the ones ``stop`` waits for.
* status: ``status`` publishes ``VenueStatusChanged`` on the bus; ``stream_opened`` and
  ``stream_closed`` turn a stream's (re)connections and unexpected closes into it.
* market data: ``publish_frame`` decodes a frame with the venue's codec and publishes it.
* books: ``first_snapshots`` (one future per book, awaited by the venue's ``connect``),
  ``snapshot_arrived`` and the resubscription throttle (``resub_pending``/``resub_started``) of
  the venues that resync a book by resubscribing its channel (a second request inside
  ``params.resubscribe_timeout_s`` waits for the snapshot already asked for).

``publish`` and ``clock`` are set by the runtime's ``bind`` (through the venue adapter).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from adapters.ws import CloseReason, ReconnectingWebSocket
from engine.clock import Clock, LiveClock
from engine.model import BookSnapshot, Instrument, VenueProtocolError, VenueStatusChanged

__all__ = ["Closeable", "Decode", "LiveSession", "Logger", "SessionHooks", "SessionParams"]

Decode = Callable[[str | bytes, int], list[Any]]
"""A codec's ``decode(frame, ts_recv)``."""


class SessionParams(Protocol):
    """What the session core reads from a venue's params."""

    @property
    def ack_timeout_s(self) -> float: ...


class Logger(Protocol):
    """The part of a structlog logger the session uses."""

    def warning(self, event: str, **kw: Any) -> Any: ...

    def error(self, event: str, **kw: Any) -> Any: ...


class Closeable(Protocol):
    """A REST client the session closes last."""

    async def close(self) -> None: ...


class SessionHooks(Protocol):
    """The venue's own protocol steps, called by ``LiveSession.start``/``stop``."""

    async def connect(self) -> None:
        """Connect, authenticate, subscribe and wait until the session is usable."""

    async def before_stop(self) -> None:
        """First step of ``stop`` (disarm a dead-man switch, cancel orders)."""

    def websockets(self) -> list[ReconnectingWebSocket | None]:
        """The websockets ``stop`` closes."""

    async def after_streams_closed(self) -> None:
        """After the streams are closed, before the REST client is."""


def _unbound(ev: object) -> None:
    raise RuntimeError("venue adapter used before bind(publish, clock)")


class LiveSession:
    """The lifecycle, task, status and book-readiness plumbing of one live venue session."""

    def __init__(self, *, venue: str, params: SessionParams, stats: dict[str, int], log: Logger,
                 log_name: str, quiet_errors: tuple[type[BaseException], ...] = (),
                 rest: Closeable | None = None, resubscribe_timeout_s: float = 5.0) -> None:
        self.venue = venue
        self.params = params
        self.stats = stats
        self.log = log
        self.log_name = log_name
        self.quiet_errors = quiet_errors
        """What ``quiet`` logs and swallows: the venue's "no trustworthy answer" errors."""
        self.rest = rest
        self.resubscribe_timeout_s = resubscribe_timeout_s
        self.publish: Callable[[Any], None] = _unbound
        self.clock: Clock = LiveClock()
        self.instruments: dict[str, Instrument] = {}
        """Instrument id -> instrument, loaded by the venue's ``connect``."""
        self.first_snapshots: dict[str, asyncio.Future[None]] = {}
        self.tasks: set[asyncio.Task[Any]] = set()
        self._order_tasks: set[asyncio.Task[Any]] = set()
        self._resub_at: dict[str, float] = {}
        self._stopped: asyncio.Event | None = None
        self._opened: dict[str, str] = {}
        """Market-data streams opened during the current ``start`` (stream -> label)."""
        self._stopping = False

    # ------------------------------------------------------------------ lifecycle
    @property
    def running(self) -> bool:
        """Started and not stopped."""
        return self._stopped is not None and not self._stopped.is_set()

    @property
    def stopping(self) -> bool:
        """``stop`` has begun: requests cut off by the streams it closes are expected."""
        return self._stopping

    async def start(self, hooks: SessionHooks) -> None:
        """Connect and wait until the session is usable (see the venue's ``connect``)."""
        self._stopped = asyncio.Event()
        self._stopping = False
        self._opened.clear()
        try:
            await hooks.connect()
        except BaseException as exc:
            await self.stop(hooks)  # nothing half-started survives a failed start
            if not isinstance(exc, asyncio.CancelledError):  # (not when the run is ending)
                for stream, label in self._opened.items():
                    self.status("disconnected", f"{label}: start failed", stream)
            raise
        finally:
            self._opened.clear()

    async def run(self) -> None:
        """Wait until the session is stopped."""
        if self._stopped is not None:
            await self._stopped.wait()

    async def stop(self, hooks: SessionHooks) -> None:
        """The venue's shutdown steps, answers in flight, streams, tasks, REST client; once."""
        if self._stopped is None or self._stopped.is_set():
            return
        self._stopping = True
        await hooks.before_stop()
        if self._order_tasks:  # requests in flight (the shutdown's cancels) get their answer
            await asyncio.wait(set(self._order_tasks), timeout=self.params.ack_timeout_s)
        for ws in hooks.websockets():
            if ws is not None:
                await ws.close()
        await hooks.after_streams_closed()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.rest is not None:
            await self.rest.close()
        self._stopped.set()

    # ------------------------------------------------------------------ tasks and status
    def spawn(self, coro: Coroutine[Any, Any, Any], order: bool = False) -> asyncio.Task[Any]:
        """Run ``coro`` as a task this session owns; ``order`` tasks are awaited on stop."""
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        if order:
            self._order_tasks.add(task)
            task.add_done_callback(self._order_tasks.discard)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.log.error(f"{self.log_name}.task_failed", venue=self.venue,
                           error=repr(task.exception()))

    async def quiet(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Await a best-effort request (shutdown, keep-alive): a failure is logged, not raised."""
        try:
            return await coro
        except self.quiet_errors as exc:
            self.log.warning(f"{self.log_name}.request_failed", venue=self.venue, error=str(exc))
            return None

    def status(self, status: str, reason: str, stream: str = "") -> None:
        """Publish a ``VenueStatusChanged`` (connected, disconnected, rate_limited ...)."""
        self.publish(VenueStatusChanged(self.venue, status, reason, self.clock.now_ns(), stream))

    def stream_opened(self, counter: str, label: str, stream: str = "") -> bool:
        """Count a connection of a stream (``stats[counter]``); a reconnection is published as
        ``connected`` (the first connection is part of ``start``). True on a reconnection."""
        self.stats[counter] += 1
        if stream != "private" and self._stopped is not None and not self._stopped.is_set():
            self._opened[stream] = label
        if self.stats[counter] > 1:
            self.status("connected", f"{label} reconnected", stream)
            return True
        return False

    def stream_closed(self, reason: CloseReason, label: str, stream: str = "") -> bool:
        """Publish ``disconnected`` unless we closed the stream ourselves; True if we did not."""
        if reason is CloseReason.LOCAL_CLOSE:
            return False
        self.status("disconnected", f"{label}: {reason.value}", stream)
        return True

    # ------------------------------------------------------------------ market data
    def publish_frame(self, decode: Decode, data: str | bytes, ts_recv: int) -> bool:
        """Decode one market-data frame and publish its events in order; a ``BookSnapshot``
        also ends its book's resync (``snapshot_arrived`` under the venue's symbol). False for
        a malformed frame, counted in ``stats["malformed"]`` (a lost delta shows up as a gap
        on the next one)."""
        try:
            events = decode(data, ts_recv)
        except VenueProtocolError:
            self.stats["malformed"] += 1
            return False
        publish = self.publish
        for ev in events:
            if type(ev) is BookSnapshot:
                self.snapshot_arrived(ev.instrument_id.partition(":")[2])
            publish(ev)
        return True

    # ------------------------------------------------------------------ books
    def expect_snapshots(self, keys: list[str]) -> None:
        """One future per book key that ``connect`` awaits (set by ``snapshot_arrived``)."""
        loop = asyncio.get_running_loop()
        self.first_snapshots = {k: loop.create_future() for k in keys}

    def snapshot_arrived(self, key: str) -> None:
        """A book snapshot for ``key`` (the venue's symbol) was published: the resync it
        answers is over, and a ``start`` waiting for the first one may go on."""
        self.stats["snapshots"] += 1
        self._resub_at.pop(key, None)
        fut = self.first_snapshots.get(key)
        if fut is not None and not fut.done():
            fut.set_result(None)

    def resub_pending(self, key: str) -> bool:
        """True while a resubscription of ``key`` still waits for its snapshot."""
        return time.monotonic() - self._resub_at.get(key, -1e9) < self.resubscribe_timeout_s

    def resub_forget_all(self) -> None:
        """A new connection subscribes every book afresh: no resubscription is pending."""
        self._resub_at.clear()

    def resub_started(self, key: str) -> None:
        """Count a resubscription of ``key`` and start its wait for the snapshot."""
        self._resub_at[key] = time.monotonic()
        self.stats["resubscribes"] += 1
