"""What a REST request that got no answer means, for every REST client (OKX, Binance, Bybit),
with real sockets on 127.0.0.1.

Two outcomes that the order entry must treat differently:

* ``Unreachable``: the request could not leave this machine (the host name does not resolve,
  the connection is refused, the TLS handshake fails, the URL is invalid). The venue cannot
  have it: an order is rejected at once (``VENUE_UNREACHABLE: venue X unreachable: <cause>``).
* ``Unknown``: the request may have reached the venue (no answer once connected, a reset after
  the request was read): its fate stays in doubt until the venue's own word settles it.

The messages say why in words, naming the host, never the URL's query (a signature): the start
of a venue whose REST endpoint is down ends in ``venue okx did not start: GET
/api/v5/public/time: cannot connect to 127.0.0.1:PORT (Connection refused)``.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from adapters.binance.rest import BinanceRest
from adapters.bybit.rest import BybitRest
from adapters.live.rest import Unknown, Unreachable
from adapters.okx.rest import OkxRest
from adapters.ratelimit import VENUE_LIMITS, RateLimiter
from tests.unreachable import closed_port, invalid_tld_unresolved  # noqa: F401 -- a fixture

SECRET = "s3cr3t-never-shown"
VENUES = ["okx", "binance", "bybit"]
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def _client(venue: str, base: str, timeout_s: float = 10.0) -> Any:
    if venue == "okx":
        return OkxRest(base, RateLimiter(VENUE_LIMITS["okx"]), api_key="k", secret=SECRET,
                       passphrase="p", timeout_s=timeout_s)
    if venue == "binance":
        return BinanceRest(base, RateLimiter(VENUE_LIMITS["binance_usdm"]), venue="binance",
                           api_key="k", api_secret=SECRET, timeout_s=timeout_s)
    return BybitRest(base, RateLimiter(VENUE_LIMITS["bybit"]), venue="bybit", api_key="k",
                     api_secret=SECRET, timeout_s=timeout_s)


async def _failure(venue: str, base: str, method: str = "POST", timeout_s: float = 5.0
                   ) -> BaseException:
    """What one signed request to ``base`` raised (bounded in time)."""
    client = _client(venue, base, timeout_s)
    await client.open()
    try:
        with pytest.raises(Exception) as info:
            await asyncio.wait_for(client.request(method, "/order", {"symbol": "BTCUSDT"},
                                                  signed=True), timeout_s + 5)
    finally:
        await client.close()
    assert SECRET not in str(info.value) and "signature" not in str(info.value)
    return info.value


async def _failure_served(venue: str, handler: Handler, scheme: str = "http",
                         started: list[asyncio.Server] | None = None, **kw: Any) -> BaseException:
    """What one request to a local server answering with ``handler`` raised (the server is
    appended to ``started`` for a handler that closes it)."""
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    if started is not None:
        started.append(server)
    port = int(server.sockets[0].getsockname()[1])
    try:
        return await _failure(venue, f"{scheme}://127.0.0.1:{port}", **kw)
    finally:
        server.close()
        await server.wait_closed()


async def _read_request(reader: asyncio.StreamReader) -> None:
    await reader.readuntil(b"\r\n\r\n")  # the request line and headers: the venue has it


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP reset (SO_LINGER 0), as a crashing server or a middlebox does."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@pytest.mark.parametrize("venue", VENUES)
async def test_refused_connection_is_unreachable_naming_the_host_and_the_cause(venue: str) -> None:
    port = closed_port()
    exc = await _failure(venue, f"http://127.0.0.1:{port}")
    assert isinstance(exc, Unreachable), repr(exc)
    assert f"cannot connect to 127.0.0.1:{port} (Connection refused)" in str(exc), str(exc)
    assert exc.reason == (f"VENUE_UNREACHABLE: venue {venue} unreachable: cannot connect to "
                          f"127.0.0.1:{port} (Connection refused); never sent")


@pytest.mark.parametrize("venue", VENUES)
@pytest.mark.usefixtures("invalid_tld_unresolved")
async def test_unresolved_host_is_unreachable_naming_the_host(venue: str) -> None:
    exc = await _failure(venue, "https://api.nowhere.invalid", timeout_s=3.0)
    assert isinstance(exc, Unreachable), repr(exc)
    assert exc.reason.startswith(
        f"VENUE_UNREACHABLE: venue {venue} unreachable: host api.nowhere.invalid not resolved"), \
        exc.reason


@pytest.mark.parametrize("venue", VENUES)
async def test_failed_tls_handshake_is_unreachable(venue: str) -> None:
    async def not_tls(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)  # the ClientHello: answered by plain text, no TLS
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    exc = await _failure_served(venue, not_tls, "https")
    assert isinstance(exc, Unreachable), repr(exc)
    assert "TLS handshake with 127.0.0.1:" in exc.reason and " failed (" in exc.reason, exc.reason


@pytest.mark.parametrize("venue", VENUES)
async def test_invalid_url_is_unreachable(venue: str) -> None:
    exc = await _failure(venue, "http://:8080")  # no host at all: a config mistake
    assert isinstance(exc, Unreachable), repr(exc)
    assert "invalid URL" in exc.reason and "?" not in exc.reason, exc.reason


@pytest.mark.parametrize("venue", VENUES)
async def test_server_that_accepts_then_stalls_leaves_the_fate_unknown(venue: str) -> None:
    done = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        await done.wait()  # reads the request, answers nothing until the test is over
        writer.close()

    try:
        exc = await _failure_served(venue, silent, timeout_s=0.3)
    finally:
        done.set()
    assert type(exc) is Unknown, repr(exc)
    assert str(exc).endswith("no answer within 0.3 s"), str(exc)


@pytest.mark.parametrize("venue", VENUES)
async def test_reset_after_reading_the_request_leaves_the_fate_unknown(venue: str) -> None:
    async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        _reset(writer)

    exc = await _failure_served(venue, reset)
    assert type(exc) is Unknown, repr(exc)


@pytest.mark.parametrize("venue", VENUES)
async def test_a_retry_that_cannot_connect_does_not_hide_the_request_that_went_out(
        venue: str) -> None:
    # aiohttp resends an idempotent request (GET, PUT, DELETE: a status query, an amend, a
    # cancel) once on a new connection after the first one broke. Here the venue read the
    # first request, then went away: the retry's "connection refused" must not make the
    # request look never sent, since the venue may have executed the first one.
    async def read_then_vanish(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        for server in servers:
            server.close()  # nothing listens any more: the retry is refused
        _reset(writer)

    servers: list[asyncio.Server] = []
    exc = await _failure_served(venue, read_then_vanish, started=servers, method="DELETE")
    assert type(exc) is Unknown, repr(exc)
