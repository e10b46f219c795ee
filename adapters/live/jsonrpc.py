"""``JsonRpcChannel``: requests and answers of a JSON-RPC 2.0 venue over one websocket.

Theory of operation. Deribit and Derive carry everything (market data, orders, queries) as
JSON-RPC 2.0 on one websocket. What is the same for both is here, once:

* ``call`` sends one request (after the venue's rate limiter admits it) and waits for the
  answer with its id. Three outcomes, which an order must treat differently: the ``result``;
  ``Refused`` (the venue answered with an error, or the request never left: ``sent=False``:
  a definitive outcome); ``Unknown`` (no answer in time, or the connection was lost after
  sending: the venue may have acted, so an order is never resent on it). ``admit()`` turning
  False while the limiter held the request raises ``Withdrawn`` (never sent). ``late(msg)``
  receives an answer that arrives after the timeout, on the same connection.
* ``expect(rid)`` registers a waiter for a frame the session writes itself (a login in
  ``on_open``); ``answer(msg)`` routes every frame with an id to its waiter or late handler;
  ``connection_lost`` fails every waiter with ``Unknown``.
* the venue's "rate limited" error code blocks the request's buckets for a second and calls
  ``on_rate_limited(method)`` (which publishes the status).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson

from adapters.live.orders import WITHDRAWN
from adapters.ratelimit import RateLimiter
from adapters.ws import NotConnected, ReconnectingWebSocket

__all__ = ["JsonRpcChannel", "Refused", "Unknown", "Withdrawn"]

Answer = dict[str, Any]


class Unknown(Exception):
    """No answer: the venue may or may not have acted."""


class Refused(Exception):
    """The venue answered with an error (or the request never left: ``sent=False``)."""

    def __init__(self, code: int, message: str, sent: bool = True) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message
        self.sent = sent


class Withdrawn(Refused):
    """A new order withdrawn while our rate limiter held it: never sent."""

    def __init__(self) -> None:
        super().__init__(-1, WITHDRAWN, sent=False)


class JsonRpcChannel:
    """Ids, waiters and outcomes of the requests on one venue websocket; see the module doc."""

    def __init__(self, limiter: RateLimiter, *, request_timeout_s: float,
                 rate_limited_code: int, on_rate_limited: Callable[[str], None],
                 first_id: int = 1) -> None:
        self.limiter = limiter
        self.request_timeout_s = request_timeout_s
        self.rate_limited_code = rate_limited_code
        self.on_rate_limited = on_rate_limited
        self.ws: ReconnectingWebSocket | None = None
        """The websocket requests go out on (set by the session once it exists)."""
        self._next = first_id
        self._waiters: dict[int, asyncio.Future[Answer]] = {}
        self._late: dict[int, Callable[[Answer], None]] = {}

    def next_id(self) -> int:
        rid = self._next
        self._next += 1
        return rid

    @staticmethod
    def frame(rid: int, method: str, params: dict[str, Any] | None = None) -> str:
        """One JSON-RPC 2.0 request frame."""
        msg: dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            msg["params"] = params
        return orjson.dumps(msg).decode()

    def expect(self, rid: int) -> asyncio.Future[Answer]:
        """A future for the answer to request ``rid`` (a frame the session writes itself)."""
        fut: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._waiters[rid] = fut
        return fut

    def answer(self, msg: Answer) -> bool:
        """Route a frame with an id to its waiter (or late handler); False if nobody waits."""
        rid = msg.get("id")
        if rid.__class__ is not int:
            return False
        fut = self._waiters.pop(rid, None)
        if fut is not None and not fut.done():
            fut.set_result(msg)
            return True
        late = self._late.pop(rid, None)
        if late is not None:
            late(msg)
            return True
        return False

    def connection_lost(self, why: str) -> None:
        """The connection is gone: no answer can come any more (callers see ``Unknown``)."""
        for fut in self._waiters.values():
            if not fut.done():
                fut.set_exception(Unknown(f"connection lost ({why})"))
        self._waiters.clear()
        self._late.clear()

    async def call(self, method: str, params: dict[str, Any], timeout: float | None = None,
                   on_wire: Callable[[], None] | None = None,
                   late: Callable[[Answer], None] | None = None,
                   admit: Callable[[], bool] | None = None) -> Any:
        """One request: its ``result``; ``Refused``/``Unknown``/``Withdrawn`` otherwise."""
        await self.limiter.acquire(method)
        if admit is not None and not admit():
            raise Withdrawn()
        ws = self.ws
        if ws is None or not ws.is_open:
            raise Refused(-1, "not connected", sent=False)
        rid = self.next_id()
        fut = self.expect(rid)
        try:
            ws.send_nowait(self.frame(rid, method, params))
        except NotConnected as exc:
            self._waiters.pop(rid, None)
            raise Refused(-1, "not connected", sent=False) from exc
        if on_wire is not None:
            on_wire()
        try:
            async with asyncio.timeout(timeout or self.request_timeout_s):
                msg = await fut
        except TimeoutError as exc:
            if late is not None:  # a late answer is still the venue's word: keep listening
                self._late[rid] = late
            raise Unknown(f"{method}: no answer") from exc
        finally:
            self._waiters.pop(rid, None)
        err = msg.get("error")
        if err is not None:
            e = err if isinstance(err, dict) else {"message": str(err)}
            code = int(e.get("code", 0) or 0)
            if code == self.rate_limited_code:
                for name in self.limiter.costs(method):
                    self.limiter.limiter(name).block_for(1.0)  # let the venue's bucket refill
                self.on_rate_limited(method)
            raise Refused(code, str(e.get("message", "")))
        return msg.get("result")
