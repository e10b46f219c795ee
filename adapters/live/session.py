"""``LiveSession``: the venue-neutral skeleton of a live venue session.

Theory of operation. Every live session (``adapters.<venue>.session``) owns websockets, maybe a
REST client, and tasks; what it does with them is its venue's protocol, but the frame around it
is the same for all four venues and lives here:

* lifecycle: ``start`` runs the venue's ``_start`` and, if anything in it fails, ``stop``s what
  was half started (nothing survives a failed start); ``run`` waits until ``stop``; ``stop``
  runs the venue's ``_before_stop`` (disarm a dead-man switch, cancel orders), gives requests in
  flight their answer (bounded by ``params.ack_timeout_s``), closes ``_websockets()``, runs
  ``_after_streams_closed`` (release a listen key), cancels every task and closes the REST client.
* tasks: ``_spawn`` owns a task until it ends and logs a failure (an exception in a task must
  never vanish); ``order`` tasks are the ones ``stop`` waits for.
* status: ``_status`` publishes ``VenueStatusChanged`` on the bus; ``_stream_opened`` and
  ``_stream_closed`` turn a stream's (re)connections and unexpected closes into it.
* books: ``_first_snapshots`` (one future per book, awaited by ``start``), ``_snapshot_arrived``
  and the resubscription throttle (``_resub_pending``/``_resub_started``) of the venues that
  resync a book by resubscribing its channel (a second request inside
  ``params.resubscribe_timeout_s`` waits for the snapshot already asked for).

A venue class lists ``LiveSession`` after its orders mixin and before ``VenueAdapter`` and sets
``_log`` (its structlog logger) and ``log_name`` (the prefix of its log events).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

from adapters.ws import CloseReason, ReconnectingWebSocket
from engine.clock import Clock
from engine.model import Instrument, VenueStatusChanged

__all__ = ["LiveSession"]


class LiveSession:
    """Mixin: the lifecycle, task, status and book-readiness plumbing of a live session."""

    venue: str
    params: Any
    publish: Callable[[Any], None]
    clock: Clock
    stats: dict[str, int]
    _log: Any
    log_name: str
    _quiet_errors: tuple[type[BaseException], ...] = ()
    """What ``_quiet`` logs and swallows: the venue's "no trustworthy answer" errors."""

    def _init_session(self) -> None:
        """Create the state this mixin manages (call from the venue's ``__init__``)."""
        self._instruments: dict[str, Instrument] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._order_tasks: set[asyncio.Task[Any]] = set()
        self._first_snapshots: dict[str, asyncio.Future[None]] = {}
        self._resub_at: dict[str, float] = {}
        self._stopped: asyncio.Event | None = None

    # ------------------------------------------------------------------ lifecycle
    def instruments(self) -> list[Instrument]:
        """The instruments this session trades or streams (loaded by ``start``)."""
        return list(self._instruments.values())

    async def start(self) -> None:
        """Connect and wait until the session is usable (see the venue's ``_start``)."""
        self._stopped = asyncio.Event()
        try:
            await self._start()
        except BaseException:
            await self.stop()  # nothing half-started survives a failed start
            raise

    async def _start(self) -> None:
        raise NotImplementedError

    async def run(self) -> None:
        """Wait until the session is stopped."""
        if self._stopped is not None:
            await self._stopped.wait()

    async def stop(self) -> None:
        """The venue's shutdown steps, answers in flight, streams, tasks, REST client; once."""
        if self._stopped is None or self._stopped.is_set():
            return
        await self._before_stop()
        if self._order_tasks:  # requests in flight (the shutdown's cancels) get their answer
            await asyncio.wait(set(self._order_tasks), timeout=self.params.ack_timeout_s)
        for ws in self._websockets():
            if ws is not None:
                await ws.close()
        await self._after_streams_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        rest = getattr(self, "rest", None)  # Deribit has none: JSON-RPC on its websocket
        if rest is not None:
            await rest.close()
        self._stopped.set()

    async def _before_stop(self) -> None:
        """Venue hook: first step of ``stop`` (disarm a dead-man switch, cancel orders)."""

    def _websockets(self) -> list[ReconnectingWebSocket | None]:
        """Venue hook: the websockets ``stop`` closes."""
        return []

    async def _after_streams_closed(self) -> None:
        """Venue hook: after the streams are closed, before the REST client is."""

    # ------------------------------------------------------------------ tasks and status
    def _spawn(self, coro: Coroutine[Any, Any, Any], order: bool = False) -> asyncio.Task[Any]:
        """Run ``coro`` as a task this session owns; ``order`` tasks are awaited on stop."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        if order:
            self._order_tasks.add(task)
            task.add_done_callback(self._order_tasks.discard)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._log.error(f"{self.log_name}.task_failed", venue=self.venue,
                            error=repr(task.exception()))

    async def _quiet(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Await a best-effort request (shutdown, keep-alive): a failure is logged, not raised."""
        try:
            return await coro
        except self._quiet_errors as exc:
            self._log.warning(f"{self.log_name}.request_failed", venue=self.venue, error=str(exc))
            return None

    def _status(self, status: str, reason: str, stream: str = "") -> None:
        """Publish a ``VenueStatusChanged`` (connected, disconnected, rate_limited ...)."""
        self.publish(VenueStatusChanged(self.venue, status, reason, self.clock.now_ns(), stream))

    def _stream_opened(self, counter: str, label: str, stream: str = "") -> bool:
        """Count a connection of a stream (``stats[counter]``); a reconnection is published as
        ``connected`` (the first connection is part of ``start``). True on a reconnection."""
        self.stats[counter] += 1
        if self.stats[counter] > 1:
            self._status("connected", f"{label} reconnected", stream)
            return True
        return False

    def _stream_closed(self, reason: CloseReason, label: str, stream: str = "") -> bool:
        """Publish ``disconnected`` unless we closed the stream ourselves; True if we did not."""
        if reason is CloseReason.LOCAL_CLOSE:
            return False
        self._status("disconnected", f"{label}: {reason.value}", stream)
        return True

    # ------------------------------------------------------------------ books
    def _snapshot_arrived(self, key: str) -> None:
        """A book snapshot for ``key`` (the venue's symbol) was published: the resync it
        answers is over, and a ``start`` waiting for the first one may go on."""
        self.stats["snapshots"] += 1
        self._resub_at.pop(key, None)
        fut = self._first_snapshots.get(key)
        if fut is not None and not fut.done():
            fut.set_result(None)

    def _resub_pending(self, key: str) -> bool:
        """True while a resubscription of ``key`` still waits for its snapshot."""
        return time.monotonic() - self._resub_at.get(key, -1e9) < self.params.resubscribe_timeout_s

    def _resub_started(self, key: str) -> None:
        """Count a resubscription of ``key`` and start its wait for the snapshot."""
        self._resub_at[key] = time.monotonic()
        self.stats["resubscribes"] += 1
