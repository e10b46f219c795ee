"""The replay's hot paths keep the engine's semantics: the bus's per-type dispatcher, the
kernel's market publisher, the virtual clock's periodic timers, the venue's deferred books."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from engine.bus import MessageBus
from engine.clock import VirtualClock
from engine.integrity import BookKeeper
from engine.kernel import Kernel
from engine.model import BookSnapshot, Quote, Side, TimeInForce, Trade
from engine.risk import RiskLimits
from tests.backtest.helpers import IID, MS, T0, delta, fills, make_exchange, order, snapshot


def test_bus_dispatcher_has_publish_semantics() -> None:
    """Nested events are queued, every subscriber runs in order, errors are isolated and
    counted, and later (un)subscriptions are seen."""
    errors: list[object] = []
    bus = MessageBus(on_error=lambda ev, h, exc: errors.append(ev))
    seen: list[str] = []
    dispatch = bus.dispatcher(int)

    def first(x: int) -> None:
        seen.append(f"a{x}")
        if x == 1:
            dispatch(2)  # from inside a handler: queued behind the current event
            bus.publish("s")
            seen.append("after")

    bus.subscribe(int, first)
    bus.subscribe(str, seen.append)
    dispatch(1)
    assert seen == ["a1", "after", "a2", "s"]
    late: list[int] = []
    bus.subscribe(int, late.append)
    bus.subscribe(int, lambda x: 1 / 0)
    dispatch(3)
    assert late == [3] and errors == [3] and bus.errors == 1
    bus.unsubscribe(int, late.append)
    dispatch(4)
    assert late == [3] and bus.published == 5


def test_bus_publish_after_an_aborted_dispatch_keeps_the_order() -> None:
    """A BaseException out of a handler leaves queued events; the next publish runs them first."""
    bus = MessageBus()
    seen: list[object] = []

    def boom(x: int) -> None:
        seen.append(x)
        if x == 1:
            bus.publish("queued")
            raise KeyboardInterrupt

    bus.subscribe(int, boom)
    bus.subscribe(str, seen.append)
    try:
        bus.publish(1)
    except KeyboardInterrupt:
        pass
    bus.publish(2)
    assert seen == [1, "queued", 2]


def test_virtual_clock_periodic_timer_catches_up_and_interleaves_in_order() -> None:
    """A late advance fires a periodic timer once per period, in sequence with one-shot timers
    (ties by scheduling order); moving time with nothing due fires nothing, never goes back."""
    clock = VirtualClock(0)
    fired: list[tuple[str, int]] = []
    clock.every(10, lambda t: fired.append(("p", t)), start_ns=5)
    clock.call_at(15, lambda t: fired.append(("o", t)))
    assert clock.advance_to(4) == 0 and clock.now_ns() == 4
    clock.advance_to(27)
    assert fired == [("p", 5), ("o", 15), ("p", 15), ("p", 25)]
    assert clock.advance_to(20) == 0 and clock.now_ns() == 27
    assert clock.next_timer_ns() == 35 and clock.timer_heap[0][0] == 35


def _quote(px: float, iid: str = IID) -> Quote:
    return Quote(iid, px, 1.0, px + 1.0, 2.0, T0, T0)


def _trade(px: float, iid: str = IID) -> Trade:
    return Trade(iid, px, 0.5, Side.BUY, f"t{px}", T0, T0)


def _state(k: Kernel) -> tuple[Any, ...]:
    return dict(k.counters), dict(k.last_trade), k.bus.published, k.bus.errors


def test_market_publisher_has_the_effects_of_publish() -> None:
    """Without listeners the kernel's own update is applied directly; the result is the one
    ``bus.publish`` gives, event for event."""
    events = [_quote(100.0), _trade(100.5), _quote(101.0), _trade(99.0, "x:OTHER")]
    via_bus, direct = Kernel(VirtualClock(T0), RiskLimits()), Kernel(VirtualClock(T0), RiskLimits())
    pubs = {(cls, iid): direct.market_publisher(cls, iid)
            for cls in (Quote, Trade) for iid in (IID, "x:OTHER")}
    for ev in events:
        via_bus.bus.publish(ev)
        pubs[type(ev), ev.instrument_id](ev)
        assert _state(direct) == _state(via_bus)
    assert direct.counters["quotes"] == 2 and direct.last_trade == {IID: 100.5, "x:OTHER": 99.0}


def test_market_publisher_uses_the_bus_when_anyone_else_listens() -> None:
    """A strategy listening to the instrument, another subscriber of the type, or a dispatch
    in progress: the event takes the bus (queued behind the current event if need be)."""
    k = Kernel(VirtualClock(T0), RiskLimits())
    heard: list[Any] = []
    strategy = SimpleNamespace(ctx=SimpleNamespace(strategy_id="s"),
                               on_ticker=lambda ev: (heard.append(("ticker", ev.bid_price)),
                                                     k.bus.publish("nested"),
                                                     heard.append("back")))
    publish_quote, publish_trade = k.market_publisher(Quote, IID), k.market_publisher(Trade, IID)
    other_quote = k.market_publisher(Quote, "x:OTHER")
    k.strategies_running = True
    k._ticker_subs[IID].append(strategy)  # type: ignore[arg-type]  # (after: the list is live)
    k.bus.subscribe(str, heard.append)
    publish_quote(_quote(100.0))
    assert heard == [("ticker", 100.0), "back", "nested"]  # no re-entry: queued, then run
    other_quote(_quote(50.0, "x:OTHER"))  # nobody listens to this one
    assert len(heard) == 3 and k.counters["quotes"] == 2

    k.bus.subscribe(Trade, lambda ev: heard.append(("plugin", ev.price)))
    publish_trade(_trade(101.0))
    assert heard[-1] == ("plugin", 101.0) and k.last_trade[IID] == 101.0

    def on_str(s: str) -> None:
        if s == "go":
            other_quote(_quote(7.0, "x:OTHER"))  # inside a dispatch: after this event
            heard.append("go done")

    k.bus.subscribe(str, on_str)
    k.bus.publish("go")
    assert heard[-2:] == ["go", "go done"] and k.counters["quotes"] == 3
    assert k.bus.published == 6 and k.bus.errors == 0


def _depth_events() -> list[Any]:
    return [snapshot([(100.0, 5.0)], [(101.0, 5.0)], T0),
            delta([(100.0, 2.0), (99.5, 1.0)], [(101.0, 0.0), (102.0, 3.0)], 2, T0 + MS),
            delta([], [(101.5, 0.4)], 3, T0 + 2 * MS)]


def test_books_without_our_orders_are_up_to_date_when_read() -> None:
    """Depth of an instrument without orders of ours may be applied late (nothing reads it),
    but an arriving order and ``book()`` always see every event so far, in order."""
    ex, _, out = make_exchange()
    for ev in _depth_events():
        ex.on_market(ev)
    ex.submit(order("t1", Side.BUY, 1.0, 102.0, tif=TimeInForce.IOC))
    assert [(f.price, f.quantity) for f in fills(out, "t1")] == [(101.5, 0.4), (102.0, 0.6)]

    ex2, _, _ = make_exchange()
    ref = BookKeeper(stale_after_ns=0)
    for ev in _depth_events():
        ex2.on_market(ev)
        ref.on_event(ev)
    book, want = ex2.book(IID), ref.book(IID)
    assert book is not None and want is not None
    assert (book.bids, book.asks, book.seq, book.status) == (want.bids, want.asks, want.seq,
                                                             want.status)


def test_handlers_built_before_any_order_match_once_an_order_rests() -> None:
    """An instrument's quotes and trades go straight on while it has no order queue; the
    handlers the driver already holds match against the first order once it rests (a quote
    through it, then a trade through it, fill it as a maker)."""
    ex, clock, out = make_exchange()
    handlers = ex.market_handlers(IID)
    handlers[BookSnapshot](snapshot([(99.0, 5.0)], [(101.0, 5.0)], T0))
    q0 = Quote(IID, 99.0, 5.0, 101.0, 5.0, T0 + 1, T0 + 1)
    handlers[Quote](q0)
    assert out[-1] is q0 and not fills(out)
    ex.submit(order("b1", Side.BUY, 1.0, 100.0))
    ex.submit(order("s1", Side.SELL, 1.0, 100.5))
    clock.advance_to(T0 + 2 * MS)
    assert not fills(out)
    handlers[Quote](Quote(IID, 99.0, 5.0, 99.5, 0.4, T0 + 3 * MS, T0 + 3 * MS))
    assert [(f.client_order_id, f.quantity) for f in fills(out)] == [("b1", 0.4)]
    handlers[Trade](Trade(IID, 100.0, 2.0, Side.SELL, "t1", T0 + 4 * MS, T0 + 4 * MS))
    assert round(sum(f.quantity for f in fills(out, "b1")), 9) == 1.0
