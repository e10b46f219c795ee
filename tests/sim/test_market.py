"""The synthetic market: listing, determinism, book integrity, smile consistency, expiry."""

from __future__ import annotations

import asyncio
import datetime as dt
import math
from collections import Counter
from typing import Any

import msgspec
import pytest

from adapters.sim import SimVenue, SimVenueParams
from engine.book import OrderBook
from engine.clock import VirtualClock
from engine.model import (
    NS_PER_YEAR,
    BookDelta,
    BookSnapshot,
    InstrumentKind,
    MarkPrice,
    OptionSummary,
    OrderExpired,
    OrderRejected,
    OrderType,
    Side,
    SubmitOrder,
    Trade,
)
from engine.pricing import black76_price

START = int(dt.datetime(2026, 11, 18, 11, 6, tzinfo=dt.timezone.utc).timestamp()) * 10**9
TICK = 100_000_000


def make(start: int = START, **kw: Any) -> tuple[SimVenue, VirtualClock, list[Any]]:
    clock = VirtualClock(start)
    events: list[Any] = []
    venue = SimVenue(SimVenueParams(**kw))
    venue.bind(events.append, clock)
    asyncio.run(venue.start())
    return venue, clock, events


def run(clock: VirtualClock, ticks: int, tick_ns: int = TICK) -> None:
    t0 = clock.now_ns()
    for k in range(1, ticks + 1):
        clock.advance_to(t0 + k * tick_ns)


def test_listing_has_perp_and_chain() -> None:
    venue, _, events = make()
    insts = venue.instruments()
    perp = insts[0]
    assert perp.symbol == "BTC-PERP" and perp.kind is InstrumentKind.PERPETUAL
    assert (perp.tick_size, perp.lot_size, perp.maker_fee, perp.taker_fee) == (0.5, 0.001, 0.0002, 0.0005)
    opts = [i for i in insts if i.is_option]
    expiries = sorted({o.expiry_ns for o in opts})
    assert len(expiries) >= 3
    for e in expiries:
        d = dt.datetime.fromtimestamp(e / 1e9, tz=dt.timezone.utc)
        assert (d.hour, d.minute) == (8, 0)
        chain = [o for o in opts if o.expiry_ns == e]
        assert len({o.strike for o in chain}) >= 11
        assert sum(o.is_call for o in chain) == sum(not o.is_call for o in chain)
    days = [(e - START) / 86_400e9 for e in expiries]
    assert days[0] < 1.5 and 6 < days[1] < 8 and 29 < days[2] < 31
    o = opts[0]
    assert o.settle == "USDC" and o.quote == "USD" and o.contract_size == 1.0 and not o.inverse
    assert o.symbol.startswith("BTC-19NOV26-") and o.symbol[-2:] in ("-C", "-P")
    snaps = [e for e in events if isinstance(e, BookSnapshot)]
    assert {s.instrument_id for s in snaps} == {i.id for i in insts}
    assert all(s.bids and s.asks for s in snaps if "PERP" in s.instrument_id)


def _encoded(seed: int, ticks: int) -> list[bytes]:
    venue, clock, events = make(seed=seed)
    iid = venue.instruments()[0].id
    for k in range(ticks):
        clock.advance_to(START + (k + 1) * TICK)
        if k % 50 == 0:
            venue.submit(SubmitOrder(client_order_id=f"c{k}", strategy_id="s", instrument_id=iid,
                                     side=Side.BUY if k % 100 else Side.SELL, quantity=0.01,
                                     order_type=OrderType.MARKET))
    enc = msgspec.json.Encoder()
    return [type(e).__name__.encode() + enc.encode(e) for e in events]


def test_same_seed_same_stream_different_seed_different() -> None:
    a = _encoded(11, 600)
    b = _encoded(11, 600)
    assert len(a) > 1000
    assert a == b
    assert _encoded(12, 600) != a


