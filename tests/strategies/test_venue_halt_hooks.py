"""Strategies hear their own venue's halt at once (``on_venue_halt``/``on_venue_resume``), the
strategies of other venues do not; the example quoter sends nothing to its halted venue and
quotes again after the venue is reconciled."""

from __future__ import annotations

from typing import Any

from engine.model import (
    BookSnapshot,
    BookStatusChanged,
    CancelOrder,
    Instrument,
    InstrumentKind,
    OrderAccepted,
    OrderRejected,
    OrderStatusReport,
    Side,
    SubmitOrder,
    TradingState,
    VenueReconciliation,
    VenueStatusChanged,
)
from engine.reconcile import apply_reconciliation
from engine.strategy import Strategy
from strategies.examples.mm import Quoter, QuoterConfig
from tests.sdk.conftest import PERP, RecordingVenue, add_strategy, make_kernel

PERP2 = Instrument(venue="other", symbol="BTC-PERP", kind=InstrumentKind.PERPETUAL, base="BTC",
                   quote="USD", settle="USD", tick_size=0.5, lot_size=0.001, min_size=0.001,
                   underlying="BTC", taker_fee=0.0005)


class Listener(Strategy):  # type: ignore[type-arg]
    """Records the venue hooks (and book statuses, to check what comes first)."""

    def on_start(self) -> None:
        self.heard: list[tuple[Any, ...]] = []
        self.halted_at_start = self.ctx.venue_halted()
        self.ctx.subscribe_book(self.ctx.instrument_id("BTC-PERP"))

    def on_venue_halt(self, venue: str, reason: str) -> None:
        self.heard.append(("halt", venue, reason))

    def on_venue_resume(self, venue: str, reason: str) -> None:
        self.heard.append(("resume", venue, reason))

    def on_book_status(self, event: BookStatusChanged) -> None:
        self.heard.append(("book", event.instrument_id, str(event.status)))


class Plain(Strategy):  # type: ignore[type-arg]
    """An existing strategy that knows nothing of venue halts."""

    def on_start(self) -> None:
        self.ctx.subscribe_book(self.ctx.instrument_id("BTC-PERP"))


def _kernel() -> tuple[Any, RecordingVenue, RecordingVenue]:
    k, (fake, other) = make_kernel(venues=[RecordingVenue("fake", [PERP]),
                                           RecordingVenue("other", [PERP2])])
    return k, fake, other


def _reconciled(k: Any, venue: str) -> None:
    apply_reconciliation(k, VenueReconciliation(venue=venue, open_orders=(), fills=(),
                                                positions=(), ts=0))


def _halts(s: Listener) -> list[tuple[Any, ...]]:
    return [h for h in s.heard if h[0] != "book"]


def test_only_the_halted_venues_strategy_hears_it_at_once_then_the_resume() -> None:
    k, _fake, _other = _kernel()
    a = add_strategy(k, Listener, "a", "fake")
    b = add_strategy(k, Listener, "b", "other")
    plain = add_strategy(k, Plain, "plain", "fake")
    k.start_strategies()
    assert a.halted_at_start == "" and b.halted_at_start == ""

    k.bus.publish(VenueStatusChanged("fake", "disconnected", "user stream closed", 0, "private"))
    # heard within the publish of the venue's status: nothing else ran in between
    assert len(a.heard) == 1
    kind, venue, reason = a.heard[0]
    assert (kind, venue) == ("halt", "fake")
    assert "private down" in reason and "user stream closed" in reason
    assert b.heard == []
    assert a.ctx.venue_halted() == reason and a.ctx.venue_halted("other") == ""
    assert b.ctx.venue_halted() == "" and b.ctx.venue_halted("fake") == reason
    assert a.ctx.trading_state is TradingState.ACTIVE  # the global state is untouched

    # back: still halted until reconciled, then the resume, again only for ``a``
    k.bus.publish(VenueStatusChanged("fake", "connected", "", 0, "private"))
    assert len(a.heard) == 1 and a.ctx.venue_halted() == "waiting for reconciliation"
    _reconciled(k, "fake")
    assert a.heard[1][:2] == ("resume", "fake") and len(a.heard) == 2
    assert a.ctx.venue_halted() == ""
    assert b.heard == []
    # a strategy without the hooks is untouched (the base class's no-ops)
    assert k.strategy_errors == {}
    assert plain.ctx.venue_halted() == ""


