"""The gate's O(1) paths (issue 13): facts resolved once per instrument and kept in step with
the limits, tick/lot grids decided on integers, the account check's sums patched per fill
(never a walk over the positions on the order path), the order state machine's precomputed
moves, and the working-order Greek sums. Expected values are worked out here by hand or
recounted from scratch, never read back from the code under test."""

from __future__ import annotations

import dataclasses
import random
from decimal import Decimal

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.accounts import AccountBook, AccountSpec
from engine.clock import VirtualClock
from engine.kernel import Kernel
from engine.margin import LinearTerms, position_margin
from engine.model import (
    BookSnapshot,
    Instrument,
    InstrumentKind,
    Liquidity,
    OptionType,
    OrderFilled,
    OrderStatus,
    Side,
    SubmitOrder,
)
from engine.orders import RESTORE, TRANSITIONS, IllegalTransition, OrderBookkeeper
from engine.portfolio import Portfolio
from engine.risk import RateLimit, Reason, RiskLimits, UnderlyingLimits
from engine.risk.facts import Grid
from tests.risk.helpers import CALL, PERP, make, order, reason
from tests.risk.venues import add_venue, submit

NOW = 1_700_000_000 * 10**9


# -- grids ------------------------------------------------------------------------------------
@pytest.mark.parametrize("step,value,on", [
    (0.1, 0.3, True),            # 0.3 / 0.1 = 2.9999999999999996 in floats: still on the grid
    (0.1, 0.1 + 0.2, True),      # float noise of a computed price (0.30000000000000004)
    (0.1, 0.35, False),
    (0.5, 60_000.5, True),
    (0.5, 60_000.25, False),
    (0.0005, 0.0105, True),      # Deribit option tick
    (0.0005, 0.01055, False),
    (0.001, 0.007, True),
    (0.001, 0.0075, False),
    (25.0, 1_000.0, True),       # steps above 1
    (25.0, 1_010.0, False),
    (1e-8, 0.12345678, True),
    (1e-8, 0.123456785, False),
    (0.0, 0.123, True),          # no step: every value
])
def test_grid_by_hand(step: float, value: float, on: bool) -> None:
    assert Grid(step).contains(value) is on


@settings(max_examples=300, deadline=None)
@given(places=st.integers(0, 8), units=st.sampled_from([1, 2, 5, 25]),
       k=st.integers(0, 10**7), off=st.integers(-3, 3))
def test_grid_agrees_with_decimal_arithmetic(places: int, units: int, k: int, off: int) -> None:
    """A value written with the step's decimals is on the grid exactly when its decimal is a
    multiple of the step's decimal (computed here with Decimal, no floats)."""
    step = Decimal(units).scaleb(-places)
    value = step * k + Decimal(off).scaleb(-places)  # off the grid unless off = 0 mod units
    if value <= 0:
        return
    expected = value % step == 0
    assert Grid(float(step)).contains(float(value)) is expected


# -- facts kept in step with the limits -------------------------------------------------------
def test_facts_follow_limit_budget_rate_and_instrument_changes() -> None:
    k, _ = make()
    assert reason(k, order(qty=0.5)) is None  # facts of PERP now resolved
    # a new RiskLimits object: its max order size applies to the very next order
    k.gate.limits = dataclasses.replace(k.gate.limits, per_instrument={}, max_order_qty=0.2)
    assert reason(k, order(qty=0.5)) == Reason.MAX_ORDER_QTY
    # a venue rate that appears later (the adapter's documented limit): burst of 1
    k.gate.set_venue_rate(PERP.venue, 0.001, 1)
    assert reason(k, order(qty=0.1)) is None
    assert reason(k, order(qty=0.1, price=60_001.0)) == Reason.RATE_LIMIT_VENUE
    # an instrument replaced by the venue (now inactive): its facts are not reused
    k.instruments[PERP.id] = msgspec.structs.replace(PERP, active=False)
    assert reason(k, order(qty=0.1)) == Reason.INSTRUMENT_INACTIVE