def test_books_stay_valid_over_thousands_of_ticks() -> None:
    venue, clock, events = make(seed=3)
    run(clock, 3000)
    books: dict[str, OrderBook] = {}
    insts = {i.id: i for i in venue.instruments()}
    trade_ids: set[str] = set()
    counts: Counter[str] = Counter()
    for ev in events:
        counts[type(ev).__name__] += 1
        if isinstance(ev, BookSnapshot):
            book = books.setdefault(ev.instrument_id, OrderBook(ev.instrument_id))
            book.apply_snapshot(ev)
        elif isinstance(ev, BookDelta):
            book = books[ev.instrument_id]
            assert ev.prev_seq == book.seq and ev.seq == book.seq + 1
            assert ev.bids or ev.asks
            inst = insts[ev.instrument_id]
            for p, s in ev.bids + ev.asks:
                assert inst.is_on_tick(p) and p > 0 and s >= 0 and inst.is_on_lot(s)
            book.apply_delta(ev)
            assert not book.is_crossed()
        elif isinstance(ev, Trade):
            assert ev.trade_id not in trade_ids
            trade_ids.add(ev.trade_id)
            assert ev.size > 0 and ev.aggressor in (Side.BUY, Side.SELL)
    assert counts["BookDelta"] > 3000 and counts["Trade"] > 1000
    assert counts["MarkPrice"] == 301 and counts["OptionSummary"] == 301 * 66
    perp = books[venue.instruments()[0].id]
    assert abs(perp.mid() - venue.underlying_price()) < 0.01 * venue.underlying_price()
    assert len(perp.bids) == 10 and len(perp.asks) == 10


def _iv(price: float, is_call: bool, f: float, k: float, t: float) -> float:
    lo, hi = 1e-4, 5.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if float(black76_price(is_call, f, k, t, mid, 0.0)) < price:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def test_option_quotes_follow_the_smile() -> None:
    venue, clock, events = make(seed=5)
    run(clock, 200)
    books: dict[str, OrderBook] = {}
    for ev in events:
        if isinstance(ev, BookSnapshot):
            books.setdefault(ev.instrument_id, OrderBook(ev.instrument_id)).apply_snapshot(ev)
        elif isinstance(ev, BookDelta):
            books[ev.instrument_id].apply_delta(ev)
    now, f = clock.now_ns(), venue.underlying_price()
    checked = 0
    skews = []
    for inst in venue.instruments()[1:]:
        book = books[inst.id]
        t = inst.years_to_expiry(now)
        fair_vol = venue.fair_vol(inst.strike, t)
        vega = f * math.sqrt(t) * math.exp(-0.5 * (math.log(f / inst.strike) / (fair_vol * math.sqrt(t))) ** 2) / 2.5066
        if book.bids and book.asks and vega * 0.01 > 5.0:  # the mid pins the vol
            iv = _iv(book.mid(), inst.is_call, f, inst.strike, t)
            assert abs(iv - fair_vol) < 0.01, (inst.symbol, iv, fair_vol)
            checked += 1
        if inst.is_call:
            skews.append((inst.expiry_ns, inst.strike, fair_vol))
    assert checked >= 20
    # Put skew: within each expiry the lowest strike has a higher vol than the highest one.
    for e in {s[0] for s in skews}:
        row = sorted(s for s in skews if s[0] == e)
        assert row[0][2] > row[-1][2]


def test_option_summaries_and_marks() -> None:
    venue, clock, events = make(seed=9)
    run(clock, 10)
    now = clock.now_ns()
    sums = [e for e in events if isinstance(e, OptionSummary) and e.ts_event == now]
    marks = [e for e in events if isinstance(e, MarkPrice)]
    assert len(sums) == 66 and marks[-1].index_price == venue.underlying_price()
    insts = {i.id: i for i in venue.instruments()}
    for s in sums:
        inst = insts[s.instrument_id]
        t = inst.years_to_expiry(now)
        assert s.mark_iv == pytest.approx(venue.fair_vol(inst.strike, t), rel=1e-9)
        px = float(black76_price(inst.is_call, s.underlying_price, inst.strike, t, s.mark_iv, 0.0))
        assert s.mark_price == pytest.approx(px, rel=1e-9, abs=1e-9)
        assert (0 <= s.delta <= 1) if inst.is_call else (-1 <= s.delta <= 0)
        assert s.gamma >= 0 and s.vega >= 0 and s.theta <= 0
        assert s.bid_iv <= s.mark_iv <= s.ask_iv


