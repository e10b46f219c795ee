"""Binance spot market data on the fake, and the shipped live/fake deployment files."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.binance.fake import BinanceFake
from adapters.binance.session import BinanceParams, BinanceVenue
from engine.config import ConfigError, load_config
from engine.model import OrderRejected, Side, SubmitOrder
from engine.runtime import resolve_plugins
from tests.binance_live.conftest import Live

ROOT = Path(__file__).resolve().parents[2]
ENV = {k: "" for k in ("DERIBIT_CLIENT_ID", "DERIBIT_CLIENT_SECRET", "OKX_API_KEY", "OKX_API_SECRET",
                       "OKX_PASSPHRASE")} | {"BINANCE_API_KEY": "k", "BINANCE_API_SECRET": "s",
                                             "BYBIT_API_KEY": "k", "BYBIT_API_SECRET": "s"}


async def test_spot_market_data_books_match_and_orders_are_refused_clearly() -> None:
    async with BinanceFake(("BTCUSDT",), market="spot", seed=5, step_s=0.005) as fake:
        lv = Live(fake, BinanceVenue(BinanceParams(
            market="spot", ws_url=fake.ws_url, rest_url=fake.rest_url, ping_interval_s=None,
            stale_after_s=0.5, backoff_base_s=0.02, backoff_cap_s=0.1)))
        await lv.adapter.start()
        try:
            (inst,) = lv.adapter.instruments()
            assert inst.kind == "spot" and inst.id == "binance:BTCUSDT"
            await lv.assert_book_matches()
            lv.adapter.submit(SubmitOrder(client_order_id="s-1", strategy_id="t",
                                          instrument_id=inst.id, side=Side.BUY, quantity=0.001,
                                          price=60_000.0))
            (rej,) = lv.of(OrderRejected)
            assert rej.reason.startswith("NOT_TRADING")
        finally:
            await lv.adapter.stop()


@pytest.mark.parametrize("name", ["live-binance", "live-bybit", "fake-binance", "fake-bybit",
                                  "live-multi"])
def test_shipped_deployment_files_validate_and_resolve(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    config = load_config(ROOT / "config" / f"{name}.toml")
    assert resolve_plugins(config) == []
    if name == "live-multi":  # the disabled venues' params must be valid too, once enabled
        from engine.config import decode_params
        DeribitParams = pytest.importorskip("adapters.deribit.params").DeribitParams
        OkxParams = pytest.importorskip("adapters.okx.params").OkxParams
        decode_params(dict(config.venues["deribit"].params), DeribitParams, "venues.deribit.params")
        decode_params(dict(config.venues["okx"].params), OkxParams, "venues.okx.params")
    for vname, vc in config.enabled_venues().items():
        assert vc.params.get("network", "testnet") == "testnet" or name.startswith("fake")


def test_live_files_name_the_missing_key_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BINANCE_API_SECRET", raising=False)
    monkeypatch.setenv("BINANCE_API_KEY", "k")
    with pytest.raises(ConfigError, match="BINANCE_API_SECRET"):
        load_config(ROOT / "config" / "live-binance.toml")


def test_params_reject_half_credentials_and_too_many_streams() -> None:
    from engine.config.secrets import Secret
    with pytest.raises(ValueError, match="go together"):
        BinanceParams(api_key=Secret("k"))
    with pytest.raises(ValueError, match="1024 streams"):
        BinanceParams(symbols=[f"S{i}USDT" for i in range(400)], channels=["depth", "trade", "bookTicker"])