def test_the_halt_comes_before_the_books_going_syncing() -> None:
    k, _fake, _other = _kernel()
    a = add_strategy(k, Listener, "a", "fake")
    b = add_strategy(k, Listener, "b", "other")
    k.start_strategies()
    k.bus.publish(VenueStatusChanged("fake", "reconnecting", "ws closed", 0, "market_data"))
    assert [h[0] for h in a.heard] == ["halt", "book"]
    assert a.heard[1] == ("book", PERP.id, "syncing")
    assert b.heard == []


class Hooks(Plain):
    def on_start(self) -> None:
        super().on_start()
        self.heard: list[tuple[str, str]] = []

    def on_venue_halt(self, venue: str, reason: str) -> None:
        self.heard.append(("halt", venue))

    def on_venue_resume(self, venue: str, reason: str) -> None:
        self.heard.append(("resume", venue))


def test_a_strategy_trades_on_the_venues_it_subscribed_to_or_ordered_on() -> None:
    k, _fake, other = _kernel()
    home_only = add_strategy(k, Hooks, "home", "fake")
    hedger = add_strategy(k, Hooks, "hedger", "fake")
    subscriber = add_strategy(k, Hooks, "sub", "fake")
    k.start_strategies()
    assert k.strategy_venues("home") == k.strategy_venues("hedger") == ["fake"]
    subscriber.ctx.subscribe_ticker(PERP2.id)
    assert k.strategy_venues("sub") == ["fake", "other"]
    coid = hedger.ctx.submit_limit(PERP2.id, Side.BUY, 0.01, 59_000.0)
    assert [c.client_order_id for c in other.sent if isinstance(c, SubmitOrder)] == [coid]
    assert k.strategy_venues("hedger") == ["fake", "other"]

    k.bus.publish(VenueStatusChanged("other", "disconnected", "", 0))
    assert hedger.heard == [("halt", "other")] and subscriber.heard == [("halt", "other")]
    assert home_only.heard == [] and home_only.ctx.venue_halted("other") != ""
    k.bus.publish(VenueStatusChanged("other", "connected", "", 0))
    _reconciled(k, "other")
    assert hedger.heard[-1] == ("resume", "other") and subscriber.heard[-1] == ("resume", "other")
    assert k.strategy_venues("home") == ["fake"]


def test_a_venue_hold_put_by_the_runtime_is_heard_too() -> None:
    k, _fake, _other = _kernel()
    a = add_strategy(k, Listener, "a", "fake")
    k.start_strategies()
    k.trading.hold_venue("fake", "venue_start:fake", "start failed: refused")
    k.trading.release_venue("fake", "venue_start:fake")
    assert _halts(a) == [("halt", "fake", "start failed: refused"),
                         ("resume", "fake", "all streams up and reconciled")]


def _quoter(k: Any) -> Quoter:
    q = add_strategy(k, Quoter, "mm", "fake", QuoterConfig(instrument="BTC-PERP", size=0.01))
    k.start_strategies()
    return q


def _book(k: Any, bid: float, ask: float, seq: int) -> None:
    k.bus.publish(BookSnapshot(PERP.id, ((bid, 1.0),), ((ask, 1.0),), seq, 0, 0))


def _submits(venue: RecordingVenue) -> list[SubmitOrder]:
    return [c for c in venue.sent if isinstance(c, SubmitOrder)]


