"""A live node books no funding (the venue's account has it): its status said funding_usd 0
for a perpetual held for days, which reads as 'paid none'. It now names the perpetuals whose
funding the engine's PnL leaves out, and the figure is unknown (None), not 0."""

from __future__ import annotations

from pathlib import Path

from engine.clock import VirtualClock
from engine.config import load_config_text
from engine.model import Instrument, InstrumentKind, Liquidity, OrderFilled, Side
from engine.runtime import build_node
from engine.status import status_line
from tests.operator.conftest import paper_config_text

PERP = Instrument(venue="sim", symbol="BTC-PERP-LIVE", kind=InstrumentKind.PERPETUAL, base="BTC",
                  quote="USDC", settle="USDC", tick_size=0.5, lot_size=0.001, underlying="BTC")


def _node(tmp_path: Path, mode: str):  # type: ignore[no-untyped-def]
    text = paper_config_text(tmp_path / "j.sqlite")
    if mode == "live":  # (live balances come from the venue: the paper account's are removed)
        text = text.replace('mode = "paper"', 'mode = "live"').replace(
            "balances = { USDC = 25000.0 }", "")
    node = build_node(load_config_text(text), VirtualClock(1_767_225_600 * 10**9))
    node.kernel.portfolio.add_instrument(PERP)
    node.kernel.portfolio.on_fill(OrderFilled(
        client_order_id="c", venue_order_id="v", instrument_id=PERP.id, trade_id="t1",
        side=Side.BUY, price=50_000.0, quantity=0.2, remaining=0.0, liquidity=Liquidity.TAKER,
        fee=0.0, fee_currency="USDC", ts_event=0, ts_recv=0))
    return node


def test_a_live_node_names_the_perpetuals_whose_funding_it_does_not_book(tmp_path: Path) -> None:
    node = _node(tmp_path, "live")
    assert node.funding is None  # live: no funding engine
    node._status(0)
    fields = node.status_log[-1]
    assert fields["funding"] == {"booked": False, "unfunded": [PERP.id]}
    assert fields["funding_usd"] is None  # unknown here, not 0
    assert "funding unknown for 1 perp (not booked live: in the venue's account)" in status_line(fields)


def test_a_paper_node_books_funding_itself(tmp_path: Path) -> None:
    node = _node(tmp_path, "paper")
    node._status(0)
    fields = node.status_log[-1]
    assert fields["funding"]["unfunded"] == [PERP.id]  # no funding rate for it yet
    assert "booked" not in fields["funding"] and fields["funding_usd"] == 0.0
    assert "funding unknown for 1 perp (no funding rate)" in status_line(fields)
