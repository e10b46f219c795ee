"""The strategy API through its public surface: callbacks, orders, quotes, state, timing."""

from __future__ import annotations

import time
from typing import Any

import msgspec
import pytest
from structlog.testing import capture_logs

from engine import (
    MarkPrice,
    OrderAccepted,
    OrderCancelled,
    OrderDenied,
    OrderFilled,
    OrderRejected,
    Quote,
    Side,
    OrderType,
    Strategy,
    TimeInForce,
    TradingState,
)
from engine.model import AmendOrder, CancelOrder, Liquidity, SubmitOrder

from .conftest import PERP, add_strategy, make_kernel


class Cfg(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    x: int = 1


class Recorder(Strategy[Cfg]):
    def on_start(self) -> None:
        self.seen: list[tuple[str, Any]] = []

    def _rec(self, name: str, *args: Any) -> None:
        self.seen.append((name, args[0] if len(args) == 1 else args))

    def on_order_submitted(self, e: Any) -> None: self._rec("submitted", e)
    def on_order_accepted(self, e: Any) -> None: self._rec("accepted", e)
    def on_order_rejected(self, e: Any) -> None: self._rec("rejected", e)
    def on_order_denied(self, e: Any) -> None: self._rec("denied", e)
    def on_fill(self, e: Any) -> None: self._rec("fill", e)
    def on_order_cancelled(self, e: Any) -> None: self._rec("cancelled", e)
    def on_order_amended(self, e: Any) -> None: self._rec("amended", e)
    def on_ticker(self, e: Any) -> None: self._rec("ticker", e)
    def on_halt(self, state: TradingState, reason: str) -> None: self._rec("halt", state, reason)
    def on_resume(self, reason: str) -> None: self._rec("resume", reason)
    def on_timer(self, name: str, now_ns: int) -> None: self._rec("timer", name)

    def names(self) -> list[str]:
        return [n for n, _ in self.seen]


def _started(limits: Any = None) -> tuple[Any, Any, Recorder]:
    kernel, venues = make_kernel(limits)
    s = add_strategy(kernel, Recorder)
    kernel.start_strategies()
    return kernel, venues[0], s


def test_config_type_is_taken_from_the_generic_parameter() -> None:
    assert Recorder.Config is Cfg


def test_order_events_reach_the_typed_callbacks() -> None:
    kernel, venue, s = _started()
    coid = s.ctx.submit_limit(PERP.id, Side.BUY, 0.01, 59_000.0)
    assert s.names() == ["submitted"]
    kernel.bus.publish(OrderAccepted(client_order_id=coid, venue_order_id="v1", instrument_id=PERP.id,
                                     ts_event=1, ts_recv=1))
    kernel.bus.publish(OrderFilled(client_order_id=coid, venue_order_id="v1", instrument_id=PERP.id,
                                   trade_id="t1", side=Side.BUY, price=59_000.0, quantity=0.004,
                                   remaining=0.006, liquidity=Liquidity.MAKER, fee=0.0,
                                   fee_currency="USD", ts_event=2, ts_recv=2))
    kernel.bus.publish(OrderCancelled(client_order_id=coid, instrument_id=PERP.id, reason="x",
                                      ts_event=3, ts_recv=3))
    assert s.names() == ["submitted", "accepted", "fill", "cancelled"]
    assert s.ctx.position_qty(PERP.id) == pytest.approx(0.004)


def test_a_denial_arrives_as_an_event_with_the_reason_during_the_submit() -> None:
    kernel, venue, s = _started()
    coid = s.ctx.submit_limit(PERP.id, Side.BUY, 0.01, 59_000.25)  # off tick
    assert s.names() == ["denied"]
    event = s.seen[0][1]
    assert isinstance(event, OrderDenied) and event.client_order_id == coid
    assert event.reason == "OFF_TICK"
    assert venue.sent == []


def test_submits_carry_every_field_of_the_command() -> None:
    # the SDK builds SubmitOrder positionally: each field must land where its name says
    kernel, venue, s = _started()
    now = kernel.clock.now_ns()
    lim = s.ctx.submit_limit(PERP.id, Side.SELL, 0.02, 60_100.0, post_only=True, reduce_only=False)
    ioc = s.ctx.submit_ioc(PERP.id, Side.BUY, 0.01, 60_010.0, reduce_only=True)
    mkt = s.ctx.submit_market(PERP.id, Side.BUY, 0.01)
    # (the reduce-only IOC is denied flat: its command is the order record's)
    assert s.ctx.order(ioc).command == SubmitOrder(
        client_order_id=ioc, strategy_id="s1", instrument_id=PERP.id, side=Side.BUY, quantity=0.01,
        order_type=OrderType.LIMIT, price=60_010.0, time_in_force=TimeInForce.IOC,
        post_only=False, reduce_only=True, ts=now)
    assert venue.sent == [
        SubmitOrder(client_order_id=lim, strategy_id="s1", instrument_id=PERP.id, side=Side.SELL,
                    quantity=0.02, order_type=OrderType.LIMIT, price=60_100.0,
                    time_in_force=TimeInForce.GTC, post_only=True, reduce_only=False, ts=now),
        SubmitOrder(client_order_id=mkt, strategy_id="s1", instrument_id=PERP.id, side=Side.BUY,
                    quantity=0.01, order_type=OrderType.MARKET, price=None,
                    time_in_force=TimeInForce.IOC, post_only=False, reduce_only=False, ts=now)]
    assert [lim, ioc, mkt] == [f"{lim[:-2]}-{n}" for n in (1, 2, 3)]
    assert s.ctx.order(lim).price == 60_100.0 and s.ctx.order("nope") is None
    assert s.ctx.position(PERP.id) is None


def test_order_helpers_send_the_right_commands() -> None:
    kernel, venue, s = _started()
    s.ctx.submit_post_only(PERP.id, Side.BUY, 0.01, 59_000.0)
    s.ctx.submit_ioc(PERP.id, Side.SELL, 0.01, 59_990.0)
    s.ctx.submit_market(PERP.id, Side.BUY, 0.01)
    po, ioc, mkt = venue.sent
    assert po.post_only and po.time_in_force is TimeInForce.GTC
    assert ioc.time_in_force is TimeInForce.IOC and ioc.price == 59_990.0
    assert mkt.order_type is OrderType.MARKET
    assert s.ctx.cancel_all() == 3
    assert [type(c) for c in venue.sent[3:]] == [CancelOrder] * 3


def test_amend_denied_by_the_gate_is_reported_as_an_event_and_the_order_keeps_working() -> None:
    kernel, venue, s = _started()
    coid = s.ctx.submit_limit(PERP.id, Side.BUY, 0.01, 59_000.0)
    assert s.ctx.amend(coid, price=40_000.0) is False  # outside the price band
    denied = [e for n, e in s.seen if n == "denied"]
    assert denied and denied[0].reason == "PRICE_BAND" and "amend" in denied[0].detail
    assert s.ctx.order(coid).is_open and s.ctx.order(coid).price == 59_000.0


def _accept(kernel: Any, ids: Any) -> None:
    for coid in ids:
        kernel.bus.publish(OrderAccepted(client_order_id=coid, venue_order_id=coid, instrument_id=PERP.id,
                                         ts_event=1, ts_recv=1))


def _filled(coid: str, side: Side, price: float) -> OrderFilled:
    """The whole 0.01 of a quote side, filled as maker."""
    return OrderFilled(client_order_id=coid, venue_order_id="v", instrument_id=PERP.id, trade_id="t",
                       side=side, price=price, quantity=0.01, remaining=0.0,
                       liquidity=Liquidity.MAKER, fee=0.0, fee_currency="USD", ts_event=2, ts_recv=2)


class TestQuotes:
    def test_first_quote_places_two_post_only_orders(self) -> None:
        kernel, venue, s = _started()
        ids = s.ctx.quote(PERP.id, 59_900.0, 0.01, 60_100.0, 0.02)
        bid, ask = venue.sent
        assert (bid.side, bid.price, bid.quantity, bid.post_only) == (Side.BUY, 59_900.0, 0.01, True)
        assert (ask.side, ask.price, ask.quantity) == (Side.SELL, 60_100.0, 0.02)
        assert ids == (bid.client_order_id, ask.client_order_id)

    def test_unchanged_sides_are_left_alone_and_changed_ones_amended(self) -> None:
        kernel, venue, s = _started()
        ids = s.ctx.quote(PERP.id, 59_900.0, 0.01, 60_100.0, 0.01)
        assert s.ctx.quote(PERP.id, 59_900.0, 0.01, 60_100.0, 0.01) == ids
        assert len(venue.sent) == 2
        s.ctx.quote(PERP.id, 59_950.0, 0.01, 60_100.0, 0.01)
        amend = venue.sent[2]
        assert isinstance(amend, AmendOrder) and amend.client_order_id == ids.bid
        assert amend.price == 59_950.0 and len(venue.sent) == 3

    def test_an_amend_in_flight_means_cancel_and_replace(self) -> None:
        kernel, venue, s = _started()
        ids = s.ctx.quote(PERP.id, 59_900.0, 0.01, 60_100.0, 0.01)
        s.ctx.quote(PERP.id, 59_950.0, 0.01, 60_100.0, 0.01)  # amend pending, no answer yet
        new = s.ctx.quote(PERP.id, 59_960.0, 0.01, 60_100.0, 0.01)
        cancel, submit = venue.sent[3:]
        assert isinstance(cancel, CancelOrder) and cancel.client_order_id == ids.bid
        assert isinstance(submit, SubmitOrder) and submit.price == 59_960.0
        assert new.bid == submit.client_order_id and new.ask == ids.ask

    def test_a_denied_side_pulls_the_whole_quote(self) -> None:
        kernel, venue, s = _started()
        ids = s.ctx.quote(PERP.id, 59_900.0, 0.01, 60_100.0, 0.01)
        result = s.ctx.quote(PERP.id, 59_900.0, 0.01, 90_000.0, 0.01)  # ask outside the band
        assert result == (None, None)
        cancels = {c.client_order_id for c in venue.sent if isinstance(c, CancelOrder)}
        assert cancels == {ids.bid, ids.ask}
        assert "denied" in s.names()

    def test_a_rejected_amend_cancels_both_sides_instead_of_leaving_one_stale(self) -> None:
        kernel, venue, s = _started()
        ids = s.ctx.quote(PERP.id, 59_900.0, 0.01, 60_100.0, 0.01)
        _accept(kernel, ids)
        s.ctx.quote(PERP.id, 59_950.0, 0.01, 60_050.0, 0.01)
        kernel.bus.publish(OrderRejected(client_order_id=ids.bid, instrument_id=PERP.id,
                                         reason="post_only_would_cross", ts_event=2, ts_recv=2))
        cancels = {c.client_order_id for c in venue.sent if isinstance(c, CancelOrder)}
        assert cancels == {ids.bid, ids.ask}
        assert s.ctx.quote_ids(PERP.id) == (None, None)
        assert "rejected" in s.names()

    def test_zero_quantity_pulls_one_side_and_a_crossed_quote_is_an_error(self) -> None:
        kernel, venue, s = _started()
        ids = s.ctx.quote(PERP.id, 59_900.0, 0.01, 60_100.0, 0.01)
        assert s.ctx.quote(PERP.id, 59_900.0, 0.01, 60_100.0, 0.0) == (ids.bid, None)
        assert isinstance(venue.sent[-1], CancelOrder) and venue.sent[-1].client_order_id == ids.ask
        with pytest.raises(ValueError, match="crossed"):
            s.ctx.quote(PERP.id, 60_000.0, 0.01, 60_000.0, 0.01)

    def test_a_quote_without_a_price_is_denied_not_called_crossed(self) -> None:
        kernel, venue, s = _started()
        ids = s.ctx.quote(PERP.id, 59_900.0, 0.01, 60_100.0, 0.01)
        # a NaN price (a missing fair value) is the gate's INVALID_PRICE, and pulls both sides
        assert s.ctx.quote(PERP.id, float("nan"), 0.01, 60_100.0, 0.01) == (None, None)
        denied = [e for n, e in s.seen if n == "denied"]
        assert [e.reason for e in denied] == ["INVALID_PRICE"] and "nan" in denied[0].detail
        cancels = {c.client_order_id for c in venue.sent if isinstance(c, CancelOrder)}
        assert cancels == {ids.bid, ids.ask}

    def test_a_filled_side_is_forgotten_and_requoted(self) -> None:
        kernel, venue, s = _started()
        ids = s.ctx.quote(PERP.id, 59_900.0, 0.01, 60_100.0, 0.01)
        kernel.bus.publish(_filled(ids.bid, Side.BUY, 59_900.0))
        assert s.ctx.quote_ids(PERP.id) == (None, ids.ask)
        again = s.ctx.quote(PERP.id, 59_900.0, 0.01, 60_100.0, 0.01)
        assert again.bid not in (None, ids.bid) and again.ask == ids.ask

    def test_kept_and_amended_sides_are_still_tracked(self) -> None:
        # a side kept (same order) or amended in place keeps its tracking: its fill empties
        # exactly that slot, and the next quote replaces only it
        kernel, venue, s = _started()
        ids = s.ctx.quote(PERP.id, 59_900.0, 0.01, 60_100.0, 0.01)
        _accept(kernel, ids)
        assert s.ctx.quote(PERP.id, 59_900.0, 0.01, 60_100.0, 0.01) == ids  # both kept
        assert s.ctx.quote(PERP.id, 59_900.0, 0.01, 60_050.0, 0.01) == ids  # ask amended
        kernel.bus.publish(_filled(ids.ask, Side.SELL, 60_050.0))
        assert s.ctx.quote_ids(PERP.id) == (ids.bid, None)
        again = s.ctx.quote(PERP.id, 59_900.0, 0.01, 60_100.0, 0.01)
        assert again.bid == ids.bid and again.ask not in (None, ids.ask)
        kernel.bus.publish(OrderRejected(client_order_id=again.ask, instrument_id=PERP.id,
                                         reason="post_only_would_cross", ts_event=3, ts_recv=3))
        assert s.ctx.quote_ids(PERP.id) == (None, None)  # a refused new side pulls the kept one


def test_halt_and_resume_follow_the_trading_state() -> None:
    kernel, venue, s = _started()
    kernel.set_trading_state(TradingState.HALTED, "operator")
    kernel.set_trading_state(TradingState.HALTED, "again")  # no change, no callback
    kernel.set_trading_state(TradingState.ACTIVE, "cleared")
    assert s.seen == [("halt", (TradingState.HALTED, "operator")), ("resume", "cleared")]
    assert s.ctx.trading_state is TradingState.ACTIVE


def test_ticker_events_reach_subscribers_only() -> None:
    kernel, venue, s = _started()
    q = Quote(PERP.id, 1.0, 1.0, 2.0, 1.0, 0, 0)
    kernel.bus.publish(q)
    assert s.names() == []
    s.ctx.subscribe_ticker(PERP.id)
    m = MarkPrice(PERP.id, 60_000.0, 59_990.0, 0, 0)
    kernel.bus.publish(q)
    kernel.bus.publish(m)
    assert s.seen == [("ticker", q), ("ticker", m)]


def test_timers_alarms_and_cancel() -> None:
    kernel, venue, s = _started()
    s.ctx.set_timer("tick", 1.0)
    s.ctx.set_alarm("once", 2.5)
    kernel.clock.advance_to(kernel.clock.now_ns() + 3_100_000_000)
    assert s.names().count("timer") == 4
    assert ("timer", ("once")) in s.seen
    assert s.ctx.cancel_timer("tick") is True
    kernel.clock.advance_to(kernel.clock.now_ns() + 5_000_000_000)
    assert s.names().count("timer") == 4


def test_limits_are_read_generically() -> None:
    class Per:
        max_position_qty = 2.0

    class Und:
        max_vega_usd = 500.0

    class Limits:
        max_position_qty = 10.0
        max_open_orders = 7
        per_instrument = {PERP.id: Per()}
        underlyings = {"BTC": Und()}

    kernel, venue, s = _started()
    kernel.gate.limits = Limits()  # whatever the gate holds, read by name
    ctx = s.ctx
    assert ctx.limit("max_open_orders") == 7
    assert ctx.limit("max_position_qty") == 10.0
    assert ctx.limit("max_position_qty", PERP.id) == 2.0
    assert ctx.limit("max_vega_usd", key="BTC") == 500.0
    assert ctx.limit("max_vega_usd", key="ETH", default=1.5) == 1.5
    assert ctx.limit("no_such_limit") == float("inf")
    # the gate's tables are keyed by canonical asset; a strategy may spell it as a venue does
    for spelling in ("btc", "btc_usd", "BTC-USD", "XBT"):
        assert ctx.limit("max_vega_usd", key=spelling, default=1.5) == 500.0


def test_position_headroom_counts_working_orders() -> None:
    kernel, venue, s = _started()
    cap = s.ctx.limit("max_position_qty")
    s.ctx.submit_limit(PERP.id, Side.BUY, 1.0, 59_000.0)
    assert s.ctx.position_headroom(PERP.id, Side.BUY) == pytest.approx(cap - 1.0)
    assert s.ctx.position_headroom(PERP.id, Side.SELL) == pytest.approx(cap + 0.0)


def test_state_round_trips_and_a_mismatch_is_a_clear_error() -> None:
    class State(msgspec.Struct):
        fills: int
        ema: float

    class Other(msgspec.Struct):
        name: str

    kernel, venue, s = _started()
    assert s.ctx.load_state(State) is None
    s.ctx.save_state(State(3, 1.5))
    assert s.ctx.load_state(State) == State(3, 1.5)
    with pytest.raises(ValueError, match="s1"):
        s.ctx.load_state(Other)


def test_slow_callbacks_are_counted_warned_and_timed() -> None:
    class Slow(Strategy):
        def on_timer(self, name: str, now_ns: int) -> None:
            time.sleep(0.003)

    kernel, _ = make_kernel()
    s = add_strategy(kernel, Slow, "slow")
    kernel.callbacks.slow_ns = 1_000_000
    kernel.start_strategies()
    s.ctx.set_timer("t", 1.0)
    with capture_logs() as logs:
        kernel.clock.advance_to(kernel.clock.now_ns() + 3_500_000_000)
    assert kernel.slow_callbacks["slow"] == 3
    warnings = [e for e in logs if e["event"] == "slow_strategy_callback"]
    assert len(warnings) == 1, "throttled to one warning per interval"
    w = warnings[0]
    assert (w["strategy"], w["callback"], w["threshold_ms"]) == ("slow", "on_timer", 1.0)
    assert w["ms"] >= 3.0
    timing = kernel.strategy_timing()["slow"]
    assert timing["calls"] == 4 and timing["slow"] == 3 and timing["max_ms"] >= 3.0


def test_a_raising_callback_is_counted_and_the_engine_goes_on() -> None:
    class Bad(Strategy):
        def on_ticker(self, event: Any) -> None:
            raise RuntimeError("boom")

    kernel, _ = make_kernel()
    s = add_strategy(kernel, Bad, "bad")
    kernel.start_strategies()
    s.ctx.subscribe_ticker(PERP.id)
    kernel.bus.publish(Quote(PERP.id, 1.0, 1.0, 2.0, 1.0, 0, 0))
    kernel.bus.publish(Quote(PERP.id, 1.0, 1.0, 2.0, 1.0, 0, 0))
    assert kernel.strategy_errors["bad"] == 2
    assert kernel.strategy_timing()["bad"]["errors"] == 2


def test_a_callback_failing_on_every_update_does_not_flood_the_log() -> None:
    # one traceback per callback and exception type per 10 s of clock time, the rest counted:
    # a bug in on_ticker at a busy venue's update rate wrote a traceback per update
    class Bad(Strategy):
        def on_ticker(self, event: Any) -> None:
            raise RuntimeError("boom") if event.bid_price < 5.0 else KeyError("other")

    kernel, _ = make_kernel()
    s = add_strategy(kernel, Bad, "bad")
    kernel.start_strategies()
    s.ctx.subscribe_ticker(PERP.id)
    with capture_logs() as logs:
        for _ in range(100):
            kernel.bus.publish(Quote(PERP.id, 1.0, 1.0, 2.0, 1.0, 0, 0))
        kernel.bus.publish(Quote(PERP.id, 9.0, 1.0, 10.0, 1.0, 0, 0))  # another exception
        kernel.clock.advance_to(kernel.clock.now_ns() + 10_000_000_000)
        kernel.bus.publish(Quote(PERP.id, 1.0, 1.0, 2.0, 1.0, 0, 0))
    failed = [e for e in logs if e["event"] == "strategy_callback_failed"]
    assert [(e["callback"], e["error"]) for e in failed] == [
        ("on_ticker", "RuntimeError"), ("on_ticker", "KeyError"), ("on_ticker", "RuntimeError")]
    assert failed[2]["not_logged"] == 99 and failed[2]["errors_total"] == 102
    assert kernel.strategy_errors["bad"] == 102


def test_holds_put_on_the_gate_directly_reach_strategies_too() -> None:
    kernel, venue, s = _started()
    hold = getattr(kernel.gate, "hold", None)
    if hold is None:
        kernel.gate.set_state(TradingState.REDUCING)  # a gate without named holds
    else:
        hold("kill", TradingState.HALTED, "kill switch level 1: operator")
    kernel.check_stale_books(kernel.clock.now_ns())
    assert s.names() == ["halt"]
    state, reason = s.seen[0][1]
    assert state is kernel.gate.state and reason
    # a denial caused by the halt comes after the halt callback
    s.ctx.submit_limit(PERP.id, Side.BUY, 0.01, 59_000.0)
    assert s.names() == ["halt", "denied"]
    if hold is None:
        kernel.gate.set_state(TradingState.ACTIVE)
    else:
        kernel.gate.release("kill")
    kernel.refresh_chains(kernel.clock.now_ns())
    assert s.names() == ["halt", "denied", "resume"]


def test_order_ids_continue_after_the_highest_id_of_the_context_prefix() -> None:
    from engine import StrategyContext
    # A restart within the same start millisecond (virtual clocks) makes the same prefix: the
    # runtime passes the journal's order ids and the next id must follow the highest of ours.
    kernel, _ = make_kernel()
    ctx = StrategyContext(kernel, "s1", "fake")
    first = ctx.new_client_order_id()  # "<prefix>-1"
    prefix = first.rsplit("-", 1)[0]
    again = StrategyContext(kernel, "s1", "fake")  # same clock: same prefix
    again.continue_ids_after([first, f"{prefix}-7", f"{prefix}-12", f"{prefix}-x9",
                              "other-99", f"{prefix}9-50"])
    assert again.new_client_order_id() == f"{prefix}-13"
    untouched = StrategyContext(kernel, "s1", "fake")
    untouched.continue_ids_after(["other-5"])
    assert untouched.new_client_order_id() == f"{prefix}-1"


@pytest.mark.parametrize("interval", [0.0, -1.0, float("nan"), float("inf"), 1e-12])
def test_a_bad_timer_interval_is_a_clear_error_naming_the_timer(interval: float) -> None:
    kernel, venue, s = _started()
    s.ctx.set_timer("tick", 1.0)
    with pytest.raises(ValueError, match=r"timer 'tick': interval .* s must be"):
        s.ctx.set_timer("tick", interval)
    kernel.clock.advance_to(kernel.clock.now_ns() + 2_100_000_000)
    assert s.names().count("timer") == 2  # the working timer was kept, not cancelled


@pytest.mark.parametrize("delay", [-1.0, float("nan"), float("inf")])
def test_a_bad_alarm_delay_is_a_clear_error_naming_the_alarm(delay: float) -> None:
    kernel, venue, s = _started()
    with pytest.raises(ValueError, match=r"alarm 'once': delay .* s must be"):
        s.ctx.set_alarm("once", delay)
    s.ctx.set_alarm("now", 0.0)  # (0: at once, on the next clock step)
    kernel.clock.advance_to(kernel.clock.now_ns() + 1)
    assert s.names().count("timer") == 1


def test_a_config_type_that_is_not_a_struct_is_refused_where_the_class_is_defined() -> None:
    # a dataclass config was silently ignored: every parameter was then an "unknown key
    # (expected one of: )" of the empty default config
    from dataclasses import dataclass

    @dataclass
    class DcConfig:
        size: float = 0.01

    with pytest.raises(TypeError, match=r"DcConfig .* not a msgspec.Struct"):
        class Dc(Strategy[DcConfig]):  # noqa: F841 - defining it is the test
            pass

    class Loose(Strategy[Any]):  # (no config type named: the default, as before)
        pass

    assert Loose.Config is Strategy.Config


def test_a_subscription_to_an_id_no_venue_lists_is_said_with_the_closest_ids() -> None:
    """A misspelt id used to subscribe in silence: the strategy waited for ever for a book."""
    kernel, _venue, s = _started()
    typo = PERP.id.replace("PERP", "PREP")
    with capture_logs() as logs:
        s.ctx.subscribe_book(typo)
        s.ctx.subscribe_book(PERP.id)  # a listed one: nothing said
    said = [e for e in logs if e["event"] == "subscribed_unlisted_instrument"]
    assert len(said) == 1 and said[0]["log_level"] == "warning"
    assert said[0]["instrument"] == typo and said[0]["strategy"] == s.ctx.strategy_id
    assert PERP.id in said[0]["closest"]
