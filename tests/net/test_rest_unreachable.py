"""A REST request that gets no answer says why in words, naming the host: the start of a venue
whose REST endpoint is down ends in ``venue okx did not start: GET /api/v5/public/time: cannot
connect to 127.0.0.1:PORT (Connection refused)``, not in an aiohttp class name."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from adapters.binance.rest import BinanceRest
from adapters.bybit.rest import BybitRest
from adapters.okx.rest import OkxRest
from adapters.ratelimit import VENUE_LIMITS, RateLimiter

SECRET = "s3cr3t-never-shown"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens there once the socket is closed


def _client(venue: str, base: str, timeout_s: float = 10.0) -> Any:
    if venue == "okx":
        return OkxRest(base, RateLimiter(VENUE_LIMITS["okx"]), api_key="k", secret=SECRET,
                       passphrase="p", timeout_s=timeout_s)
    if venue == "binance":
        return BinanceRest(base, RateLimiter(VENUE_LIMITS["binance_usdm"]), venue="binance",
                           api_key="k", api_secret=SECRET, timeout_s=timeout_s)
    return BybitRest(base, RateLimiter(VENUE_LIMITS["bybit"]), venue="bybit", api_key="k",
                     api_secret=SECRET, timeout_s=timeout_s)


@pytest.mark.parametrize("venue", ["okx", "binance", "bybit"])
async def test_refused_connection_names_the_host_and_the_cause(venue: str) -> None:
    port = _closed_port()
    client = _client(venue, f"http://127.0.0.1:{port}")
    await client.open()
    try:
        with pytest.raises(Exception) as info:
            await client.request("GET", "/time", signed=True)
    finally:
        await client.close()
    text = str(info.value)
    assert type(info.value).__name__ == "Unknown"
    assert f"cannot connect to 127.0.0.1:{port} (Connection refused)" in text, text
    assert SECRET not in text and "signature" not in text


@pytest.mark.parametrize("venue", ["okx", "binance", "bybit"])
async def test_silent_server_is_no_answer_within_the_timeout(venue: str) -> None:
    done = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await done.wait()  # accepts, answers nothing until the test is over
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = _client(venue, f"http://127.0.0.1:{port}", timeout_s=0.3)
    await client.open()
    try:
        with pytest.raises(Exception) as info:
            await client.request("GET", "/time")
    finally:
        await client.close()
        done.set()
        server.close()
        await server.wait_closed()
    assert type(info.value).__name__ == "Unknown"
    assert str(info.value).endswith("no answer within 0.3 s"), str(info.value)
