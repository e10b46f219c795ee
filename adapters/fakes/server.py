"""A local fake websocket venue with fault injection, for tests of live sessions.

Theory of operation
-------------------
``FakeWsServer`` listens on 127.0.0.1 on an ephemeral port (loopback only, never reachable
from outside) and hands every connection to a pluggable ``FakeHandler``: a venue fake
subclasses it and implements ``on_connect``/``on_message`` by calling ``conn.send``.

Every frame the fake sends goes through one writer task per connection, which is where the
faults act, in order: ``drop_next(n)`` discards the next frames, ``delay_replies(s)`` holds
each frame until ``s`` after it was sent, ``stall(s)`` freezes the writer of the current
connections (TCP stays open; with ``freeze=True`` the socket also stops reading, so the
client's websocket pings go unanswered too). ``inject(raw)`` bypasses the handler (e.g. a
malformed frame), ``disconnect()`` drops every connection (abruptly by default: no close
frame, like a dead load balancer), ``reject_connections(n, status)`` fails the next ``n``
handshakes with an HTTP status (429/503, optional ``Retry-After``).

Everything received from clients is recorded in ``received``; every handshake in
``handshakes``. The server is bounded: ``max_connections`` at a time, and it shuts itself
down after ``max_lifetime_s`` even if a test forgets to; ``async with`` stops it on exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

__all__ = ["FakeConnection", "FakeHandler", "FakeWsServer", "Handshake", "Received"]

Frame = str | bytes


@dataclass(frozen=True, slots=True)
class Received:
    conn_id: int
    data: Frame
    at: float  # time.monotonic()


@dataclass(frozen=True, slots=True)
class Handshake:
    at: float  # time.monotonic()
    accepted: bool
    status: int
    path: str


class FakeHandler:
    """Venue behaviour: override what you need. Exceptions are recorded in ``server.errors``."""

    async def on_connect(self, conn: FakeConnection) -> None:
        """A client connected (after the handshake)."""

    async def on_message(self, conn: FakeConnection, data: Frame) -> None:
        """A frame arrived from the client (already recorded)."""

    async def on_disconnect(self, conn: FakeConnection) -> None:
        """The connection ended (its tasks are already cancelled)."""


class FakeConnection:
    """One client connection as the fake sees it."""

    def __init__(self, server: FakeWsServer, conn_id: int, ws: ServerConnection) -> None:
        self.server = server
        self.id = conn_id
        self.ws = ws
        self.path = ws.request.path if ws.request is not None else ""
        self.received: list[Frame] = []
        self.sent: int = 0
        self.stalled_until = 0.0
        self._outbox: asyncio.Queue[tuple[float, Frame]] = asyncio.Queue()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.spawn(self._write_loop())

    def send(self, data: Frame) -> None:
        """Queue a frame to the client, subject to drop/delay/stall faults (never blocks)."""
        srv = self.server
        if srv._drop_next > 0:
            srv._drop_next -= 1
            srv.dropped += 1
            return
        self._outbox.put_nowait((time.monotonic() + srv._reply_delay_s, data))

    def send_raw(self, data: Frame) -> None:
        """Queue a frame that ignores drop and delay (still ordered, still stalled)."""
        self._outbox.put_nowait((0.0, data))

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coro`` for as long as this connection lives (e.g. a periodic stream)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def every(self, period_s: float, make_frame: Callable[[int], Frame]) -> asyncio.Task[Any]:
        """Send ``make_frame(n)`` every ``period_s`` seconds (n = 0, 1, 2 ...)."""
        async def run() -> None:
            for n in itertools.count():
                self.send(make_frame(n))
                await asyncio.sleep(period_s)
        return self.spawn(run())

    def abort(self) -> None:
        """Drop the TCP connection without a closing handshake."""
        self.ws.transport.abort()

    async def _write_loop(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                due, data = await self._outbox.get()
                while (wait := max(due, self.stalled_until) - time.monotonic()) > 0:
                    await asyncio.sleep(wait)  # re-checked: a stall may start while we wait
                await self.ws.send(data)
                self.sent += 1

    async def _stop(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class FakeWsServer:
    """A loopback websocket server for tests; ``async with FakeWsServer(handler) as srv``."""

    def __init__(self, handler: FakeHandler | None = None, *, max_connections: int = 16,
                 max_lifetime_s: float = 60.0, ping_interval_s: float | None = None,
                 port: int = 0) -> None:
        self.handler = handler if handler is not None else FakeHandler()
        self.want_port = port
        """0: an ephemeral port (tests); a fixed one for a standalone fake a config points at."""
        self.max_connections = max_connections
        self.max_lifetime_s = max_lifetime_s
        self.ping_interval_s = ping_interval_s
        self.connections: dict[int, FakeConnection] = {}
        self.received: list[Received] = []
        self.handshakes: list[Handshake] = []
        self.errors: list[BaseException] = []
        self.dropped = 0
        self.total_connections = 0
        self._ids = itertools.count(1)
        self._server: Server | None = None
        self._expiry: asyncio.TimerHandle | None = None
        self._drop_next = 0
        self._reply_delay_s = 0.0
        self._reject: list[tuple[int, float | None]] = []
        self._changed = asyncio.Event()

    # ------------------------------------------------------------------ lifecycle

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    async def start(self) -> None:
        self._server = await serve(self._handle, "127.0.0.1", self.want_port,
                                   process_request=self._process_request,
                                   ping_interval=self.ping_interval_s, close_timeout=0.5)
        # Bounded in time: a forgotten server closes itself.
        self._expiry = asyncio.get_running_loop().call_later(self.max_lifetime_s, self._server.close)

    async def stop(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
        if self._server is None:
            return
        for conn in list(self.connections.values()):
            conn.abort()
        self._server.close()
        await self._server.wait_closed()
        self._server = None

    async def __aenter__(self) -> FakeWsServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ faults

    async def disconnect(self, code: int | None = None, reason: str = "") -> None:
        """Drop every current connection: abruptly (``code=None``) or with a close frame."""
        for conn in list(self.connections.values()):
            if code is None:
                conn.abort()
            else:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.ws.close(code, reason), timeout=1.0)

    def stall(self, seconds: float, *, freeze: bool = False) -> None:
        """Stop sending on the current connections for ``seconds``, keeping TCP open.

        ``freeze=True`` also stops reading the socket, so websocket pings get no pong.
        """
        until = time.monotonic() + seconds
        loop = asyncio.get_running_loop()
        for conn in self.connections.values():
            conn.stalled_until = until
            if freeze:
                transport = conn.ws.transport
                transport.pause_reading()  # type: ignore[attr-defined]
                loop.call_later(seconds, _resume_reading, transport)

    def drop_next(self, n: int) -> None:
        """Silently discard the next ``n`` frames the handler sends (any connection)."""
        self._drop_next += n

    def delay_replies(self, seconds: float) -> None:
        """Deliver every frame sent from now on ``seconds`` late (0 to stop)."""
        self._reply_delay_s = seconds

    def reject_connections(self, n: int, status: int = 503, retry_after_s: float | None = None) -> None:
        """Refuse the next ``n`` handshakes with HTTP ``status`` (e.g. 429, 503)."""
        self._reject.extend([(status, retry_after_s)] * n)

    def inject(self, raw: Frame, conn_id: int | None = None) -> None:
        """Send ``raw`` as-is (e.g. a malformed frame) to one or every connection."""
        for conn in self.connections.values():
            if conn_id is None or conn.id == conn_id:
                conn.send_raw(raw)

    def broadcast(self, data: Frame) -> None:
        """Send ``data`` to every connection, through the faults."""
        for conn in self.connections.values():
            conn.send(data)

    # ------------------------------------------------------------------ test helpers

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Wait for ``predicate()`` to hold (re-checked on every server event and every 10 ms)."""
        async with asyncio.timeout(timeout):
            while not predicate():
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), 0.01)

    async def wait_connections(self, total: int, timeout: float = 5.0) -> None:
        """Wait until ``total`` connections have been accepted since start."""
        await self.wait_until(lambda: self.total_connections >= total, timeout)

    def frames_from(self, conn_id: int | None = None) -> list[Frame]:
        return [r.data for r in self.received if conn_id is None or r.conn_id == conn_id]

    # ------------------------------------------------------------------ internals

    def _process_request(self, ws: ServerConnection, request: Request) -> Response | None:
        status: int | None = None
        retry_after: float | None = None
        if self._reject:
            status, retry_after = self._reject.pop(0)
        elif len(self.connections) >= self.max_connections:
            status = HTTPStatus.SERVICE_UNAVAILABLE
        self.handshakes.append(Handshake(time.monotonic(), status is None, status or 101, request.path))
        self._changed.set()
        if status is None:
            return None
        response = ws.respond(status, "rejected by the fake venue\n")
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response

    async def _handle(self, ws: ServerConnection) -> None:
        conn = FakeConnection(self, next(self._ids), ws)
        self.connections[conn.id] = conn
        self.total_connections += 1
        self._changed.set()
        try:
            await self.handler.on_connect(conn)
            async for data in ws:
                self.received.append(Received(conn.id, data, time.monotonic()))
                conn.received.append(data)
                self._changed.set()
                await self.handler.on_message(conn, data)
        except ConnectionClosed:
            pass
        except Exception as exc:  # a bug in a venue fake must fail the test, not hide
            self.errors.append(exc)
            conn.abort()
        finally:
            self.connections.pop(conn.id, None)
            await conn._stop()
            try:
                await self.handler.on_disconnect(conn)
            except Exception as exc:
                self.errors.append(exc)
            self._changed.set()


def _resume_reading(transport: Any) -> None:
    with contextlib.suppress(Exception):
        transport.resume_reading()

