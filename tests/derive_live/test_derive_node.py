"""The shipped paper deployment ``config/fake-derive.toml``: the whole node (risk gate, router,
journal) with the options market maker quoting the fake Derive venue's ETH chain."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from adapters.derive.fake import DEFAULT_INSTRUMENTS, FAKE_SESSION_KEY, DeriveFake
from engine.clock import LiveClock
from engine.config import load_config_text
from engine.model import InstrumentKind, OrderStatus
from engine.runtime import build_node
from tests.live_common import ROOT


async def test_options_market_maker_trades_on_the_fake_derive_through_the_gate(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DERIVE_SESSION_KEY", FAKE_SESSION_KEY)
    async with DeriveFake(DEFAULT_INSTRUMENTS, seed=3, step_s=0.2) as fake:
        text = (ROOT / "config" / "fake-derive.toml").read_text()
        text = text.replace("ws://127.0.0.1:8767/ws", fake.url)
        node = build_node(load_config_text(text), LiveClock(), tmp_path / "j.sqlite")
        await node.start()
        try:
            k = node.kernel
            assert node.recovered
            def quoting() -> list[object]:
                return [o for o in k.orders if o.strategy_id == "options-mm"
                        and o.status is OrderStatus.ACCEPTED]
            async with asyncio.timeout(20):
                while len(quoting()) < 4:
                    await asyncio.sleep(0.05)
            kinds = {k.instruments[o.instrument_id].kind for o in quoting()}  # type: ignore[attr-defined]
            assert kinds == {InstrumentKind.OPTION}
            # every order at the venue passed the gate here and the venue's signature check
            assert fake.signatures_verified >= len(quoting())
            assert {o.client_id for o in fake.open_orders()} <= {o.client_order_id  # type: ignore[attr-defined]
                                                                 for o in k.orders}
        finally:
            await node.stop()
        assert fake.open_orders() == []  # stop cancels every open order
