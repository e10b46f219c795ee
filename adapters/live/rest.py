"""What the signed REST clients of the live venues share: outcomes, the HTTP session, server time.

Theory of operation. A venue's REST client (``adapters.<venue>.rest``) signs, sends and
classifies requests by its venue's rules; every one of them ends in one of three outcomes, which
the session must treat differently, so they are the same types everywhere:

* ``Reply`` with ``ok`` True: the venue answered and accepted.
* ``Reply`` with ``ok`` False: the venue answered and refused: a definitive outcome.
* ``Unknown`` (raised): no answer we can trust (timeout, connection lost, 5xx): the request may
  or may not have been executed, so an order must never be resent blindly on it.
* ``NotSent`` (raised): the request never left this process (its ``on_send`` declined it), or,
  as its subclass ``Unreachable``, could not leave this machine: the venue's host name did not
  resolve, the connection was refused, the TLS handshake failed, the URL is invalid. The venue
  cannot have received it, so an order is rejected at once (``reason``) instead of waiting in
  doubt for a status query that cannot tell more.

``transport_failure`` draws that line once for every REST client, from aiohttp's exception
and from whether the request's headers were written on a connection (``SendMark``, set by the
trace of ``http_session``): aiohttp raises ``ClientConnectorError`` (and its DNS, SSL and
certificate subclasses) only while it connects, but it retries an idempotent request (GET, PUT,
DELETE) once on a fresh connection after a reused one broke, and that retry's connect error
must not hide the first attempt, which the venue may have executed.

``SyncedRestClient`` holds the parts that do not depend on the venue: the aiohttp session, and
the server-clock offset (measured at the midpoint of a round trip to the venue's time endpoint)
that signed requests add to the local clock so the venue's receive window accepts them.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from adapters.ratelimit import RateLimiter
from engine.model import VenueProtocolError

__all__ = ["NotSent", "Reply", "SendMark", "SyncedRestClient", "Unknown", "Unreachable",
           "answer_field", "decode_body", "http_session", "no_answer", "transport_failure"]

THROTTLED = "THROTTLED: held by the rate limiter past the ack timeout; never sent"


class NotSent(Exception):
    """The request never left this process (``on_send`` declined it): a definitive outcome."""

    @property
    def reason(self) -> str:
        """Why an order stopped by it is rejected (reason code before the ``:``)."""
        return THROTTLED


class Unreachable(NotSent):
    """The request could not leave this machine (name not resolved, connection refused, TLS
    handshake failed, invalid URL): the venue cannot have received it."""

    def __init__(self, venue: str, endpoint: str, cause: str) -> None:
        super().__init__(f"{endpoint}: {cause}")
        self.venue = venue
        self.endpoint = endpoint
        self.cause = cause

    @property
    def reason(self) -> str:
        return f"VENUE_UNREACHABLE: venue {self.venue} unreachable: {self.cause}; never sent"


class Unknown(Exception):
    """The request's fate is unknown (timeout, connection loss, 5xx, a venue's server error)."""


def no_answer(exc: BaseException, timeout_s: float) -> str:
    """Why a request got no answer, in words (``cannot connect to HOST:PORT (Connection
    refused)``, ``host X not resolved (...)``, ``no answer within 10 s``) for an ``Unknown``'s
    message: the host and the cause, never the URL's query (a signed request carries its
    signature there)."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        cert = exc.certificate_error
        why = getattr(cert, "verify_message", "") or str(cert)
        return f"TLS certificate of {exc.host}:{exc.port} refused ({why})"
    if isinstance(exc, aiohttp.ClientSSLError):
        ssl_error = exc.os_error
        why = getattr(ssl_error, "reason", None) or str(ssl_error)
        return f"TLS handshake with {exc.host}:{exc.port} failed ({why})"
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc.os_error, socket.gaierror):  # its errno is an EAI_* code, not errno's
            return f"host {exc.host} not resolved ({exc.os_error.strerror})"
        errno = getattr(getattr(exc, "os_error", None), "errno", None)
        why = os.strerror(errno) if errno else type(exc).__name__
        return f"cannot connect to {exc.host}:{exc.port} ({why})"
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return f"no connection within {timeout_s:g} s"
    if isinstance(exc, (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError)) and \
            not isinstance(exc, aiohttp.RedirectClientError):
        url = str(exc.args[0]) if exc.args else ""
        return f"invalid URL {url.partition('?')[0]!r}"  # never its query: a signature
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return f"no answer within {timeout_s:g} s"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection without an answer"
    if isinstance(exc, OSError) and exc.errno:
        return f"connection error ({os.strerror(exc.errno)})"
    return type(exc).__name__


class SendMark:
    """Per request: whether its headers were written on a connection (the venue may have it)."""

    __slots__ = ("headers_sent",)

    def __init__(self) -> None:
        self.headers_sent = False


async def _on_headers_sent(_session: aiohttp.ClientSession, ctx: Any, _params: Any) -> None:
    mark = ctx.trace_request_ctx
    if isinstance(mark, SendMark):
        mark.headers_sent = True


def http_session() -> aiohttp.ClientSession:
    """The HTTP session of a REST client: its requests passed ``trace_request_ctx=SendMark()``
    record whether they were written (``transport_failure`` reads it)."""
    trace = aiohttp.TraceConfig()
    trace.on_request_headers_sent.append(_on_headers_sent)
    return aiohttp.ClientSession(trace_configs=[trace])


_NEVER_LEFT = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError, aiohttp.InvalidURL,
               aiohttp.NonHttpUrlClientError)
"""Raised before a request is written: connecting (DNS, TCP, TLS, proxy) or reading its URL."""


def transport_failure(exc: BaseException, endpoint: str, venue: str, timeout_s: float,
                      mark: SendMark) -> Unknown | Unreachable:
    """The outcome of a request that raised ``exc`` before any answer: ``Unreachable`` if it
    provably never left this machine (a connect-stage error and nothing written, not even by an
    earlier attempt or before a redirect), else ``Unknown`` (a timeout once connected, a reset
    after sending, a disconnect: the venue may have executed it)."""
    cause = no_answer(exc, timeout_s)
    if isinstance(exc, _NEVER_LEFT) and not isinstance(exc, aiohttp.RedirectClientError) \
            and not mark.headers_sent:
        return Unreachable(venue, endpoint, cause)
    return Unknown(f"{endpoint}: {cause}")


def decode_body(raw: bytes, status: int, loads: Callable[[bytes, str], Any], venue: str) -> Any:
    """The JSON body of an answer (None when empty). A refusal (not 2xx) whose body is not
    JSON - the HTML page of the firewall in front of the venue: Binance's WAF 403, Bybit's IP
    limit 403 - is still a refusal (its status says it): None, not ``VenueProtocolError``, which
    would leave a refused order in doubt. A 2xx that is not JSON is the venue's error."""
    if not raw:
        return None
    try:
        return loads(raw, venue)
    except VenueProtocolError:
        if 200 <= status < 300:
            raise
        return None


def answer_field(body: Any, key: str, venue: str, what: str,
                 cast: Callable[[Any], Any] = str) -> Any:
    """``cast(body[key])`` of an accepted answer. An answer without it (or not readable) is
    the venue's protocol error: the request may have been executed, its fate is unknown."""
    try:
        value = body[key]
        if value is None or value == "":
            raise KeyError(key)
        return cast(value)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise VenueProtocolError(f"{venue}: {what} answered without a valid {key}: "
                                 f"{str(body)[:200]}", venue=venue) from exc


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
            self._http = http_session()

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
