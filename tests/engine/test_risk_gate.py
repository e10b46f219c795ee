"""Every first-cut risk check, hit and not hit, through the router (the only way in)."""

from __future__ import annotations

import pytest

from engine.model import (
    BookDelta,
    BookSnapshot,
    BookStatus,
    Liquidity,
    OrderDenied,
    OrderFilled,
    OrderStatus,
    OrderType,
    Side,
    SubmitOrder,
    TradingState,
    VenueStatusChanged,
)
from engine.risk import InstrumentLimits, Reason, RiskLimits
from tests.engine.conftest import CALL, PERP, make_kernel

_n = 0


def _order(inst=PERP, side=Side.BUY, qty=0.01, price: float | None = 60_000.0, **kw) -> SubmitOrder:
    global _n
    _n += 1
    return SubmitOrder(client_order_id=kw.pop("coid", f"t-{_n}"), strategy_id="t",
                       instrument_id=inst.id, side=side, quantity=qty, price=price, **kw)


def _denied(kernel, cmd) -> str | None:
    denial = kernel.router.submit(cmd)
    return None if denial is None else denial.reason


def test_a_clean_order_passes_and_reaches_the_venue() -> None:
    k, venue = make_kernel()
    events = []
    k.bus.subscribe(OrderDenied, events.append)
    assert _denied(k, _order()) is None
    assert len(venue.sent) == 1 and not events
    assert k.orders.get(venue.sent[0].client_order_id).status is OrderStatus.SUBMITTED


@pytest.mark.parametrize("cmd_kwargs,reason", [
    (dict(qty=0.0), Reason.INVALID_QUANTITY),
    (dict(qty=0.0105), Reason.OFF_LOT),
    (dict(price=60_000.25), Reason.OFF_TICK),
    (dict(price=-1.0), Reason.INVALID_PRICE),
    (dict(qty=11.0), Reason.MAX_ORDER_QTY),
    (dict(price=66_000.0), Reason.PRICE_BAND),
    (dict(price=54_000.0), Reason.PRICE_BAND),
])
def test_per_order_checks(cmd_kwargs, reason) -> None:
    k, venue = make_kernel()
    assert _denied(k, _order(**cmd_kwargs)) == reason
    assert venue.sent == []


def test_below_min_size() -> None:
    k, _ = make_kernel()
    assert _denied(k, _order(inst=CALL, qty=0.0, price=1_050.0)) == Reason.INVALID_QUANTITY
    k2, _ = make_kernel()
    from engine.model import Instrument
    k2.instruments[PERP.id] = Instrument(**{**{f: getattr(PERP, f) for f in PERP.__struct_fields__},
                                            "min_size": 0.1})
    assert _denied(k2, _order(qty=0.05)) == Reason.BELOW_MIN_SIZE


def test_unknown_instrument_and_inactive() -> None:
    k, _ = make_kernel()
    cmd = SubmitOrder(client_order_id="u-1", strategy_id="t", instrument_id="fake:NOPE",
                      side=Side.BUY, quantity=1.0, price=1.0)
    assert _denied(k, cmd) == Reason.UNKNOWN_INSTRUMENT


def test_notional_limit() -> None:
    k, _ = make_kernel(RiskLimits(max_order_notional_usd=1_000.0))
    assert _denied(k, _order(qty=0.01)) is None          # 600 USD
    assert _denied(k, _order(qty=0.02)) == Reason.MAX_ORDER_NOTIONAL  # 1200 USD


def test_option_notional_uses_underlying_and_wide_band() -> None:
    k, _ = make_kernel(RiskLimits(max_order_notional_usd=100_000.0))
    k.portfolio.set_underlying_price("BTC", 60_000.0)
    assert _denied(k, _order(inst=CALL, qty=1.0, price=1_200.0)) is None  # 14% off mid, in band
    assert _denied(k, _order(inst=CALL, qty=2.0, price=1_050.0)) == Reason.MAX_ORDER_NOTIONAL


def test_position_limit_counts_working_orders_and_per_instrument_override() -> None:
    limits = RiskLimits(max_position_qty=1.0,
                        per_instrument={PERP.id: InstrumentLimits(max_position_qty=0.02)})
    k, _ = make_kernel(limits)
    assert _denied(k, _order(qty=0.02)) is None
    assert _denied(k, _order(qty=0.01)) == Reason.MAX_POSITION  # working 0.02 + 0.01
    assert _denied(k, _order(side=Side.SELL, qty=0.02, price=60_000.0)) is None