def test_the_quoter_sends_nothing_to_its_halted_venue_and_requotes_after_resume() -> None:
    k, fake, other = _kernel()
    q = _quoter(k)
    _book(k, 59_990.0, 60_010.0, 2)
    first = _submits(fake)
    assert [c.side for c in first] == [Side.BUY, Side.SELL]
    # mid 60 000 USD, 1 bp half spread = 6 USD each side, on the 0.5 USD tick
    assert abs(first[0].price - 59_994.0) <= 0.5 and abs(first[1].price - 60_006.0) <= 0.5

    k.bus.publish(VenueStatusChanged("fake", "disconnected", "user stream closed", 0, "private"))
    # both quotes pulled at once (cancels are still sent), nothing new
    cancels = [c.client_order_id for c in fake.sent if isinstance(c, CancelOrder)]
    assert sorted(cancels) == sorted(c.client_order_id for c in first)
    assert q.bid_id is None and q.ask_id is None
    sent_before = len(fake.sent)
    for seq, (bid, ask) in enumerate(((59_900.0, 59_920.0), (60_100.0, 60_120.0)), start=3):
        _book(k, bid, ask, seq)
    assert len(fake.sent) == sent_before  # nothing sent to the halted venue
    assert q.denials == {}  # and no denial collected
    assert other.sent == []

    k.bus.publish(VenueStatusChanged("fake", "connected", "", 0, "private"))
    assert len(fake.sent) == sent_before  # reconciliation still pending
    _reconciled(k, "fake")
    # resumed: quotes again at once off the live book (mid 60 110 USD)
    again = _submits(fake)[2:]
    assert [c.side for c in again] == [Side.BUY, Side.SELL]
    mid = (60_100.0 + 60_120.0) / 2
    assert again[0].price < mid < again[1].price
    assert abs(again[0].price - mid * (1 - 1e-4)) <= 0.5 and abs(again[1].price - mid * (1 + 1e-4)) <= 0.5
    assert q.denials == {} and k.strategy_errors == {}


def test_the_quoter_waits_for_a_live_book_after_a_market_data_halt() -> None:
    k, fake, _other = _kernel()
    q = _quoter(k)
    _book(k, 59_990.0, 60_010.0, 2)
    assert len(_submits(fake)) == 2
    k.bus.publish(VenueStatusChanged("fake", "reconnecting", "ws closed", 0, "market_data"))
    k.bus.publish(VenueStatusChanged("fake", "connected", "", 0, "market_data"))
    _reconciled(k, "fake")
    assert q.halted == "" and len(_submits(fake)) == 2  # the book is still SYNCING: wait
    _book(k, 59_990.0, 60_010.0, 10)  # the session's re-snapshot
    assert len(_submits(fake)) == 4 and q.denials == {}


def test_the_quoter_started_while_its_venue_is_halted_waits_for_the_resume() -> None:
    k, fake, _other = _kernel()
    k.trading.hold_venue("fake", "venue_start:fake", "start failed")
    q = _quoter(k)
    assert q.halted == "start failed"
    _book(k, 59_990.0, 60_010.0, 2)
    assert _submits(fake) == [] and q.denials == {}
    k.trading.release_venue("fake", "venue_start:fake")
    assert len(_submits(fake)) == 2


