"""``RpcLink``: the connection state a JSON-RPC venue session (Deribit, Derive) keeps around its
one websocket.

Theory of operation. Both venues carry market data, orders and the login on one websocket
(``JsonRpcChannel`` matches answers to requests). What happens around a connection is the
same for both and lives here, once; the venue's streams compose one ``RpcLink`` and keep their
own frames (login parameters, channel names, heartbeat):

* ``opened`` (from the websocket's ``on_open``): the connection is new, so nobody is logged in,
  no resubscription is pending and a request of an earlier connection can no longer be
  answered (``connection_number``); a reconnection is published as ``connected``.
* ``login_frame``: the venue's login request, written by ``on_open``. Its answer either counts
  a refusal (``stats[login_failed]``, logged without the credentials; ``wait_login`` then
  fails the start) or logs in: the private channels are subscribed, cancel-on-disconnect is
  re-armed (it is bound to the connection) and, after a reconnect, every order not known to
  be final is queried (``resync``), so fills and cancels missed while down are recovered.
* ``time_frame``: a ``public/get_time`` whose answer measures the clock offset (``offset_ms``)
  that a signed login's timestamp needs.
* ``closed``: every request waiting for an answer gets ``Unknown``; ``disconnected`` is
  published unless we closed the link ourselves.
* ``resync_target``: whether a book's resubscription may go out now (one at a time per book).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

from adapters.live.jsonrpc import JsonRpcChannel, Refused, Unknown
from adapters.live.session import LiveSession, Logger
from adapters.ws import CloseReason, NotConnected, ReconnectingWebSocket
from engine.model import split_instrument_id

__all__ = ["RpcLink"]

_NS_PER_MS = 1_000_000


class RpcLink:
    """Login, cancel-on-disconnect and connection bookkeeping of one JSON-RPC websocket."""

    def __init__(self, session: LiveSession, channel: JsonRpcChannel, *, log: Logger,
                 log_name: str, login_ok: str, login_failed: str,
                 private_subscribe: Callable[[], list[str]],
                 cancel_on_disconnect: tuple[str, Callable[[], dict[str, Any]]],
                 cod_armed: bool,
                 resync: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        self.session = session
        self.channel = channel
        self.log = log
        self.log_name = log_name
        self.login_ok = login_ok
        """``stats`` key counting logins (the first is the start, later ones reconnects)."""
        self.login_failed = login_failed
        self.private_subscribe = private_subscribe
        """The frames subscribing the private channels (sent once logged in)."""
        self.cancel_on_disconnect = cancel_on_disconnect
        """The request (method, params) arming the venue's cancel-on-disconnect."""
        self.cod_armed = cod_armed
        self.resync = resync
        self.rpc = channel.call
        """One request and its outcome (``JsonRpcChannel.call``): the link is the order API's
        ``RpcConnection``."""
        self.ws: ReconnectingWebSocket | None = None
        self.authenticated = False
        self.connection_number = 0
        self._refusals_before = 0
        """``stats[login_failed]`` when the last login was sent: a refusal is one above it."""
        self.offset_ms = 0
        """Venue clock minus ours, in ms, from the last ``public/get_time`` answer."""

    # ------------------------------------------------------------------ frames
    def send(self, frames: list[str]) -> None:
        """Write frames now; on a dropped link the rest are left to the next connection
        (which subscribes afresh)."""
        ws = self.ws
        if ws is None:
            return
        for f in frames:
            try:
                ws.send_nowait(f)
            except NotConnected:
                return

    def time_frame(self) -> str:
        """A ``public/get_time`` request; its answer updates ``offset_ms``."""
        ch = self.channel
        rid = ch.next_id()
        sent_ms = time.time_ns() // _NS_PER_MS
        ch.expect(rid).add_done_callback(lambda f: self._on_time(f, sent_ms))
        return ch.frame(rid, "public/get_time", {})

    def _on_time(self, fut: asyncio.Future[dict[str, Any]], sent_ms: int) -> None:
        if fut.cancelled() or fut.exception() is not None:
            return
        server = fut.result().get("result")
        if isinstance(server, int):
            self.offset_ms = server - (sent_ms + time.time_ns() // _NS_PER_MS) // 2

    # ------------------------------------------------------------------ connection
    def opened(self) -> None:
        """A new connection (from ``on_open``): logged out, nothing pending, counted."""
        self.authenticated = False
        self.session.resub_forget_all()
        self.connection_number += 1
        self.session.stream_opened("connects", "websocket")

    def login_frame(self, method: str, params: dict[str, Any]) -> str:
        """The venue's login request; its answer logs the link in (module doc)."""
        self._refusals_before = self.session.stats[self.login_failed]
        ch = self.channel
        rid = ch.next_id()
        ch.expect(rid).add_done_callback(self._on_login_answer)
        return ch.frame(rid, method, params)

    def _on_login_answer(self, fut: asyncio.Future[dict[str, Any]]) -> None:
        if fut.cancelled() or fut.exception() is not None:
            return
        msg = fut.result()
        stats = self.session.stats
        if "error" in msg:
            stats[self.login_failed] += 1
            err = msg["error"] if isinstance(msg["error"], dict) else {}
            self.log.error(f"{self.log_name}.{self.login_failed}", venue=self.session.venue,
                           code=err.get("code"), message=err.get("message"))
            return
        self.authenticated = True
        stats[self.login_ok] += 1
        self.send(self.private_subscribe())
        if self.cod_armed:
            self.session.spawn(self._arm_cod())
        if stats[self.login_ok] > 1:
            self.session.spawn(self.resync())

    async def wait_login(self, refused: str) -> None:
        """Until the link is logged in; ``RuntimeError(refused)`` once the venue refused the
        last login sent (not an earlier one: a retried start may log in with the same key)."""
        while not self.authenticated:
            if self.session.stats[self.login_failed] > self._refusals_before:
                raise RuntimeError(refused)
            await asyncio.sleep(0.01)

    def closed(self, reason: CloseReason) -> None:
        """The connection is gone (from ``on_close``)."""
        self.authenticated = False
        self.channel.connection_lost(reason.value)
        self.session.stream_closed(reason, "websocket")

    # ------------------------------------------------------------------ orders
    def arm_cancel_on_disconnect(self) -> None:
        """Arm cancel-on-disconnect now (if logged in) and on every new connection."""
        self.cod_armed = True
        if self.authenticated:
            self.session.spawn(self._arm_cod())

    async def _arm_cod(self) -> None:
        method, params = self.cancel_on_disconnect
        try:
            await self.rpc(method, params())
        except (Unknown, Refused) as exc:
            self.log.error(f"{self.log_name}.cancel_on_disconnect_failed",
                           venue=self.session.venue, error=str(exc))

    async def cancel_all_on_stop(self, params: dict[str, Any], timeout_s: float) -> None:
        """Cancel everything explicitly when stopping (cancel-on-disconnect is for a lost
        link, and a graceful close must not leave orders working)."""
        if not self.authenticated:
            return
        try:
            await self.rpc("private/cancel_all", params, timeout=timeout_s)
        except (Unknown, Refused) as exc:
            self.log.warning(f"{self.log_name}.cancel_all_on_stop_failed",
                             venue=self.session.venue, error=str(exc))

    def rate_limited(self, reason: str) -> None:
        """The venue answered "rate limited": counted and published."""
        self.session.stats["rate_limited"] += 1
        self.session.status("rate_limited", reason)

    # ------------------------------------------------------------------ books
    def resync_target(self, instrument_id: str, symbols: list[str] | tuple[str, ...]
                      ) -> str | None:
        """The symbol whose book channel to resubscribe now, or None: not ours, the link is
        down (the next connection subscribes afresh), or a resubscription already waits for
        its snapshot."""
        session = self.session
        session.stats["resync_requests"] += 1
        symbol = split_instrument_id(instrument_id)[1]
        ws = self.ws
        if symbol not in symbols or ws is None or not ws.is_open:
            return None
        if session.resub_pending(symbol):
            return None
        session.resub_started(symbol)
        return symbol