def test_reducing_order_allowed_past_position_limit() -> None:
    k, _ = make_kernel(RiskLimits(max_position_qty=0.5))
    cmd = _order(qty=0.5)
    assert _denied(k, cmd) is None
    k.bus.publish(OrderFilled(client_order_id=cmd.client_order_id, venue_order_id="v", instrument_id=PERP.id,
                              trade_id="x", side=Side.BUY, price=60_000.0, quantity=0.5, remaining=0.0,
                              liquidity=Liquidity.TAKER, fee=0.0, fee_currency="USD", ts_event=0, ts_recv=0))
    assert k.portfolio.position(PERP.id).qty == 0.5
    assert _denied(k, _order(qty=0.01)) == Reason.MAX_POSITION
    assert _denied(k, _order(side=Side.SELL, qty=0.5)) is None


def test_kill_switch_halts_and_reduce_only_state() -> None:
    k, venue = make_kernel()
    k.set_trading_state(TradingState.HALTED, "test")
    assert _denied(k, _order()) == Reason.TRADING_HALTED
    k.set_trading_state(TradingState.REDUCING, "test")
    assert _denied(k, _order()) == Reason.REDUCE_ONLY
    k.set_trading_state(TradingState.ACTIVE, "test")
    assert _denied(k, _order()) is None


def test_book_not_live_is_denied_and_resync_requested() -> None:
    k, venue = make_kernel()
    # a delta that does not continue the book: gap -> STALE
    k.bus.publish(BookDelta(PERP.id, ((59_995.0, 1.0),), (), seq=5, prev_seq=3, ts_event=0, ts_recv=0))
    assert k.book(PERP.id).status is BookStatus.STALE
    assert venue.resyncs == [PERP.id]
    assert _denied(k, _order()) == Reason.BOOK_NOT_LIVE


def test_a_lost_connection_resets_the_venues_books_until_a_new_snapshot() -> None:
    k, venue = make_kernel()
    k.bus.publish(VenueStatusChanged("fake", "disconnected", "user stream: stale", 0, "private"))
    assert k.book(PERP.id).status is BookStatus.LIVE  # the order stream, not the books' stream
    k.bus.publish(VenueStatusChanged("fake", "disconnected", "socket closed", 0))
    assert k.book(PERP.id).status is BookStatus.SYNCING and k.book(PERP.id).best_bid() is None
    assert _denied(k, _order()) == Reason.TRADING_HALTED  # halted until reconnected too
    k.bus.publish(BookSnapshot(PERP.id, ((59_990.0, 1.0),), ((60_010.0, 1.0),), 7, 0, 0))
    assert k.book(PERP.id).status is BookStatus.LIVE


def test_crossed_book_goes_stale() -> None:
    k, venue = make_kernel()
    k.bus.publish(BookDelta(PERP.id, ((60_015.0, 1.0),), (), seq=2, prev_seq=1, ts_event=0, ts_recv=0))
    assert k.book(PERP.id).status is BookStatus.STALE and venue.resyncs == [PERP.id]


def test_max_open_orders() -> None:
    k, _ = make_kernel(RiskLimits(max_open_orders=2))
    assert _denied(k, _order()) is None
    assert _denied(k, _order(side=Side.SELL)) is None
    assert _denied(k, _order()) == Reason.MAX_OPEN_ORDERS


def test_duplicate_client_order_id() -> None:
    k, _ = make_kernel()
    assert _denied(k, _order(coid="same")) is None
    assert _denied(k, _order(coid="same")) == Reason.DUPLICATE_ORDER_ID


def test_market_order_uses_reference_for_notional() -> None:
    k, _ = make_kernel(RiskLimits(max_order_notional_usd=500.0))
    assert _denied(k, _order(qty=0.01, price=None, order_type=OrderType.MARKET)) == Reason.MAX_ORDER_NOTIONAL


def test_denial_is_an_event_with_reason_and_numbers() -> None:
    k, _ = make_kernel()
    events = []
    k.bus.subscribe(OrderDenied, events.append)
    k.router.submit(_order(qty=11.0))
    assert events and events[0].reason == Reason.MAX_ORDER_QTY and "11.0 > max 10.0" in events[0].detail
    assert k.gate.denied == {Reason.MAX_ORDER_QTY: 1}


def test_cancels_are_never_blocked() -> None:
    k, venue = make_kernel()
    cmd = _order()
    k.router.submit(cmd)
    k.set_trading_state(TradingState.HALTED, "test")
    assert k.router.cancel(k.orders.get(cmd.client_order_id))
    assert type(venue.sent[-1]).__name__ == "CancelOrder"
