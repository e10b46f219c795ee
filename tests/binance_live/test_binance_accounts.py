"""Live accounts from Binance USD-M (issue 12, point 11, live half): ``GET /fapi/v2/account``
decoded per asset, re-read on ``ACCOUNT_UPDATE``; a live node on the fake whose USDT account
is small has its order denied INSUFFICIENT_MARGIN by the gate. The expected margin is written
here from the documented linear rule (IM = notional / leverage, default leverage 20)."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.binance import private as pv
from adapters.binance.fake import BinanceFake
from engine.model import OrderStatus, Side, VenueProtocolError
from tests.live_accounts import assert_first_read, assert_margin_denied, until_account
from tests.live_accounts import live_config, live_node, submit, until_status

SYM = "BTCUSDT"
IID = f"binance:{SYM}"

# The documented single-asset-mode answer (Account Information V2), amounts as strings.
DOC_BODY = {
    "totalInitialMargin": "0.00000000", "totalMaintMargin": "0.00000000",
    "totalWalletBalance": "23.72469206", "totalMarginBalance": "23.72469206",
    "updateTime": 0, "multiAssetsMargin": False,
    "assets": [
        {"asset": "USDT", "walletBalance": "23.72469206", "unrealizedProfit": "0.00000000",
         "marginBalance": "23.72469206", "maintMargin": "0.00000000", "initialMargin": "0.00000000",
         "positionInitialMargin": "0.00000000", "openOrderInitialMargin": "0.00000000",
         "crossWalletBalance": "23.72469206", "crossUnPnl": "0.00000000",
         "availableBalance": "23.72469206", "maxWithdrawAmount": "23.72469206",
         "marginAvailable": True, "updateTime": 1625474304765},
        {"asset": "USDC", "walletBalance": "103.12345678", "unrealizedProfit": "-2.5",
         "marginBalance": "100.62345678", "maintMargin": "0.4", "initialMargin": "5.25",
         "updateTime": 1625474304765},
        {"asset": "BUSD", "walletBalance": "0.00000000", "unrealizedProfit": "0.00000000",
         "marginBalance": "0.00000000", "maintMargin": "0.00000000", "initialMargin": "0.00000000",
         "updateTime": 0}],
    "positions": []}


def test_account_information_decodes_per_asset() -> None:
    usdt, usdc = pv.account_reports(DOC_BODY, "binance", 9)
    assert (usdt.currency, usdt.balance, usdt.equity, usdt.initial_margin) == ("USDT", 23.72469206,
                                                                                 23.72469206, 0.0)
    assert (usdc.currency, usdc.balance, usdc.equity, usdc.initial_margin, usdc.maintenance_margin,
            usdc.unrealized_pnl) == ("USDC", 103.12345678, 100.62345678, 5.25, 0.4, -2.5)
    assert usdt.source == "/fapi/v2/account" and usdt.ts_recv == 9  # BUSD (all zero) left out


@pytest.mark.parametrize("body", [
    {}, [], {"assets": [{"asset": "USDT"}]},
    {"assets": [{**DOC_BODY["assets"][0], "marginBalance": "NaN"}]},  # type: ignore[dict-item]
    {"assets": [{**DOC_BODY["assets"][0], "initialMargin": None}]},  # type: ignore[dict-item]
    {"assets": [{**DOC_BODY["assets"][0], "asset": ""}]}])  # type: ignore[dict-item]
def test_malformed_account_bodies_are_protocol_errors(body: object) -> None:
    with pytest.raises(VenueProtocolError, match="malformed account"):
        pv.account_reports(body, "binance", 0)


def _config(fake: BinanceFake) -> str:
    return live_config("binance", "adapters.binance.session:BinanceVenue", f"""
ws_url = "{fake.ws_url}"
rest_url = "{fake.rest_url}"
api_key = "fake-key"
api_secret = "fake-secret"
symbols = ["BTCUSDT"]
channels = ["depth", "bookTicker"]
stale_after_s = 5.0
account_poll_s = 0.2""")


async def test_small_usdt_balance_denies_the_order_insufficient_margin(tmp_path: Path) -> None:
    async with BinanceFake((SYM,), seed=3, step_s=0.01) as fake:
        fake.account.deposit = 100.0
        async with live_node(tmp_path, _config(fake), IID) as node:
            assert_first_read(node, "binance", "USD", "/fapi/v2/account", 100.0)
            price = round(fake.books[SYM].center * 0.1 - 50.0, 1)
            im = 0.1 * price / 20.0  # 0.1 BTC at ~60,000 USDT, leverage 20: ~300 USDT
            assert_margin_denied(node, IID, "big-1", Side.BUY, 0.1, price, margin=im, limit=100.0)
            assert not fake.matcher.orders  # nothing reached the venue
            assert submit(node, IID, "small-1", Side.BUY, 0.001, price) is None  # ~3 USDT
            await until_status(node, "small-1", OrderStatus.ACCEPTED)
            # the venue now counts the working order's margin: the next read shows it
            want = 0.001 * price / 20.0
            await until_account(node, "binance", "USD",
                                lambda a: a["initial_margin"] == pytest.approx(want, abs=1e-8))


async def test_a_fill_re_reads_the_account_with_fee_and_margin(tmp_path: Path) -> None:
    async with BinanceFake((SYM,), seed=3, step_s=0.01) as fake:
        fake.account.deposit = 10_000.0
        cfg = _config(fake).replace("account_poll_s = 0.2", "account_poll_s = 600")  # events only
        async with live_node(tmp_path, cfg, IID) as node:
            ask = fake.books[SYM].best_ask() * 0.1
            assert submit(node, IID, "take-1", Side.BUY, 0.01, round(ask + 20.0, 1)) is None
            await until_status(node, "take-1", OrderStatus.FILLED)
            fills = fake.matcher.orders["take-1"].fills
            fee = sum(f.fee for f in fills)
            assert fee > 0
            # ACCOUNT_UPDATE -> a re-read of /fapi/v2/account
            acc = await until_account(node, "binance", "USD", lambda a: a["balance"] ==
                                      pytest.approx(10_000.0 - fee, abs=1e-8))
            assert acc["initial_margin"] > 0 and acc["maintenance_margin"] > 0
            entry = fake.matcher.entry[SYM]
            assert acc["initial_margin"] == pytest.approx(0.01 * entry / 20.0, rel=0.01)  # marks move
            assert node.kernel.gate.accounts.summary()["binance"]["unpriced"] == []
