"""The order flow Deribit and Derive share (``adapters.live.rpc_orders``), on its own: a real
``LiveSession`` and ``OrderTracker`` over a scripted JSON-RPC connection, so each outcome of a
request and each kind of order object is checked without a venue in between."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import Any

import pytest
import structlog

from adapters.live.jsonrpc import Refused, Unknown
from adapters.live.rpc_orders import NOT_FOUND, FillLedger, RpcOrderFlow
from adapters.live.session import LiveSession
from adapters.live.tracker import OrderTracker, Tracked
from engine.clock import VirtualClock
from engine.model import (
    CancelOrder,
    Liquidity,
    OrderAccepted,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderStatusReport,
    Side,
    SubmitOrder,
)

IID = "venue:X"


class Params:
    ack_timeout_s = 0.5


class ScriptedRpc:
    """Answers each ``rpc`` with the next scripted outcome (a result, or an exception)."""

    def __init__(self, *outcomes: Any) -> None:
        self.outcomes = list(outcomes)
        self.authenticated = True
        self.connection_number = 1
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.late: Callable[[dict[str, Any]], None] | None = None
        self.armed = 0

    async def rpc(self, method: str, params: dict[str, Any], timeout: float | None = None,
                  on_wire: Callable[[], None] | None = None,
                  late: Callable[[dict[str, Any]], None] | None = None,
                  admit: Callable[[], bool] | None = None) -> Any:
        self.calls.append((method, params))
        if on_wire is not None:
            on_wire()
        self.late = late
        out = self.outcomes.pop(0)
        if isinstance(out, BaseException):
            raise out
        return out

    def arm_cancel_on_disconnect(self) -> None:
        self.armed += 1


def _flow(*outcomes: Any) -> tuple[RpcOrderFlow, ScriptedRpc, list[Any]]:
    published: list[Any] = []
    session = LiveSession(venue="venue", params=Params(), log=structlog.get_logger("t"),
                          log_name="t", stats={"acks_unknown": 0, "foreign_orders": 0,
                                               "queries": 0})
    session.publish = published.append
    session.clock = VirtualClock(1_000)
    rpc = ScriptedRpc(*outcomes)

    async def query(coid: str, ref: str) -> OrderStatusReport | None:
        return None

    flow = RpcOrderFlow(session, rpc, OrderTracker(), query, ack_timeout_s=0.5,
                        log=structlog.get_logger("t"), log_name="t")
    return flow, rpc, published


def _cmd(coid: str = "c1", qty: float = 1.0) -> SubmitOrder:
    return SubmitOrder(client_order_id=coid, strategy_id="s", instrument_id=IID, side=Side.BUY,
                       quantity=qty, price=100.0)


def _fill(t: Tracked | None, trade_id: str, qty: float, coid: str = "c1") -> OrderFilled:
    return OrderFilled(client_order_id=coid, venue_order_id="v1", instrument_id=IID,
                       trade_id=trade_id, side=Side.BUY, price=100.0, quantity=qty,
                       remaining=math.nan, liquidity=Liquidity.TAKER, fee=0.0,
                       fee_currency="X", ts_event=5, ts_recv=6)


async def test_an_answer_reaches_on_result_and_a_refusal_rejects() -> None:
    flow, rpc, published = _flow({"order": 1}, Refused(10009, "not_enough_funds"))
    results: list[Any] = []
    for coid in ("c1", "c2"):
        flow.tracker.add(_cmd(coid), "X")
        await flow.send_new(_cmd(coid), "private/buy", {"label": coid}, not_connected="NC",
                            on_result=results.append)
    assert results == [{"order": 1}]
    (rej,) = published
    assert isinstance(rej, OrderRejected) and rej.client_order_id == "c2"
    assert rej.reason == "10009: not_enough_funds"


async def test_no_answer_is_an_unknown_fate_and_the_late_answer_settles_it() -> None:
    flow, rpc, published = _flow(Unknown("private/buy: no answer"),
                                 Unknown("private/buy: no answer"))
    results: list[Any] = []
    flow.tracker.add(_cmd("c1"), "X")
    await flow.send_new(_cmd("c1"), "private/buy", {}, not_connected="NC",
                        on_result=results.append)
    assert flow.desk.unknown_orders() == ["c1"] and flow.session.stats["acks_unknown"] == 1
    assert published == [] and rpc.late is not None
    rpc.late({"id": 7, "result": {"order": "late"}})  # the venue's word, read when it comes
    assert results == [{"order": "late"}]
    flow.tracker.add(_cmd("c2"), "X")
    await flow.send_new(_cmd("c2"), "private/buy", {}, not_connected="NC",
                        on_result=results.append)
    rpc.late({"id": 8, "error": {"code": 11044, "message": "refused late"}})
    (rej,) = published
    assert isinstance(rej, OrderRejected) and rej.reason == "11044: refused late"


async def test_not_logged_in_rejects_without_sending() -> None:
    flow, rpc, published = _flow()
    rpc.authenticated = False
    flow.tracker.add(_cmd(), "X")
    await flow.send_new(_cmd(), "private/buy", {}, not_connected="NOT_CONNECTED: never sent",
                        on_result=lambda r: None)
    assert rpc.calls == [] and [e.reason for e in published] == ["NOT_CONNECTED: never sent"]


def test_a_trade_is_published_once_after_acceptance_and_an_end_waits_for_its_fills() -> None:
    flow, _, published = _flow()
    flow.tracker.add(_cmd(qty=1.0), "X")
    t = flow.tracked("c1", "")
    assert t is not None
    flow.order_seen(t, "v1", "open", False, 100.0, 1.0, 5, 6)
    # the venue says: cancelled after filling 0.4, before the fill itself reached us
    flow.settle(t, "cancelled", "user_request", 0.4, 7, 8)
    assert [type(e) for e in published] == [OrderAccepted]
    for _ in range(2):  # the same trade twice (answer and stream)
        flow.trade_seen("c1", "v1", "tr-1", 5, 6, lambda tt: _fill(tt, "tr-1", 0.4))
    assert [type(e) for e in published] == [OrderAccepted, OrderFilled, OrderCancelled]
    assert published[2].reason == "user_request"


def test_expired_and_rejected_ends_and_a_working_order() -> None:
    flow, _, published = _flow()
    for coid in ("e", "r", "w"):
        flow.tracker.add(_cmd(coid), "X")
    flow.settle(flow.tracked("e", ""), "expired", "", 0.0, 1, 2)  # type: ignore[arg-type]
    flow.settle(flow.tracked("r", ""), "rejected", "", 0.0, 1, 2)  # type: ignore[arg-type]
    flow.settle(flow.tracked("w", ""), "open", "", 0.0, 1, 2)  # type: ignore[arg-type]
    assert [type(e) for e in published] == [OrderExpired, OrderRejected]
    assert published[1].reason == "rejected by venue"


def test_another_process_order_passes_under_its_label_and_is_counted() -> None:
    flow, _, published = _flow()
    seen: list[Any] = []
    flow.foreign_order("web-1", IID, "v9", "cancelled", "", 1, 2, ["tr"],
                       lambda tr, ts: seen.append((tr, ts)))
    flow.foreign_order("web-2", IID, "v10", "rejected", "margin", 1, 2, [], lambda tr, ts: None)
    flow.foreign_order("", IID, "v11", "open", "", 1, 2, ["x"], lambda tr, ts: seen.append(tr))
    assert [(type(e), e.client_order_id) for e in published] == [
        (OrderAccepted, "web-1"), (OrderCancelled, "web-1")]  # a rejected order was never accepted
    # an order without a label (the venue's web UI) has no life cycle to tell, but its trades
    # are facts: they go on like any other's
    assert published[1].reason == "cancelled" and seen == [("tr", 2), "x"]
    assert flow.session.stats["foreign_orders"] == 3
    flow.trade_seen("web-3", "v12", "tr-9", 5, 6, lambda t: _fill(t, "tr-9", 0.1, "web-3"))
    flow.trade_seen("", "v13", "tr-10", 5, 6, lambda t: _fill(t, "tr-10", 0.1, ""))
    assert [(e.trade_id, e.client_order_id) for e in published if isinstance(e, OrderFilled)] == [
        ("tr-9", "web-3"), ("tr-10", "")]


def test_not_found_proves_never_placed_only_once_the_connection_is_gone() -> None:
    flow, rpc, published = _flow()
    flow.tracker.add(_cmd(), "X")
    t = flow.tracked("c1", "")
    flow.desk.on_wire("c1", rpc.connection_number)
    flow.tracker.mark_lost("c1")
    assert flow.not_found(t, "c1") is None and published == []  # may still arrive
    rpc.connection_number = 2
    report = flow.not_found(t, "c1")
    assert report is not None and report.status == "rejected"
    assert [type(e) for e in published] == [OrderRejected, OrderStatusReport]
    assert published[0].reason == NOT_FOUND


async def test_a_refused_cancel_restores_a_working_order_and_an_unknown_one_is_left() -> None:
    flow, rpc, published = _flow(Refused(11044, "not_open_order"), Unknown("no answer"))
    flow.tracker.add(_cmd(), "X")
    t = flow.tracked("c1", "")
    flow.order_seen(t, "v1", "open", False, 100.0, 1.0, 5, 6)  # type: ignore[arg-type]
    cancel = CancelOrder(client_order_id="c1", strategy_id="s", instrument_id=IID)
    assert await flow.acknowledged(cancel) is t
    results: list[Any] = []
    await flow.request(cancel, "cancel", "private/cancel", {"order_id": "v1"}, results.append)
    await flow.request(cancel, "cancel", "private/cancel", {"order_id": "v1"}, results.append)
    rejected = [e for e in published if isinstance(e, OrderRejected)]
    assert [e.reason for e in rejected] == ["cancel refused 11044: not_open_order"]
    assert results == []


def test_the_ledger_gives_the_remaining_after_each_fill() -> None:
    ledger = FillLedger({"open-1": 1.0})
    # a listed open order of size 1.0 filled 0.25 then 0.5: 0.75 then 0.25 left
    assert ledger.remaining(None, "open-1", 0.25) == 0.75
    assert ledger.remaining(None, "open-1", 0.5) == 0.25
    assert ledger.remaining(None, "gone-1", 0.1) is None  # size unknown: unknown, not 0
    tracker = OrderTracker()
    tracker.add(_cmd("c1", qty=2.0), "X")
    t = tracker.get("c1")
    assert ledger.remaining(t, "ours-1", 0.3) == pytest.approx(1.7, abs=1e-12)  # its own size
    assert ledger.remaining(t, "ours-1", 1.9) == 0.0  # never below zero


def test_cancel_all_failure_is_logged_not_raised() -> None:
    flow, rpc, _ = _flow(Refused(13009, "unauthorized"))
    asyncio.run(flow.cancel_all({}))
    assert rpc.calls == [("private/cancel_all", {})]


async def test_a_query_cut_off_by_our_own_stop_is_not_a_warning() -> None:
    """A status query still waiting when the session stops fails with the connection we
    closed: expected at a stop (info), a warning only while the session runs."""
    from structlog.testing import capture_logs

    flow, _, _ = _flow()

    class Hooks:
        async def connect(self) -> None:
            pass

        async def before_stop(self) -> None:
            flow.query_failed("c2", Unknown("connection lost (local_close)"))

        def websockets(self) -> list[Any]:
            return []

        async def after_streams_closed(self) -> None:
            pass

    with capture_logs() as logs:
        await flow.session.start(Hooks())  # type: ignore[arg-type]
        flow.query_failed("c1", Unknown("no answer"))
        await flow.session.stop(Hooks())  # type: ignore[arg-type]
    assert [(e["client_order_id"], e["log_level"]) for e in logs if e["event"] == "t.query_failed"] \
        == [("c1", "warning"), ("c2", "info")]