def test_budget_change_applies_to_the_next_order() -> None:
    k, _ = make(max_position_qty=100, per_instrument={})
    k.portfolio.set_underlying_price("BTC", 60_000.0)
    assert reason(k, order(qty=0.5)) is None  # delta 0.5 BTC working, no Greek limit yet
    k.gate.set_budget("BTC", UnderlyingLimits(max_delta=0.8))
    # 0.5 working + 0.5 more = 1.0 > 0.8 (perpetual: 1 BTC of delta per contract)
    assert reason(k, order(qty=0.5, price=60_001.0)) == Reason.MAX_DELTA
    k.gate.set_budget("BTC", None)
    assert reason(k, order(qty=0.5, price=60_002.0)) is None


def test_approval_builds_no_denial(monkeypatch: pytest.MonkeyPatch) -> None:
    """Denials (and their text) are made only when an order is refused (the gate's
    refusals module builds every one of them)."""
    import engine.risk.refusals as refusals_module

    k, _ = make(global_rate=RateLimit(1e9, 1e9))
    made: list[object] = []
    real = refusals_module.Denial

    def spy(*a: object, **kw: object) -> object:
        made.append(a)
        return real(*a, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(refusals_module, "Denial", spy)
    for i in range(5):
        assert reason(k, order(qty=0.1, price=60_000.0 + i)) is None
    assert made == []
    assert reason(k, order(qty=11.0)) == Reason.MAX_ORDER_QTY and len(made) == 1


# -- accounts: O(1) after fills ---------------------------------------------------------------
USDM = Instrument(venue="binance-usdm", symbol="BTCUSDT", kind=InstrumentKind.PERPETUAL, base="BTC",
                  quote="USDT", settle="USDT", tick_size=0.1, lot_size=0.001, underlying="BTC")
ETHM = Instrument(venue="binance-usdm", symbol="ETHUSDT", kind=InstrumentKind.PERPETUAL, base="ETH",
                  quote="USDT", settle="USDT", tick_size=0.01, lot_size=0.001, underlying="ETH")


def _usdm_kernel(balance: float) -> Kernel:
    k = Kernel(VirtualClock(NOW), RiskLimits(max_order_qty=1e6, max_position_qty=1e6,
                                             max_order_notional_usd=1e9, price_band_pct=50.0))
    add_venue(k, "binance-usdm", [USDM, ETHM])
    k.bus.publish(BookSnapshot(USDM.id, ((29_999.9, 10.0),), ((30_000.1, 10.0),), 1, 0, 0))
    k.bus.publish(BookSnapshot(ETHM.id, ((1_999.99, 10.0),), ((2_000.01, 10.0),), 1, 0, 0))
    k.portfolio.set_underlying_price("BTC", 30_000.0)
    k.portfolio.set_underlying_price("ETH", 2_000.0)
    k.gate.accounts = AccountBook(k.portfolio, {
        "binance-usdm": AccountSpec("binance-usdm", {"USDT": balance}, LinearTerms(20.0, 0.004))},
        None, k.clock.now_ns)
    return k


def test_account_check_after_fills_matches_the_hand_computed_margin() -> None:
    k = _usdm_kernel(1_000.0)
    # 20x: IM = qty x 30,000 / 20 = 1,500 per BTC; equity 1,000 USDT
    assert submit(k, USDM, Side.BUY, 0.4, 30_000.0, fill=True) is None          # IM 600
    assert submit(k, ETHM, Side.BUY, 2.0, 2_000.0, fill=True) is None           # IM 200
    # 800 used; 0.14 BTC more = 210 -> 1,010 > 1,000; 0.13 = 195 -> 995 passes
    assert submit(k, USDM, Side.BUY, 0.14, 30_000.0) == Reason.INSUFFICIENT_MARGIN
    assert submit(k, USDM, Side.BUY, 0.13, 30_000.0) is None
    # closing the ETH position (at the entry price: no PnL) frees its 200 of IM
    assert submit(k, ETHM, Side.SELL, 2.0, 2_000.0, fill=True) is None
    # 0.66 x 1,500 = 990 <= 1,000 (working orders reserve no margin here); had the ETH part
    # not been taken out, 800 - 600 + 990 = 1,190 would be denied
    assert submit(k, USDM, Side.BUY, 0.26, 30_000.0) is None
    acc = k.gate.accounts
    assert isinstance(acc, AccountBook)
    st_ = acc.state("binance-usdm", "USD")
    assert st_.initial_margin == pytest.approx(0.4 * 30_000.0 / 20.0)
    assert st_.equity == pytest.approx(1_000.0)


def test_account_check_walks_no_positions_after_a_fill() -> None:
    """The check after a fill patches the filled position's part only: with 300 positions
    held, it does not iterate the portfolio (the 1 s refresh does, off the order path)."""
    k = _usdm_kernel(1e9)
    insts = [Instrument(venue="binance-usdm", symbol=f"X{i}USDT", kind=InstrumentKind.PERPETUAL,
                        base=f"X{i}", quote="USDT", settle="USDT", tick_size=0.01, lot_size=0.001)
             for i in range(300)]
    k.add_instruments(insts)
    for i, inst in enumerate(insts):
        k.bus.publish(BookSnapshot(inst.id, ((99.99, 10.0),), ((100.01, 10.0),), 1, 0, 0))
        k.portfolio.set_underlying_price(f"X{i}", 100.0)
        assert submit(k, inst, Side.BUY, 1.0, 100.0, fill=True) is None
    acc = k.gate.accounts
    assert isinstance(acc, AccountBook)
    walks = []
    real = k.portfolio.positions
    k.portfolio.positions = lambda: walks.append(1) or real()  # type: ignore[method-assign]
    for _ in range(3):
        assert submit(k, USDM, Side.BUY, 0.01, 30_000.0, fill=True) is None
    assert walks == []
    # the fills were taken in as they were handled: an order's check now only reads
    asked = []
    real_since = k.portfolio.filled_since
    k.portfolio.filled_since = lambda n: asked.append(n) or real_since(n)  # type: ignore[method-assign]
    assert submit(k, USDM, Side.BUY, 0.01, 30_000.0) is None
    assert asked == [] and walks == []
    # the sums equal a recount from scratch: 300 x 100 / 20 + 0.03 x 30,000 / 20
    _, im, mm = acc._paper_figures(("binance-usdm", "USD"))
    assert im == pytest.approx(300 * 100.0 / 20.0 + 0.03 * 30_000.0 / 20.0)
    assert mm == pytest.approx((300 * 100.0 + 0.03 * 30_000.0) * 0.004)


def test_filled_since_lists_the_newest_fills() -> None:
    p = Portfolio([USDM, ETHM])

    def fill(iid: str, tid: str) -> bool:
        return p.on_fill(OrderFilled(client_order_id="c", venue_order_id="v", instrument_id=iid,
                                     trade_id=tid, side=Side.BUY, price=1.0, quantity=1.0,
                                     remaining=0.0, liquidity=Liquidity.MAKER, fee=0.0,
                                     fee_currency="USDT", ts_event=0, ts_recv=0))
    assert p.filled_since(0) == []
    fill(USDM.id, "a")
    fill(ETHM.id, "b")
    assert not fill(ETHM.id, "b")  # a duplicate adds nothing
    assert p.filled_since(0) == [ETHM.id, USDM.id]
    assert p.filled_since(1) == [ETHM.id]
    assert p.filled_since(2) == []
    assert p.filled_since(-1) is None and p.filled_since(5) is None


def test_margin_model_equals_position_margin() -> None:
    from engine.margin import MarginModel

    put = Instrument(venue="d", symbol="P", kind=InstrumentKind.OPTION, base="BTC", quote="USD",
                     settle="BTC", inverse=True, premium_in_coin=True, tick_size=0.0005,
                     lot_size=0.1, underlying="BTC", strike=28_000.0, option_type=OptionType.PUT,
                     expiry_ns=NOW)
    perp = Instrument(venue="d", symbol="PERP", kind=InstrumentKind.PERPETUAL, base="BTC",
                      quote="USD", settle="BTC", inverse=True, tick_size=0.5, lot_size=10.0)
    terms = LinearTerms(20.0, 0.004)
    for inst in (put, perp, USDM):
        model = MarginModel(inst, terms)
        for qty in (-3.0, -0.5, 0.0, 0.5, 3.0):
            assert model.margin(qty, 0.02 if inst is put else 30_000.0, 30_000.0) == \
                position_margin(inst, qty, 0.02 if inst is put else 30_000.0, 30_000.0, terms)
    # by hand: short 2 puts 2,000 USD out of the money, mark 0.02 BTC
    mm1 = max(0.075, 0.075 * 0.02) + 0.02
    im, mm = MarginModel(put, terms).margin(-2.0, 0.02, 30_000.0)
    assert mm == pytest.approx(2 * mm1)
    assert im == pytest.approx(2 * max(max(0.15 - 2_000 / 30_000.0, 0.1) + 0.02, mm1))


# -- the order state machine ------------------------------------------------------------------
_REACH = {  # a path of triggers from INITIALIZED to each state
    OrderStatus.INITIALIZED: [], OrderStatus.DENIED: ["deny"], OrderStatus.SUBMITTED: ["submit"],
    OrderStatus.ACCEPTED: ["submit", "accept"], OrderStatus.PARTIALLY_FILLED: ["submit", "fill"],
    OrderStatus.PENDING_CANCEL: ["submit", "accept", "cancel_request"],
    OrderStatus.PENDING_AMEND: ["submit", "accept", "amend_request"],
    OrderStatus.FILLED: ["submit", "fill_final"], OrderStatus.CANCELLED: ["submit", "cancelled"],
    OrderStatus.REJECTED: ["submit", "reject"], OrderStatus.EXPIRED: ["submit", "expire"],
}
_TRIGGERS = sorted({t for row in TRANSITIONS.values() for t in row})


@pytest.mark.parametrize("state", list(_REACH))
def test_every_move_follows_the_documented_table(state: OrderStatus) -> None:
    for trigger in _TRIGGERS:
        ob = OrderBookkeeper()
        o = ob.add(SubmitOrder(client_order_id="x", strategy_id="s", instrument_id="v:I",
                               side=Side.BUY, quantity=1.0, price=1.0))
        for t in _REACH[state]:
            ob.transition(o, t)
        assert o.status is state
        target = TRANSITIONS[state].get(trigger)
        if target is None:
            with pytest.raises(IllegalTransition):
                ob.transition(o, trigger)
            assert o.status is state
            continue
        ob.transition(o, trigger)
        if target == RESTORE:  # back to where it was before the pending request: ACCEPTED
            assert o.status is OrderStatus.ACCEPTED
        else:
            assert o.status is target
        # indexes recounted from scratch
        is_open = o.status in (OrderStatus.SUBMITTED, OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED,
                               OrderStatus.PENDING_CANCEL, OrderStatus.PENDING_AMEND)
        assert ob.open_count() == int(is_open) == ob.open_count(instrument_id="v:I")
        assert ob.working_qty("v:I", Side.BUY) == (1.0 if is_open else 0.0)


def test_accept_during_a_pending_cancel_restores_to_accepted() -> None:
    ob = OrderBookkeeper()
    o = ob.add(SubmitOrder(client_order_id="x", strategy_id="s", instrument_id="v:I",
                           side=Side.BUY, quantity=1.0, price=1.0))
    ob.transition(o, "submit")
    ob.transition(o, "cancel_request")  # before the venue acknowledged the order
    ob.transition(o, "accept")          # its acknowledgement arrives
    assert o.status is OrderStatus.PENDING_CANCEL
    ob.transition(o, "cancel_rejected")
    assert o.status is OrderStatus.ACCEPTED


# -- working-order Greeks -----------------------------------------------------------------------
def test_working_greek_sums_equal_a_recount() -> None:
    """Random orders opened, partly filled and ended: the gate's per-underlying working sums
    equal remaining x Greek per contract summed over the orders still working."""
    k, _ = make(max_position_qty=1e6, max_order_qty=1e6, per_instrument={},
                max_order_notional_usd=1e12, max_open_orders=10_000, option_price_band_pct=1e9)
    g = {CALL.id: (0.5, 2e-5, 3.0), PERP.id: (1.0, 0.0, 0.0)}
    k.portfolio.set_greeks(CALL.id, 0.5, 2e-5, 3.0, -1.0, raw=False)
    k.portfolio.set_underlying_price("BTC", 60_000.0)
    rng = random.Random(7)
    orders = []
    for i in range(60):
        inst = CALL if i % 2 else PERP
        side = Side.BUY if rng.random() < 0.5 else Side.SELL
        qty = rng.choice([0.1, 0.2, 0.3])
        px = 1_050.0 if inst is CALL else 60_000.0 + i
        cmd = SubmitOrder(client_order_id=f"g{i}", strategy_id="s", instrument_id=inst.id,
                          side=side, quantity=qty, price=px)
        assert k.router.submit(cmd) is None, i
        orders.append(k.orders.get(cmd.client_order_id))
    for o in orders[::3]:
        k.orders.transition(o, "cancelled")
    for n, o in enumerate(orders[1::3]):
        k.orders.apply_fill(o, f"t{n}", 1.0, 0.1, 0.0)
    want = [0.0] * 6
    for o in orders:
        if not o.is_open:
            continue
        sign = 1.0 if o.side is Side.BUY else -1.0
        for i in range(3):
            v = sign * g[o.instrument_id][i] * o.remaining
            if v > 0:
                want[2 * i] += v
            elif v < 0:
                want[2 * i + 1] += v
    assert k.gate.exposure.working("BTC") == pytest.approx(want, abs=1e-12)


def test_working_greeks_follow_a_change_of_the_instruments_greeks() -> None:
    """Each order keeps the Greeks its instrument had when it started working; an order
    started after the instrument's Greeks changed takes the new ones (the terms kept per
    instrument are not reused past a change), and each order takes back out exactly what
    it put in."""
    k, _ = make(max_position_qty=1e6, max_order_qty=1e6, per_instrument={},
                max_order_notional_usd=1e12, max_open_orders=10_000, option_price_band_pct=1e9)
    k.portfolio.set_underlying_price("BTC", 60_000.0)
    exp = k.gate.exposure

    def submit_call(coid: str, side: Side, qty: float) -> None:
        cmd = SubmitOrder(client_order_id=coid, strategy_id="s", instrument_id=CALL.id,
                          side=side, quantity=qty, price=1_050.0)
        assert k.router.submit(cmd) is None

    k.portfolio.set_greeks(CALL.id, 0.5, 2e-5, 3.0, -1.0, raw=False)
    submit_call("a", Side.BUY, 0.2)                      # delta +0.1, gamma +4e-6, vega +0.6
    k.portfolio.set_greeks(CALL.id, 0.25, 1e-5, 2.0, -1.0, raw=False)
    submit_call("b", Side.BUY, 0.4)                      # delta +0.1, gamma +4e-6, vega +0.8
    submit_call("c", Side.SELL, 0.4)                     # delta -0.1, gamma -4e-6, vega -0.8
    assert exp.working("BTC") == pytest.approx([0.2, -0.1, 8e-6, -4e-6, 1.4, -0.8], abs=1e-12)
    assert exp.working_expiry("BTC", CALL.expiry_ns) == pytest.approx([1.4, -0.8], abs=1e-12)
    k.orders.transition(k.orders.get("a"), "cancelled")  # out with the Greeks it came in with
    assert exp.working("BTC") == pytest.approx([0.1, -0.1, 4e-6, -4e-6, 0.8, -0.8], abs=1e-12)
    k.portfolio.set_greeks(CALL.id, 0.5, 2e-5, 3.0, -1.0, raw=False)  # back to the first ones
    submit_call("d", Side.BUY, 0.2)
    k.orders.transition(k.orders.get("b"), "cancelled")
    k.orders.transition(k.orders.get("c"), "cancelled")
    assert exp.working("BTC") == pytest.approx([0.1, 0.0, 4e-6, 0.0, 0.6, 0.0], abs=1e-12)
    k.orders.transition(k.orders.get("d"), "cancelled")
    assert exp.working("BTC") == pytest.approx([0.0] * 6, abs=1e-12)
    assert exp.working_expiry("BTC", CALL.expiry_ns) == pytest.approx([0.0, 0.0], abs=1e-12)


# -- the read-only views stay live across restores ----------------------------------------------
def test_views_see_restored_orders_and_positions() -> None:
    """The gate reads the bookkeeper's and the portfolio's state through live views: after a
    restore from a snapshot they show the restored orders and positions (a view of a replaced
    dict would show nothing, and the gate would miss a reused id or a position)."""
    k, _ = make(max_position_qty=1.0, per_instrument={})
    a = order(qty=0.4)
    assert reason(k, a) is None
    k.portfolio.on_fill(_orphan_fill())  # a position of 0.5
    orders_state = k.orders.snapshot(keep_ended=10)
    pf_state = k.portfolio.snapshot(keep_trades=10)

    k2, _ = make(max_position_qty=1.0, per_instrument={})
    k2.orders.restore(orders_state)
    k2.portfolio.restore(pf_state)
    assert a.client_order_id in k2.orders.ids and len(k2.orders.open_ids) == 1
    assert k2.portfolio.by_instrument[PERP.id].qty == 0.5
    assert k2.orders.working[(PERP.id, Side.BUY)] == 0.4
    assert reason(k2, a) == Reason.DUPLICATE_ORDER_ID
    # 0.5 held + 0.4 working + 0.2 = 1.1 > 1.0: both restored figures count
    assert reason(k2, order(qty=0.2)) == Reason.MAX_POSITION
    assert reason(k2, order(qty=0.1)) is None


def _orphan_fill() -> OrderFilled:
    return OrderFilled(client_order_id="x", venue_order_id="v", instrument_id=PERP.id, trade_id="p1",
                       side=Side.BUY, price=60_000.0, quantity=0.5, remaining=0.0,
                       liquidity=Liquidity.TAKER, fee=0.0, fee_currency="USD", ts_event=0, ts_recv=0)


def test_account_figures_the_check_reads_equal_the_sums() -> None:
    """The check reads each account's (equity, IM, MM) worked out as the sums last changed:
    after fills caught up, refreshes and rebuilds they equal ``_paper_figures`` (the sums
    themselves) exactly, as a refused order's numbers show."""
    k = _usdm_kernel(5_000.0)
    acc = k.gate.accounts
    assert isinstance(acc, AccountBook)
    key = ("binance-usdm", "USD")
    rng = random.Random(3)
    for step in range(60):
        inst = USDM if step % 3 else ETHM
        px = 30_000.0 if inst is USDM else 2_000.0
        side = Side.BUY if rng.random() < 0.6 else Side.SELL
        submit(k, inst, side, rng.choice([0.01, 0.05, 0.1]), px, fill=True)
        if step % 7 == 0:
            k.portfolio.set_underlying_price("BTC", 30_000.0 + rng.choice([-50.0, 0.0, 50.0]))
            acc.refresh()
        if step % 11 == 0:
            k.clock.advance_to(k.clock.now_ns() + 2_000_000_000)  # stale: the next check rebuilds
        d = k.gate.check(order(USDM, qty=1_000.0, price=30_000.0, strategy="big"))
        assert d is not None and d.reason == Reason.INSUFFICIENT_MARGIN
        equity, im, _ = acc._paper_figures(key)
        assert d.limit == equity
        pos = k.portfolio.by_instrument.get(USDM.id)
        q0 = pos.qty if pos is not None else 0.0
        mark = (pos.mark if pos.mark == pos.mark else pos.avg_price) if q0 else 30_000.0
        im0 = abs(q0) * mark / 20.0 if q0 else 0.0
        assert d.value == im - im0 + abs(q0 + 1_000.0) * mark / 20.0 + 0.0
