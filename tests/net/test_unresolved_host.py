"""A venue host name that does not resolve fails the start attempt at once, in words, for every
venue (the websocket-first ones, Deribit and Derive, and the REST-first ones).

``volta run --fail-fast`` against a URL whose host does not resolve (a typo, no DNS) used to
wait the venue's whole ``start_timeout_s`` (30 s) - the websocket client kept retrying inside
the one start attempt - and then said only "no usable connection". Now the attempt fails as
soon as the name does not resolve: ``host nowhere.invalid not resolved (...)``; without
``--fail-fast`` the runtime's own retry with back-off keeps going.

The names are in the ``.invalid`` TLD (RFC 2606), answered "no such name" without a query
leaving this machine (``tests.unreachable.invalid_tld_unresolved``).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from adapters.ws import NotConnected, ReconnectingWebSocket, WsConfig
from engine.clock import LiveClock
from engine.config import load_config_text
from engine.runtime import build_node
from engine.startup import VenueStarter, VenueStartFailed
from tests.unreachable import invalid_tld_unresolved  # noqa: F401 -- a fixture

ROOT = Path(__file__).resolve().parents[2]
HOST = "nowhere.invalid"
DERIVE_KEY = "0xf20701f7e29ce946e79a70cb53067f837950841f77edb3e685ce370db7ed7bdd"  # public test key


pytestmark = pytest.mark.usefixtures("invalid_tld_unresolved")


async def test_wait_open_raises_at_once_naming_the_host() -> None:
    ws = ReconnectingWebSocket(f"ws://{HOST}:8765/ws", on_frame=lambda d, t: None,
                               config=WsConfig(backoff_base_s=0.05, backoff_cap_s=0.1), name="x:md")
    ws.start()
    t0 = time.monotonic()
    try:
        with pytest.raises(NotConnected) as info:
            await ws.wait_open(timeout=20)
        assert time.monotonic() - t0 < 5
        assert str(info.value) == f"host {HOST} not resolved (Name or service not known)"
        # the client itself keeps retrying (a stream already running survives a DNS outage)
        await asyncio.sleep(0.3)
        assert ws.stats.handshake_failures >= 2
    finally:
        await ws.close()


def _config(venue: str, tmp_path: Path) -> Any:
    text = (ROOT / "config" / f"fake-{venue}.toml").read_text()
    text = text.replace("127.0.0.1", HOST)
    text = text.replace('journal = "var/', f'journal = "{tmp_path}/')
    return load_config_text(text)


def _starter() -> VenueStarter:
    async def on_up(_adapter: Any) -> None:
        return None

    return VenueStarter(lambda source, reason: None, lambda source: None, on_up,
                        backoff_base_s=0.05, backoff_cap_s=0.1)


@pytest.mark.parametrize("venue", ["deribit", "derive", "binance", "bybit", "okx"])
async def test_fail_fast_start_ends_at_once_with_the_cause(
        venue: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DERIVE_SESSION_KEY", DERIVE_KEY)
    node = build_node(_config(venue, tmp_path), LiveClock())
    adapters = list(node.kernel.adapters.values())
    t0 = time.monotonic()
    with pytest.raises(VenueStartFailed) as info:
        await asyncio.wait_for(_starter().start_all(adapters, fail_fast=True), 25)
    took = time.monotonic() - t0
    assert took < 10, f"{venue}: the start waited {took:.1f} s for a name that does not resolve"
    why = info.value.failures[venue]
    assert f"host {HOST} not resolved" in why, why


async def test_without_fail_fast_the_runtime_keeps_retrying(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    node = build_node(_config("deribit", tmp_path), LiveClock())
    starter = _starter()
    try:
        up = await asyncio.wait_for(starter.start_all(list(node.kernel.adapters.values())), 25)
        assert up == []
        assert f"host {HOST} not resolved" in starter.down["deribit"]
        deadline = time.monotonic() + 10
        while starter.attempts["deribit"] < 3:  # retried with back-off, each attempt failing fast
            assert time.monotonic() < deadline, starter.attempts
            await asyncio.sleep(0.05)
    finally:
        await starter.stop()
