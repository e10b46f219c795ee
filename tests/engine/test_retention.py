"""Bounded memory over a long run: the live process keeps what a restarted one keeps.

Thousands of orders go through the real execution core (a kernel on a recording venue, the
journal on disk, the runtime's ``Snapshotter`` ticking every simulated second with small caps
passed in): every open order, the newest ``KEEP`` ended ones and each strategy's newest are
held (the timer drops what each second left, a slice at a time); late venue reports about dropped orders behave as after
a restart. Every expected figure is worked out here from the orders the test made, not read
from the code under test.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import structlog.testing

from engine.execution.snapshot import Snapshotter
from engine.journal import Journal
from engine.kernel import Kernel
from engine.model import (
    Liquidity,
    OrderAccepted,
    OrderCancelled,
    OrderFilled,
    Side,
)
from engine.orders import OrderBookkeeper
from engine.reconcile import rebuild
from engine.strategy import StrategyContext
from tests.risk.helpers import PERP, make

KEEP = 40  # ended orders kept
KEEP_TRADES = 60
SLACK = KEEP // 8  # what a full replay may leave between its passes (engine.reconcile)
TRADE_SLACK = KEEP_TRADES // 8
CYCLES = 3_000
STRATEGIES = ("s1", "s2", "s3")


class Run:
    """A market maker's flow through the kernel: per cycle one order submitted through the
    SDK, accepted, then cancelled (two in three) or filled (alternately bought and sold);
    one snapshotter tick per simulated second (every 7 cycles). Records what it made."""

    def __init__(self, tmp: Path) -> None:
        self.k, _venue = make(journal=Journal(tmp / "j.sqlite"))
        k = self.k
        self.ctx = {sid: StrategyContext(k.strategy_ports(), sid, "fake") for sid in STRATEGIES + ("idle",)}
        ks = k.killswitch
        self.snaps = Snapshotter(k.journal, k.orders, k.portfolio, lambda: ks.durable,
                                 k.execution.checkpoint, keep_ended=KEEP, keep_trades=KEEP_TRADES,
                                 execution=k.execution.snapshot, throttle=k.gate.snapshot)
        self.made: list[str] = []  # client order ids, in the order submitted
        self.strategy_of: dict[str, str] = {}
        self.ended: list[str] = []  # in the order submitted
        self.open: set[str] = set()
        self.trades = 0
        self.qty = Decimal(0)  # the position, from the fills this test sent
        self.max_held = 0
        self.max_trades = 0

    def submit(self, sid: str, side: Side, price: float) -> str:
        coid = self.ctx[sid].submit_limit(PERP.id, side, 0.01, price)
        assert self.k.orders.get(coid) is not None, coid  # not denied
        self.made.append(coid)
        self.strategy_of[coid] = sid
        self.k.bus.publish(OrderAccepted(client_order_id=coid, venue_order_id="v-" + coid,
                                         instrument_id=PERP.id, ts_event=0, ts_recv=0))
        return coid

    def cancel(self, coid: str) -> None:
        self.k.bus.publish(OrderCancelled(client_order_id=coid, instrument_id=PERP.id,
                                          reason="user", ts_event=0, ts_recv=0))

    def fill(self, coid: str, side: Side, trade_id: str, qty: float = 0.01) -> None:
        self.k.bus.publish(OrderFilled(client_order_id=coid, venue_order_id="v-" + coid,
                                       instrument_id=PERP.id, trade_id=trade_id, side=side,
                                       price=60_000.0, quantity=qty, remaining=0.0,
                                       liquidity=Liquidity.MAKER, fee=0.0, fee_currency="USD",
                                       ts_event=0, ts_recv=0))

    def tick(self) -> None:
        k = self.k
        k.clock.advance_to(k.clock.now_ns() + 1_000_000_000)
        k.execution.checkpoint(k.clock.now_ns())
        self.snaps.tick(k.clock.now_ns())
        held = len(k.orders)
        trades = len(k.portfolio.snapshot(10**9).trades)
        self.max_held = max(self.max_held, held)
        self.max_trades = max(self.max_trades, trades)
        if not self.snaps.retain:
            return
        # right after the timer: nothing beyond the rule (7 orders a second, within a slice;
        # my count of what is open)
        assert held <= len(self.open) + KEEP + len(self.ctx), (held, len(self.open))
        assert trades <= KEEP_TRADES, trades

    def run(self, cycles: int = CYCLES) -> None:
        # old orders that stay open the whole run, at the front of the record
        for _ in range(3):
            self.open.add(self.submit("s1", Side.BUY, 59_000.0))
        idle = self.submit("idle", Side.BUY, 59_000.0)  # a strategy that stops trading
        self.cancel(idle)
        self.ended.append(idle)
        for n in range(cycles):
            sid = STRATEGIES[n % len(STRATEGIES)]
            side = Side.BUY if n % 2 else Side.SELL
            coid = self.submit(sid, side, 59_990.0 if side is Side.BUY else 60_010.0)
            if n % 3:
                self.cancel(coid)
            else:
                self.trades += 1
                self.fill(coid, side, f"t{self.trades}")
                self.qty += Decimal("0.01") * side.sign
            self.ended.append(coid)
            if n % 7 == 6:
                self.tick()
        self.tick()

    def kept(self) -> list[str]:
        """What the rule keeps, worked out from what this test made: the open orders, the
        newest KEEP ended ones, the newest of each strategy; in the order made."""
        keep = set(self.open) | set(self.ended[-KEEP:])
        newest: dict[str, str] = {}
        for coid in self.made:
            newest[self.strategy_of[coid]] = coid
        keep |= set(newest.values())
        return [c for c in self.made if c in keep]


def test_a_long_run_holds_what_a_restart_would(tmp_path: Path) -> None:
    r = Run(tmp_path)
    r.run()
    k = r.k
    made = len(r.made)
    assert made == CYCLES + 4
    # bounded: 3,004 orders made, at most 3 open + 40 ended + 4 strategies' newest + the 7
    # orders of the second before a tick
    assert r.max_held <= 3 + KEEP + 4 + 7 < 100
    assert r.max_trades <= KEEP_TRADES + 3
    assert r.snaps.retired_orders >= made - r.max_held
    assert r.snaps.retired_trades == CYCLES // 3 - KEEP_TRADES
    # the open ones are untouched, indexes and all
    assert sorted(o.client_order_id for o in k.orders.open_orders()) == sorted(r.open)
    assert k.orders.open_count() == 3 and k.orders.open_count(strategy_id="s1") == 3
    assert k.orders.working_qty(PERP.id, Side.BUY) == 0.03
    assert k.orders.working_qty(PERP.id, Side.SELL) == 0.0
    # the exact kept set after an exact pass of the rule (no slack)
    k.orders.retire(KEEP)
    assert [o.client_order_id for o in k.orders] == r.kept()
    assert list(k.orders.ids) == r.kept()
    assert r.made[3] in k.orders  # the idle strategy's only order: its newest, kept
    # ``added`` stays a strictly increasing sequence: the newest is the 3,004th order (3,003)
    added = [o.added for o in k.orders]
    assert added == sorted(set(added)) and added[-1] == made - 1
    # the position is every fill the test sent, exactly (1,000 fills, alternating sides)
    pos = k.portfolio.position(PERP.id)
    assert pos is not None and pos.exact_qty == r.qty
    assert k.portfolio.fills == CYCLES // 3


def test_late_reports_about_dropped_orders(tmp_path: Path) -> None:
    r = Run(tmp_path)
    r.run(600)
    k = r.k
    # made[4 + n] is cycle n's order: cycle 7 bought and was cancelled, long ago
    gone, side = r.made[11], Side.BUY
    assert gone not in k.orders and k.orders.get(gone) is None
    assert r.ctx["s2"].order(gone) is None  # the SDK's view: None, as after a restart
    before = k.portfolio.position(PERP.id).exact_qty  # type: ignore[union-attr]
    fills = k.portfolio.fills
    unknown = k.counters.get("events_for_unknown_orders", 0)
    with structlog.testing.capture_logs() as logs:
        r.fill(gone, side, "late-1", 0.02)  # a late fill: moves the position once
        r.fill(gone, side, "late-1", 0.02)  # the venue repeating it: absorbed
        r.cancel(r.made[12])  # a late cancel of another dropped order: counted, logged
        r.k.bus.publish(OrderAccepted(client_order_id=r.made[13], venue_order_id="v",
                                      instrument_id=PERP.id, ts_event=0, ts_recv=0))
    after = k.portfolio.position(PERP.id).exact_qty  # type: ignore[union-attr]
    assert after == before + Decimal("0.02")
    assert k.portfolio.fills == fills + 1 and k.portfolio.has_trade(PERP.id, "late-1")
    assert k.counters["events_for_unknown_orders"] == unknown + 4
    assert not [e for e in logs if e["log_level"] in ("error", "critical")], logs
    warned = [e for e in logs if e["event"] == "event_for_unknown_order"]
    assert [e["event_type"] for e in warned] == ["OrderFilled", "OrderFilled", "OrderCancelled",
                                                 "OrderAccepted"]
    # the late fill is journaled (both arrivals: facts kept for audit), and a replay of the
    # journal moves the position by it once too
    k.journal.commit()
    late = [obj for _s, _t, _d, _n, obj in k.journal.records()
            if isinstance(obj, OrderFilled) and obj.trade_id == "late-1"]
    assert len(late) == 2
    k.journal.abandon()
    full, _ = make(journal=Journal(tmp_path / "j.sqlite"))
    rebuild(full, full.journal, use_snapshot=False, keep=(KEEP, KEEP_TRADES))
    assert full.portfolio.position(PERP.id).exact_qty == after  # type: ignore[union-attr]


def test_a_snapshot_is_the_same_before_and_after_pruning_and_a_restart_continues(tmp_path: Path) -> None:
    r = Run(tmp_path)
    r.snaps.retain = False  # the same run without the rule: everything held until asked
    r.run(900)
    k = r.k
    assert len(k.orders) == 904
    before = k.orders.snapshot(KEEP)
    assert [st.command.client_order_id for st in before] == r.kept()
    dropped = k.orders.retire(KEEP)
    assert dropped == 904 - len(r.kept())
    assert k.orders.retire(KEEP) == 0  # nothing left to drop: the call does nothing
    assert k.orders.snapshot(KEEP) == before
    assert [o.client_order_id for o in k.orders] == r.kept()
    # a restart from a snapshot taken after pruning: the same orders, the ids continue
    seq = r.snaps.take(k.clock.now_ns())
    assert seq is not None and k.journal.drain(30)
    k.journal.abandon()
    k2, _ = make(journal=Journal(tmp_path / "j.sqlite"))
    counts = rebuild(k2, k2.journal, keep=(KEEP, KEEP_TRADES))
    assert counts["snapshot_seq"] == seq
    assert [o.client_order_id for o in k2.orders] == r.kept()
    assert [o.added for o in k2.orders] == list(range(len(r.kept())))
    for sid in STRATEGIES:
        last = max(int(c.rsplit("-", 1)[1]) for c in r.made if r.strategy_of[c] == sid)
        prefix = next(c for c in r.made if r.strategy_of[c] == sid).rsplit("-", 1)[0]
        ctx = StrategyContext(k2.strategy_ports(), sid, "fake")
        ctx.continue_ids_after(o.client_order_id for o in k2.orders)
        assert ctx.new_client_order_id() == f"{prefix}-{last + 1}"
    # a new order after the restart is numbered after every restored one
    coid = StrategyContext(k2.strategy_ports(), "s9", "fake").submit_limit(PERP.id, Side.BUY, 0.01, 59_000.0)
    assert k2.orders.get(coid).added == len(r.kept())  # type: ignore[union-attr]


def test_a_full_replay_applies_the_same_rule(tmp_path: Path) -> None:
    r = Run(tmp_path)
    r.run(2_500)
    r.k.journal.commit()
    r.k.journal.abandon()
    replayed: list[Kernel] = []
    for keep in ((KEEP, KEEP_TRADES), None):
        k, _ = make(journal=Journal(tmp_path / "j.sqlite"))
        rebuild(k, k.journal, use_snapshot=False, keep=keep)
        replayed.append(k)
        k.journal.close()
    bounded, everything = replayed
    assert len(everything.orders) == 2_504  # the baseline: the whole history in memory
    assert len(bounded.orders) <= 3 + KEEP + 4 + SLACK
    bounded.orders.retire(KEEP)
    assert [o.client_order_id for o in bounded.orders] == r.kept()
    assert len(bounded.portfolio.snapshot(10**9).trades) <= KEEP_TRADES + TRADE_SLACK
    assert len(everything.portfolio.snapshot(10**9).trades) == 2_500 // 3 + 1
    for k in replayed:
        assert k.portfolio.position(PERP.id).exact_qty == r.qty  # type: ignore[union-attr]
        assert sorted(o.client_order_id for o in k.orders.open_orders()) == sorted(r.open)


def test_retire_never_drops_open_or_newest() -> None:
    """The bookkeeper alone: open orders at the front are passed, never dropped, indexes
    untouched; an idle strategy's newest order is kept however old; a limited call."""
    from engine.model import SubmitOrder

    ob = OrderBookkeeper()

    def new(n: int, sid: str = "a") -> Any:
        return ob.add_submitted(SubmitOrder(client_order_id=f"{sid}-{n}", strategy_id=sid,
                                            instrument_id="sim:X", side=Side.BUY, quantity=1.0,
                                            price=100.0))

    front = [new(n) for n in range(5)]  # open all along
    for n in range(5, 1_005):
        ob.transition(new(n), "cancelled")
    assert ob.retire(100, limit=0) == 0
    assert ob.retire(100, limit=10) == 10  # the oldest ten
    assert "a-5" not in ob and "a-14" not in ob and "a-15" in ob
    assert ob.retire(100) == 890
    assert [o.client_order_id for o in ob] == [o.client_order_id for o in front] + \
        [f"a-{n}" for n in range(905, 1_005)]
    assert ob.open_count() == 5 and ob.working_qty("sim:X", Side.BUY) == 5.0
    # the newest of a strategy that stopped: kept however old
    ob.transition(new(0, "b"), "cancelled")
    for n in range(1_005, 1_305):
        ob.transition(new(n), "cancelled")
    # 401 ended, 100 kept, b-0 kept as b's newest: 300 dropped
    assert ob.retire(100) == 300
    assert "b-0" in ob and len(ob) == 5 + 100 + 1
    added = [o.added for o in ob]
    assert added == sorted(set(added)) and added[-1] == 1_305


