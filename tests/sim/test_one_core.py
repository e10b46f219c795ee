"""One matching core: the same order sequence gives the same fills and the same reject and end
codes on the simulated venue (synthetic feed) and the replay exchange (recorded feed).

Both venues list the same perpetual (tick 0.5, lot 0.001, maker 0.0002, taker 0.0005) and show
the same book: bids 59990.0 x 2.0, 59989.5 x 1.0; asks 60010.0 x 1.0, 60010.5 x 2.0,
60011.0 x 3.0. The simulated venue is driven through its test hooks (``set_book``,
``inject_trade``: a synthetic market order walking its book), the replay exchange by the
recorded events the same market would have produced (the trade, then the depth update that
removes the level it emptied). Every expected fill below is worked out by hand from that book.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.sim.queue_model import QueueModel
from adapters.sim.rules import Ended, Reject
from backtest.exchange import ReplayExchange
from backtest.schema import ExchangeParams
from engine.clock import VirtualClock
from engine.model import (
    AmendOrder,
    BookDelta,
    BookSnapshot,
    CancelOrder,
    Liquidity,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderFilled,
    OrderRejected,
    OrderType,
    Side,
    SubmitOrder,
    TimeInForce,
    Trade,
)
from tests.sim.test_matching import ASKS, BIDS, START, Sim

MAKER, TAKER = 0.0002, 0.0005  # the simulated perp's fee rates (contract size 1 BTC)


class Replay:
    """A replay exchange listing the simulated venue's instruments, with its perp book."""

    def __init__(self, sim: Sim) -> None:
        self.perp = sim.perp
        self.out: list[Any] = []
        # the simulated venue's default queue model: where both hear the same book change,
        # both move our orders up the same (a recording of the simulated market holds our own
        # takers' impact, which a real recording never does, so other models would differ there)
        self.ex = ReplayExchange(ExchangeParams(venue="sim", queue=QueueModel(model="worst")))
        self.ex.add_instruments(sim.venue.instruments())
        self.ex.bind(self.out.append, VirtualClock(START))
        asyncio.run(self.ex.start())
        self.seq = 1
        self.ex.on_market(BookSnapshot(self.perp, tuple(BIDS), tuple(ASKS), 1, START, START))

    def new(self) -> list[Any]:
        out, self.out[:] = self.out[:], []
        return out

    def recorded(self, *events: Any) -> None:
        for ev in events:
            self.ex.on_market(ev)

    def delta(self, bids: tuple[Any, ...] = (), asks: tuple[Any, ...] = ()) -> BookDelta:
        self.seq += 1
        return BookDelta(self.perp, bids, asks, self.seq, self.seq - 1, START, START)


def _answers(events: list[Any]) -> list[tuple[Any, ...]]:
    """The order events of a command, without ids and times (which each venue numbers itself)."""
    out: list[tuple[Any, ...]] = []
    for e in events:
        if isinstance(e, OrderAccepted):
            out.append(("accepted", e.client_order_id))
        elif isinstance(e, OrderRejected):
            out.append(("rejected", e.client_order_id, e.reason))
        elif isinstance(e, OrderCancelled):
            out.append(("cancelled", e.client_order_id, e.reason))
        elif isinstance(e, OrderAmended):
            out.append(("amended", e.client_order_id, e.price, e.quantity))
        elif isinstance(e, OrderFilled):
            out.append(("filled", e.client_order_id, e.side, e.price, e.quantity, e.remaining,
                        e.liquidity, round(e.fee, 10)))
    return out


def _limit(perp: str, coid: str, side: Side, qty: float, price: float | None, **kw: Any
           ) -> SubmitOrder:
    kw.setdefault("order_type", OrderType.LIMIT if price is not None else OrderType.MARKET)
    return SubmitOrder(client_order_id=coid, strategy_id="s", instrument_id=perp, side=side,
                       quantity=qty, price=price, **kw)


