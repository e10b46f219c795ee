"""The replay exchange: queue position, cancel models, walking the book, rules, latency."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.model import (
    CancelOrder,
    Liquidity,
    OrderAccepted,
    OrderCancelled,
    OrderRejected,
    Side,
    TimeInForce,
)
from tests.backtest.helpers import (
    IID,
    MS,
    T0,
    delta,
    filled_qty,
    fills,
    make_exchange,
    order,
    snapshot,
    trade,
)


def _rest_buy_behind(queue: str, ahead: float = 5.0):
    ex, clock, out = make_exchange(queue=queue)
    ex.on_market(snapshot([(100.0, ahead), (99.5, 3.0)], [(101.0, 5.0)], T0))
    ex.submit(order("b1", Side.BUY, 1.0, 100.0, post_only=True))
    assert any(isinstance(e, OrderAccepted) for e in out)
    return ex, clock, out


def test_hand_checked_queue_position_is_honoured() -> None:
    """Joined behind 5 lots at 100: trades of 3 + 2 fill nothing, the next 0.4 fills 0.4."""
    ex, clock, out = _rest_buy_behind("worst")
    t = T0
    for size in (3.0, 2.0):
        t += MS
        clock.advance_to(t)
        ex.on_market(trade(100.0, size, Side.SELL, t))
        assert fills(out, "b1") == []
    t += MS
    clock.advance_to(t)
    ex.on_market(delta([(100.0, 0.0)], [], 2, t))  # the level emptied by those trades
    assert fills(out, "b1") == []
    ex.on_market(trade(100.0, 0.4, Side.SELL, t))
    (f,) = fills(out, "b1")
    assert (f.price, f.quantity, f.remaining, f.liquidity) == (100.0, 0.4, 0.6, Liquidity.MAKER)
    ex.on_market(trade(100.0, 5.0, Side.SELL, t))
    assert filled_qty(out, "b1") == 1.0
    assert fills(out, "b1")[-1].remaining == 0.0


def test_trade_above_the_order_price_does_not_fill_and_trade_through_does() -> None:
    ex, clock, out = _rest_buy_behind("worst")
    ex.on_market(trade(100.5, 10.0, Side.SELL, T0))  # printed above our bid: never reached us
    ex.on_market(trade(100.0, 1.0, Side.BUY, T0))  # a buyer lifted: not our side
    assert fills(out, "b1") == []
    ex.on_market(trade(99.5, 0.3, Side.SELL, T0))  # a seller printed below our bid: we were first
    assert filled_qty(out, "b1") == 0.3


def test_market_moving_through_fills_at_the_limit() -> None:
    ex, clock, out = _rest_buy_behind("worst")
    ex.on_market(delta([(100.0, 5.0)], [(101.0, 0.0), (100.0, 0.7)], 2, T0))
    (f,) = fills(out, "b1")
    assert (f.price, f.quantity) == (100.0, 0.7)


def _after_cancels(queue: str) -> float:
    """Ahead 10 of a level of 30; 10 lots cancelled; then a trade of 9 at the price: filled?"""
    ex, clock, out = make_exchange(queue=queue)
    ex.on_market(snapshot([(100.0, 10.0)], [(101.0, 5.0)], T0))
    ex.submit(order("b1", Side.BUY, 1.0, 100.0, post_only=True))
    ex.on_market(delta([(100.0, 30.0)], [], 2, T0 + MS))  # 20 lots join behind us
    ex.on_market(delta([(100.0, 20.0)], [], 3, T0 + 2 * MS))  # 10 lots cancelled, no trades
    ex.on_market(trade(100.0, 9.0, Side.SELL, T0 + 3 * MS))
    return filled_qty(out, "b1")


def test_cancel_models_move_the_queue_differently() -> None:
    # worst: ahead stays 10 > 9 traded; proportional: 10 - 10*10/30 = 6.67 -> 2.33 left for
    # us (capped at 1 lot); power(2): 10 - 10*100/(100+400) = 8 -> 1.0 filled of a 9 trade
    assert _after_cancels("worst") == 0.0
    assert _after_cancels("proportional") == 1.0
    assert _after_cancels("power") == 1.0


def test_proportional_partial_fill_amount() -> None:
    ex, clock, out = make_exchange(queue="proportional")
    ex.on_market(snapshot([(100.0, 10.0)], [(101.0, 5.0)], T0))
    ex.submit(order("b1", Side.BUY, 5.0, 100.0, post_only=True))
    ex.on_market(delta([(100.0, 30.0)], [], 2, T0 + MS))
    ex.on_market(delta([(100.0, 20.0)], [], 3, T0 + 2 * MS))
    ex.on_market(trade(100.0, 9.0, Side.SELL, T0 + 3 * MS))
    assert filled_qty(out, "b1") == 2.3  # 9 - 6.667 ahead = 2.33, whole lots of 0.1


def test_trades_explain_depth_decreases_so_they_are_not_counted_twice() -> None:
    ex, clock, out = make_exchange(queue="proportional")
    ex.on_market(snapshot([(100.0, 10.0)], [(101.0, 5.0)], T0))
    ex.submit(order("b1", Side.BUY, 1.0, 100.0, post_only=True))
    ex.on_market(trade(100.0, 4.0, Side.SELL, T0 + MS))  # ahead 10 -> 6
    ex.on_market(delta([(100.0, 6.0)], [], 2, T0 + 2 * MS))  # the same 4 lots, not cancels
    ex.on_market(trade(100.0, 6.0, Side.SELL, T0 + 3 * MS))
    assert fills(out, "b1") == []
    ex.on_market(trade(100.0, 0.5, Side.SELL, T0 + 4 * MS))
    assert filled_qty(out, "b1") == 0.5


def test_trades_before_we_rest_at_a_price_do_not_hide_later_cancels() -> None:
    """A print at 100.0 while our only bid is at 99.5 explains that moment's decrease, nothing
    later: after b1 rests at 100.0 (behind 6), 12 join behind and 6 are cancelled, so the
    proportional model moves b1 up by 6 * 6/18 = 2 (ahead 4); a 4.5 sell then fills 0.5."""
    ex, clock, out = make_exchange(queue="proportional")
    ex.on_market(snapshot([(100.0, 10.0), (99.5, 3.0)], [(101.0, 5.0)], T0))
    ex.submit(order("b0", Side.BUY, 1.0, 99.5, post_only=True))
    ex.on_market(trade(100.0, 4.0, Side.SELL, T0 + MS))
    ex.on_market(delta([(100.0, 6.0)], [], 2, T0 + 2 * MS))
    ex.submit(order("b1", Side.BUY, 1.0, 100.0, post_only=True))
    ex.on_market(delta([(100.0, 18.0)], [], 3, T0 + 3 * MS))  # 12 join behind b1
    ex.on_market(delta([(100.0, 12.0)], [], 4, T0 + 4 * MS))  # 6 cancelled, no trade
    ex.on_market(trade(100.0, 4.5, Side.SELL, T0 + 5 * MS))
    assert filled_qty(out, "b1") == 0.5 and fills(out, "b0") == []


def test_liquidity_our_taker_took_is_gone_for_our_maker_orders_too() -> None:
    """A market buy of 1 takes the whole 1 at 101; a post-only bid at 101 then rests (nothing
    shown there any more) and is not filled by the 1 it took itself when another level
    changes; when the recording next shows 2 at 101, the ask meets it: 1 filled at 101."""
    ex, clock, out = make_exchange()
    ex.on_market(snapshot([(100.0, 5.0)], [(101.0, 1.0), (102.0, 1.0)], T0))
    ex.submit(order("m1", Side.BUY, 1.0, None))
    assert [(f.price, f.quantity) for f in fills(out, "m1")] == [(101.0, 1.0)]
    ex.submit(order("b1", Side.BUY, 1.0, 101.0, post_only=True))
    assert not [e for e in out if isinstance(e, OrderRejected)]
    ex.on_market(delta([(100.0, 6.0)], [], 2, T0 + MS))  # the bids change, not 101
    assert fills(out, "b1") == []
    ex.on_market(delta([], [(101.0, 2.0)], 3, T0 + 2 * MS))
    (f,) = fills(out, "b1")
    assert (f.price, f.quantity, f.liquidity) == (101.0, 1.0, Liquidity.MAKER)


def test_an_order_joins_behind_what_is_left_after_our_own_taker() -> None:
    """We bought 0.4 of the 1.0 at 101, then rest an ask at 101: 0.6 is ahead of it, so a
    buyer's print of 0.8 there fills 0.2 of ours."""
    ex, clock, out = make_exchange()
    ex.on_market(snapshot([(100.0, 5.0)], [(101.0, 1.0), (102.0, 1.0)], T0))
    ex.submit(order("m1", Side.BUY, 0.4, None))
    ex.submit(order("a1", Side.SELL, 1.0, 101.0))
    ex.on_market(trade(101.0, 0.8, Side.BUY, T0 + MS))
    (f,) = fills(out, "a1")
    assert (f.price, f.quantity, f.remaining) == (101.0, 0.2, 0.8)


