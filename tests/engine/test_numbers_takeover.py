"""A position the engine takes over from the venue without an entry price (reconciliation:
the venue reports the quantity, its average price is missing) has no entry to measure PnL
from. It is entered at the first price the engine sees for it (its mark then, else the next
mark or fill): never at 0, which booked the whole notional as profit (linear) or divided by
zero on the next fill (inverse). Expected figures by hand."""

from __future__ import annotations

import math

import pytest

from engine.model import Instrument, InstrumentKind, Liquidity, OrderFilled, Side
from engine.portfolio import Portfolio

LIN = Instrument(venue="binance", symbol="BTCUSDT", kind=InstrumentKind.PERPETUAL, base="BTC",
                 quote="USDT", settle="USDT", tick_size=0.1, lot_size=0.001)
INV = Instrument(venue="deribit", symbol="BTC-PERPETUAL", kind=InstrumentKind.PERPETUAL,
                 base="BTC", quote="USD", settle="BTC", inverse=True, contract_size=1.0,
                 tick_size=0.5, lot_size=10.0)


def _fill(inst: Instrument, side: Side, qty: float, px: float, tid: str) -> OrderFilled:
    return OrderFilled(client_order_id="c", venue_order_id="v", instrument_id=inst.id,
                       trade_id=tid, side=side, price=px, quantity=qty, remaining=0.0,
                       liquidity=Liquidity.TAKER, fee=0.0, fee_currency=inst.settle,
                       ts_event=0, ts_recv=0)


def test_a_linear_position_taken_over_without_entry_is_not_all_profit() -> None:
    pf = Portfolio([LIN])
    pf.set_underlying_price("BTC", 50_000.0)
    pf.adjust_position(LIN.id, 1.0, 0.0)  # 1 BTC long, the venue gave no average price
    pnl = pf.pnl_usd()
    assert math.isnan(pnl["unrealized"]) and pnl["unmarked"] == [LIN.id]  # unknown, not 0
    pf.set_mark(LIN.id, 50_000.0)  # first price seen: the entry
    pos = pf.position(LIN.id)
    assert pos.avg_price == 50_000.0 and pos.unrealized() == 0.0
    pf.set_mark(LIN.id, 51_000.0)
    assert pos.unrealized() == pytest.approx(1.0 * (51_000.0 - 50_000.0))  # +1,000 USDT
    pf.on_fill(_fill(LIN, Side.SELL, 1.0, 52_000.0, "1"))
    assert pos.realized == pytest.approx(2_000.0) and pos.qty == 0.0


def test_an_inverse_position_taken_over_without_entry_takes_its_next_fill() -> None:
    pf = Portfolio([INV])
    pf.adjust_position(INV.id, 1_000.0, 0.0)  # 1,000 USD long, no average price, no mark
    pf.on_fill(_fill(INV, Side.BUY, 100.0, 50_000.0, "1"))  # enters at 50,000, adds at 50,000
    pos = pf.position(INV.id)
    assert pos.qty == 1_100.0 and pos.avg_price == pytest.approx(50_000.0)
    pf.on_fill(_fill(INV, Side.SELL, 1_100.0, 55_000.0, "2"))
    assert pos.realized == pytest.approx(1_100.0 * (1 / 50_000.0 - 1 / 55_000.0))  # in BTC


def test_a_takeover_with_a_mark_enters_at_that_mark() -> None:
    pf = Portfolio([LIN])
    pf.on_fill(_fill(LIN, Side.BUY, 0.5, 40_000.0, "1"))
    pf.set_mark(LIN.id, 42_000.0)
    pf.on_fill(_fill(LIN, Side.SELL, 0.5, 42_000.0, "2"))  # flat: realized 1,000
    pf.set_mark(LIN.id, 43_000.0)
    pf.adjust_position(LIN.id, -2.0, math.nan)  # the venue says 2 short, no average
    pos = pf.position(LIN.id)
    assert pos.avg_price == 43_000.0 and pos.unrealized() == 0.0
    assert pos.realized == pytest.approx(0.5 * 2_000.0)


