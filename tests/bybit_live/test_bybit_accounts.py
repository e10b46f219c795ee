"""Live accounts from Bybit v5 (issue 12, point 11, live half): ``/v5/account/wallet-balance``
and the ``wallet`` topic decoded (a unified account is one USD pool; otherwise per coin); a
live node on the fake whose unified wallet is small has its order denied INSUFFICIENT_MARGIN.
The expected margin is written here from the documented linear rule (notional / 20)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from adapters.bybit import private as pv
from adapters.bybit.fake import BybitFake
from engine.model import AccountReported, OrderStatus, Side, VenueProtocolError
from tests.live_accounts import assert_first_read, assert_margin_denied, until_account
from tests.live_accounts import live_config, live_node, submit, until_status

SYM = "BTCUSDT"
IID = f"bybit:{SYM}"

UTA = {"accountType": "UNIFIED", "totalEquity": "3.31216591", "totalWalletBalance": "3.00326056",
       "totalMarginBalance": "3.00326056", "totalAvailableBalance": "2.70326056",
       "totalPerpUPL": "0.25", "totalInitialMargin": "0.3", "totalMaintenanceMargin": "0.05",
       "accountIMRate": "0", "accountMMRate": "0", "accountLTV": "0",
       "coin": [{"coin": "USDT", "walletBalance": "3.00326056", "equity": "3.25326056",
                 "unrealisedPnl": "0.25", "totalPositionIM": "0.3", "totalOrderIM": "0",
                 "totalPositionMM": "0.05"}]}
CLASSIC = {"accountType": "CONTRACT", "totalEquity": "", "totalWalletBalance": "",
           "totalMarginBalance": "", "totalPerpUPL": "", "totalInitialMargin": "",
           "totalMaintenanceMargin": "",
           "coin": [{"coin": "BTC", "walletBalance": "0.5", "equity": "0.52", "unrealisedPnl": "0.02",
                     "totalPositionIM": "0.01", "totalOrderIM": "0.005", "totalPositionMM": "0.004"}]}


def test_unified_wallet_is_one_usd_account_and_classic_wallets_are_per_coin() -> None:
    (uta,) = pv.wallet_reports([UTA], "bybit", 4)
    assert (uta.currency, uta.balance, uta.equity, uta.initial_margin, uta.maintenance_margin,
            uta.unrealized_pnl) == ("USD", 3.00326056, 3.00326056, 0.3, 0.05, 0.25)
    (btc,) = pv.wallet_reports([CLASSIC], "bybit", 4)
    assert (btc.currency, btc.balance, btc.equity, btc.maintenance_margin) == ("BTC", 0.5, 0.52, 0.004)
    assert btc.initial_margin == pytest.approx(0.01 + 0.005, abs=1e-15)


def test_wallet_topic_frame_is_decoded_to_account_reports() -> None:
    dec = pv.PrivateDecoder("bybit", lambda s: f"bybit:{s}", lambda s: "USDT")
    frame = orjson.dumps({"id": "w-1", "topic": "wallet", "creationTime": 1, "data": [UTA]})
    (ev,) = dec.decode(frame, 7)
    assert isinstance(ev, AccountReported) and ev.source == "wallet" and ev.equity == 3.00326056


@pytest.mark.parametrize("rows", [
    None, {}, [{"totalMarginBalance": "1", "totalWalletBalance": "x"}],
    [{**UTA, "totalInitialMargin": "inf"}], [{**CLASSIC, "coin": [{"coin": "BTC"}]}],
    [{**CLASSIC, "coin": [{**CLASSIC["coin"][0], "coin": None}]}]])  # type: ignore[index, dict-item]
def test_malformed_wallets_are_protocol_errors(rows: object) -> None:
    with pytest.raises(VenueProtocolError, match="malformed wallet"):
        pv.wallet_reports(rows, "bybit", 0)


def _config(fake: BybitFake) -> str:
    return live_config("bybit", "adapters.bybit.session:BybitVenue", f"""
ws_url = "{fake.ws_url}"
rest_url = "{fake.rest_url}"
api_key = "fake-key"
api_secret = "fake-secret"
symbols = ["BTCUSDT"]
channels = ["orderbook"]
heartbeat_interval_s = 2.0
stale_after_s = 5.0
account_poll_s = 600""")


async def test_small_unified_wallet_denies_the_order_then_a_fill_updates_it(tmp_path: Path) -> None:
    async with BybitFake((SYM,), seed=3, step_s=0.01) as fake:
        fake.account.deposit = 100.0
        async with live_node(tmp_path, _config(fake), IID) as node:
            assert_first_read(node, "bybit", "USD", "/v5/account/wallet-balance", 100.0)
            ask = fake.books[SYM].best_ask() * 0.1
            price = round(ask + 10.0, 1)
            assert_margin_denied(node, IID, "big-1", Side.BUY, 0.1, price,
                                 margin=0.1 * price / 20.0, limit=100.0)  # ~300 USD > 100
            assert not fake.matcher.orders
            assert submit(node, IID, "take-1", Side.BUY, 0.01, price) is None  # ~30 USD: fits
            await until_status(node, "take-1", OrderStatus.FILLED)
            fee = sum(f.fee for f in fake.matcher.orders["take-1"].fills)
            # the wallet topic after the fill
            acc = await until_account(node, "bybit", "USD", lambda a: a["source"] == "wallet")
            assert acc["balance"] == pytest.approx(100.0 - fee, abs=1e-8)
            assert acc["initial_margin"] == pytest.approx(0.01 * fake.matcher.entry[SYM] / 20.0, rel=0.01)
            # more on top of the venue's margin: the venue's IM + the order's, at the position's
            # mark (engine/margin.py's linear rule), against the venue's equity
            pos = node.kernel.portfolio.position(IID)
            mark = pos.mark if pos.mark == pos.mark else pos.avg_price
            st = node.kernel.gate.accounts.state("bybit", "USD")
            assert_margin_denied(node, IID, "big-2", Side.BUY, 0.03, price,
                                 margin=st.initial_margin + 0.03 * mark / 20.0, limit=st.equity,
                                 rel=1e-9)
