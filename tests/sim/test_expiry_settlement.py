"""Paper trading through an expiry: the simulated venue settles the client's options and the
engine's portfolio closes them (realized at intrinsic, Greeks gone), journaled, so a restart
from the journal holds the same.

The venue lists one expiry (08:00 UTC, 90 minutes after the start at 06:30) with three
strikes; the market ticks every minute and publishes the perp's ``MarkPrice`` (carrying the
index) every tick, so the engine hears every index observation the venue's delivery price is
made of. The test buys 2 calls and sells 1.5 puts of the middle strike against books it fixes
itself (known entry prices), runs through the expiry, and checks every figure against its own
arithmetic: the delivery price is the time-weighted index over the 30 minutes before expiry
(the simulated venue's rule, as Deribit's), the options pay their intrinsic value in USD.
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any

import pytest
import structlog

from adapters.sim.adapter import SimVenue
from adapters.sim.params import SimVenueParams
from backtest.ledger import Ledger
from backtest.schema import ReportConfig
from engine.clock import NS_PER_S, VirtualClock
from engine.journal import Journal, PositionAdjusted
from engine.kernel import Kernel
from engine.model import (
    Instrument,
    MarkPrice,
    OptionSummary,
    OrderFilled,
    OrderType,
    PositionSettled,
    Side,
    SubmitOrder,
    TimeInForce,
)
from engine.reconcile import apply_reconciliation, rebuild
from engine.risk import RiskLimits

MIN = 60 * NS_PER_S
DAY0 = (1_795_000_000 // 86_400) * 86_400 * NS_PER_S  # a UTC midnight
START = DAY0 + 6 * 60 * MIN + 30 * MIN  # 06:30 UTC
EXPIRY = DAY0 + 8 * 60 * MIN  # the venue's expiry: 08:00 UTC the same day
PARAMS = SimVenueParams(seed=11, expiries_days=(0.0,), strikes_per_expiry=3, tick_ms=60_000,
                        summary_ms=60_000, funding_interval_h=0.0)
CALL_QTY = 2.0
PUT_QTY = 1.5


def _kernel(journal: Journal) -> Kernel:
    return Kernel(VirtualClock(START), RiskLimits(max_position_qty=100.0), journal=journal)


def _order(coid: str, iid: str, side: Side, qty: float, price: float) -> SubmitOrder:
    return SubmitOrder(client_order_id=coid, strategy_id="s", instrument_id=iid, side=side,
                       quantity=qty, order_type=OrderType.LIMIT, price=price,
                       time_in_force=TimeInForce.IOC)


class _Run:
    """The paper engine in front of the simulated venue, and what its bus heard."""

    def __init__(self, journal_path: Path) -> None:
        self.k = _kernel(Journal(journal_path))
        self.clock: VirtualClock = self.k.clock  # type: ignore[assignment]
        self.venue = SimVenue(PARAMS)
        self.index: list[tuple[int, float]] = []
        self.fair: dict[str, float] = {}
        self.fills: list[OrderFilled] = []
        self.settled: list[PositionSettled] = []
        bus = self.k.bus
        bus.subscribe(MarkPrice, lambda e: self.index.append((e.ts_event, e.index_price)))
        bus.subscribe(OptionSummary, lambda e: self.fair.setdefault(e.instrument_id, e.mark_price))
        bus.subscribe(OrderFilled, self.fills.append)
        bus.subscribe(PositionSettled, self.settled.append)
        self.k.add_adapter(self.venue)
        self.listing: list[Instrument] = self.venue.instruments()
        self.k.add_instruments(self.listing)
        asyncio.run(self.venue.start())
        options = [i for i in self.listing if i.expiry_ns]
        assert {i.expiry_ns for i in options} == {EXPIRY} and len(options) == 6
        strikes = sorted({i.strike for i in options})
        self.strike = strikes[1]
        self.call = next(i for i in options if i.strike == self.strike and i.is_call)
        self.put = next(i for i in options if i.strike == self.strike and not i.is_call)

    def trade(self) -> tuple[float, float]:
        """Buy the calls at the ask and sell the puts at the bid of books fixed around their
        fair prices; the (call, put) entry prices."""
        call_px = float(round(self.fair[self.call.id]) + 5)
        put_px = float(round(self.fair[self.put.id]) - 5)
        self.venue.set_book(self.call.id, [(call_px - 10, 10.0)], [(call_px, 10.0)])
        self.venue.set_book(self.put.id, [(put_px, 10.0)], [(put_px + 10, 10.0)])
        assert self.k.router.submit(_order("c", self.call.id, Side.BUY, CALL_QTY, call_px)) is None
        assert self.k.router.submit(_order("p", self.put.id, Side.SELL, PUT_QTY, put_px)) is None
        got = {(f.instrument_id, f.price, f.quantity) for f in self.fills}
        assert got == {(self.call.id, call_px, CALL_QTY), (self.put.id, put_px, PUT_QTY)}
        return call_px, put_px

    def run_to(self, end_ns: int) -> None:
        t = self.clock.now_ns()
        while t < end_ns:
            t = min(t + MIN, end_ns)
            self.clock.advance_to(t)


def _delivery_price(index: list[tuple[int, float]]) -> float:
    """By hand: the index observations of the 30 minutes before expiry, one a minute, each
    standing until the next (the last one until expiry): equal weights, a plain mean."""
    window = [(ts, px) for ts, px in index if EXPIRY - 30 * MIN <= ts < EXPIRY]
    assert [ts for ts, _ in window] == [EXPIRY - (30 - j) * MIN for j in range(30)]
    return sum(px for _, px in window) / 30


def test_paper_positions_settle_at_expiry_and_a_restart_rebuilds_the_same(tmp_path: Path) -> None:
    run = _Run(tmp_path / "j.sqlite")
    k, call, put = run.k, run.call, run.put
    call_px, put_px = run.trade()
    run.run_to(EXPIRY - MIN)
    pf = k.portfolio
    assert pf.position(call.id).qty == CALL_QTY and pf.position(put.id).qty == -PUT_QTY
    delta_before = pf.greeks("BTC")[0]
    # long calls and short puts: both add delta (about 2 x 0.5 + 1.5 x 0.5)
    assert delta_before > 0.5

    run.run_to(EXPIRY + 2 * MIN)
    s = _delivery_price(run.index)
    call_pays, put_pays = max(s - run.strike, 0.0), max(run.strike - s, 0.0)
    assert [(r.instrument_id, r.quantity) for r in run.settled] == [
        (call.id, CALL_QTY), (put.id, -PUT_QTY)]
    for r, pays in zip(run.settled, (call_pays, put_pays), strict=True):
        assert r.venue == "sim" and r.ts_event == EXPIRY
        assert r.delivery_price == pytest.approx(s, rel=1e-12)
        assert r.settlement_price == pytest.approx(pays, rel=1e-12, abs=1e-9)
    # flat in both, realized at intrinsic: (intrinsic - entry) x signed quantity, in USD
    call_pnl = (call_pays - call_px) * CALL_QTY
    put_pnl = (put_pays - put_px) * -PUT_QTY
    for iid, pnl in ((call.id, call_pnl), (put.id, put_pnl)):
        pos = pf.position(iid)
        assert pos.qty == 0.0 and pos.unrealized() == 0.0
        assert pos.realized == pytest.approx(pnl, rel=1e-12, abs=1e-9)
    # the Greek totals no longer hold them (no other position is open; the running sums
    # keep a rounding residue of the contributions taken out, far below any Greek's size)
    assert pf.greeks("BTC") == pytest.approx((0.0, 0.0, 0.0, 0.0), abs=1e-9)
    # the venue agrees: its account holds neither, so a reconciliation finds nothing to fix
    report = asyncio.run(run.venue.reconcile(0))
    assert not [p for p in report.positions if p.instrument_id in (call.id, put.id)]
    assert apply_reconciliation(k, report) == 0

    # the same settlement again (a duplicate report) is absorbed: counted, no error, no change
    with structlog.testing.capture_logs() as logs:
        k.bus.publish(run.settled[0])
    assert k.counters["duplicate_settlements"] == 1
    assert not [e for e in logs if e["log_level"] in ("error", "critical")]
    assert pf.position(call.id).realized == pytest.approx(call_pnl, rel=1e-12, abs=1e-9)

    realized = {iid: pf.position(iid).realized for iid in (call.id, put.id)}
    k.execution.checkpoint()
    asyncio.run(run.venue.stop())
    k.journal.close()

    # a restart from the journal books the same
    jr = Journal(tmp_path / "j.sqlite", read_only=True)
    records: list[Any] = [r[4] for r in jr.records()]
    adj = [r for r in records if isinstance(r, PositionAdjusted) and r.settlement]
    assert [(a.instrument_id, a.quantity, a.previous) for a in adj] == [
        (call.id, 0.0, CALL_QTY), (put.id, 0.0, -PUT_QTY)]
    assert sum(isinstance(r, PositionSettled) for r in records) == 2
    jr.close()
    k2 = _kernel(Journal(tmp_path / "j.sqlite"))
    k2.add_instruments(run.listing)
    rebuild(k2, k2.journal, use_snapshot=False)
    for iid, pnl in realized.items():
        pos = k2.portfolio.position(iid)
        assert pos.qty == 0.0 and pos.realized == pytest.approx(pnl, rel=1e-12, abs=1e-9)
    assert k2.portfolio.greeks("BTC") == pytest.approx((0.0, 0.0, 0.0, 0.0), abs=1e-9)
    k2.journal.close()


def test_a_backtest_on_the_simulated_venue_reports_the_settlement_the_engine_booked(
        tmp_path: Path) -> None:
    """A backtest whose market is the simulated venue (``source = "venue"``): the report's
    ledger hears the venue's settlements as the engine does (the bus), so both close the
    options at the same price and realize the same."""
    run = _Run(tmp_path / "j.sqlite")
    k = run.k
    ledger = Ledger(k, ReportConfig(), k.books.get, lambda und: math.nan, lambda tid: None)
    call_px, put_px = run.trade()
    run.run_to(EXPIRY + 2 * MIN)
    s = _delivery_price(run.index)
    pays = {run.call.id: max(s - run.strike, 0.0), run.put.id: max(run.strike - s, 0.0)}
    assert [(r["instrument"], r["quantity"]) for r in ledger.settlements] == [
        (run.call.id, CALL_QTY), (run.put.id, -PUT_QTY)]
    for row in ledger.settlements:
        assert row["settlement_price"] == pytest.approx(pays[row["instrument"]], rel=1e-12, abs=1e-9)
    for iid, entry, qty in ((run.call.id, call_px, CALL_QTY), (run.put.id, put_px, -PUT_QTY)):
        mine, engine = ledger.positions[iid], k.portfolio.position(iid)
        assert mine.qty == engine.qty == 0.0
        assert mine.realized == pytest.approx((pays[iid] - entry) * qty, rel=1e-12, abs=1e-9)
        assert engine.realized == pytest.approx(mine.realized, rel=1e-12, abs=1e-9)
    k.bus.publish(run.settled[0])  # the same report again: neither books it twice
    assert len(ledger.settlements) == 2 and ledger.positions[run.call.id].qty == 0.0
    asyncio.run(run.venue.stop())
    k.journal.close()