def test_the_same_orders_fill_the_same_on_both_simulators() -> None:
    sim = Sim()
    rep = Replay(sim)
    perp = sim.perp

    def both(cmd: Any) -> list[tuple[Any, ...]]:
        getattr(sim.venue, {SubmitOrder: "submit", AmendOrder: "amend",
                            CancelOrder: "cancel"}[type(cmd)])(cmd)
        getattr(rep.ex, {SubmitOrder: "submit", AmendOrder: "amend",
                         CancelOrder: "cancel"}[type(cmd)])(cmd)
        a, b = _answers(sim.new()), _answers(rep.new())
        assert a == b, cmd
        return a

    # 1. A market buy of 2.5 walks the asks: 1.0 at 60010.0, then 1.5 at 60010.5 (takers).
    assert both(_limit(perp, "m1", Side.BUY, 2.5, None)) == [
        ("accepted", "m1"),
        ("filled", "m1", Side.BUY, 60010.0, 1.0, 1.5, Liquidity.TAKER, round(TAKER * 1.0 * 60010.0, 10)),
        ("filled", "m1", Side.BUY, 60010.5, 1.5, 0.0, Liquidity.TAKER, round(TAKER * 1.5 * 60010.5, 10)),
    ]

    # 2. A post-only bid of 1.0 at 59990.0 rests behind the 2.0 displayed there.
    assert both(_limit(perp, "b1", Side.BUY, 1.0, 59990.0, post_only=True)) == [("accepted", "b1")]

    # 3. A sell of 2.5 hits 59990.0: 2.0 ahead trade first, then 0.5 of ours (maker).
    (sim_fill,) = _answers(sim.trade(Side.SELL, 2.5))
    rep.recorded(Trade(perp, 59990.0, 2.5, Side.SELL, "x1", START, START),
                 rep.delta(bids=((59990.0, 0.0),)))  # the level the trade emptied
    (rep_fill,) = _answers(rep.new())
    assert sim_fill == rep_fill == (
        "filled", "b1", Side.BUY, 59990.0, 0.5, 0.5, Liquidity.MAKER, round(MAKER * 0.5 * 59990.0, 10))

    # 4. A size reduction keeps the queue place; below what has filled is refused.
    assert both(AmendOrder(client_order_id="b1", strategy_id="s", instrument_id=perp,
                           quantity=0.8)) == [("amended", "b1", 59990.0, 0.8)]
    assert both(AmendOrder(client_order_id="b1", strategy_id="s", instrument_id=perp,
                           quantity=0.4)) == [("rejected", "b1", Reject.QUANTITY_BELOW_FILLED)]

    # 5. A post-only ask at 59990.0 would trade with our own bid (the best bid now): refused.
    assert both(_limit(perp, "s1", Side.SELL, 1.0, 59990.0, post_only=True)) == [
        ("rejected", "s1", Reject.POST_ONLY_WOULD_CROSS)]

    # 6. An IOC sell of 2.0 limited at 59989.5 reaches our bid first (self-trade prevention
    #    cancels it), takes the 1.0 at 59989.5 and ends with the rest unfilled.
    assert both(_limit(perp, "s2", Side.SELL, 2.0, 59989.5, time_in_force=TimeInForce.IOC)) == [
        ("accepted", "s2"),
        ("cancelled", "b1", Ended.SELF_TRADE_PREVENTION),
        ("filled", "s2", Side.SELL, 59989.5, 1.0, 1.0, Liquidity.TAKER, round(TAKER * 1.0 * 59989.5, 10)),
        ("cancelled", "s2", Ended.IOC_UNFILLED),
    ]

    # 7. Fill-or-kill for 10 up to 60011.0: only 0.5 + 3.0 left there, so nothing trades.
    assert both(_limit(perp, "f1", Side.BUY, 10.0, 60011.0, time_in_force=TimeInForce.FOK)) == [
        ("accepted", "f1"), ("cancelled", "f1", Ended.FOK_UNFILLED)]

    # 8. Cancelling an order that already ended is the race every venue answers unknown_order.
    assert both(CancelOrder(client_order_id="b1", strategy_id="s", instrument_id=perp)) == [
        ("rejected", "b1", Reject.UNKNOWN_ORDER)]

    # 9. An ask of 1.0 at 60012.0 rests (nothing displayed there); an amend to 60011.5 moves it.
    assert both(_limit(perp, "a1", Side.SELL, 1.0, 60012.0)) == [("accepted", "a1")]
    assert both(AmendOrder(client_order_id="a1", strategy_id="s", instrument_id=perp,
                           price=60011.5)) == [("amended", "a1", 60011.5, 1.0)]

    # 10. The market moves through it (bids up to 60012.0): it fills in full at its limit.
    sim.venue.set_book(perp, [(60012.0, 2.0)], [(60013.0, 1.0)])
    sim_ev = _answers(sim.new())
    rep.recorded(BookSnapshot(perp, ((60012.0, 2.0),), ((60013.0, 1.0),), 10, START, START))
    assert sim_ev == _answers(rep.new()) == [
        ("filled", "a1", Side.SELL, 60011.5, 1.0, 0.0, Liquidity.MAKER,
         round(MAKER * 1.0 * 60011.5, 10))]
    assert sim.venue.open_orders() == [] and not rep.ex.orders
    assert rep.ex.positions[perp] == pytest.approx(2.5 + 0.5 - 1.0 - 1.0)  # m1, b1, s2, a1


