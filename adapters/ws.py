"""A reconnecting websocket client, shared by every live venue session.

Theory of operation
-------------------
One ``ReconnectingWebSocket`` is one logical stream owned by a venue session (public market
data, private orders, ...). A single supervisor task owns its whole life and is the only code
that changes ``state``; every transition is checked against ``_TRANSITIONS``:

    state        event                                           next
    CLOSED       start()                                         CONNECTING
    CONNECTING   handshake done, on_open frames written          OPEN
    CONNECTING   refused / timed out / on_open failed            BACKING_OFF
    OPEN         remote close, TCP loss, ping timeout, watchdog  BACKING_OFF
    OPEN         max lifetime reached (a planned drop)           CONNECTING   (no back-off)
    BACKING_OFF  jittered delay elapsed                          CONNECTING
    any          close()                                         CLOSED       (terminal)

A host name that does not resolve is retried like any failed attempt, but ``wait_open`` raises
``NotConnected`` ("host X not resolved (...)") at once instead of waiting for a connection
no retry within a start timeout can be expected to bring (a typo'd URL, no DNS): the caller's
start attempt fails with the cause in words, and its own retry policy decides what follows.

While OPEN the supervisor runs the read loop itself: each frame gets one ``time.time_ns()``
and goes synchronously to ``on_frame``; an exception there is counted, never fatal (a bad
frame must not cost us the connection and every book on it). Two helper tasks live exactly as
long as one connection: housekeeping (it wakes at the nearest deadline: silent-stream
watchdog, application heartbeat, max lifetime) and a writer that drains ``send_nowait``.
Liveness of the TCP path itself is websockets' own ping/pong (``ping_interval``/``ping_timeout``).

Every drop of an OPEN connection calls ``on_close(reason)`` once, so the session can mark its
books STALE and its in-flight orders unknown. Frames are never sent late by surprise: ``send``
while not OPEN raises ``NotConnected`` unless ``queue_while_down`` was asked for. Nothing here
logs frame contents (they may hold signatures or tokens), and nothing logs per frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import random
import socket
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from urllib.parse import urlsplit

import structlog
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidMessage, InvalidStatus, InvalidURI

from adapters.ratelimit import parse_retry_after

__all__ = ["Backoff", "CloseReason", "NotConnected", "ReconnectingWebSocket", "WsConfig",
           "WsState", "WsStats"]

Frame = str | bytes
OnFrame = Callable[[Frame, int], None]
OnOpen = Callable[[str], Sequence[Frame]]
OnClose = Callable[["CloseReason"], None]
MakeHeartbeat = Callable[[], Frame | None]

_log = structlog.get_logger("volta.ws")


class NotConnected(Exception):
    """The frame was not sent because the connection is not OPEN (and queueing was not asked)."""


class WsState(str, Enum):
    CONNECTING = "connecting"
    OPEN = "open"
    BACKING_OFF = "backing_off"
    CLOSED = "closed"


_TRANSITIONS: dict[WsState, frozenset[WsState]] = {
    WsState.CLOSED: frozenset({WsState.CONNECTING}),
    WsState.CONNECTING: frozenset({WsState.OPEN, WsState.BACKING_OFF, WsState.CLOSED}),
    WsState.OPEN: frozenset({WsState.BACKING_OFF, WsState.CONNECTING, WsState.CLOSED}),
    WsState.BACKING_OFF: frozenset({WsState.CONNECTING, WsState.CLOSED}),
}


class CloseReason(str, Enum):
    REMOTE_CLOSED = "remote_closed"      # the venue sent a close frame
    CONNECTION_LOST = "connection_lost"  # reset / EOF without a close frame
    PING_TIMEOUT = "ping_timeout"        # websockets' keepalive got no pong
    STALE = "stale"                      # our watchdog: no frame for stale_after_s
    MAX_LIFETIME = "max_lifetime"        # planned, before the venue's own cut-off
    HOOK_FAILED = "hook_failed"          # on_open raised or its frames could not be written
    LOCAL_CLOSE = "local_close"          # close() was called


@dataclass(frozen=True, slots=True)
class WsConfig:
    """Timeouts and policies of one connection. ``None`` disables the feature."""

    open_timeout_s: float = 10.0          # TCP + TLS + HTTP upgrade, and writing on_open's frames
    close_timeout_s: float = 2.0          # closing handshake before the socket is simply dropped
    ping_interval_s: float | None = 20.0  # websocket-level ping (Binance spot pings every 20 s)
    ping_timeout_s: float | None = 20.0
    stale_after_s: float | None = 30.0    # watchdog: no frame at all for this long => reconnect
    heartbeat_interval_s: float | None = None  # application heartbeat via make_heartbeat()
    max_lifetime_s: float | None = None   # e.g. 23.5 h for Binance's 24 h rule
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 30.0
    stable_after_s: float = 60.0          # an OPEN spell this long resets the back-off
    queue_while_down: bool = False
    max_pending: int = 1000
    max_frame_bytes: int = 16 * 2**20     # Deribit instrument lists exceed websockets' 1 MiB default
    compression: str | None = None        # latency over bandwidth; "deflate" to negotiate it

    def __post_init__(self) -> None:
        for name in ("open_timeout_s", "close_timeout_s", "backoff_base_s", "backoff_cap_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"WsConfig.{name} must be positive")
        for name in ("stale_after_s", "heartbeat_interval_s", "max_lifetime_s"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"WsConfig.{name} must be positive or None")


@dataclass(slots=True)
class WsStats:
    """Counters for status pages and tests; ``bytes`` counts characters of text frames."""

    connects: int = 0
    reconnects: int = 0
    handshake_failures: int = 0
    frames: int = 0
    bytes: int = 0
    watchdog_trips: int = 0
    callback_errors: int = 0
    heartbeats_sent: int = 0
    unsent_dropped: int = 0
    last_error: str = ""
    last_close_reason: CloseReason | None = None


class Backoff:
    """Exponential back-off with full jitter: delay_k = U[0, min(cap, base * 2**k)).

    Full jitter (rather than equal jitter) spreads a herd of sessions that lost the same venue
    at the same instant, which is exactly when a venue counts reconnects per IP.
    """

    def __init__(self, base_s: float, cap_s: float, rng: random.Random | None = None) -> None:
        self.base_s = base_s
        self.cap_s = cap_s
        self.rng = rng if rng is not None else random.Random()
        self.attempt = 0

    def ceiling(self) -> float:
        """The upper bound of the next delay."""
        if self.attempt >= 64:  # 2**k overflows a float long before this matters
            return self.cap_s
        return min(self.cap_s, self.base_s * 2.0 ** self.attempt)

    def next_delay(self) -> float:
        """Draw the next delay and advance the attempt counter."""
        delay = self.rng.random() * self.ceiling()
        self.attempt += 1
        return delay

    def reset(self) -> None:
        self.attempt = 0


class ReconnectingWebSocket:
    """One self-healing websocket stream; see the module docstring for the state table.

    ``on_frame(data, ts_recv_ns)`` is synchronous and must not await. ``on_open(url)`` returns
    the frames (subscriptions, auth) to write on every (re)connect, before the state is OPEN.
    ``on_close(reason)`` is called once per OPEN spell. ``make_heartbeat()`` returns the
    application ping (OKX ``"ping"``, Bybit ``{"op":"ping"}``) or None to skip one beat.
    ``rng`` drives the back-off jitter (inject a seeded ``random.Random`` in tests).
    """

    def __init__(self, url: str, *, on_frame: OnFrame, on_open: OnOpen | None = None,
                 on_close: OnClose | None = None, make_heartbeat: MakeHeartbeat | None = None,
                 config: WsConfig | None = None, rng: random.Random | None = None,
                 headers: Mapping[str, str] | None = None, name: str = "ws") -> None:
        self.url = url
        self.name = name
        self.config = config if config is not None else WsConfig()
        self.stats = WsStats()
        self.backoff = Backoff(self.config.backoff_base_s, self.config.backoff_cap_s, rng)
        self.backoff_delays: deque[float] = deque(maxlen=256)  # every delay slept, for tests/status
        self._on_frame = on_frame
        self._on_open = on_open
        self._on_close = on_close
        self._make_heartbeat = make_heartbeat
        self._headers = dict(headers) if headers else None
        self._state = WsState.CLOSED
        self._task: asyncio.Task[None] | None = None
        self._ws: ClientConnection | None = None
        self._outbox: asyncio.Queue[Frame] | None = None
        self._pending: deque[Frame] = deque()
        self._opened = asyncio.Event()
        self._stopping = asyncio.Event()
        self._closing = False
        self._fatal: BaseException | None = None
        self._unresolved = ""  # why the last attempt failed to resolve the host; "" otherwise
        self._unresolved_set = asyncio.Event()
        self._drop_reason: CloseReason | None = None
        self._retry_after_s = 0.0
        self._last_rx = 0.0
        self._errors_this_conn = 0
        # Host only: a Binance user-stream URL carries the listen key in its path.
        self._log = _log.bind(ws=name, host=urlsplit(url).hostname)

    # ------------------------------------------------------------------ public API

    @property
    def state(self) -> WsState:
        return self._state

    @property
    def is_open(self) -> bool:
        return self._state is WsState.OPEN

    def start(self) -> None:
        """Start the supervisor task (needs a running loop); returns at once."""
        if self._task is not None or self._closing:
            raise RuntimeError(f"{self.name}: start() may be called once")
        self._task = asyncio.get_running_loop().create_task(self._supervise(), name=f"ws:{self.name}")

    async def wait_open(self, timeout: float | None = None) -> None:
        """Wait until the connection is OPEN; ``TimeoutError`` after ``timeout`` seconds,
        ``NotConnected`` at once when the last attempt could not resolve the host name."""
        async with asyncio.timeout(timeout):
            while not self._opened.is_set():
                if self._fatal is not None:
                    raise NotConnected(f"{self.name}: {self._fatal}") from self._fatal
                if self._closing:
                    raise NotConnected(f"{self.name}: closed")
                if self._unresolved:
                    raise NotConnected(self._unresolved)
                waiters = [asyncio.ensure_future(e.wait())
                           for e in (self._opened, self._stopping, self._unresolved_set)]
                try:
                    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for waiter in waiters:
                        waiter.cancel()

    async def send(self, data: Frame) -> None:
        """Write one frame now. Raises ``NotConnected`` when not OPEN (unless queueing)."""
        ws = self._ws
        if ws is None or self._state is not WsState.OPEN:
            self._not_open(data)
            return
        try:
            await ws.send(data)
        except ConnectionClosed as exc:
            raise NotConnected(f"{self.name}: connection closed while sending; "
                               "the frame may not have been sent") from exc

    def send_nowait(self, data: Frame) -> None:
        """Queue one frame on the current connection's writer (for synchronous callers).

        Raises ``NotConnected`` at once when not OPEN. A frame still queued when the
        connection drops is discarded and counted (``stats.unsent_dropped``), never resent.
        """
        if self._outbox is None or self._state is not WsState.OPEN:
            self._not_open(data)
            return
        self._outbox.put_nowait(data)

    async def close(self) -> None:
        """Close the connection gracefully and stop every task; idempotent."""
        self._closing = True
        self._stopping.set()
        ws, task = self._ws, self._task
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()
        if task is not None and not task.done():
            if ws is not None:
                # The reader sees the close; let the supervisor run on_close and exit itself.
                await asyncio.wait({task}, timeout=self.config.close_timeout_s)
            # A handshake or back-off sleep in progress is simply cancelled.
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._state is not WsState.CLOSED:
            self._set_state(WsState.CLOSED)

    async def __aenter__(self) -> ReconnectingWebSocket:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ supervisor

    def _set_state(self, new: WsState) -> None:
        if new not in _TRANSITIONS[self._state]:
            raise RuntimeError(f"{self.name}: illegal transition {self._state.value} -> {new.value}")
        self._state = new

    async def _supervise(self) -> None:
        try:
            while not self._closing:
                self._set_state(WsState.CONNECTING)
                ws = await self._connect()
                if ws is None:
                    if self._fatal is not None:
                        return
                    await self._back_off()
                    continue
                opened_at = time.monotonic()
                reason = await self._serve(ws, opened_at)
                if self._closing:
                    return
                if time.monotonic() - opened_at >= self.config.stable_after_s:
                    self.backoff.reset()
                if reason is not CloseReason.MAX_LIFETIME:
                    await self._back_off()
        finally:
            self._stopping.set()
            if self._state is not WsState.CLOSED:
                self._set_state(WsState.CLOSED)

    async def _back_off(self) -> None:
        self._set_state(WsState.BACKING_OFF)
        delay = max(self.backoff.next_delay(), self._retry_after_s)
        self._retry_after_s = 0.0
        self.backoff_delays.append(delay)
        self._log.info("ws.backoff", delay_s=round(delay, 3), attempt=self.backoff.attempt)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=delay)

    async def _connect(self) -> ClientConnection | None:
        """Handshake and write on_open's frames; None (error recorded) on any failure."""
        cfg = self.config
        try:
            ws = await connect(
                self.url, open_timeout=cfg.open_timeout_s, close_timeout=cfg.close_timeout_s,
                ping_interval=cfg.ping_interval_s, ping_timeout=cfg.ping_timeout_s,
                max_size=cfg.max_frame_bytes, compression=cfg.compression,
                additional_headers=self._headers)
        except InvalidURI as exc:
            # A configuration error: retrying forever would only hide it.
            self._fatal = exc
            self._record_error("invalid url", exc, level="error")
            return None
        except InvalidStatus as exc:
            self.stats.handshake_failures += 1
            self._retry_after_s = parse_retry_after(exc.response.headers.get("Retry-After")) or 0.0
            self._record_error(f"handshake refused (HTTP {exc.response.status_code})", exc)
            return None
        except Exception as exc:  # OSError, TimeoutError, InvalidHandshake ...: all transient
            self.stats.handshake_failures += 1
            cause = _connect_cause(exc, cfg.open_timeout_s)
            self._record_error("connect failed", exc, cause=cause)
            if isinstance(exc, socket.gaierror):
                self._unresolved = f"host {urlsplit(self.url).hostname} not resolved ({exc.strerror})"
                self._unresolved_set.set()
            return None
        self._unresolved = ""
        self._unresolved_set.clear()
        try:
            frames = list(self._on_open(self.url)) if self._on_open is not None else []
            async with asyncio.timeout(cfg.open_timeout_s):
                for frame in frames:
                    await ws.send(frame)
                while self._pending:
                    await ws.send(self._pending[0])
                    self._pending.popleft()  # only once written: a failure keeps it queued
        except Exception as exc:
            self.stats.callback_errors += 1
            self._record_error("on_open failed", exc)
            ws.transport.abort()
            return None
        except BaseException:  # cancelled by close(): don't leak the socket
            ws.transport.abort()
            raise
        return ws

    async def _serve(self, ws: ClientConnection, opened_at: float) -> CloseReason:
        """Run one OPEN connection to its end; returns why it ended."""
        self._ws = ws
        self._drop_reason = None
        self._errors_this_conn = 0
        self._last_rx = opened_at
        self._outbox = asyncio.Queue()
        self._set_state(WsState.OPEN)
        self.stats.connects += 1
        if self.stats.connects > 1:
            self.stats.reconnects += 1
        self._opened.set()
        self._log.info("ws.open", connects=self.stats.connects)
        loop = asyncio.get_running_loop()
        helpers = [loop.create_task(self._housekeeping(ws, opened_at), name=f"ws:{self.name}:keep"),
                   loop.create_task(self._write_outbox(ws, self._outbox), name=f"ws:{self.name}:write")]
        reason = CloseReason.LOCAL_CLOSE
        try:
            reason = await self._read_loop(ws)
        finally:
            self._opened.clear()
            self._ws = None
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            ws.transport.abort()  # no-op after a clean close; frees the socket after a cancel
            if self._outbox.qsize():
                self.stats.unsent_dropped += self._outbox.qsize()
                self._log.warning("ws.unsent_dropped", count=self._outbox.qsize())
            self._outbox = None
            if self._closing:
                reason = CloseReason.LOCAL_CLOSE
            self.stats.last_close_reason = reason
            self._log.info("ws.closed", reason=reason.value, frames=self.stats.frames)
            if self._on_close is not None:
                try:
                    self._on_close(reason)
                except Exception as exc:
                    self.stats.callback_errors += 1
                    self._record_error("on_close failed", exc)
        return reason

    async def _read_loop(self, ws: ClientConnection) -> CloseReason:
        on_frame, stats, clock = self._on_frame, self.stats, time.monotonic
        try:
            while True:
                data = await ws.recv()
                ts_recv = time.time_ns()
                self._last_rx = clock()
                stats.frames += 1
                stats.bytes += len(data)
                try:
                    on_frame(data, ts_recv)
                except Exception as exc:
                    self._frame_error(exc)
        except ConnectionClosed as exc:
            if self._drop_reason is not None:
                return self._drop_reason
            if exc.sent is not None and exc.sent.reason == "keepalive ping timeout":
                return CloseReason.PING_TIMEOUT
            return CloseReason.REMOTE_CLOSED if exc.rcvd is not None else CloseReason.CONNECTION_LOST

    async def _housekeeping(self, ws: ClientConnection, opened_at: float) -> None:
        """Watchdog, application heartbeat and max lifetime, woken at the nearest deadline."""
        cfg = self.config
        end_of_life = opened_at + cfg.max_lifetime_s if cfg.max_lifetime_s else math.inf
        beat = cfg.heartbeat_interval_s if self._make_heartbeat is not None else None
        next_beat = opened_at + beat if beat else math.inf
        while True:
            now = time.monotonic()
            stale_at = self._last_rx + cfg.stale_after_s if cfg.stale_after_s else math.inf
            if now >= end_of_life:
                self._drop_reason = CloseReason.MAX_LIFETIME
                self._log.info("ws.max_lifetime", lifetime_s=cfg.max_lifetime_s)
                await ws.close(reason="max lifetime")
                return
            if now >= stale_at:
                self._drop_reason = CloseReason.STALE
                self.stats.watchdog_trips += 1
                self._log.warning("ws.stale", silent_s=round(now - self._last_rx, 3))
                ws.transport.abort()  # the peer is presumed dead: no closing handshake
                return
            if beat and now >= next_beat:
                next_beat = max(next_beat + beat, now)  # after a long stall, don't burst
                await self._beat(ws)
            wake = min(end_of_life, stale_at, next_beat, now + 3600.0)  # nothing due: idle an hour
            await asyncio.sleep(max(wake - time.monotonic(), 0.0))

    async def _beat(self, ws: ClientConnection) -> None:
        assert self._make_heartbeat is not None
        try:
            frame = self._make_heartbeat()
        except Exception as exc:
            self.stats.callback_errors += 1
            self._record_error("make_heartbeat failed", exc)
            return
        if frame is not None:
            with contextlib.suppress(ConnectionClosed):  # the reader reports the drop
                await ws.send(frame)
                self.stats.heartbeats_sent += 1

    async def _write_outbox(self, ws: ClientConnection, outbox: asyncio.Queue[Frame]) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                frame = await outbox.get()
                await ws.send(frame)

    # ------------------------------------------------------------------ helpers

    def _not_open(self, data: Frame) -> None:
        if not self.config.queue_while_down or self._closing:
            raise NotConnected(f"{self.name}: not connected (state {self._state.value})")
        if len(self._pending) >= self.config.max_pending:
            raise NotConnected(f"{self.name}: not connected and {len(self._pending)} frames queued")
        self._pending.append(data)

    def _frame_error(self, exc: Exception) -> None:
        self.stats.callback_errors += 1
        self.stats.last_error = f"on_frame: {type(exc).__name__}: {exc}"[:300]
        self._errors_this_conn += 1
        n = self._errors_this_conn
        if n & (n - 1) == 0:  # 1, 2, 4, 8 ...: visible without flooding the log
            # The type only: a codec error message may quote the frame.
            self._log.warning("ws.on_frame_error", error=type(exc).__name__, count=n,
                              total=self.stats.callback_errors)

    def _record_error(self, what: str, exc: BaseException, level: str = "warning",
                      **cause: str) -> None:
        self.stats.last_error = f"{what}: {type(exc).__name__}: {exc}"[:300]
        getattr(self._log, level)("ws.error", what=what, error=type(exc).__name__, **cause)


def _connect_cause(exc: BaseException, open_timeout_s: float) -> str:
    """Why a connection attempt failed, in words (the log line's ``cause``)."""
    if isinstance(exc, InvalidMessage):
        if isinstance(exc.__cause__, EOFError):
            return "the server closed the connection during the handshake"
        return "the server's answer to the handshake is not HTTP"
    if isinstance(exc, TimeoutError):
        return f"no answer to the handshake within {open_timeout_s:g} s"
    if isinstance(exc, socket.gaierror):
        return f"host name not resolved ({exc.strerror})"
    if isinstance(exc, OSError) and exc.errno:
        return os.strerror(exc.errno)
    return type(exc).__name__