def test_a_routed_parent_keeps_counting_its_dropped_children() -> None:
    """``RoutedOrder`` reads its children's records; an ended child the rule drops still
    counts in the parent's fills (its record is held by the parent from its submission)."""
    from engine.model import SubmitOrder
    from engine.option_routing import RoutedOrder, option_key
    from tests.risk.helpers import CALL

    ob = OrderBookkeeper()
    parent = RoutedOrder("p-1", option_key(CALL), Side.BUY, 0.3, ob.get, {CALL.id: 1.0},
                         {CALL.id: 1.0})
    for n in range(3):
        order = ob.add_submitted(SubmitOrder(client_order_id=f"c-{n}", strategy_id="r",
                                             instrument_id=CALL.id, side=Side.BUY, quantity=0.1,
                                             price=1_000.0))
        parent.children.append(order.client_order_id)
        parent.child(order.client_order_id)
        ob.apply_fill(order, f"t-{n}", 1_000.0 + n, 0.1, 0.0)
    for n in range(50):  # later orders of another strategy push the children out
        ob.transition(ob.add(SubmitOrder(client_order_id=f"o-{n}", strategy_id="o",
                                         instrument_id=CALL.id, side=Side.BUY, quantity=1.0,
                                         price=1_000.0)), "deny")
    assert ob.retire(10) == 42  # 53 ended, 10 kept, c-2 kept as r's newest
    assert "c-0" not in ob and "c-1" not in ob and "c-2" in ob
    assert abs(parent.filled - 0.3) < 1e-12 and parent.state == "filled"
    assert [f.price_usd for f in parent.fills] == [1_000.0, 1_001.0, 1_002.0]


