"""The live sessions' order tracker (``adapters.live.tracker``, shared by every venue) as a
state machine: whatever order and repetition the venue's answers arrive in, each fact is
published exactly once and nothing follows the end."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.live.tracker import DONE, UNKNOWN, OrderTracker
from engine.model import (Liquidity, OrderAccepted, OrderCancelled, OrderFilled, Side,
                          SubmitOrder)

CMD = SubmitOrder(client_order_id="c", strategy_id="s", instrument_id="venue:X", side=Side.BUY,
                  quantity=10.0, price=1.0)
_steps = st.lists(st.one_of(
    st.just(("accepted", 0)), st.just(("cancelled", 0)), st.just(("lost", 0)),
    st.tuples(st.just("fill"), st.integers(0, 4))), max_size=30)


def _event(kind: str, n: int) -> object:
    if kind == "accepted":
        return OrderAccepted(client_order_id="c", venue_order_id="v", instrument_id="venue:X",
                             ts_event=0, ts_recv=0)
    if kind == "cancelled":
        return OrderCancelled(client_order_id="c", instrument_id="venue:X", reason="x",
                              ts_event=0, ts_recv=0)
    return OrderFilled(client_order_id="c", venue_order_id="v", instrument_id="venue:X",
                       trade_id=f"t{n}", side=Side.BUY, price=1.0, quantity=2.0,
                       remaining=10.0 - 2.0 * (n + 1), liquidity=Liquidity.TAKER, fee=0.0,
                       fee_currency="", ts_event=0, ts_recv=0)


@settings(max_examples=300, deadline=None)
@given(_steps)
def test_every_fact_is_published_once_and_nothing_but_fills_after_the_end(steps) -> None:
    tr = OrderTracker()
    tr.add(CMD, "X")
    published: list[object] = []
    ended = False
    for kind, n in steps:
        if kind == "lost":
            before = tr.get("c").state
            tr.mark_lost("c")
            assert tr.get("c").state in (before, UNKNOWN)
            continue
        ev = _event(kind, n)
        if tr.admit(ev):
            assert not ended or isinstance(ev, OrderFilled)
            published.append(ev)
            if isinstance(ev, OrderCancelled):
                ended = True
    ids = [e.trade_id for e in published if isinstance(e, OrderFilled)]
    assert len(ids) == len(set(ids))
    assert sum(isinstance(e, OrderAccepted) for e in published) <= 1
    assert sum(isinstance(e, OrderCancelled) for e in published) <= 1
    assert tr.get("c").filled == 2.0 * len(ids)
    if ended:
        assert tr.get("c").state == DONE
