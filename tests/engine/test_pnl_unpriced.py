"""PnL says what it does not know: with no USD price for a coin, ``pnl_usd`` reported realized,
fees and total as 0.00 USD (the coin amounts listed apart as 'unpriced'), and the status line
read 'PnL +0.00 USD' for a desk holding an inverse perpetual before its first index price.
A figure nothing of which has a USD price is now unknown (NaN in ``pnl_usd``, None in the
status event, 'unpriced' on the line) with the amounts in their own currency; a total with a
priced part that leaves amounts out is 'partial'. Checked against the arithmetic of the fills."""

from __future__ import annotations

import math

import pytest

from engine.clock import VirtualClock
from engine.kernel import Kernel
from engine.model import Instrument, InstrumentKind, Liquidity, OrderFilled, Side
from engine.risk import RiskLimits
from engine.status import status_fields, status_line
from tests.risk.helpers import PERP, Venue

INV = Instrument(venue="fake", symbol="BTC-USD-INV", kind=InstrumentKind.PERPETUAL, base="BTC",
                 quote="USD", settle="BTC", inverse=True, contract_size=10.0, tick_size=0.5,
                 lot_size=1.0, min_size=1.0)
_n = 0


def _fill(k: Kernel, inst: Instrument, side: Side, qty: float, price: float, fee: float) -> None:
    global _n
    _n += 1
    k.portfolio.on_fill(OrderFilled(
        client_order_id="x", venue_order_id="v", instrument_id=inst.id, trade_id=f"t{_n}", side=side,
        price=price, quantity=qty, remaining=0.0, liquidity=Liquidity.TAKER, fee=fee,
        fee_currency=inst.settle, ts_event=0, ts_recv=0))


def _kernel() -> Kernel:
    k = Kernel(VirtualClock(1_000_000_000), RiskLimits(), None)  # no index price for BTC yet
    k.add_adapter(Venue())
    k.add_instruments([INV, PERP])
    return k


def test_an_inverse_position_before_any_index_price_is_unpriced_never_0_usd() -> None:
    k = _kernel()
    _fill(k, INV, Side.BUY, 100.0, 60_000.0, 0.0001)
    _fill(k, INV, Side.SELL, 40.0, 62_000.0, 0.00005)
    realized_btc = 40 * 10.0 * (1 / 60_000.0 - 1 / 62_000.0)  # coin, inverse
    k.portfolio.set_mark(INV.id, 62_000.0)
    unrealized_btc = 60 * 10.0 * (1 / 60_000.0 - 1 / 62_000.0)
    net_btc = realized_btc + unrealized_btc - 0.00015
    pnl = k.portfolio.pnl_usd()
    for fig in ("realized", "unrealized", "fees", "total"):
        assert math.isnan(pnl[fig]), fig
    assert pnl["funding"] == 0.0  # nothing to price: a known zero
    assert not pnl["partial"] and pnl["priced_total"] == 0.0
    assert pnl["unpriced"] == {"BTC": pytest.approx(net_btc, rel=1e-12)}
    fields = status_fields(k)
    assert fields["pnl_usd"] is None and fields["realized_usd"] is None and fields["fees_usd"] is None
    line = status_line(fields)
    assert f"| PnL unpriced ({net_btc:+.8g} BTC) |" in line, line
    assert "PnL +0.00" not in line and "PnL 0" not in line


