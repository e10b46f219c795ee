"""Live accounts from OKX v5 (issue 12, point 11, live half): ``/api/v5/account/balance`` and
the ``account`` channel decoded (single-currency margin: one account per currency; multi-
currency/portfolio margin: one USD pool); a live node on the fake whose BTC account is small
has its order on the inverse swap denied INSUFFICIENT_MARGIN. Expected margins are written here
from the documented rule for coin-margined futures (engine/margin.py: IM 2 % + 0.005 % per
coin of the position's coin value, contracts x 100 USD / price)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from adapters.okx import private as pv
from adapters.okx.fake import OkxFake
from engine.model import OrderStatus, Side, VenueProtocolError
from tests.live_accounts import assert_first_read, assert_margin_denied, until_account
from tests.live_accounts import live_config, live_node, submit, until_status

INST = "BTC-USD-SWAP"
IID = f"okx:{INST}"

SINGLE = {"totalEq": "61000.5", "adjEq": "", "imr": "", "mmr": "", "upl": "", "uTime": "1700000000000",
          "details": [{"ccy": "BTC", "cashBal": "1.00001", "eq": "1.00101", "upl": "0.001",
                       "imr": "0.02", "mmr": "0.01", "availEq": "0.98", "uTime": "1700000000001"}]}
MULTI = {"totalEq": "50500", "adjEq": "50200", "imr": "1200.5", "mmr": "300.25", "upl": "500",
         "uTime": "1700000000000", "details": [{"ccy": "USDT", "cashBal": "50000", "eq": "50500",
                                                 "upl": "500", "imr": "", "mmr": ""}]}


def test_single_currency_margin_is_per_currency_and_multi_currency_is_one_usd_pool() -> None:
    (btc,) = pv.balance_reports([SINGLE], 3)
    assert (btc.venue, btc.currency, btc.balance, btc.equity, btc.unrealized_pnl,
            btc.initial_margin, btc.maintenance_margin) == ("okx", "BTC", 1.00001, 1.00101, 0.001, 0.02, 0.01)
    assert btc.ts_event == 1_700_000_000_001 * 1_000_000
    (usd,) = pv.balance_reports([MULTI], 3, "account")
    assert (usd.currency, usd.equity, usd.initial_margin, usd.maintenance_margin, usd.source) == (
        "USD", 50200.0, 1200.5, 300.25, "account")
    assert usd.balance == 50000.0  # totalEq - upl


@pytest.mark.parametrize("rows", [
    None, [{"imr": "", "details": [{"ccy": "BTC"}]}], [{**SINGLE, "details": [{**SINGLE["details"][0], "eq": ""}]}],  # type: ignore[index, dict-item]
    [{**MULTI, "adjEq": "NaN"}], [{**SINGLE, "details": [{**SINGLE["details"][0], "ccy": 1}]}]])  # type: ignore[index, dict-item]
def test_malformed_balances_are_protocol_errors(rows: object) -> None:
    with pytest.raises(VenueProtocolError, match="okx private: malformed balance"):
        pv.balance_reports(rows, 0)


def _config(fake: OkxFake) -> str:
    return live_config("okx", "adapters.okx.session:OkxVenue", f"""
public_url = "{fake.public_url}"
private_url = "{fake.private_url}"
rest_url = "{fake.rest_url}"
api_key = "fake-key"
api_secret = "fake-secret"
passphrase = "fake-pass"
inst_ids = ["{INST}"]
channels = ["books", "trades"]
heartbeat_interval_s = 5.0
stale_after_s = 6.0
account_poll_s = 600""")


def _coin_im(contracts: float, price: float) -> float:
    coins = contracts * 100.0 / price
    return coins * (0.02 + 0.00005 * coins)


async def test_small_btc_account_denies_the_order_then_the_account_channel_follows_a_fill(
        tmp_path: Path) -> None:
    async with OkxFake((INST,), seed=5, step_s=0.01) as fake:
        fake.deposit["BTC"] = 0.0002
        async with live_node(tmp_path, _config(fake), IID) as node:
            assert_first_read(node, "okx", "BTC", "/api/v5/account/balance", 0.0002)
            book = fake.books[INST]
            price = round(book.best_ask() * book.spec.tick + 20.0, 1)
            # 1,000 USD: ~0.00033 BTC IM
            assert_margin_denied(node, IID, "big-1", Side.BUY, 10, price,
                                 margin=_coin_im(10, price), limit=0.0002)
            assert not fake.orders
            assert submit(node, IID, "take-1", Side.BUY, 1, price) is None  # 100 USD fits
            await until_status(node, "take-1", OrderStatus.FILLED)
            fee = -sum(float(f["fee"]) for f in fake.fills)
            # the account push after the fill
            acc = await until_account(node, "okx", "BTC", lambda a: a["source"] == "account")
            assert acc["balance"] == pytest.approx(0.0002 - fee, abs=1e-12)
            entry = fake.positions[INST][1]
            assert acc["initial_margin"] == pytest.approx(0.02 * 100.0 / entry, rel=0.01)  # the fake's 2 %
            assert orjson.loads(orjson.dumps(node.kernel.gate.accounts.summary()))["okx"]["exposure"] == {
                "BTC": pytest.approx(acc["equity"], abs=1e-10)}
