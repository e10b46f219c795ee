"""The ``volta new-strategy`` template on a halt of its venue, through the real kernel: the quote
pulled at the halt, nothing sent while halted, the leftover whose cancel was refused cancelled
at the resume, and a fresh quote at the next book."""

from __future__ import annotations

import importlib
import math
import sys
from pathlib import Path
from typing import Any

import pytest

from engine import Side
from engine.model import (
    BookSnapshot,
    CancelOrder,
    OrderAccepted,
    OrderRejected,
    OrderStatusReport,
    SubmitOrder,
    VenueReconciliation,
    VenueStatusChanged,
)
from engine.plugins import render_templates
from engine.reconcile import apply_reconciliation
from tests.sdk.conftest import PERP, add_strategy, make_kernel

NAME = "halt_template_probe"


@pytest.fixture
def template(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    for fname, text in render_templates(NAME).items():
        (tmp_path / fname).write_text(text, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module(NAME)
    yield module
    sys.modules.pop(NAME, None)


def _book(k: Any, bid: float, ask: float, seq: int) -> None:
    k.bus.publish(BookSnapshot(PERP.id, ((bid, 1.0),), ((ask, 1.0),), seq, 0, 0))


def _submits(sent: list[Any]) -> list[SubmitOrder]:
    return [c for c in sent if isinstance(c, SubmitOrder)]


def test_the_template_pulls_its_quote_at_a_halt_and_quotes_again_after_the_resume(template: Any) -> None:
    k, (venue,) = make_kernel()
    cls = getattr(template, "HaltTemplateProbe")
    s = add_strategy(k, cls, "tpl", "fake", cls.Config(instrument="BTC-PERP", size=0.01))
    k.start_strategies()
    assert s.halted == ""
    _book(k, 59_990.0, 60_010.0, 2)
    first = _submits(venue.sent)
    assert sorted(c.side for c in first) == [Side.BUY, Side.SELL]
    # EMA = mid = 60 000 USD, 2 bp edge = 12 USD: bid 59 988, ask 60 012 (on the 0.5 tick)
    assert {c.side: c.price for c in first} == {Side.BUY: 59_988.0, Side.SELL: 60_012.0}
    for n, cmd in enumerate(first):
        k.bus.publish(OrderAccepted(client_order_id=cmd.client_order_id, venue_order_id=f"v{n}",
                                    instrument_id=PERP.id, ts_event=0, ts_recv=0))

    k.bus.publish(VenueStatusChanged("fake", "disconnected", "user stream closed", 0, "private"))
    assert "private down" in s.halted
    at_halt = venue.sent[len(first):]
    assert sorted(c.client_order_id for c in at_halt if isinstance(c, CancelOrder)) == \
        sorted(c.client_order_id for c in first)
    assert _submits(at_halt) == []
    # the session refuses both cancels: the quote is still working at the venue
    for cmd in first:
        k.bus.publish(OrderRejected(client_order_id=cmd.client_order_id, instrument_id=PERP.id,
                                    reason="NOT_CONNECTED: private stream down (never sent)",
                                    ts_event=0, ts_recv=0))
    mark = len(venue.sent)
    for seq, (bid, ask) in enumerate(((59_900.0, 59_920.0), (60_100.0, 60_120.0)), start=3):
        k.clock.advance_to(k.clock.now_ns() + 1_000_000_000)
        _book(k, bid, ask, seq)
    assert venue.sent[mark:] == [], "nothing to the halted venue"
    assert s.denials == {} and sum(k.gate.denied.values()) == 0

    k.bus.publish(VenueStatusChanged("fake", "connected", "", 0, "private"))
    assert venue.sent[mark:] == []  # reconciliation pending: still halted
    apply_reconciliation(k, VenueReconciliation(venue="fake", open_orders=tuple(
        OrderStatusReport(client_order_id=c.client_order_id, venue_order_id=f"v{n}",
                          instrument_id=PERP.id, side=c.side, status="open", price=c.price,
                          quantity=c.quantity, filled=0.0, avg_fill_price=0.0, ts_event=0, ts_recv=0)
        for n, c in enumerate(first)), fills=(), positions=(), ts=0))
    assert s.halted == ""
    resumed = venue.sent[mark:]
    assert sorted(c.client_order_id for c in resumed if isinstance(c, CancelOrder)) == \
        sorted(c.client_order_id for c in first)
    assert _submits(resumed) == []  # the fresh quote waits for the next book
    _book(k, 60_100.0, 60_120.0, 10)
    fresh = _submits(venue.sent[mark + len(resumed):])
    assert sorted(c.side for c in fresh) == [Side.BUY, Side.SELL]
    bid = next(c.price for c in fresh if c.side is Side.BUY)
    ask = next(c.price for c in fresh if c.side is Side.SELL)
    # the EMA (30 s) followed the books while halted: 1 s steps to mids 59 910 and 60 110 USD
    a = 1 - math.exp(-1 / 30)
    ema = 60_000.0 + a * (59_910.0 - 60_000.0)
    ema += a * (60_110.0 - ema)
    assert abs(bid - ema * (1 - 2e-4)) <= 0.25  # 2 bp below it, on the 0.5 USD tick
    assert ask == 60_100.5  # EMA + 2 bp is below the best bid: one tick above it instead
    assert k.strategy_errors == {} and s.denials == {}