def test_taker_walks_the_book_and_leaves_impact() -> None:
    ex, clock, out = make_exchange()
    ex.on_market(snapshot([(100.0, 5.0)], [(101.0, 1.0), (102.0, 1.0), (103.0, 5.0)], T0))
    ex.submit(order("m1", Side.BUY, 3.0, None))
    assert [(f.price, f.quantity, f.liquidity) for f in fills(out, "m1")] == [
        (101.0, 1.0, Liquidity.TAKER), (102.0, 1.0, Liquidity.TAKER), (103.0, 1.0, Liquidity.TAKER)]
    assert fills(out, "m1")[0].fee == round(101.0 * 1.0 * 0.001, 12)
    ex.submit(order("m2", Side.BUY, 1.0, 102.0, tif=TimeInForce.IOC))  # 101/102 already taken
    assert fills(out, "m2") == []
    assert any(isinstance(e, OrderCancelled) and e.client_order_id == "m2" for e in out)
    ex.on_market(delta([], [(101.0, 2.0)], 2, T0 + MS))  # the recording refills 101
    ex.submit(order("m3", Side.BUY, 1.0, 102.0, tif=TimeInForce.IOC))
    assert [(f.price, f.quantity) for f in fills(out, "m3")] == [(101.0, 1.0)]