def test_a_quote_whose_cancel_could_not_reach_the_venue_is_cancelled_at_the_resume() -> None:
    k, fake, _other = _kernel()
    q = _quoter(k)
    _book(k, 59_990.0, 60_010.0, 2)
    first = _submits(fake)
    for n, cmd in enumerate(first):
        k.bus.publish(OrderAccepted(client_order_id=cmd.client_order_id, venue_order_id=f"v{n}",
                                    instrument_id=PERP.id, ts_event=0, ts_recv=0))
    k.bus.publish(VenueStatusChanged("fake", "disconnected", "user stream closed", 0, "private"))
    # the venue's session refuses both cancels: the quotes are still working at the venue
    for cmd in first:
        k.bus.publish(OrderRejected(client_order_id=cmd.client_order_id, instrument_id=PERP.id,
                                    reason="NOT_CONNECTED: private stream down (never sent)",
                                    ts_event=0, ts_recv=0))
    assert sorted(o.client_order_id for o in k.orders.open_orders(PERP.id)) == \
        sorted(c.client_order_id for c in first)
    k.bus.publish(VenueStatusChanged("fake", "connected", "", 0, "private"))
    # reconciliation: the venue still has both open
    apply_reconciliation(k, VenueReconciliation(venue="fake", open_orders=tuple(
        OrderStatusReport(client_order_id=c.client_order_id, venue_order_id=f"v{n}",
                          instrument_id=PERP.id, side=c.side, status="open", price=c.price,
                          quantity=c.quantity, filled=0.0, avg_fill_price=0.0, ts_event=0,
                          ts_recv=0)
        for n, c in enumerate(first)), fills=(), positions=(), ts=0))
    after = fake.sent[len(first) + 2:]  # (the two refused cancels at the halt)
    cancelled = [c.client_order_id for c in after if isinstance(c, CancelOrder)]
    assert sorted(cancelled) == sorted(c.client_order_id for c in first)
    fresh = [c for c in after if isinstance(c, SubmitOrder)]
    assert [c.side for c in fresh] == [Side.BUY, Side.SELL]
    assert {q.bid_id, q.ask_id} == {c.client_order_id for c in fresh}
    assert q.denials == {} and k.strategy_errors == {}


def test_the_quoter_pulls_its_quotes_while_the_engine_is_halted_and_quotes_after_the_clear() -> None:
    """A global halt (kill switch level 1: no new orders, working ones left to the strategy):
    the quoter pulls both quotes at once and sends nothing, instead of collecting a
    TRADING_HALTED denial per book update; after the clear it quotes again off the live book."""
    k, fake, _other = _kernel()
    q = _quoter(k)
    _book(k, 59_990.0, 60_010.0, 2)
    first = _submits(fake)
    assert [c.side for c in first] == [Side.BUY, Side.SELL]
    k.killswitch.trip(1, "drill")
    assert k.trading.state is TradingState.HALTED
    cancels = [c.client_order_id for c in fake.sent if isinstance(c, CancelOrder)]
    assert sorted(cancels) == sorted(c.client_order_id for c in first)  # pulled at once
    assert q.bid_id is None and q.ask_id is None and q.halted.startswith("halted: ")
    sent_before = len(fake.sent)
    for seq, (bid, ask) in enumerate(((59_900.0, 59_920.0), (60_100.0, 60_120.0)), start=3):
        _book(k, bid, ask, seq)
    assert len(fake.sent) == sent_before and q.denials == {}  # nothing sent, nothing denied
    # a venue halt and back while the engine is halted: still nothing (the other reason holds)
    k.bus.publish(VenueStatusChanged("fake", "disconnected", "user stream closed", 0, "private"))
    k.bus.publish(VenueStatusChanged("fake", "connected", "", 0, "private"))
    _reconciled(k, "fake")
    assert len(_submits(fake)) == 2 and q.halted.startswith("halted: ")
    k.killswitch.clear()
    again = _submits(fake)[2:]
    assert [c.side for c in again] == [Side.BUY, Side.SELL]  # quoted again at once
    mid = (60_100.0 + 60_120.0) / 2
    assert again[0].price < mid < again[1].price
    assert q.denials == {} and k.strategy_errors == {}


def test_the_quoter_started_while_the_engine_is_halted_waits_for_the_resume() -> None:
    k, fake, _other = _kernel()
    k.killswitch.trip(1, "started halted")
    q = _quoter(k)
    assert q.halted == "halted"
    _book(k, 59_990.0, 60_010.0, 2)
    assert _submits(fake) == [] and q.denials == {}
    k.killswitch.clear()
    assert len(_submits(fake)) == 2
