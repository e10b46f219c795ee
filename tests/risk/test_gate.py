"""Every risk check, hit and not hit, through the router (the only way in)."""

from __future__ import annotations

import types

import numpy as np
import pytest

from engine.model import BookDelta, BookStatus, OrderDenied, OrderType, Side, TradingState
from engine.risk import InstrumentLimits, RateLimit, Reason, RiskLimits, UnderlyingLimits
from tests.risk.helpers import CALL, CALL2, PERP, PUT, fill, make, order, position, reason


def test_clean_order_passes_and_denials_carry_numbers() -> None:
    k, venue = make()
    events: list[OrderDenied] = []
    k.bus.subscribe(OrderDenied, events.append)
    assert reason(k, order()) is None and len(venue.sent) == 1
    d = k.router.submit(order(qty=11.0))
    assert d is not None and d.reason == Reason.MAX_ORDER_QTY and d.value == 11.0 and d.limit == 10.0
    assert events[-1].reason == Reason.MAX_ORDER_QTY and "11.0 > max 10.0" in events[-1].detail
    assert k.gate.denied == {Reason.MAX_ORDER_QTY: 1} and k.gate.approved == 1


@pytest.mark.parametrize("kw,code", [
    (dict(qty=0.0), Reason.INVALID_QUANTITY),
    (dict(qty=float("nan")), Reason.INVALID_QUANTITY),
    (dict(qty=0.0105), Reason.OFF_LOT),
    (dict(price=60_000.25), Reason.OFF_TICK),
    (dict(price=None), Reason.INVALID_PRICE),
    (dict(qty=11.0), Reason.MAX_ORDER_QTY),
    (dict(price=66_000.0), Reason.PRICE_BAND),
    (dict(qty=5.0), Reason.MAX_ORDER_NOTIONAL),
])
def test_per_order_checks_hit(kw, code) -> None:
    k, venue = make()
    assert reason(k, order(**kw)) == code
    assert venue.sent == []


def test_below_min_size_and_unknown_or_inactive_instrument() -> None:
    import msgspec

    k, _ = make()
    big_min = msgspec.structs.replace(PERP, min_size=0.1)
    k.instruments[PERP.id] = big_min
    assert reason(k, order(qty=0.05)) == Reason.BELOW_MIN_SIZE
    assert reason(k, order(qty=0.1)) is None
    k.instruments[PERP.id] = msgspec.structs.replace(PERP, active=False)
    assert reason(k, order()) == Reason.INSTRUMENT_INACTIVE
    cmd = order()
    assert reason(k, msgspec.structs.replace(cmd, instrument_id="fake:NOPE")) == Reason.UNKNOWN_INSTRUMENT


def test_book_not_live_and_reused_client_id() -> None:
    k, _ = make()
    cmd = order()
    assert reason(k, cmd) is None
    assert reason(k, cmd) == Reason.DUPLICATE_ORDER_ID
    k.books[PERP.id].status = BookStatus.STALE
    assert reason(k, order()) == Reason.BOOK_NOT_LIVE


def test_max_position_counts_working_orders_and_allows_reducing() -> None:
    k, _ = make(max_position_qty=1.0, per_instrument={})
    a = order(qty=0.6)
    assert reason(k, a) is None
    assert reason(k, order(qty=0.6)) == Reason.MAX_POSITION  # 0.6 working + 0.6 > 1
    fill(k, a)
    assert reason(k, order(side=Side.SELL, qty=0.6, price=60_000.0)) is None  # reduces
    k2, _ = make(per_instrument={PERP.id: InstrumentLimits(max_position_qty=0.05)})
    assert reason(k2, order(qty=0.06)) == Reason.MAX_POSITION


def test_price_collar_reference_mark_and_last() -> None:
    k, _ = make(collar_reference="mark", price_band_pct=1.0)
    k.marks[PERP.id] = 50_000.0
    assert reason(k, order(price=60_000.0)) == Reason.PRICE_BAND  # 20% from the mark
    assert reason(k, order(price=50_200.0)) is None
    k2, _ = make(collar_reference="last", price_band_pct=1.0)
    k2.last_trade[PERP.id] = 61_000.0
    assert reason(k2, order(price=60_000.0)) == Reason.PRICE_BAND
    assert reason(k2, order(price=61_100.0)) is None


