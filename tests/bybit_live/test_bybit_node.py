"""The whole node (``engine.runtime.build_node``) on ``config/fake-bybit.toml`` against the fake."""

from __future__ import annotations

from pathlib import Path

from adapters.bybit.fake import BybitFake
from tests.live_common import node_runs_on_fake_config


async def test_node_runs_on_the_fake_config_reconciles_trades_and_shuts_down(tmp_path: Path) -> None:
    async with BybitFake(("BTCUSDT",), seed=3, step_s=0.01) as fake:
        await node_runs_on_fake_config(
            tmp_path, fake, "fake-bybit.toml",
            {"ws://127.0.0.1:8767": fake.ws_url, "http://127.0.0.1:8768": fake.rest_url},
            "bybit:BTCUSDT", lambda: round(fake.books["BTCUSDT"].center * 0.1 - 50.0, 1))
        assert fake.matcher.orders["n-1"].status == "cancelled"  # shutdown cancelled it at the venue