def test_a_partly_priced_total_says_it_is_partial() -> None:
    k = _kernel()
    _fill(k, INV, Side.BUY, 100.0, 60_000.0, 0.0)
    _fill(k, INV, Side.SELL, 100.0, 62_000.0, 0.0)
    _fill(k, PERP, Side.BUY, 1.0, 60_000.0, 0.0)
    _fill(k, PERP, Side.SELL, 1.0, 60_012.5, 0.0)  # +12.50 USD realized
    pnl = k.portfolio.pnl_usd()
    assert pnl["total"] == pytest.approx(12.5) and pnl["realized"] == pytest.approx(12.5)
    assert pnl["partial"]
    fields = status_fields(k)
    assert fields["pnl_usd"] == 12.5 and fields["pnl_partial"] is True
    btc = 100 * 10.0 * (1 / 60_000.0 - 1 / 62_000.0)
    assert f"| PnL +12.50 USD partial (unpriced: {btc:+.8g} BTC) |" in status_line(fields)
    k.portfolio.set_underlying_price("BTC", 61_000.0)  # the index arrives: everything priced
    pnl = k.portfolio.pnl_usd()
    assert pnl["total"] == pytest.approx(12.5 + btc * 61_000.0) and not pnl["partial"]
    assert pnl["unpriced"] == {}
    assert "partial" not in status_line(status_fields(k))


def test_a_position_without_a_mark_leaves_its_unrealized_unknown() -> None:
    k = _kernel()
    k.portfolio.set_underlying_price("BTC", 60_000.0)
    _fill(k, PERP, Side.BUY, 1.0, 60_000.0, 0.0)
    k.portfolio.set_mark(PERP.id, 60_100.0)
    k.portfolio.adjust_position(INV.id, 10.0, 0.0)  # (reconciled, no price known: no mark)
    pnl = k.portfolio.pnl_usd()
    assert pnl["unrealized"] == pytest.approx(100.0) and pnl["partial"]
    assert pnl["unmarked"] == [INV.id] and pnl["unpriced"] == {}
    assert "| PnL +100.00 USD partial (1 position without a mark) |" in status_line(status_fields(k))


def test_the_operator_api_says_null_and_partial_never_0() -> None:
    from engine.operator.views import state_view

    k = _kernel()
    _fill(k, INV, Side.BUY, 100.0, 60_000.0, 0.0001)
    pnl = state_view(k)["pnl_usd"]
    assert pnl["total"] is None and pnl["fees"] is None and pnl["partial"] is False
    assert pnl["unpriced"] == {"BTC": pytest.approx(-0.0001)} and pnl["priced_total"] == 0.0


def test_volta_status_writes_unpriced_and_partial_never_0() -> None:
    from engine.operator.client import render_status
    from engine.operator.views import state_view

    k = _kernel()
    _fill(k, INV, Side.BUY, 100.0, 60_000.0, 0.0001)
    snap = {"state": state_view(k), "positions": [], "orders": {"open": []}, "risk": {"limits": []},
            "surface": {}, "venues": {}, "strategies": {}}
    head = render_status(snap).splitlines()[0]
    assert "PnL unpriced (realized 0.00 USD, unrealized 0.00 USD, fees unpriced)" in head, head  # (0: none)
    assert "unpriced -0.0001 BTC (no USD price yet)" in head
    _fill(k, PERP, Side.BUY, 1.0, 60_000.0, 0.0)
    _fill(k, PERP, Side.SELL, 1.0, 60_012.5, 0.0)
    snap["state"] = state_view(k)
    assert "PnL 12.50 USD partial (realized 12.50 USD" in render_status(snap).splitlines()[0]


def test_the_firm_report_keeps_sending_the_priced_part_with_the_unpriced_beside() -> None:
    """The node's exposure report sums into the firm's PnL: a NaN there would make the whole
    firm's figure NaN, so it sends the priced part (0 here) and the unpriced amounts apart."""
    from cluster.exposure import build_report

    k = _kernel()
    _fill(k, INV, Side.BUY, 100.0, 60_000.0, 0.0001)
    pnl = build_report(k, "n", 1, 1, 0, 0).pnl_usd
    assert (pnl.realized, pnl.unrealized, pnl.fees, pnl.total, pnl.funding) == (0.0, 0.0, 0.0, 0.0, 0.0)
    assert pnl.unpriced == {"BTC": pytest.approx(-0.0001)}