def test_option_collar_model_price_plus_minus_k_vega() -> None:
    k, _ = make(option_collar_vega_k=2.0, option_price_band_pct=1.0)
    chain = types.SimpleNamespace(surface=object(), index={CALL.id: 0}, model_price=np.array([1_050.0]),
                                  vega=np.array([2_000.0]), forward=np.array([60_000.0]))
    k.option_chains.chain_of[CALL.id] = chain  # vega 20 USD per vol point: allowed 40 USD from 1050
    assert reason(k, order(CALL, price=1_080.0)) is None  # 3% from mid: the pct band would deny
    d = k.router.submit(order(CALL, price=1_100.0))
    assert d is not None and d.reason == Reason.PRICE_BAND and "model" in d.detail
    assert d.value == pytest.approx(50.0) and d.limit == pytest.approx(40.0)
    # no model yet: the percentage band applies
    assert reason(k, order(PUT, price=1_100.0)) == Reason.PRICE_BAND


def test_open_order_caps_global_instrument_strategy() -> None:
    k, _ = make(max_open_orders=3, max_open_orders_per_instrument=2, max_open_orders_per_strategy=2)
    assert reason(k, order(strategy="a")) is None
    assert reason(k, order(strategy="a", price=59_990.0)) is None
    assert reason(k, order(strategy="b", price=59_980.0)) == Reason.MAX_OPEN_ORDERS  # per instrument
    assert reason(k, order(CALL, strategy="a", price=1_050.0)) == Reason.MAX_OPEN_ORDERS  # per strategy
    assert reason(k, order(CALL, strategy="b", price=1_050.0)) is None
    assert reason(k, order(PUT, strategy="c", price=1_050.0)) == Reason.MAX_OPEN_ORDERS  # global
    assert k.router.cancel_all(strategy_id="a") == 2
    assert k.orders.open_count(strategy_id="a") == 2  # pending cancel still counts
    for ev in _cancelled(k, "a"):
        k.bus.publish(ev)
    assert k.orders.open_count() == 1 and k.orders.open_count(instrument_id=PERP.id) == 0


def _cancelled(k, sid):
    from engine.model import OrderCancelled

    return [OrderCancelled(client_order_id=o.client_order_id, instrument_id=o.instrument_id,
                           reason="x", ts_event=0, ts_recv=0)
            for o in k.orders if o.strategy_id == sid and o.is_open]


def test_duplicate_order_within_window() -> None:
    k, _ = make(duplicate_window_ms=500.0)
    assert reason(k, order(qty=0.02)) is None
    d = k.router.submit(order(qty=0.02))
    assert d is not None and d.reason == Reason.DUPLICATE_ORDER
    assert reason(k, order(qty=0.03)) is None  # different size
    assert reason(k, order(qty=0.02, strategy="other")) is None  # other strategy
    k.clock.advance_to(k.clock.now_ns() + 600_000_000)
    assert reason(k, order(qty=0.02)) is None  # window passed


def _greeks(k) -> None:
    # raw: delta 0.5, gamma 2e-5 per USD, vega 100 per 1.00 vol (1 USD/pt), theta -36.5/yr
    for inst in (CALL, CALL2):
        k.portfolio.set_greeks(inst.id, 0.5, 2e-5, 100.0, -36.5)
    k.portfolio.set_greeks(PUT.id, -0.5, 2e-5, 100.0, -36.5)


def test_portfolio_delta_limit_after_fill_with_working_orders() -> None:
    k, _ = make(underlyings={"BTC": UnderlyingLimits(max_delta=1.0)}, max_position_qty=100)
    _greeks(k)
    position(k, PERP, 0.5, 60_000.0)
    assert k.portfolio.delta("BTC") == pytest.approx(0.5)
    assert reason(k, order(CALL, qty=0.8, price=1_050.0)) is None  # 0.5 + 0.4 = 0.9
    d = k.router.submit(order(CALL, qty=0.4, price=1_050.0))  # + working 0.4 + 0.2 = 1.1
    assert d is not None and d.reason == Reason.MAX_DELTA and d.value == pytest.approx(1.1)
    # an order that lowers |delta| passes even over the limit: the put's delta is negative
    assert reason(k, order(PUT, qty=1.0, price=1_050.0)) is None


def test_gamma_vega_and_vega_per_expiry_limits() -> None:
    k, _ = make(underlyings={"BTC": UnderlyingLimits(max_gamma=3e-5)}, max_position_qty=100)
    _greeks(k)
    assert reason(k, order(CALL, qty=1.0, price=1_050.0)) is None
    assert reason(k, order(CALL, qty=1.0, price=1_050.0)) == Reason.MAX_GAMMA
    k, _ = make(underlyings={"BTC": UnderlyingLimits(max_vega_usd=2.5)}, max_position_qty=100)
    _greeks(k)
    assert reason(k, order(CALL, qty=2.0, price=1_050.0)) is None
    assert reason(k, order(CALL2, qty=1.0, price=1_050.0)) == Reason.MAX_VEGA
    k, _ = make(underlyings={"BTC": UnderlyingLimits(max_vega_per_expiry_usd=1.5)}, max_position_qty=100)
    _greeks(k)
    assert reason(k, order(CALL, qty=1.0, price=1_050.0)) is None
    assert reason(k, order(CALL, qty=1.0, price=1_050.0)) == Reason.MAX_VEGA_EXPIRY
    assert reason(k, order(CALL2, qty=1.0, price=1_050.0)) is None  # other expiry