def test_a_takeover_with_no_entry_and_no_price_yet_journals_a_readable_record(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Two reconciliations with no average price and no price between them: the second one's
    record carried the unknown entry as NaN, which the JSON journal writes as null and a
    rebuild could not read back (the restart failed). The journal's word for it is 0."""
    from engine.journal import Journal, PositionAdjusted
    from engine.model import PositionReport, VenueReconciliation
    from engine.reconcile import apply_reconciliation, rebuild
    from tests.risk.helpers import PERP, make

    jp = tmp_path / "j.sqlite"
    k, _ = make(journal=Journal(jp))

    def report(qty: float) -> VenueReconciliation:
        return VenueReconciliation(venue=PERP.venue, open_orders=(), fills=(), positions=(
            PositionReport(instrument_id=PERP.id, quantity=qty, avg_price=math.nan,
                           ts_event=0, ts_recv=0),), ts=0)

    apply_reconciliation(k, report(0.3))
    apply_reconciliation(k, report(0.5))
    assert math.isnan(k.portfolio.position(PERP.id).avg_price)  # no price seen yet: unknown
    k.journal.flush()
    k.journal.close()
    records = [r[4] for r in Journal(jp, read_only=True).records()]
    adjusted = [r for r in records if isinstance(r, PositionAdjusted)]
    assert [(r.quantity, r.avg_price) for r in adjusted] == [(0.3, 0.0), (0.5, 0.0)]
    k2, _ = make(journal=Journal(jp))
    rebuild(k2, k2.journal)
    pos = k2.portfolio.position(PERP.id)
    assert pos.qty == 0.5 and math.isnan(pos.avg_price)


def test_a_reconciliation_that_shrinks_a_position_realizes_the_gone_part_at_its_mark(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The venue says 0.2 where the engine holds 0.5 (fills it never reported; or an expiry the
    venue settled): the 0.3 that went away was closed somewhere, not at the entry. Its PnL
    is realized at the position's mark, which is journaled, so a rebuild books the same:
    before, the adjustment dropped that part's unrealized PnL from every total."""
    from engine.journal import Journal, PositionAdjusted
    from engine.model import PositionReport, VenueReconciliation
    from engine.reconcile import apply_reconciliation, rebuild
    from tests.risk.helpers import PERP, fill, make, order

    jp = tmp_path / "j.sqlite"
    k, _ = make(journal=Journal(jp))
    buy = order(PERP, qty=0.5, price=60_000.0)
    assert k.router.submit(buy) is None
    fill(k, buy)  # journaled: a rebuild has the position before the adjustment
    k.portfolio.set_mark(PERP.id, 61_000.0)
    before = k.portfolio.pnl_usd()["total"]
    assert before == pytest.approx(0.5 * 1_000.0)  # unrealized 500 USD
    apply_reconciliation(k, VenueReconciliation(venue=PERP.venue, open_orders=(), fills=(), positions=(
        PositionReport(instrument_id=PERP.id, quantity=0.2, avg_price=60_000.0, ts_event=0,
                       ts_recv=0),), ts=0))
    pos = k.portfolio.position(PERP.id)
    assert pos.qty == pytest.approx(0.2) and pos.realized == pytest.approx(0.3 * 1_000.0)
    assert k.portfolio.pnl_usd()["total"] == pytest.approx(before)  # no jump: 300 + 200
    k.journal.flush()
    k.journal.close()
    adjusted = [r[4] for r in Journal(jp, read_only=True).records() if isinstance(r[4], PositionAdjusted)]
    assert [a.close_price for a in adjusted] == [61_000.0]
    k2, _ = make(journal=Journal(jp))
    rebuild(k2, k2.journal)
    assert k2.portfolio.position(PERP.id).realized == pytest.approx(0.3 * 1_000.0)


def test_an_inverse_position_zeroed_by_the_venue_realizes_in_coin_at_its_mark() -> None:
    # live expiry of an inverse future the venue settled: 2,000 USD long from 40,000, last
    # mark 44,000: 2,000 x (1/40,000 - 1/44,000) BTC realized; 0 mark known: nothing realized
    pf = Portfolio([INV])
    pf.on_fill(_fill(INV, Side.BUY, 2_000.0, 40_000.0, "1"))
    pf.set_mark(INV.id, 44_000.0)
    pf.adjust_position(INV.id, 0.0, 0.0, 44_000.0)
    pos = pf.position(INV.id)
    assert pos.qty == 0.0 and pos.realized == pytest.approx(2_000.0 * (1 / 40_000 - 1 / 44_000))
    pf.on_fill(_fill(INV, Side.SELL, 1_000.0, 40_000.0, "2"))
    pf.adjust_position(INV.id, 0.0, 0.0)  # no price known: the PnL of the gone part is not guessed
    assert pos.realized == pytest.approx(2_000.0 * (1 / 40_000 - 1 / 44_000))


def test_a_snapshot_of_a_takeover_with_entry_0_restores_as_unknown_entry() -> None:
    """A snapshot written before the fix kept such a position with an entry of 0: restored,
    an inverse one raised ZeroDivisionError on every PnL read; now it is an unknown entry."""
    from decimal import Decimal

    from engine.portfolio_state import PortfolioState, PositionState

    state = PortfolioState(positions=[PositionState(
        instrument_id=INV.id, quantity=Decimal("1000"), avg_price=0.0, realized=0.0, fees=0.0,
        funding=0.0, traded=Decimal("0"), fills=0, mark=math.nan)], trades=[], fills=0,
        duplicate_fills=0, adjustments=1)
    pf = Portfolio([INV])
    pf.restore(state)
    pf.set_underlying_price("BTC", 50_000.0)
    assert pf.pnl_usd()["unmarked"] == [INV.id]
    pf.set_mark(INV.id, 50_000.0)  # entered here
    pf.set_mark(INV.id, 40_000.0)
    assert pf.position(INV.id).unrealized() == pytest.approx(1_000.0 * (1 / 50_000 - 1 / 40_000))
