"""A perpetual position no funding rate reaches is listed as unfunded: its funding is unknown,
not the 0 the books show (engine/funding.py)."""

from __future__ import annotations

from engine.bus import MessageBus
from engine.clock import VirtualClock
from engine.funding import FundingEngine
from engine.model import FundingRate, Instrument, InstrumentKind, Liquidity, OrderFilled, Side
from engine.portfolio import Portfolio

T0 = 1_767_225_600_000_000_000
H = 3_600_000_000_000
FUNDED = Instrument(venue="a", symbol="BTCUSDT", kind=InstrumentKind.PERPETUAL, base="BTC",
                    quote="USDT", settle="USDT", tick_size=0.1, lot_size=0.001, underlying="BTC")
SILENT = Instrument(venue="b", symbol="BTCUSDT", kind=InstrumentKind.PERPETUAL, base="BTC",
                    quote="USDT", settle="USDT", tick_size=0.1, lot_size=0.001, underlying="BTC")
FLAT = Instrument(venue="c", symbol="BTCUSDT", kind=InstrumentKind.PERPETUAL, base="BTC",
                  quote="USDT", settle="USDT", tick_size=0.1, lot_size=0.001, underlying="BTC")


def _fill(pf: Portfolio, inst: Instrument, side: Side, n: int) -> None:
    pf.on_fill(OrderFilled(client_order_id=f"c{n}", venue_order_id="v", instrument_id=inst.id,
                           trade_id=f"t{n}", side=side, price=60_000.0, quantity=0.5, remaining=0.0,
                           liquidity=Liquidity.TAKER, fee=0.0, fee_currency="USDT",
                           ts_event=0, ts_recv=0))


def test_a_position_without_any_funding_rate_is_listed_unfunded() -> None:
    clock, bus = VirtualClock(T0), MessageBus()
    pf = Portfolio([FUNDED, SILENT, FLAT])
    fe = FundingEngine(bus, pf, clock, pf.instrument)
    _fill(pf, FUNDED, Side.BUY, 1)
    _fill(pf, SILENT, Side.SELL, 2)
    _fill(pf, FLAT, Side.BUY, 3)
    _fill(pf, FLAT, Side.SELL, 4)  # flat again: nothing to fund
    bus.publish(FundingRate(FUNDED.id, 0.0001, T0 + 8 * H, T0, T0))
    clock.advance_to(T0 + 8 * H)
    assert fe.payments == 1
    assert fe.unfunded() == [SILENT.id]
    assert fe.summary()["unfunded"] == [SILENT.id]
