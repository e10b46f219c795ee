"""The fake venue harness itself, driven by a plain websockets client."""

from __future__ import annotations

import asyncio
import time

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from adapters.fakes import FakeConnection, FakeHandler, FakeWsServer


class Echo(FakeHandler):
    def __init__(self) -> None:
        self.disconnects = 0

    async def on_message(self, conn: FakeConnection, data: str | bytes) -> None:
        conn.send(data)

    async def on_disconnect(self, conn: FakeConnection) -> None:
        self.disconnects += 1


class Broken(FakeHandler):
    async def on_message(self, conn: FakeConnection, data: str | bytes) -> None:
        raise ValueError("bug in a venue fake")


async def test_records_client_frames_and_echoes() -> None:
    async with FakeWsServer(Echo()) as srv:
        assert srv.url.startswith("ws://127.0.0.1:")
        async with connect(srv.url) as ws:
            await ws.send("hello")
            await ws.send(b"\x01\x02")
            assert await ws.recv() == "hello"
            assert await ws.recv() == b"\x01\x02"
        assert srv.frames_from() == ["hello", b"\x01\x02"]
        assert srv.received[0].conn_id == 1 and srv.handshakes[0].accepted


async def test_drop_next_discards_exactly_n_frames() -> None:
    async with FakeWsServer(Echo()) as srv, connect(srv.url) as ws:
        srv.drop_next(2)
        for text in ("a", "b", "c", "d"):
            await ws.send(text)
        assert await ws.recv() == "c"
        assert await ws.recv() == "d"
        assert srv.dropped == 2


async def test_delay_replies_holds_frames_but_keeps_order() -> None:
    async with FakeWsServer(Echo()) as srv, connect(srv.url) as ws:
        srv.delay_replies(0.1)
        t0 = time.monotonic()
        await ws.send("a")
        await ws.send("b")
        assert await ws.recv() == "a"
        assert time.monotonic() - t0 >= 0.09
        assert await ws.recv() == "b"
        srv.delay_replies(0)
        t1 = time.monotonic()
        await ws.send("c")
        assert await ws.recv() == "c" and time.monotonic() - t1 < 0.09


async def test_inject_bypasses_the_handler_and_drops() -> None:
    async with FakeWsServer(Echo()) as srv, connect(srv.url) as ws:
        await srv.wait_connections(1)
        srv.drop_next(5)
        srv.inject("{broken")
        assert await ws.recv() == "{broken"


async def test_stall_holds_frames_then_releases_them() -> None:
    async with FakeWsServer(Echo()) as srv, connect(srv.url) as ws:
        await srv.wait_connections(1)
        srv.stall(0.15)
        await ws.send("x")
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.recv(), 0.05)
        assert await asyncio.wait_for(ws.recv(), 2) == "x"
        assert len(srv.connections) == 1  # TCP stayed open


async def test_disconnect_abrupt_and_graceful() -> None:
    handler = Echo()
    async with FakeWsServer(handler) as srv:
        async with connect(srv.url) as ws:
            await srv.wait_connections(1)
            await srv.disconnect()
            with pytest.raises(ConnectionClosed) as info:
                await ws.recv()
            assert info.value.rcvd is None  # no close frame
        async with connect(srv.url) as ws:
            await srv.wait_connections(2)
            await srv.disconnect(code=1001, reason="going away")
            with pytest.raises(ConnectionClosed) as info:
                await ws.recv()
            assert info.value.rcvd is not None and info.value.rcvd.code == 1001
        await srv.wait_until(lambda: handler.disconnects == 2)


async def test_reject_connections_with_status_and_retry_after() -> None:
    async with FakeWsServer() as srv:
        srv.reject_connections(2, status=429, retry_after_s=3)
        for _ in range(2):
            with pytest.raises(InvalidStatus) as info:
                await connect(srv.url, open_timeout=2)
            assert info.value.response.status_code == 429
            assert info.value.response.headers["Retry-After"] == "3"
        async with connect(srv.url):
            pass
        assert [h.status for h in srv.handshakes] == [429, 429, 101]


async def test_connection_count_is_bounded() -> None:
    async with FakeWsServer(max_connections=1) as srv, connect(srv.url):
        await srv.wait_connections(1)
        with pytest.raises(InvalidStatus) as info:
            await connect(srv.url, open_timeout=2)
        assert info.value.response.status_code == 503


async def test_handler_errors_are_recorded_not_hidden() -> None:
    async with FakeWsServer(Broken()) as srv, connect(srv.url) as ws:
        await ws.send("boom")
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 2)
        assert len(srv.errors) == 1 and isinstance(srv.errors[0], ValueError)


async def test_server_stops_by_itself_after_its_lifetime() -> None:
    srv = FakeWsServer(Echo(), max_lifetime_s=0.1)
    await srv.start()
    try:
        url = srv.url
        await asyncio.sleep(0.3)
        with pytest.raises(OSError):
            await connect(url, open_timeout=1)
    finally:
        await srv.stop()


async def test_periodic_stream_stops_with_the_connection() -> None:
    class Stream(FakeHandler):
        async def on_connect(self, conn: FakeConnection) -> None:
            conn.every(0.01, lambda n: str(n))

    baseline = set(asyncio.all_tasks())
    async with FakeWsServer(Stream()) as srv:
        async with connect(srv.url) as ws:
            assert [await ws.recv() for _ in range(3)] == ["0", "1", "2"]
        await srv.wait_until(lambda: not srv.connections)
    assert set(asyncio.all_tasks()) - baseline == set()


def test_a_standalone_fake_on_a_taken_port_says_so_in_one_line(capsys) -> None:  # type: ignore[no-untyped-def]
    """``python -m adapters.<venue>.fake --port N`` with N already taken: one line naming the
    address and what to do, exit code 2, no traceback."""
    import socket

    from adapters.fakes.venue import serve_standalone
    from adapters.okx.fake import OkxFake

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        rc = serve_standalone(lambda: OkxFake(port=port), lambda f: "listening")
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1 and str(port) in err[0] and "--port" in err[0], err
    assert "Traceback" not in err[0]