def test_the_paper_node_applies_the_rule_on_its_snapshot_timer(tmp_path: Path, monkeypatch: Any) -> None:
    """The paper deployment (simulated venue, the example quoter, the runtime's timers) with
    small caps handed to the node's own snapshotter: its record stays bounded while the
    journal holds the whole run, and positions are every journaled fill, exactly."""
    import asyncio

    from engine.clock import NS_PER_S, VirtualClock
    from engine.config import default_config_path, load_config
    from engine.runtime import build_node

    start = 1_767_225_600 * NS_PER_S
    clock = VirtualClock(start)
    journal = tmp_path / "paper.sqlite"
    node = build_node(load_config(default_config_path()), clock, journal)
    k = node.kernel
    held: list[tuple[int, int]] = []  # (orders held, open) right after each of the timer's calls
    tick = Snapshotter.tick

    def observed(self: Snapshotter, now_ns: int) -> None:  # (the node's own timer, watched)
        tick(self, now_ns)
        held.append((len(k.orders), k.orders.open_count()))

    monkeypatch.setattr(Snapshotter, "tick", observed)

    async def drive() -> None:
        await node.start()
        snaps = node.snapshotter
        assert snaps is not None and snaps.retain
        snaps.keep_ended, snaps.keep_trades = 16, 16  # (a slack of 2 each)
        for s in range(1, 121):
            clock.advance_to(start + s * NS_PER_S)
            await asyncio.sleep(0)
        await node.stop()

    asyncio.run(drive())
    records = [obj for *_, obj in Journal(journal).records()]
    made = {r.client_order_id for r in records if type(r).__name__ == "SubmitOrder"}
    assert len(made) > 10 * (16 + 2)  # a long run for these caps
    strategies = len(k.strategies)
    assert len(held) >= 100 and max(h - o for h, o in held) <= 16 + strategies + 2
    assert node.snapshotter is not None and node.snapshotter.retired_orders > len(made) // 2
    want: dict[str, Decimal] = {}
    for r in records:
        if isinstance(r, OrderFilled):
            want[r.instrument_id] = want.get(r.instrument_id, Decimal(0)) + \
                Decimal(repr(r.quantity)) * r.side.sign
    assert want and {iid: k.portfolio.position(iid).exact_qty  # type: ignore[union-attr]
                     for iid in want} == want