def test_expiry_expires_orders_and_delists() -> None:
    start = int(dt.datetime(2026, 11, 18, 7, 0, tzinfo=dt.timezone.utc).timestamp()) * 10**9
    venue, clock, events = make(start=start, tick_ms=5000, expiries_days=(0.0, 7.0, 30.0))
    first = venue.instruments()[1]
    assert first.expiry_ns == start + 3600 * 10**9
    assert first.is_call and first.strike < venue.underlying_price()  # deep ITM: never trades at 1
    bid = 1.0
    venue.submit(SubmitOrder(client_order_id="x", strategy_id="s", instrument_id=first.id,
                             side=Side.BUY, quantity=0.1, price=bid))
    n_before = len(venue.instruments())
    assert "x" in venue.open_orders()
    run(clock, 721, 5 * 10**9)
    assert any(isinstance(e, OrderExpired) and e.client_order_id == "x" for e in events)
    assert len(venue.instruments()) == n_before - 22
    assert first.id not in {i.id for i in venue.instruments()}
    last = [e for e in events if isinstance(e, BookDelta) and e.instrument_id == first.id][-1]
    assert all(s == 0 for _, s in last.bids + last.asks)
    venue.submit(SubmitOrder(client_order_id="y", strategy_id="s", instrument_id=first.id,
                             side=Side.BUY, quantity=0.1, price=bid))
    assert isinstance(events[-1], OrderRejected) and events[-1].reason == "instrument_not_active"
    # Nothing more is published for the expired book.
    n = len(events)
    run(clock, 20, 5 * 10**9)
    assert not any(getattr(e, "instrument_id", "") == first.id for e in events[n:])


def test_resync_publishes_a_continuing_snapshot() -> None:
    venue, clock, events = make()
    run(clock, 20)
    iid = venue.instruments()[0].id
    last_seq = [e for e in events if isinstance(e, (BookDelta, BookSnapshot)) and e.instrument_id == iid][-1].seq
    venue.request_resync(iid)
    snap = events[-1]
    assert isinstance(snap, BookSnapshot) and snap.seq == last_seq + 1
    run(clock, 5)
    nxt = [e for e in events if isinstance(e, BookDelta) and e.instrument_id == iid][-1]
    assert nxt.seq > snap.seq


def test_timers_stop_and_time_is_only_the_clock() -> None:
    venue, clock, events = make()
    run(clock, 5)
    asyncio.run(venue.stop())
    n = len(events)
    run(clock, 50)
    assert len(events) == n
    assert all(getattr(e, "ts_event", clock.now_ns()) <= clock.now_ns() for e in events)


def test_years_convention_matches_instrument() -> None:
    venue, clock, _ = make()
    inst = venue.instruments()[1]
    assert inst.years_to_expiry(clock.now_ns()) == (inst.expiry_ns - clock.now_ns()) / NS_PER_YEAR


_DIGEST = """
import asyncio, hashlib, msgspec
from engine.clock import VirtualClock
from adapters.sim import SimVenue, SimVenueParams
from engine.model import OrderType, Side, SubmitOrder
clock, ev = VirtualClock({start}), []
v = SimVenue(SimVenueParams(seed=4))
v.bind(ev.append, clock)
asyncio.run(v.start())
insts = v.instruments()
for k in range(1, 301):
    clock.advance_to({start} + k * {tick})
    if k % 10 == 0:
        i = insts[k % len(insts)]
        v.submit(SubmitOrder(client_order_id=f"m{{k}}", strategy_id="s", instrument_id=i.id,
                             side=Side.BUY, quantity=i.lot_size * 500, order_type=OrderType.MARKET))
enc, h = msgspec.json.Encoder(), hashlib.sha256()
for e in ev:
    h.update(type(e).__name__.encode() + enc.encode(e))
print(len(ev), h.hexdigest())
"""


def test_stream_does_not_depend_on_hash_randomization() -> None:
    import os
    import pathlib
    import subprocess
    import sys

    root = pathlib.Path(__file__).resolve().parents[2]
    code = _DIGEST.format(start=START, tick=TICK)
    outs = set()
    for hs in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hs, "PYTHONPATH": str(root)}
        res = subprocess.run([sys.executable, "-c", code], env=env, cwd=root, capture_output=True,
                             text=True, timeout=300, check=True)
        outs.add(res.stdout)
    assert len(outs) == 1


async def test_runs_on_the_live_clock() -> None:
    from engine.clock import LiveClock

    events: list[Any] = []
    venue = SimVenue(SimVenueParams(tick_ms=10))
    venue.bind(events.append, LiveClock())
    await venue.start()
    n = len(events)
    await asyncio.sleep(0.15)
    await venue.stop()
    assert any(isinstance(e, BookDelta) for e in events[n:])
