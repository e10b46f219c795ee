"""The queue and latency models both simulators share (adapters/sim/queue_model.py, latency.py)."""

from __future__ import annotations

import pytest

from adapters.sim.latency import LatencyModel
from adapters.sim.queue_model import QueueModel, make_queue_share
from engine.model import OrderAccepted, Side, SubmitOrder
from tests.sim.test_matching import ASKS, Sim


def test_queue_shares_by_hand() -> None:
    """Ahead 10 of a level of 30, 10 cancelled (behind: 20)."""
    share = {m: make_queue_share(QueueModel(model=m, exponent=2.0), lambda: 0.1)
             for m in ("worst", "proportional", "power", "random")}
    assert share["worst"](10.0, 30.0, 10.0) == 0.0 and not share["worst"].advances
    assert share["proportional"](10.0, 30.0, 10.0) == pytest.approx(10.0 * 10.0 / 30.0)
    # hftbacktest's power model: f(a) / (f(a) + f(b)) = 100 / (100 + 400) of the cancel
    assert share["power"](10.0, 30.0, 10.0) == pytest.approx(10.0 * 100.0 / 500.0)
    assert share["random"](10.0, 30.0, 10.0) == 10.0  # draw 0.1 < 10/30: the cancel was ahead
    unlucky = make_queue_share(QueueModel(model="random"), lambda: 0.5)
    assert unlucky(10.0, 30.0, 10.0) == 0.0
    for s in share.values():  # never more than what was ahead or what was cancelled
        assert 0.0 <= s(5.0, 30.0, 20.0) <= 5.0
        assert 0.0 <= s(25.0, 30.0, 3.0) <= 3.0


def _ahead_after_cancel(model: str) -> int:
    s = Sim(queue=QueueModel(model=model))  # type: ignore[arg-type]
    lot = s.venue.instruments()[0].lot_size
    s.venue.set_book(s.perp, [(59990.0, 2.0)], ASKS)
    s.submit("b1", Side.BUY, 1.0, 59990.0, post_only=True)
    s.venue.set_book(s.perp, [(59990.0, 3.0)], ASKS)   # 1.0 joins behind us
    s.venue.set_book(s.perp, [(59990.0, 1.5)], ASKS)   # 1.5 cancelled: ahead of us?
    return round(s.venue._need_engine().orders["b1"].ahead * lot, 9)


def test_simulated_venue_applies_the_configured_queue_model() -> None:
    assert _ahead_after_cancel("worst") == 1.5          # clamped to what is displayed
    assert _ahead_after_cancel("proportional") == 1.0   # 2.0 - 1.5 * 2/3
    # power 2: 2.0 - 1.5 * 4 / (4 + 1)
    assert _ahead_after_cancel("power") == pytest.approx(2.0 - 1.5 * 4.0 / 5.0, abs=1e-3)


def test_simulated_venue_order_latency_model_keeps_commands_in_order() -> None:
    s = Sim(order_latency=LatencyModel(kind="lognormal", ms=20.0, sigma=0.8), seed=5)
    sent: dict[str, int] = {}
    arrived: list[tuple[int, str]] = []
    for k in range(40):
        coid = f"o{k}"
        sent[coid] = s.clock.now_ns()
        s.venue.submit(SubmitOrder(client_order_id=coid, strategy_id="s", instrument_id=s.perp,
                                   side=Side.BUY, quantity=1.0, price=59000.0 - k))
        s.clock.advance_to(s.clock.now_ns() + 15_000_000)  # the next one leaves 15 ms later
        arrived += [(e.ts_event, e.client_order_id) for e in s.new() if isinstance(e, OrderAccepted)]
    s.clock.advance_to(s.clock.now_ns() + 2_000_000_000)
    arrived += [(e.ts_event, e.client_order_id) for e in s.new() if isinstance(e, OrderAccepted)]
    assert [c for _, c in arrived] == [f"o{k}" for k in range(40)]  # FIFO: never overtaken
    delays = sorted((t - sent[c]) / 1e6 for t, c in arrived)
    assert delays[0] > 0 and len(set(delays)) > 20  # sampled per command, not one constant
    assert 12.0 < delays[len(delays) // 2] < 45.0  # the model's 20 ms median, plus FIFO waits