def test_the_timer_drops_a_slice_per_call_until_a_backlog_passes_an_eighth() -> None:
    """``retain`` as the timer calls it: at most a slice per call while less than an eighth of
    the cap has gathered beyond the rule (no long stall of the loop); past that, down to the
    eighth at once (memory bounded at any rate); the replay's call drops everything."""
    from engine.execution.snapshot import SLICE_ORDERS, SLICE_TRADES, retain
    from engine.model import SubmitOrder
    from engine.portfolio import Portfolio

    keep, keep_trades = 800, 4_000  # eighths: 100 orders, 500 trade ids
    ob = OrderBookkeeper()
    pf = Portfolio([PERP])
    for n in range(5):  # open at the front, passed, never dropped
        ob.add_submitted(SubmitOrder(client_order_id=f"o-{n}", strategy_id="s",
                                     instrument_id=PERP.id, side=Side.BUY, quantity=0.01, price=1.0))

    def end(n: int) -> None:
        ob.transition(ob.add_submitted(SubmitOrder(client_order_id=f"e-{n}", strategy_id="s",
                                                   instrument_id=PERP.id, side=Side.BUY,
                                                   quantity=0.01, price=1.0)), "cancelled")

    def trade(n: int) -> None:
        side = Side.BUY if n % 2 else Side.SELL
        assert pf.on_fill(OrderFilled(client_order_id="x", venue_order_id="v", instrument_id=PERP.id,
                                      trade_id=f"t{n}", side=side, price=60_000.0, quantity=0.01,
                                      remaining=0.0, liquidity=Liquidity.MAKER, fee=0.0,
                                      fee_currency="USD", ts_event=0, ts_recv=0))

    for n in range(1_000):  # 200 beyond the cap (the newest, e-999, is s's newest: kept)
        end(n)
    for n in range(4_900):  # 900 beyond
        trade(n)
    assert (SLICE_ORDERS, SLICE_TRADES) == (64, 256)
    # backlog 200 > an eighth (100): down to 100 at once; trades 900 -> 500
    assert retain(ob, pf, keep, keep_trades) == (100, 400)
    # then a slice per call
    assert retain(ob, pf, keep, keep_trades) == (64, 256)
    assert retain(ob, pf, keep, keep_trades) == (36, 244)
    assert retain(ob, pf, keep, keep_trades) == (0, 0)
    assert len(ob) == 5 + keep and "e-199" not in ob and "e-200" in ob
    assert len(pf.snapshot(10**9).trades) == keep_trades
    assert pf.snapshot(10**9).trades[0][1] == "t900"
    # what one second of a market maker leaves: gone in one call
    for n in range(1_000, 1_010):
        end(n)
    assert retain(ob, pf, keep, keep_trades) == (10, 0)
    # the replay's call: everything beyond, whatever the backlog
    for n in range(1_010, 1_310):
        end(n)
    assert retain(ob, pf, keep, keep_trades, sliced=False) == (300, 0)
    assert [o.client_order_id for o in ob][5] == "e-510"