def test_venue_rules_reject_with_reasons() -> None:
    ex, clock, out = make_exchange()
    ex.submit(order("early", Side.BUY, 1.0, 100.0))  # no book yet
    ex.on_market(snapshot([(100.0, 5.0)], [(101.0, 5.0)], T0))
    ex.submit(order("tick", Side.BUY, 1.0, 100.2))
    ex.submit(order("lot", Side.BUY, 0.15, 100.0))
    ex.submit(order("min", Side.BUY, 0.0, 100.0))
    ex.submit(order("cross", Side.BUY, 1.0, 101.0, post_only=True))
    ex.submit(order("fok", Side.BUY, 9.0, 101.0, tif=TimeInForce.FOK))
    reasons = {e.client_order_id: e.reason for e in out if isinstance(e, OrderRejected)}
    assert reasons == {"early": "market_closed", "tick": "price_not_on_tick",
                       "lot": "quantity_not_on_lot", "min": "invalid_quantity",
                       "cross": "post_only_would_cross"}
    assert any(isinstance(e, OrderCancelled) and e.reason == "fok_unfilled" for e in out)
    ex.cancel(CancelOrder(client_order_id="nope", strategy_id="s", instrument_id=IID))
    assert out[-1].reason == "unknown_order"


def _fill_time(order_ms: float, response_ms: float = 0.0) -> tuple[float, list]:
    """Order sent at T0; trades at +10 ms and +60 ms would each fill it if it were resting."""
    ex, clock, out = make_exchange(order_ms=order_ms, response_ms=response_ms)
    ex.on_market(snapshot([(100.0, 0.5)], [(101.0, 5.0)], T0))
    ex.submit(order("b1", Side.BUY, 1.0, 100.0, post_only=True))
    for seq, dt in ((2, 10), (3, 60)):
        clock.advance_to(T0 + dt * MS)
        ex.on_market(delta([(100.0, 0.5)], [], seq, T0 + dt * MS))  # level refreshed
        ex.on_market(trade(100.0, 1.5, Side.SELL, T0 + dt * MS))
    clock.advance_to(T0 + 200 * MS)
    return filled_qty(out, "b1"), fills(out, "b1")


