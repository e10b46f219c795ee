"""ReconnectingWebSocket against the loopback fake venue: flow, faults, recovery, shutdown.

Timings are tens of milliseconds; assertions are on order and counts, with generous upper
bounds, so a loaded 2-core machine does not make them flaky.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from adapters.fakes import FakeConnection, FakeHandler, FakeWsServer
from adapters.ws import Backoff, CloseReason, NotConnected, ReconnectingWebSocket, WsConfig, WsState
from engine.model.codec import VenueProtocolError

SUB = '{"op":"subscribe","args":["book.X"]}'


class Ticker(FakeHandler):
    """Streams {"n": k} every 10 ms per connection; answers the text "ping" with "pong"."""

    def __init__(self, period_s: float = 0.01) -> None:
        self.period_s = period_s

    async def on_connect(self, conn: FakeConnection) -> None:
        conn.every(self.period_s, lambda n: orjson.dumps({"n": n, "conn": conn.id}).decode())

    async def on_message(self, conn: FakeConnection, data: str | bytes) -> None:
        if data == "ping":
            conn.send("pong")


class Recorder:
    """on_frame / on_open / on_close hooks that record what they saw."""

    def __init__(self, strict: bool = False) -> None:
        self.frames: list[tuple[Any, int]] = []
        self.opens: list[str] = []
        self.closes: list[CloseReason] = []
        self.strict = strict

    def on_frame(self, data: str | bytes, ts_recv: int) -> None:
        if self.strict:
            try:
                obj = orjson.loads(data)
            except orjson.JSONDecodeError as exc:
                raise VenueProtocolError("malformed frame", venue="fake") from exc
        else:
            obj = data
        self.frames.append((obj, ts_recv))

    def on_open(self, url: str) -> list[str]:
        self.opens.append(url)
        return [SUB]

    def on_close(self, reason: CloseReason) -> None:
        self.closes.append(reason)


def fast(**overrides: Any) -> WsConfig:
    base: dict[str, Any] = dict(open_timeout_s=2.0, close_timeout_s=0.5, ping_interval_s=None,
                                ping_timeout_s=None, stale_after_s=None, backoff_base_s=0.02,
                                backoff_cap_s=0.1, stable_after_s=60.0)
    base.update(overrides)
    return WsConfig(**base)


def client(srv: FakeWsServer, rec: Recorder, config: WsConfig, seed: int = 7, **kw: Any) -> ReconnectingWebSocket:
    return ReconnectingWebSocket(srv.url, on_frame=rec.on_frame, on_open=rec.on_open,
                                 on_close=rec.on_close, config=config, rng=random.Random(seed),
                                 name="test", **kw)


async def until(predicate: Any, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


@pytest.fixture
async def server() -> AsyncIterator[FakeWsServer]:
    async with FakeWsServer(Ticker(), max_lifetime_s=30.0) as srv:
        yield srv


async def test_frames_flow_in_order_with_receive_times(server: FakeWsServer) -> None:
    rec = Recorder(strict=True)
    before = time.time_ns()
    async with client(server, rec, fast()) as ws:
        await ws.wait_open(timeout=5)
        await until(lambda: len(rec.frames) >= 10)
    after = time.time_ns()
    ns = [obj["n"] for obj, _ in rec.frames]
    stamps = [ts for _, ts in rec.frames]
    assert ns == list(range(len(ns)))
    assert stamps == sorted(stamps) and before <= stamps[0] and stamps[-1] <= after
    assert ws.stats.frames == len(rec.frames) and ws.stats.bytes > 0
    assert server.frames_from() == [SUB]
    assert rec.closes == [CloseReason.LOCAL_CLOSE] and ws.state is WsState.CLOSED


async def test_resubscribes_on_every_reconnect_after_server_disconnect(server: FakeWsServer) -> None:
    rec = Recorder()
    async with client(server, rec, fast()) as ws:
        await ws.wait_open(timeout=5)
        for expected in (2, 3):
            await server.disconnect()  # abrupt: no close frame
            await server.wait_connections(expected)
            await until(lambda: ws.is_open)
        await until(lambda: len(server.received) >= 3)
        firsts = {r.conn_id: r.data for r in reversed(server.received)}
    assert list(firsts.values()) == [SUB, SUB, SUB]
    assert ws.stats.connects == 3 and ws.stats.reconnects == 2
    assert rec.closes[:2] == [CloseReason.CONNECTION_LOST] * 2
    assert len(rec.opens) == 3


async def test_close_frame_from_venue_is_reported_as_remote_close(server: FakeWsServer) -> None:
    rec = Recorder()
    async with client(server, rec, fast()) as ws:
        await ws.wait_open(timeout=5)
        await server.disconnect(code=1012, reason="service restart")
        await until(lambda: ws.stats.reconnects == 1)
    assert rec.closes[0] is CloseReason.REMOTE_CLOSED


async def test_backoff_follows_the_jittered_schedule_and_resets_after_stability(server: FakeWsServer) -> None:
    cfg = fast(backoff_base_s=0.02, backoff_cap_s=0.05, stable_after_s=0.15)
    twin = random.Random(11)
    expected = [twin.random() * c for c in (0.02, 0.04, 0.05)]  # capped at 0.05
    server.reject_connections(3, status=503)
    rec = Recorder()
    async with client(server, rec, cfg, seed=11) as ws:
        await ws.wait_open(timeout=5)
        assert list(ws.backoff_delays) == pytest.approx(expected)
        attempts = [h.at for h in server.handshakes]
        gaps = [b - a for a, b in zip(attempts, attempts[1:])]
        assert [h.accepted for h in server.handshakes] == [False, False, False, True]
        assert all(g >= d - 0.002 for g, d in zip(gaps, expected)), (gaps, expected)
        assert ws.stats.handshake_failures == 3 and "503" in ws.stats.last_error

        await asyncio.sleep(0.3)  # longer than stable_after_s: the next failure starts over
        await server.disconnect()
        await server.wait_connections(2)
        await until(lambda: ws.is_open)
        expected.append(twin.random() * 0.02)
        assert list(ws.backoff_delays) == pytest.approx(expected)

        await server.disconnect()  # right away: not stable, so the ceiling doubles
        await server.wait_connections(3)
        expected.append(twin.random() * 0.04)
        await until(lambda: len(ws.backoff_delays) == 5)
        assert list(ws.backoff_delays) == pytest.approx(expected)


async def test_refused_handshakes_honour_retry_after_then_succeed(server: FakeWsServer) -> None:
    server.reject_connections(2, status=429, retry_after_s=0.12)
    rec = Recorder()
    async with client(server, rec, fast()) as ws:
        await ws.wait_open(timeout=5)
    statuses = [h.status for h in server.handshakes]
    assert statuses == [429, 429, 101]
    t = [h.at for h in server.handshakes]
    assert t[1] - t[0] >= 0.11 and t[2] - t[1] >= 0.11
    assert all(d >= 0.12 for d in ws.backoff_delays)


async def test_silent_stall_trips_the_watchdog_and_the_stream_resumes(server: FakeWsServer) -> None:
    rec = Recorder()
    async with client(server, rec, fast(stale_after_s=0.15)) as ws:
        await ws.wait_open(timeout=5)
        await until(lambda: len(rec.frames) >= 3)
        server.stall(3.0)  # the current connection only; TCP stays open
        await until(lambda: ws.stats.watchdog_trips == 1)
        await until(lambda: ws.stats.connects == 2)
        seen = len(rec.frames)
        await until(lambda: len(rec.frames) >= seen + 3)
    assert rec.closes[0] is CloseReason.STALE
    assert ws.stats.watchdog_trips >= 1  # a badly loaded machine may add a genuine one


async def test_frozen_peer_fails_websocket_ping_timeout(server: FakeWsServer) -> None:
    rec = Recorder()
    cfg = fast(ping_interval_s=0.05, ping_timeout_s=0.1, stale_after_s=None)
    async with client(server, rec, cfg) as ws:
        await ws.wait_open(timeout=5)
        server.stall(3.0, freeze=True)  # not even pongs come back
        await until(lambda: ws.stats.connects == 2)
    assert rec.closes[0] is CloseReason.PING_TIMEOUT
    assert ws.stats.watchdog_trips == 0


async def test_malformed_frame_is_counted_and_the_connection_stays_up(server: FakeWsServer) -> None:
    rec = Recorder(strict=True)
    async with client(server, rec, fast()) as ws:
        await ws.wait_open(timeout=5)
        await until(lambda: len(rec.frames) >= 2)
        server.inject("{not json")
        server.inject(b"\x00\xff binary junk")
        await until(lambda: ws.stats.callback_errors == 2)
        seen = len(rec.frames)
        await until(lambda: len(rec.frames) >= seen + 3)
        assert ws.is_open and ws.stats.connects == 1
    assert ws.stats.last_error.startswith("on_frame: VenueProtocolError")
    assert "not json" not in ws.stats.last_error  # the message, not the frame, is kept


async def test_send_while_down_raises_and_queueing_is_opt_in(server: FakeWsServer) -> None:
    rec = Recorder()
    ws = client(server, rec, fast())
    with pytest.raises(NotConnected):
        await ws.send("order")
    with pytest.raises(NotConnected):
        ws.send_nowait("order")
    server.reject_connections(50)
    async with ws:
        await until(lambda: ws.state is WsState.BACKING_OFF)
        with pytest.raises(NotConnected):
            await ws.send("order")
    with pytest.raises(NotConnected):
        await ws.send("order")


async def test_queue_while_down_delivers_after_the_subscription(server: FakeWsServer) -> None:
    rec = Recorder()
    server.reject_connections(2)
    async with client(server, rec, fast(queue_while_down=True, max_pending=2)) as ws:
        await ws.send("a")
        ws.send_nowait("b")
        with pytest.raises(NotConnected):
            await ws.send("c")  # max_pending reached
        await ws.wait_open(timeout=5)
        await ws.send("d")
        ws.send_nowait("e")
        await until(lambda: len(server.received) >= 5)
    assert server.frames_from() == [SUB, "a", "b", "d", "e"]


async def test_max_lifetime_reconnects_proactively_without_backoff(server: FakeWsServer) -> None:
    rec = Recorder()
    async with client(server, rec, fast(max_lifetime_s=0.15)) as ws:
        await ws.wait_open(timeout=5)
        await until(lambda: ws.stats.connects >= 3)
    assert rec.closes[:2] == [CloseReason.MAX_LIFETIME] * 2
    assert list(ws.backoff_delays) == []
    assert server.frames_from().count(SUB) >= 3


async def test_heartbeats_are_sent_on_schedule(server: FakeWsServer) -> None:
    rec = Recorder()
    cfg = fast(heartbeat_interval_s=0.05)
    async with client(server, rec, cfg, make_heartbeat=lambda: "ping") as ws:
        await ws.wait_open(timeout=5)
        await until(lambda: server.frames_from().count("ping") >= 5)
        await until(lambda: any(obj == "pong" for obj, _ in rec.frames))
    accepted_at = server.handshakes[0].at
    pings = [r.at for r in server.received if r.data == "ping"]
    # Anchored to the schedule: beat k never leaves before open + k * interval (load can
    # only make it later), and no burst catches up on missed beats.
    assert all(at >= accepted_at + k * 0.05 for k, at in enumerate(pings, start=1)), pings
    assert len(pings) <= (pings[-1] - accepted_at) / 0.05 + 1
    assert ws.stats.heartbeats_sent == len(pings)


async def test_heartbeat_hook_may_skip_a_beat(server: FakeWsServer) -> None:
    beats = iter(["ping", None, "ping", None, "ping"])
    rec = Recorder()
    async with client(server, rec, fast(heartbeat_interval_s=0.03),
                      make_heartbeat=lambda: next(beats, None)) as ws:
        await ws.wait_open(timeout=5)
        await until(lambda: server.frames_from().count("ping") >= 3)
        await asyncio.sleep(0.1)
    assert server.frames_from().count("ping") == 3 and ws.stats.heartbeats_sent == 3


async def test_failing_on_open_hook_backs_off_and_retries(server: FakeWsServer) -> None:
    calls = {"n": 0}

    def on_open(url: str) -> list[str]:
        calls["n"] += 1
        if calls["n"] < 3:
            raise RuntimeError("signing failed")
        return [SUB]

    ws = ReconnectingWebSocket(server.url, on_frame=lambda d, t: None, on_open=on_open,
                               config=fast(), rng=random.Random(1))
    async with ws:
        await ws.wait_open(timeout=5)
    assert calls["n"] == 3 and ws.stats.callback_errors == 2 and len(ws.backoff_delays) == 2


async def test_close_stops_every_task_and_is_idempotent(server: FakeWsServer) -> None:
    baseline = set(asyncio.all_tasks())
    rec = Recorder()
    ws = client(server, rec, fast(stale_after_s=5, heartbeat_interval_s=0.02),
                make_heartbeat=lambda: "ping")
    ws.start()
    await ws.wait_open(timeout=5)
    ws.send_nowait("x")
    assert {t.get_name() for t in asyncio.all_tasks() - baseline} >= {"ws:test", "ws:test:keep",
                                                                       "ws:test:write"}
    await ws.close()
    await ws.close()
    assert not {t for t in asyncio.all_tasks() - baseline if t.get_name().startswith("ws:")}
    assert ws.state is WsState.CLOSED and rec.closes == [CloseReason.LOCAL_CLOSE]
    with pytest.raises(RuntimeError):
        ws.start()
    with pytest.raises(NotConnected):
        await ws.wait_open(timeout=1)


async def test_close_while_backing_off_returns_promptly(server: FakeWsServer) -> None:
    baseline = set(asyncio.all_tasks())
    server.reject_connections(100)
    ws = client(server, Recorder(), fast(backoff_base_s=5.0, backoff_cap_s=5.0))
    ws.start()
    await until(lambda: ws.state is WsState.BACKING_OFF)
    t0 = time.monotonic()
    await ws.close()
    assert time.monotonic() - t0 < 1.0
    assert set(asyncio.all_tasks()) - baseline == set()


async def test_nothing_left_running_after_server_and_client_stop() -> None:
    baseline = set(asyncio.all_tasks())
    async with FakeWsServer(Ticker()) as srv:
        async with client(srv, Recorder(), fast(stale_after_s=1, heartbeat_interval_s=0.02),
                          make_heartbeat=lambda: "ping") as ws:
            await ws.wait_open(timeout=5)
            await asyncio.sleep(0.05)
    await asyncio.sleep(0)
    assert set(asyncio.all_tasks()) - baseline == set()


async def test_unreachable_port_backs_off_and_never_opens() -> None:
    async with FakeWsServer() as srv:
        url = srv.url
    ws = ReconnectingWebSocket(url, on_frame=lambda d, t: None, config=fast(), rng=random.Random(3))
    async with ws:
        with pytest.raises(TimeoutError):
            await ws.wait_open(timeout=0.5)
        assert ws.stats.handshake_failures >= 2 and ws.stats.connects == 0


async def test_invalid_url_is_fatal_not_retried() -> None:
    ws = ReconnectingWebSocket("http://not-a-websocket", on_frame=lambda d, t: None, config=fast())
    async with ws:
        with pytest.raises(NotConnected):
            await ws.wait_open(timeout=2)
    assert ws.stats.handshake_failures == 0 and ws.state is WsState.CLOSED


def test_backoff_ceiling_doubles_to_the_cap_and_resets() -> None:
    b = Backoff(0.5, 4.0, random.Random(5))
    twin = random.Random(5)
    delays = [b.next_delay() for _ in range(6)]
    ceilings = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert delays == pytest.approx([twin.random() * c for c in ceilings])
    assert all(0 <= d < c for d, c in zip(delays, ceilings))
    b.attempt = 10_000
    assert b.ceiling() == 4.0
    b.reset()
    assert b.ceiling() == 0.5


def test_config_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        WsConfig(stale_after_s=0)
    with pytest.raises(ValueError):
        WsConfig(backoff_base_s=-1)


async def _connect_failures(url: str) -> list[dict]:
    from structlog.testing import capture_logs

    ws = ReconnectingWebSocket(url, on_frame=lambda d, t: None, config=fast(), rng=random.Random(3))
    with capture_logs() as logs:
        async with ws:
            with pytest.raises(TimeoutError):
                await ws.wait_open(timeout=0.3)
    return [e for e in logs if e["event"] == "ws.error"]


async def test_a_connect_failure_says_its_cause_in_words() -> None:
    """Nothing listening: 'Connection refused'; a server that accepts and closes before
    answering the handshake: said so, not only the exception's class name."""
    async with FakeWsServer() as srv:
        url = srv.url
    errors = await _connect_failures(url)
    assert errors and errors[0]["what"] == "connect failed"
    assert errors[0]["cause"] == "Connection refused", errors[0]

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        errors = await _connect_failures(f"ws://127.0.0.1:{port}/ws")
    finally:
        server.close()
        await server.wait_closed()
    assert errors and errors[0]["error"] == "InvalidMessage"
    assert errors[0]["cause"] == "the server closed the connection during the handshake", errors[0]