def test_unknown_amend_and_invalid_amends_answer_alike() -> None:
    sim = Sim()
    rep = Replay(sim)
    perp = sim.perp
    sim.venue.submit(_limit(perp, "b1", Side.BUY, 1.0, 59980.0))
    rep.ex.submit(_limit(perp, "b1", Side.BUY, 1.0, 59980.0))
    sim.new()
    rep.new()
    for amend, reason in [
        (AmendOrder(client_order_id="zz", strategy_id="s", instrument_id=perp, price=59981.0),
         Reject.UNKNOWN_ORDER),
        (AmendOrder(client_order_id="b1", strategy_id="s", instrument_id=perp, price=59980.2),
         Reject.PRICE_NOT_ON_TICK),
        (AmendOrder(client_order_id="b1", strategy_id="s", instrument_id=perp, quantity=0.0015),
         Reject.QUANTITY_NOT_ON_LOT),
        (AmendOrder(client_order_id="b1", strategy_id="s", instrument_id=perp, price=-1.0),
         Reject.INVALID_PRICE),
    ]:
        sim.venue.amend(amend)
        rep.ex.amend(amend)
        assert _answers(sim.new()) == _answers(rep.new()) == [
            ("rejected", amend.client_order_id, reason)]
    # a price change re-queues at the back and, crossing the ask, executes as a taker
    amend = AmendOrder(client_order_id="b1", strategy_id="s", instrument_id=perp, price=60010.0)
    sim.venue.amend(amend)
    rep.ex.amend(amend)
    assert _answers(sim.new()) == _answers(rep.new()) == [
        ("amended", "b1", 60010.0, 1.0),
        ("filled", "b1", Side.BUY, 60010.0, 1.0, 0.0, Liquidity.TAKER,
         round(TAKER * 1.0 * 60010.0, 10))]


_PRICES = [59985.0, 59989.5, 59990.0, 59995.0, 60000.0, 60005.0, 60010.0, 60010.5, 60011.0,
           60015.0]
_QTYS = [0.001, 0.3, 0.5, 1.0, 1.7, 2.5, 7.0]


@st.composite
def _commands(draw: Any) -> list[tuple[Any, ...]]:
    """A random sequence of submits (every type and time in force), amends, cancels and
    market orders of the rest of the market."""
    out: list[tuple[Any, ...]] = []
    for k in range(draw(st.integers(1, 14))):
        kind = draw(st.sampled_from(["limit", "limit", "limit", "market", "amend", "cancel",
                                     "trade"]))
        target = f"c{draw(st.integers(0, max(k - 1, 0)))}"  # an earlier order (maybe done)
        if kind == "amend":
            out.append(("amend", target, draw(st.sampled_from([None, *_PRICES])),
                        draw(st.sampled_from([None, *_QTYS]))))
        elif kind == "cancel":
            out.append(("cancel", target))
        elif kind == "trade":
            out.append(("trade", draw(st.sampled_from(list(Side))), draw(st.sampled_from(_QTYS))))
        else:
            tif = draw(st.sampled_from(list(TimeInForce)))
            out.append((kind, f"c{k}", draw(st.sampled_from(list(Side))), draw(st.sampled_from(_QTYS)),
                        draw(st.sampled_from(_PRICES)), tif, draw(st.booleans())))
    return out


def _synthetic_book(sim: Sim, rep: Replay) -> BookSnapshot:
    """The simulated venue's book without our orders: what a recording of its market shows."""
    book = sim.venue._need_engine().books[sim.perp]
    rep.seq += 1
    return BookSnapshot(sim.perp, tuple((book.px(p), book.sz(v)) for p, v in sorted(book.bids.items(), reverse=True)),
                        tuple((book.px(p), book.sz(v)) for p, v in sorted(book.asks.items())),
                        rep.seq, START, START)


@settings(max_examples=int(os.environ.get("VOLTA_CORE_EXAMPLES", "60")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(_commands())
def test_random_command_sequences_answer_alike(cmds: list[tuple[Any, ...]]) -> None:
    """Whatever the sequence, both simulators answer every command with the same events, and
    another trader's market order fills our resting orders alike (queue position included).

    (``VOLTA_CORE_EXAMPLES=3000`` runs a deeper search.)"""
    sim = Sim()
    rep = Replay(sim)
    perp = sim.perp
    for c in cmds:
        cmd: Any = c
        if c[0] == "amend":
            if c[2] is None and c[3] is None:
                continue
            cmd = AmendOrder(client_order_id=c[1], strategy_id="s", instrument_id=perp,
                             price=c[2], quantity=c[3])
            sim.venue.amend(cmd)
            rep.ex.amend(cmd)
        elif c[0] == "cancel":
            cmd = CancelOrder(client_order_id=c[1], strategy_id="s", instrument_id=perp)
            sim.venue.cancel(cmd)
            rep.ex.cancel(cmd)
        elif c[0] == "trade":
            # another trader's market order walks the simulated venue's book; the replay
            # exchange hears what a recording of that market holds: the prints, then the book
            # without our orders
            sim_events = sim.trade(c[1], c[2])
            rep.recorded(*[e for e in sim_events if isinstance(e, Trade)],
                         _synthetic_book(sim, rep))
            assert _answers(sim_events) == _answers(rep.new()), cmd
            continue
        else:
            _, coid, side, qty, price, tif, post_only = c
            cmd = _limit(perp, coid, side, qty, price if c[0] == "limit" else None,
                         time_in_force=tif, post_only=post_only)
            sim.venue.submit(cmd)
            rep.ex.submit(cmd)
        assert _answers(sim.new()) == _answers(rep.new()), cmd
    assert sorted(sim.venue.open_orders()) == sorted(rep.ex.orders)
