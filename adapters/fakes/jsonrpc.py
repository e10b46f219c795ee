"""``JsonRpcFake``: the request loop of the fake JSON-RPC venues (Deribit, Derive).

Theory of operation. Both fakes answer JSON-RPC 2.0 requests on one websocket; what differs is
the venue's methods (``dispatch``), its error codes and the shape of its answers. The frame
around a request is the same and lives here, once (``on_message``): parse (an unparsable frame
gets the venue's parse error), record (``requests``), then the order faults of ``FakeVenue`` in
the order a venue meets them: ``rate_limit(n)`` refuses the next matching-engine requests
(``RATE_LIMITED``), a private method before login is refused (``UNAUTHORIZED``),
``drop_orders(n)`` loses a new order on its way (never executed, never answered),
``lose_acks(n)`` executes an order request but never answers it (``dispatch(..., quiet=True)``
lets the venue also hold back its notifications). Errors a method raises (``RpcError``, or a
missing/ill-typed parameter: -32602) become error answers; ``ack_delay_s`` delays the answers
to matching-engine requests; ``answered`` runs after every answer (Deribit sends a
subscription's first snapshot then).
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import orjson

from adapters.fakes.server import FakeConnection
from adapters.fakes.venue import FakeVenue

__all__ = ["JsonRpcFake", "RpcError"]


class RpcError(Exception):
    """An error answer (the venue's code and message)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class JsonRpcFake(FakeVenue):
    """Base of the JSON-RPC venue fakes; a venue sets the class constants and implements
    ``dispatch`` (one request's result, or ``RpcError``)."""

    serves_rest = False  # JSON-RPC over the websocket only
    MATCHING: ClassVar[frozenset[str]] = frozenset()
    """Matching-engine methods: rate limited and delayed by ``ack_delay_s``."""
    NEW_ORDERS: ClassVar[frozenset[str]] = frozenset()
    """Methods ``drop_orders`` loses on their way."""
    LOSABLE: ClassVar[frozenset[str]] = frozenset()
    """Methods whose answer ``lose_acks`` withholds."""
    RATE_LIMITED: ClassVar[tuple[int, str]] = (-32000, "rate limited")
    UNAUTHORIZED: ClassVar[tuple[int, str]] = (-32000, "unauthorized")
    PARSE_ERROR: ClassVar[dict[str, Any]] = {
        "jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "Parse error"}}

    def __init__(self, *, step_s: float, ws_port: int = 0, max_lifetime_s: float = 120.0) -> None:
        super().__init__(step_s=step_s, ws_port=ws_port, max_lifetime_s=max_lifetime_s)
        self.requests: list[tuple[str, dict[str, Any]]] = []
        """Every parsed request (method, params), in order of arrival."""
        self._conns: dict[int, dict[str, Any]] = {}
        """Per-connection state (``auth`` at least), created by the venue's ``on_connect``."""

    def dispatch(self, conn: FakeConnection, st: dict[str, Any], method: str,
                 params: dict[str, Any], quiet: bool) -> Any:
        """The result of one request (``quiet``: its answer will be lost, and so may be the
        notifications it causes)."""
        raise NotImplementedError

    def result_reply(self, rid: Any, result: Any) -> dict[str, Any]:
        """A successful answer (a venue may add its own fields)."""
        return {"jsonrpc": "2.0", "id": rid, "result": result}

    def answered(self, conn: FakeConnection, method: str, params: dict[str, Any],
                 ok: bool) -> None:
        """After an answer went out (``ok``: not an error)."""

    async def on_message(self, conn: FakeConnection, data: str | bytes) -> None:
        try:
            msg = orjson.loads(data)
            rid, method = msg.get("id"), msg["method"]
            params = msg.get("params") or {}
        except Exception:  # anything unparsable gets the venue's parse error
            conn.send(orjson.dumps(self.PARSE_ERROR))
            return
        self.requests.append((method, params))
        st = self._conns.get(conn.id)
        if st is None:
            return
        lose = False
        reply: dict[str, Any]
        try:
            if method in self.MATCHING and self._rate_limit > 0:
                self._rate_limit -= 1
                raise RpcError(*self.RATE_LIMITED)
            if method.startswith("private/") and not st["auth"]:
                raise RpcError(*self.UNAUTHORIZED)
            if method in self.NEW_ORDERS and self._drop > 0:
                self._drop -= 1
                return  # lost on its way: never executed, never answered
            if method in self.LOSABLE and self._lose > 0:
                self._lose -= 1
                lose = True
            result = self.dispatch(conn, st, method, params, lose)
        except RpcError as e:
            reply = {"jsonrpc": "2.0", "id": rid, "error": {"code": e.code, "message": e.message}}
        except (KeyError, TypeError, ValueError) as e:
            reply = {"jsonrpc": "2.0", "id": rid,
                     "error": {"code": -32602, "message": f"Invalid params: {e}"}}
        else:
            reply = self.result_reply(rid, result)
        if lose:
            return
        frame = orjson.dumps(reply)
        if self.ack_delay_s and method in self.MATCHING:
            async def later() -> None:
                await asyncio.sleep(self.ack_delay_s)
                conn.send(frame)
            conn.spawn(later())
        else:
            conn.send(frame)
        self.answered(conn, method, params, "error" not in reply)
