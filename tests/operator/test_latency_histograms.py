"""Tick-to-order, risk-gate and journal-write latency histograms on /metrics, fed by the
execution core's latency rings and parsed with prometheus_client's own parser."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from engine.clock import VirtualClock
from engine.execution.latency import LatencyRing
from engine.journal import Journal
from engine.kernel import Kernel
from engine.model import BookDelta, BookSnapshot, Side, SubmitOrder
from engine.operator.metrics import NodeMetrics
from engine.operator.tape import Tape
from engine.risk import RiskLimits
from tests.engine.conftest import PERP, RecordingVenue
from tests.operator.conftest import running_node
from tests.operator.test_metrics import _samples


def _busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_ring_drains_every_sample_once_and_counts_what_it_lost() -> None:
    ring = LatencyRing(4)
    for ns in (1_000, 2_000, 3_000):
        ring.add(ns)
    got: list[float] = []
    assert ring.drain(got.append) == 3 and got == [1e-6, 2e-6, 3e-6]
    assert ring.drain(got.append) == 0
    for ns in range(1, 8):  # 7 samples into 4 slots: the 3 oldest are lost, and counted
        ring.add(ns)
    got.clear()
    assert ring.drain(got.append) == 4 and got == [4e-9, 5e-9, 6e-9, 7e-9]
    assert ring.dropped == 3 and ring.count == 10
    with pytest.raises(ValueError, match="power of two"):
        LatencyRing(100)


def test_ring_takes_a_batch_of_samples_as_one_at_a_time() -> None:
    """``add_all(stamps, since)`` records ``stamp - since`` per stamp, in order, wrapping
    and counting losses as ``add`` does."""
    ring = LatencyRing(4)
    ring.add(9)
    ring.add_all([105, 107, 110], 100)
    got: list[float] = []
    assert ring.drain(got.append) == 4 and got == [9e-9, 5e-9, 7e-9, 10e-9]
    ring.add_all([1, 2, 3, 4, 5, 6])  # 6 into 4 slots: the 2 oldest lost, and counted
    got.clear()
    assert ring.drain(got.append) == 4 and got == [3e-9, 4e-9, 5e-9, 6e-9]
    assert ring.dropped == 2 and ring.count == 10


def _node(tmp_path: Path) -> tuple[Kernel, NodeMetrics, list[str]]:
    journal = Journal(tmp_path / "j.sqlite")
    k = Kernel(VirtualClock(1_000_000_000), RiskLimits(), journal)
    k.add_adapter(RecordingVenue())
    k.add_instruments([PERP])
    return k, NodeMetrics(k, Tape(k)), []


def _order(coid: str, price: float) -> SubmitOrder:
    return SubmitOrder(client_order_id=coid, strategy_id="s", instrument_id=PERP.id, side=Side.BUY,
                       quantity=0.01, price=price, ts=0)


def test_histograms_time_the_tick_the_gate_and_the_journal(tmp_path: Path) -> None:
    k, metrics, sent = _node(tmp_path)
    k.bus.publish(BookSnapshot(PERP.id, ((59_990.0, 1.0),), ((60_010.0, 1.0),), 1, 0, 0))
    real_check = k.gate.check

    def slow_gate(cmd: SubmitOrder) -> Any:  # a gate taking >= 2 ms, to be seen in its bucket
        _busy(0.002)
        return real_check(cmd)

    def strategy(delta: BookDelta) -> None:  # reacts to the book 5 ms after it arrived
        _busy(0.005)
        assert k.execution.submit(_order(f"t{delta.seq}", 59_000.0)) is None
        sent.append(f"t{delta.seq}")

    k.bus.subscribe(BookDelta, strategy)
    k.gate.check = slow_gate  # type: ignore[method-assign]
    t0 = time.perf_counter()
    k.bus.publish(BookDelta(PERP.id, ((59_995.0, 1.0),), (), 2, 1, 0, 0))
    wall = time.perf_counter() - t0
    k.gate.check = real_check  # type: ignore[method-assign]
    # an order no book event caused (a timer, the operator): gate and journal, no tick
    assert k.execution.submit(_order("timer-1", 58_000.0)) is None
    m = _samples(metrics.render().decode())

    assert sent == ["t2"]
    assert m[("volta_tick_to_order_seconds_count", ())] == 1
    t2o = m[("volta_tick_to_order_seconds_sum", ())]
    assert 0.005 + 0.002 <= t2o <= wall  # strategy + gate, at most the whole dispatch
    assert m[("volta_tick_to_order_seconds_bucket", (("le", "0.005"),))] == 0
    assert m[("volta_tick_to_order_seconds_bucket", (("le", "+Inf"),))] == 1

    assert m[("volta_gate_check_seconds_count", ())] == 2
    assert m[("volta_gate_check_seconds_bucket", (("le", "0.001"),))] == 1  # the fast one
    assert m[("volta_gate_check_seconds_sum", ())] >= 0.002

    # one commit per batch sent: the book-caused order, then the timer's
    assert m[("volta_journal_write_seconds_count", ())] == 2
    assert m[("volta_journal_write_seconds_sum", ())] > 0
    for name in ("tick_to_order", "gate_check", "journal_write"):
        assert m[("volta_latency_samples_dropped_total", (("histogram", name),))] == 0
    # a second scrape counts nothing twice
    again = _samples(metrics.render().decode())
    assert again[("volta_gate_check_seconds_count", ())] == 2


def test_a_denied_order_is_timed_at_the_gate_but_never_reaches_tick_to_order(tmp_path: Path) -> None:
    k, metrics, _ = _node(tmp_path)
    k.bus.publish(BookDelta(PERP.id, ((59_995.0, 1.0),), (), 2, 1, 0, 0))  # no book yet: ignored
    bad = SubmitOrder(client_order_id="x", strategy_id="s", instrument_id=PERP.id, side=Side.BUY,
                      quantity=0.0123456, price=59_000.0, ts=0)  # off the lot: denied
    assert k.execution.submit(bad) is not None
    m = _samples(metrics.render().decode())
    assert m[("volta_gate_check_seconds_count", ())] == 1
    assert m[("volta_tick_to_order_seconds_count", ())] == 0
    assert m[("volta_journal_write_seconds_count", ())] == 0


async def test_the_paper_node_serves_the_three_histograms(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    async with running_node(tmp_path, monkeypatch=monkeypatch) as r:
        k = r.node.kernel
        await r.wait_for(lambda: k.gate.approved >= 2, 20, "two quotes sent")
        async with r.session.get(r.url + "metrics") as resp:
            text = await resp.text()
        lat = await r.get("api/latency")
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    for name in ("volta_tick_to_order_seconds", "volta_gate_check_seconds",
                 "volta_journal_write_seconds"):
        assert fams[name].type == "histogram", name
    m = _samples(text)
    assert m[("volta_gate_check_seconds_count", ())] >= 2
    assert m[("volta_journal_write_seconds_count", ())] >= 1
    # the example quoter quotes on book updates: its orders have a tick
    assert m[("volta_tick_to_order_seconds_count", ())] >= 1
    assert sum(lat["tick_to_order"]["count"]) >= 1 and lat["gate_check"]["le_ms"][-1] is None
