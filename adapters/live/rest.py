"""What the signed REST clients of the live venues share: outcomes, the HTTP session, server time.

Theory of operation. A venue's REST client (``adapters.<venue>.rest``) signs, sends and
classifies requests by its venue's rules; every one of them ends in one of three outcomes, which
the session must treat differently, so they are the same types everywhere:

* ``Reply`` with ``ok`` True: the venue answered and accepted.
* ``Reply`` with ``ok`` False: the venue answered and refused: a definitive outcome.
* ``Unknown`` (raised): no answer we can trust (timeout, connection lost, 5xx): the request may
  or may not have been executed, so an order must never be resent blindly on it.
* ``NotSent`` (raised): the request never left this process (its ``on_send`` declined it).

``SyncedRestClient`` holds the parts that do not depend on the venue: the aiohttp session, and
the server-clock offset (measured at the midpoint of a round trip to the venue's time endpoint)
that signed requests add to the local clock so the venue's receive window accepts them.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from adapters.ratelimit import RateLimiter

__all__ = ["NotSent", "Reply", "SyncedRestClient", "Unknown", "no_answer"]


class NotSent(Exception):
    """The request never left this process (``on_send`` declined it): a definitive outcome."""


class Unknown(Exception):
    """The request's fate is unknown (timeout, connection loss, 5xx, a venue's server error)."""


def no_answer(exc: BaseException, timeout_s: float) -> str:
    """Why a request got no answer, in words (``cannot connect to HOST:PORT (Connection
    refused)``, ``host X not resolved (...)``, ``no answer within 10 s``) for an ``Unknown``'s
    message: the host and the cause, never the URL's query (a signed request carries its
    signature there)."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc.os_error, socket.gaierror):  # its errno is an EAI_* code, not errno's
            return f"host {exc.host} not resolved ({exc.os_error.strerror})"
        errno = getattr(getattr(exc, "os_error", None), "errno", None)
        why = os.strerror(errno) if errno else type(exc).__name__
        return f"cannot connect to {exc.host}:{exc.port} ({why})"
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return f"no answer within {timeout_s:g} s"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection without an answer"
    if isinstance(exc, OSError) and exc.errno:
        return f"connection error ({os.strerror(exc.errno)})"
    return type(exc).__name__


@dataclass(slots=True)
class Reply:
    """A venue's answer: HTTP status, decoded body, raw bytes, venue error code and message."""

    status: int
    body: Any
    raw: bytes = b""
    code: int = 0
    message: str = ""

    @property
    def ok(self) -> bool:
        """Accepted: a 2xx without a venue error code."""
        return 200 <= self.status < 300 and self.code == 0

    @property
    def rate_limited(self) -> bool:
        """Refused for our request rate (the request was not processed)."""
        return self.status in (429, 418)


class SyncedRestClient:
    """Base of a venue REST client: ``open``/``close``, ``now_ms`` and ``sync_time``.

    A subclass implements ``request`` (returning a ``Reply``) and ``_server_time_ms`` (the
    venue's clock in the body of ``GET time_path``). ``api_key``/``api_secret`` may be empty
    (market data only)."""

    time_path: str = ""

    def __init__(self, base_url: str, limiter: RateLimiter, *, venue: str, api_key: str = "",
                 api_secret: str = "", recv_window_ms: int = 5000, timeout_s: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.limiter = limiter
        self.venue = venue
        self._key = api_key
        self._secret = api_secret
        self.recv_window_ms = recv_window_ms
        self.timeout_s = timeout_s
        self.offset_ms = 0
        self._http: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        """Create the HTTP session (idempotent)."""
        if self._http is None:
            self._http = aiohttp.ClientSession()

    async def close(self) -> None:
        """Close the HTTP session (idempotent)."""
        if self._http is not None:
            await self._http.close()
            self._http = None

    def now_ms(self) -> int:
        """The venue's clock as we estimate it: local time plus the measured offset."""
        return time.time_ns() // 1_000_000 + self.offset_ms

    async def sync_time(self) -> int:
        """Measure the server clock offset (midpoint of the round trip); returns it in ms."""
        t0 = time.time_ns()
        reply = await self.request("GET", self.time_path)
        t1 = time.time_ns()
        if not reply.ok:
            raise Unknown(f"server time: HTTP {reply.status} {reply.code} {reply.message}")
        self.offset_ms = self._server_time_ms(reply.body) - (t0 + t1) // 2_000_000
        return self.offset_ms

    async def request(self, method: str, path: str, params: dict[str, Any] | None = None, *,
                      signed: bool = False, timeout_s: float | None = None) -> Reply:
        """Send one request (after the limiter admits it) and classify the answer."""
        raise NotImplementedError

    def _server_time_ms(self, body: Any) -> int:
        """The venue's clock (ms) in the time endpoint's body."""
        raise NotImplementedError