def test_no_greeks_denies_options_when_limits_are_set_and_venue_greeks_fall_back() -> None:
    from engine.model import OptionSummary

    k, _ = make(underlyings={"BTC": UnderlyingLimits(max_delta=10.0)})
    assert reason(k, order(CALL, price=1_050.0)) == Reason.NO_GREEKS
    assert reason(k, order()) is None  # the perp needs no model
    k.bus.publish(OptionSummary(CALL.id, 1_050.0, 0.6, 0.59, 0.61, 60_000.0, 0.5, 2e-5, 1.0, -0.1,
                                0.0, 0, 0))
    assert k.portfolio.greeks_per_contract(CALL.id) == pytest.approx((0.5, 2e-5, 1.0, -0.1))
    assert reason(k, order(CALL, price=1_050.0)) is None


def test_rate_limits_global_and_per_venue() -> None:
    k, _ = make(global_rate=RateLimit(rate=1.0, burst=2.0))
    assert reason(k, order()) is None and reason(k, order(price=59_990.0)) is None
    assert reason(k, order(price=59_980.0)) == Reason.RATE_LIMIT_GLOBAL
    k.clock.advance_to(k.clock.now_ns() + 1_000_000_000)
    assert reason(k, order(price=59_970.0)) is None
    k, _ = make(venue_rates={"fake": RateLimit(rate=5.0, burst=1.0)})
    assert reason(k, order()) is None
    assert reason(k, order(price=59_990.0)) == Reason.RATE_LIMIT_VENUE
    k.gate.set_venue_rate("other", 1.0, 1.0)  # adapter-supplied rates never override config
    assert "other" in k.gate.venue_buckets


def test_repeated_execution_throttle_disables_until_cleared() -> None:
    k, _ = make(max_fills=2, fills_window_s=10.0)
    cmds = [order(price=60_000.0 - 10 * i) for i in range(3)]
    for c in cmds:
        assert reason(k, c) is None
    working = order(price=59_900.0)
    assert reason(k, working) is None
    for c in cmds:
        fill(k, c)
    d = k.router.submit(order(price=59_950.0))
    assert d is not None and d.reason == Reason.STRATEGY_DISABLED and "3 fills" in d.detail
    assert str(k.orders.get(working.client_order_id).status) == "pending_cancel"  # its orders pulled
    assert reason(k, order(strategy="other")) is None  # other strategies trade on
    assert k.gate.enable_strategy("t")
    assert reason(k, order(price=59_940.0)) is None


def test_trading_states_halted_reducing_and_reduce_only_flag() -> None:
    k, _ = make()
    position(k, PERP, 0.5, 60_000.0)
    k.gate.hold("test", TradingState.REDUCING, "loss")
    assert reason(k, order(qty=0.1)) == Reason.REDUCE_ONLY
    assert reason(k, order(side=Side.SELL, qty=0.1)) is None
    assert reason(k, order(side=Side.SELL, qty=0.5)) == Reason.REDUCE_ONLY  # + working 0.1 would flip
    k.gate.hold("kill", TradingState.HALTED, "operator")
    d = k.router.submit(order(side=Side.SELL, qty=0.1, price=60_000.0))
    assert d is not None and d.reason == Reason.TRADING_HALTED and "operator" in d.detail
    k.gate.release("kill")
    k.gate.release("test")
    assert k.gate.state is TradingState.ACTIVE
    assert reason(k, order(qty=0.1, reduce_only=True)) == Reason.REDUCE_ONLY  # would not reduce


def test_market_orders_skip_the_collar_but_not_the_notional() -> None:
    k, _ = make()
    assert reason(k, order(price=None, order_type=OrderType.MARKET, qty=0.1)) is None
    assert reason(k, order(price=None, order_type=OrderType.MARKET, qty=5.0)) == Reason.MAX_ORDER_NOTIONAL


def test_stale_book_after_a_gap_denies() -> None:
    k, _ = make()
    k.bus.publish(BookDelta(PERP.id, ((59_995.0, 1.0),), (), 5, 3, 0, 0))  # seq gap
    assert reason(k, order()) == Reason.BOOK_NOT_LIVE


def test_limits_default_construct() -> None:
    lim = RiskLimits()
    assert lim.max_fills is None and lim.underlyings == {}
