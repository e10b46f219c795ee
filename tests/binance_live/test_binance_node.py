"""The whole node (``engine.runtime.build_node``) on ``config/fake-binance.toml`` against the fake."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from adapters.binance.fake import BinanceFake
from config import load_config_text
from engine.clock import LiveClock
from engine.model import OrderStatus, Side, SubmitOrder
from engine.runtime import build_node

ROOT = Path(__file__).resolve().parents[2]


async def test_node_runs_on_the_fake_config_reconciles_trades_and_shuts_down(tmp_path: Path) -> None:
    async with BinanceFake(("BTCUSDT",), seed=3, step_s=0.01) as fake:
        text = (ROOT / "config" / "fake-binance.toml").read_text()
        text = text.replace("ws://127.0.0.1:8765", fake.ws_url).replace("http://127.0.0.1:8766", fake.rest_url)
        node = build_node(load_config_text(text), LiveClock(), tmp_path / "j.sqlite")
        await node.start()
        try:
            k = node.kernel
            assert node.recovered
            iid = "binance:BTCUSDT"
            async with asyncio.timeout(5):
                while not (iid in k.books and k.books[iid].is_live):
                    await asyncio.sleep(0.01)
            px = round(fake.books["BTCUSDT"].center * 0.1 - 50.0, 1)
            denial = k.router.submit(SubmitOrder(client_order_id="n-1", strategy_id="t",
                                                 instrument_id=iid, side=Side.BUY, quantity=0.01,
                                                 price=px))
            assert denial is None, denial
            async with asyncio.timeout(5):
                while k.orders.get("n-1").status is not OrderStatus.ACCEPTED:
                    await asyncio.sleep(0.01)
        finally:
            await node.stop()
        assert fake.matcher.orders["n-1"].status == "cancelled"  # shutdown cancelled it at the venue