def test_latency_shifts_fills() -> None:
    qty0, f0 = _fill_time(0.0)
    assert qty0 == 1.0 and f0[0].ts_event == T0 + 10 * MS  # resting at once: first trade
    qty30, f30 = _fill_time(30.0)
    assert qty30 == 1.0 and f30[0].ts_event == T0 + 60 * MS  # arrived at +30 ms: missed one
    qty90, _ = _fill_time(90.0)
    assert qty90 == 0.0  # arrived after both trades
    _, f_resp = _fill_time(0.0, response_ms=25.0)
    assert f_resp[0].ts_event == T0 + 10 * MS and f_resp[0].ts_recv == T0 + 35 * MS


@settings(max_examples=60, deadline=None)
@given(ahead=st.integers(1, 40), trades=st.lists(st.integers(1, 15), min_size=1, max_size=12),
       model=st.sampled_from(["worst", "proportional", "power", "random"]))
def test_never_filled_before_the_size_ahead_has_traded(ahead: int, trades: list[int],
                                                        model: str) -> None:
    """Without cancels, every queue model fills only what trades beyond the size ahead."""
    ex, clock, out = make_exchange(queue=model)
    ex.on_market(snapshot([(100.0, ahead / 10)], [(101.0, 5.0)], T0))
    ex.submit(order("b1", Side.BUY, 2.0, 100.0, post_only=True))
    traded = 0
    for n, x in enumerate(trades):
        ex.on_market(trade(100.0, x / 10, Side.SELL, T0 + (n + 1) * MS))
        traded += x
        expect = min(max(traded - ahead, 0), 20) / 10
        assert filled_qty(out, "b1") == expect


def test_amend_keeps_priority_only_for_a_size_reduction() -> None:
    from engine.model import AmendOrder, OrderAmended

    def amend(ex, **kw) -> None:  # type: ignore[no-untyped-def]
        ex.amend(AmendOrder(client_order_id="b1", strategy_id="s", instrument_id=IID, **kw))

    ex, clock, out = _rest_buy_behind("worst", ahead=2.0)
    ex.on_market(delta([(100.0, 6.0)], [], 2, T0 + MS))  # 4 lots join behind us
    amend(ex, quantity=0.5)  # smaller, same price: still 2 lots ahead
    assert isinstance(out[-1], OrderAmended) and out[-1].quantity == 0.5
    ex.on_market(trade(100.0, 2.5, Side.SELL, T0 + 2 * MS))
    assert filled_qty(out, "b1") == 0.5

    ex, clock, out = _rest_buy_behind("worst", ahead=2.0)
    ex.on_market(delta([(100.0, 6.0)], [], 2, T0 + MS))
    amend(ex, quantity=2.0)  # larger: back of the queue, 6 lots ahead now
    ex.on_market(trade(100.0, 2.5, Side.SELL, T0 + 2 * MS))
    assert filled_qty(out, "b1") == 0.0
    amend(ex, price=101.5)  # post-only order moved through the ask: rejected, order unchanged
    assert isinstance(out[-1], OrderRejected) and out[-1].reason == "post_only_would_cross"
