"""Live accounts from Deribit's private API (issue 12, point 11, live half): the decoder on a
recorded ``user.portfolio`` sample, and a whole live node on the fake venue whose account
book follows ``private/get_account_summary`` and ``user.portfolio``, so that the gate denies
an order the venue account cannot margin. Expected margins are written here from the
documented rules (engine/margin.py: futures IM 2 % + 0.005 % per coin of the coin value)."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import orjson
import pytest

from adapters.deribit import private as pv
from adapters.deribit.fake import DeribitFake
from engine.model import OrderDenied, OrderStatus, Side, VenueProtocolError
from engine.status import status_fields
from tests.live_accounts import assert_first_read, assert_margin_denied
from tests.live_accounts import live_config, live_node, submit, until_status
from tests.live_common import needs_samples, samples_dir

SAMPLES = samples_dir("deribit")
SYM = "BTC-PERPETUAL"
IID = f"deribit:{SYM}"

CONFIG = live_config("deribit", "adapters.deribit.session:DeribitVenue", """
ws_url = "{url}"
client_id = "fake-id"
client_secret = "fake-secret"
instruments = ["BTC-PERPETUAL"]
channels = ["book", "trades", "ticker"]
book_interval = "raw"
heartbeat_interval_s = 10
stale_after_s = 6.0""")


@needs_samples(SAMPLES)
def test_recorded_portfolio_notification_decodes_to_the_venue_figures() -> None:
    msg = orjson.loads((SAMPLES / "ws_portfolio.json").read_bytes())
    acc = pv.parse_account(msg["params"]["data"], "user.portfolio", 5)
    assert (acc.venue, acc.currency, acc.source, acc.ts_recv) == ("deribit", "USDT", "user.portfolio", 5)
    assert acc.balance == 55.00055
    assert acc.equity == 54.968258  # margin_balance: available_funds = 54.968258 - 1.100011
    assert acc.equity - acc.initial_margin == pytest.approx(53.868247, abs=1e-9)
    assert (acc.initial_margin, acc.maintenance_margin, acc.unrealized_pnl) == (1.100011, 0.0, 0.0)


@pytest.mark.parametrize("data", [
    {"balance": 1.0, "margin_balance": 1.0, "initial_margin": 0.0, "maintenance_margin": 0.0},
    {"currency": "BTC", "balance": "1", "margin_balance": 1.0, "initial_margin": 0.0,
     "maintenance_margin": 0.0},
    {"currency": "BTC", "balance": 1.0, "margin_balance": math.nan, "initial_margin": 0.0,
     "maintenance_margin": 0.0},
    {"currency": "BTC", "balance": 1.0, "margin_balance": 1.0, "maintenance_margin": 0.0},
    {"currency": 7, "balance": 1.0, "margin_balance": 1.0, "initial_margin": 0.0,
     "maintenance_margin": 0.0},
    [1, 2], None])
def test_malformed_account_summaries_are_protocol_errors(data: object) -> None:
    with pytest.raises(VenueProtocolError, match="deribit private: "):
        pv.parse_account(data, "user.portfolio", 0)


def _coin_im(usd: float, price: float) -> float:
    coins = usd / price
    return coins * (0.02 + 0.00005 * coins)


async def test_small_venue_balance_denies_the_order_insufficient_margin(tmp_path: Path) -> None:
    async with DeribitFake((SYM,), seed=11, step_s=0.005) as fake:
        fake.balance["BTC"] = 0.001
        async with live_node(tmp_path, CONFIG.replace("{url}", fake.url), IID) as node:
            assert_first_read(node, "deribit", "BTC", "private/get_account_summary", 0.001)
            price = fake.books[SYM].best_bid() - 500.0
            usd = 5000.0
            assert _coin_im(usd, price) > 0.001  # the order needs more than the account holds
            denied: list[OrderDenied] = []
            node.kernel.bus.subscribe(OrderDenied, denied.append)
            assert_margin_denied(node, IID, "big-1", Side.BUY, usd, price,
                                 margin=_coin_im(usd, price), limit=0.001)
            assert [d.reason for d in denied] == ["INSUFFICIENT_MARGIN"]
            assert not fake.orders  # nothing reached the venue
            small = 20.0  # 20 USD: IM ~ 1.3e-5 BTC fits
            assert submit(node, IID, "small-1", Side.BUY, small, price) is None
            await until_status(node, "small-1", OrderStatus.ACCEPTED)


async def test_account_book_follows_the_portfolio_stream_after_a_fill(tmp_path: Path) -> None:
    async with DeribitFake((SYM,), seed=11, step_s=0.005) as fake:
        async with live_node(tmp_path, CONFIG.replace("{url}", fake.url), IID) as node:
            ask = fake.books[SYM].best_ask()
            assert submit(node, IID, "take-1", Side.BUY, 1000.0, ask + 50.0) is None
            book = node.kernel.gate.accounts
            async with asyncio.timeout(5):
                while not (node.kernel.orders.get("take-1").status is OrderStatus.FILLED
                           and book.state("deribit", "BTC").source == "user.portfolio"
                           and book.state("deribit", "BTC").initial_margin > 0):
                    await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)  # the last notification of the fill
            st = book.state("deribit", "BTC")
            venue = fake.account_summary("BTC")
            # the book holds exactly what the venue reported last (its margin, its marks)
            fees = sum(t["fee"] for t in fake.trades)
            assert st.balance == pytest.approx(10.0 - fees, abs=1e-12)
            assert st.initial_margin == pytest.approx(venue["initial_margin"], rel=0.05)
            coins = 1000.0 / fake.positions[SYM][1]
            assert st.initial_margin == pytest.approx(0.02 * coins, rel=0.05)  # the fake's 2 % rule
            summary = status_fields(node.kernel)["accounts"]["deribit"]
            acc = summary["accounts"]["BTC"]
            assert acc["source"] == "user.portfolio"
            assert acc["available"] == pytest.approx(st.equity - st.initial_margin, abs=1e-9)
            # exposure = collateral + unrealized PnL held there = the venue's margin balance
            upl = book.reported[("deribit", "BTC")].unrealized_pnl
            assert summary["exposure"] == {"BTC": pytest.approx(st.balance + upl, abs=1e-9)}
            if summary["unpriced"]:  # no BTC index on this feed: not silently 0 in USD
                assert summary["unpriced"] == ["BTC"] and acc["equity_usd"] is None
