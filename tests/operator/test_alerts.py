"""Alerts delivered to a real local HTTP receiver in the webhook, Slack and Telegram formats."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from engine.model import BookStatus, BookStatusChanged, VenueStatusChanged
from engine.operator.alerts import Notifier, Sink
from tests.operator.conftest import running_node


class Receiver:
    def __init__(self) -> None:
        self.got: list[tuple[str, dict[str, Any]]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.got.append((request.path, await request.json()))
        if request.path.endswith("/fail"):
            return web.Response(status=500)
        return web.json_response({"ok": True})


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/{tail:.*}", rec.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    rec.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield rec
    await runner.cleanup()


async def _until(pred: Any, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not pred():
        assert loop.time() < end, "timed out"
        await asyncio.sleep(0.05)


async def test_notifier_formats_dedup_and_rate_limit(receiver: Receiver) -> None:
    n = Notifier([Sink("webhook", receiver.url + "/hook"), Sink("slack", receiver.url + "/slack"),
                  Sink("telegram", receiver.url + "/botSECRET/sendMessage", chat_id="-100")],
                 "paper", dedup_s=60.0, max_per_minute=3)
    assert n.raise_alert("kill:1", "critical", "kill switch level 1", "drill", 123, now=0.0) is not None
    assert n.raise_alert("kill:1", "critical", "kill switch level 1", "again", 124, now=1.0) is None  # dedup
    assert n.raise_alert("a", "warning", "A", "x", 125, now=2.0) is not None
    assert n.raise_alert("b", "warning", "B", "x", 126, now=3.0) is not None
    assert n.raise_alert("c", "warning", "C", "x", 127, now=4.0) is None  # 4th in a minute: suppressed
    assert n.raise_alert("kill:1", "critical", "kill switch level 1", "later", 128, now=70.0) is not None
    await _until(lambda: len(receiver.got) == 12)
    await n.close()
    by_path: dict[str, list[dict[str, Any]]] = {}
    for path, body in receiver.got:
        by_path.setdefault(path, []).append(body)
    hook = sorted(by_path["/hook"], key=lambda b: b["ts_ns"])
    assert [b["key"] for b in hook] == ["kill:1", "a", "b", "kill:1"]
    assert hook[0]["severity"] == "critical" and hook[0]["deployment"] == "paper" and hook[0]["ts_ns"] == 123
    assert hook[-1]["suppressed"] == 1 and "1 alerts suppressed" in hook[-1]["text"]
    assert all(set(b) == {"text"} for b in by_path["/slack"])
    assert any("[paper] kill switch level 1: drill" in b["text"] for b in by_path["/slack"])
    tg = by_path["/botSECRET/sendMessage"]
    assert all(b["chat_id"] == "-100" and b["text"] and b["disable_web_page_preview"] for b in tg)
    assert n.sent == 12 and n.failed == 0 and n.deduplicated == 1


async def test_failed_delivery_is_counted_not_raised(receiver: Receiver) -> None:
    n = Notifier([Sink("webhook", receiver.url + "/fail"), Sink("slack", "http://127.0.0.1:9/unreachable")],
                 "paper", timeout_s=2.0)
    n.raise_alert("x", "warning", "X", "y", 1)
    await n.close()
    assert n.failed == 2 and n.sent == 0


async def test_every_outage_of_a_sink_is_logged_with_what_it_lost(receiver: Receiver) -> None:
    """A receiver down (HTTP 500), back, then down again: each outage is logged once when it
    starts (with the status) and once when it ends (with the alerts lost), never silently."""
    from structlog.testing import capture_logs

    n = Notifier([Sink("webhook", receiver.url + "/fail")], "paper", dedup_s=0.0, max_per_minute=100)
    with capture_logs() as logs:
        for i in range(3):
            n.raise_alert(f"a{i}", "warning", "A", "x", i)
            await n.drain()
        n.sinks[0] = Sink("webhook", receiver.url + "/hook")  # the receiver is fixed
        n.raise_alert("b", "warning", "B", "x", 10)
        await n.drain()
        n.sinks[0] = Sink("webhook", receiver.url + "/fail")  # ... and fails again next week
        n.raise_alert("c", "warning", "C", "x", 20)
        await n.drain()
    await n.close()
    events = [(e["event"], e.get("error"), e.get("alerts_lost")) for e in logs
              if e["event"].startswith("alert_delivery")]
    assert events == [("alert_delivery_failed", "HTTP 500", None),
                      ("alert_delivery_recovered", None, 3),
                      ("alert_delivery_failed", "HTTP 500", None)]
    assert (n.failed, n.sent) == (4, 1)
    assert receiver.url not in json.dumps(logs)


async def test_daemon_alerts_on_kill_venue_book_loss_and_strategy(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, receiver: Receiver) -> None:
    extra = (f'[operator.alerts]\nwebhook_url = "{receiver.url}/hook"\nstale_book_s = 1.0\n'
             "loss_use_pct = 50.0\ndedup_s = 600.0\nmax_per_minute = 100\n")
    async with running_node(tmp_path, extra=extra, monkeypatch=monkeypatch) as r:
        k = r.node.kernel
        await r.wait_for(lambda: r.node.recovered, 10, "recovery")
        status, _ = await r.post("api/control/kill", {"level": 1, "reason": "drill"})
        assert status == 200
        now = k.clock.now_ns()
        k.bus.publish(VenueStatusChanged(venue="sim", status="disconnected", reason="test", ts=now))
        k.bus.publish(BookStatusChanged(instrument_id="sim:BTC-PERP", status=BookStatus.STALE,
                                        reason="stale_stream", ts=now))
        k.strategy_errors["mm-1"] += 1  # as the kernel's guard counts a raising callback
        k.counters["reconcile_differences"] += 2  # as engine.reconcile counts resolved differences

        def keys() -> set[str]:
            return {b["key"] for _p, b in receiver.got}

        await r.wait_for(lambda: {"kill:1", "venue:sim", "books:sim", "strategy:mm-1"} <= keys()
                         and any(key.startswith("reconcile:") for key in keys()), 10, "the five alerts")
        rec = next(b for _p, b in receiver.got if b["key"].startswith("reconcile:"))
        assert rec["detail"].startswith("2 difference(s)")
        alerts = await r.get("api/alerts")
        assert {"kill:1", "venue:sim"} <= {a["key"] for a in alerts}
        # the venue's books went SYNCING with it: one alert for all of them, not one per book
        # (before: one per book, 67 here), and deduplicated: they stay stale, reported once
        await asyncio.sleep(1.5)
        sim_books = sum(1 for iid in k.books if iid.startswith("sim:"))
        assert sim_books > 3
        books = [b for _p, b in receiver.got if b["key"].startswith("book")]
        assert [b["key"] for b in books] == ["books:sim"], [b["key"] for b in books]
        assert books[0]["title"] == f"{sim_books} books on sim not live"
        assert books[0]["detail"].startswith("venue disconnected; not live for more than 1 s: sim:")
        kill = next(b for _p, b in receiver.got if b["key"] == "kill:1")
        assert "drill" in kill["detail"] and kill["severity"] == "critical"
        assert json.dumps(receiver.got).count("test-operator-token") == 0


def test_loss_limit_use_alert_uses_the_larger_of_daily_loss_and_drawdown() -> None:
    from engine.operator.alerts import AlertWatcher
    from engine.operator.tape import Tape
    from engine.risk import RiskLimits
    from tests.engine.conftest import make_kernel

    k, _venue = make_kernel(RiskLimits(max_daily_loss_usd=2000.0, max_drawdown_usd=1000.0))
    tape = Tape(k)
    n = Notifier([], "paper", dedup_s=600.0)
    w = AlertWatcher(k, tape, n, loss_use_pct=80.0)
    loss = k.killswitch.loss
    now = k.clock.now_ns()
    loss.evaluate(now, 0.0)
    loss.evaluate(now, 500.0)  # peak 500
    loss.evaluate(now, -200.0)  # daily loss 200 of 2000 (10 %), drawdown 700 of 1000 (70 %)
    w.check(now)
    assert list(tape.alerts) == []
    loss.evaluate(now, -350.0)  # drawdown 850 of 1000: 85 %
    w.check(now)
    (alert,) = tape.alerts
    assert alert["key"] == "loss:warning" and alert["severity"] == "warning"
    assert alert["detail"].startswith("85 % of the daily-loss/drawdown limit used")
    w.check(now)
    assert len(tape.alerts) == 1 and n.deduplicated == 1


async def test_a_failing_sink_shows_in_the_metrics_the_snapshot_and_the_page(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real local receiver that answers 500, then recovers. Before, a failing pager showed
    nowhere but one log line: /metrics had no delivery figure, the API and the page none."""
    from prometheus_client.parser import text_string_to_metric_families

    from engine.operator.client import render_status
    from tests.operator.test_dashboard_reconnect import CHROMIUM, CHROMIUM_ARGS, LIVE

    healthy = False
    got: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        got.append(await request.json())
        return web.json_response({"ok": True}) if healthy else web.Response(status=500)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"

    async def figures(r: Any) -> dict[tuple[str, str], float]:
        async with r.session.get(r.url + "metrics") as resp:
            text = await resp.text()
        return {(s.name, s.labels.get("outcome", "")): s.value for f in text_string_to_metric_families(text)
                for s in f.samples if s.labels.get("sink") == "webhook"}

    try:
        async with running_node(tmp_path, extra=f'[operator.alerts]\nwebhook_url = "{url}"\n',
                                monkeypatch=monkeypatch) as r:
            await r.wait_for(lambda: r.node.recovered, 10, "recovery")
            assert (await r.get("api/alert_delivery")) == {
                "webhook": {"sent": 0, "failed": 0, "down": False, "lost": 0}}
            status, _ = await r.post("api/control/kill", {"level": 1})
            assert status == 200
            await r.wait_for(lambda: r.op.notifier.failed == 1, 10, "the failed delivery")
            snap = await r.get("api/snapshot")
            assert snap["alert_delivery"] == {"webhook": {"sent": 0, "failed": 1, "down": True, "lost": 1}}
            assert "  alerts to webhook failing: 1 not delivered" in render_status(snap).splitlines()
            m = await figures(r)
            assert m[("volta_alert_deliveries_total", "failed")] == 1
            assert m[("volta_alert_deliveries_total", "sent")] == 0
            assert m[("volta_alert_sink_down", "")] == 1
            if CHROMIUM is not None:
                playwright = pytest.importorskip("playwright.async_api")
                async with playwright.async_playwright() as p:
                    browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                    try:
                        page = await (await browser.new_context(bypass_csp=True)).new_page()
                        await page.goto(r.url)
                        await page.wait_for_function(LIVE, timeout=15_000)
                        text = await page.locator("#alert-delivery").inner_text()
                        assert text == "webhook: delivery failing, 1 alert(s) not delivered", text
                    finally:
                        await browser.close()
            healthy = True
            status, _ = await r.post("api/control/kill", {"level": 2})  # a new alert: kill:2
            assert status == 200
            await r.wait_for(lambda: r.op.notifier.sent == 1, 10, "the delivery after the recovery")
            assert (await r.get("api/alert_delivery")) == {
                "webhook": {"sent": 1, "failed": 1, "down": False, "lost": 0}}
            m = await figures(r)
            assert m[("volta_alert_deliveries_total", "sent")] == 1
            assert m[("volta_alert_sink_down", "")] == 0
            assert [b["key"] for b in got] == ["kill:1", "kill:2"]
    finally:
        await runner.cleanup()


async def test_a_view_that_raises_does_not_stop_the_alerts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The operator's sampler ran the views and the alert checks in one try block: a view that
    raised (a bug, a state nobody foresaw) stopped every alert for as long as it raised, with
    one log line and no figure."""
    from prometheus_client.parser import text_string_to_metric_families

    from engine.operator import views

    async with running_node(tmp_path, monkeypatch=monkeypatch) as r:
        await r.wait_for(lambda: r.node.recovered, 10, "recovery")

        def broken(_k: Any) -> Any:
            raise RuntimeError("a view bug")

        monkeypatch.setattr(views, "state_view", broken)
        r.node.kernel.killswitch.trip(1, "loss drill", "signal")  # not through the API: no view
        await r.wait_for(lambda: any(a["key"] == "kill:1" for a in r.op.tape.alerts), 5,
                         "the kill alert despite the broken view")
        async with r.session.get(r.url + "metrics") as resp:
            text = await resp.text()
        (errors,) = [s.value for f in text_string_to_metric_families(text) for s in f.samples
                     if s.name == "volta_operator_sample_errors_total"]
        assert errors >= 1
        status, body = await r.post("api/control/clear", {})  # done, so answered ok
        assert status == 200 and r.node.kernel.killswitch.level == 0, body


def test_a_kill_tripped_and_cleared_between_two_checks_still_alerts() -> None:
    """The watcher compared kill levels once a second: a trip cleared before it looked (a
    signal's kill, cleared by a script a moment later) raised nothing."""
    from engine.operator.alerts import AlertWatcher
    from engine.operator.tape import Tape
    from tests.engine.conftest import make_kernel

    k, _venue = make_kernel()
    tape = Tape(k)
    w = AlertWatcher(k, tape, Notifier([], "paper", dedup_s=600.0))
    now = k.clock.now_ns()
    w.check(now)
    assert list(tape.alerts) == []
    k.killswitch.trip(2, "drill", "signal")
    k.killswitch.clear("operator:script")
    w.check(now)
    (alert,) = tape.alerts
    assert alert["title"] == "kill switch tripped and cleared" and alert["severity"] == "critical"
    assert alert["detail"].startswith("1 trip(s) since the last check, cleared by operator:script")
    w.check(now)
    assert len(tape.alerts) == 1  # once
    k.killswitch.trip(1, "again", "signal")
    w.check(now)
    assert [a["key"] for a in tape.alerts] == ["kill:cleared:1", "kill:1"]



def test_a_loss_limit_breach_right_after_the_warning_is_not_deduplicated() -> None:
    """Warning at 85 % and critical at 100 % shared one dedup key: the breach, minutes after the
    warning, was swallowed by the dedup window."""
    from engine.operator.alerts import AlertWatcher
    from engine.operator.tape import Tape
    from engine.risk import RiskLimits
    from tests.engine.conftest import make_kernel

    k, _venue = make_kernel(RiskLimits(max_daily_loss_usd=1000.0))
    tape = Tape(k)
    w = AlertWatcher(k, tape, Notifier([], "paper", dedup_s=600.0), loss_use_pct=80.0)
    loss = k.killswitch.loss
    now = k.clock.now_ns()
    loss.evaluate(now, 0.0)
    loss.evaluate(now, -850.0)  # 850 of 1000: 85 %
    w.check(now)
    loss.evaluate(now, -1000.0)  # 1000 of 1000: 100 %, the limit reached
    w.check(now)
    assert [(a["key"], a["severity"]) for a in tape.alerts] == [("loss:warning", "warning"),
                                                                ("loss:critical", "critical")]
    assert tape.alerts[1]["detail"].startswith("100 % of the daily-loss/drawdown limit used")



def test_the_rate_limit_never_holds_back_a_critical_alert() -> None:
    """A venue lost: its books go stale one by one, a warning each, and use the minute's budget;
    the kill that follows was suppressed with them."""
    n = Notifier([], "paper", max_per_minute=3)
    for i in range(5):
        n.raise_alert(f"book:sim:X-{i}", "warning", "book not live", "stale", i, now=float(i))
    assert n.suppressed == 2
    kill = n.raise_alert("kill:1", "critical", "kill switch level 1", "loss", 10, now=10.0)
    assert kill is not None and kill.severity == "critical"
    assert n.raise_alert("book:sim:X-9", "warning", "book not live", "stale", 11, now=11.0) is None


async def test_stale_books_of_a_venue_are_one_alert_and_one_recovery(receiver: Receiver) -> None:
    """A venue down took its books with it and raised one warning per book (67 on the simulated
    venue, hundreds on an options venue): the receiver was flooded and the minute's budget spent
    on noise. Now one alert per venue, with the count and a few examples, and one recovery; a
    few books stale on a venue that is fine still alert one by one."""
    from engine.operator.alerts import AlertWatcher
    from engine.operator.tape import Tape
    from tests.engine.conftest import make_kernel

    k, _venue = make_kernel()
    tape = Tape(k)
    n = Notifier([Sink("webhook", receiver.url + "/hook")], "paper", dedup_s=600.0, max_per_minute=10)
    w = AlertWatcher(k, tape, n, stale_book_s=30.0)
    t0 = k.clock.now_ns()
    s = 1_000_000_000

    def book(iid: str, status: BookStatus, ts: int) -> None:
        k.bus.publish(BookStatusChanged(instrument_id=iid, status=status, reason="test", ts=ts))

    # two books stale on a venue that is fine: one alert each, after the 30 s threshold
    book("deribit:A", BookStatus.STALE, t0)
    book("deribit:B", BookStatus.STALE, t0)
    tape.drain()
    w.check(t0 + 30 * s)  # not longer than 30 s yet
    w.check(t0 + 31 * s)
    await n.drain()
    assert sorted(b["key"] for _p, b in receiver.got) == ["book:deribit:A", "book:deribit:B"]
    receiver.got.clear()
    book("deribit:A", BookStatus.LIVE, t0 + 32 * s)
    book("deribit:B", BookStatus.LIVE, t0 + 32 * s)
    # the venue goes down: 200 books not live, from one moment
    k.bus.publish(VenueStatusChanged(venue="deribit", status="disconnected", reason="test", ts=t0 + 40 * s))
    names = [f"deribit:BTC-{i:03d}" for i in range(200)]
    for iid in names:
        book(iid, BookStatus.SYNCING, t0 + 40 * s)
    tape.drain()
    for sec in range(41, 80):  # 40 checks, a second apart, the books stale for 39 s at the end
        w.check(t0 + sec * s)
    await n.drain()
    keys = [b["key"] for _p, b in receiver.got]
    assert keys.count("venue:deribit") == 1 and keys.count("books:deribit") == 1, keys
    assert not [key for key in keys if key.startswith("book:")], keys
    grouped = next(b for _p, b in receiver.got if b["key"] == "books:deribit")
    assert grouped["severity"] == "warning" and grouped["title"] == "200 books on deribit not live"
    assert grouped["detail"] == ("venue disconnected; not live for more than 30 s: deribit:BTC-000, "
                                 "deribit:BTC-001, deribit:BTC-002 and 197 more")
    assert n.suppressed == 0  # the budget (10 a minute) was not spent on it
    receiver.got.clear()
    # back: all but two books LIVE again; the recovery, then the two one by one
    k.bus.publish(VenueStatusChanged(venue="deribit", status="connected", reason="test", ts=t0 + 80 * s))
    for iid in names[2:]:
        book(iid, BookStatus.LIVE, t0 + 81 * s)
    tape.drain()
    w.check(t0 + 82 * s)
    w.check(t0 + 83 * s)
    await n.drain()
    await n.close()
    got = sorted((b["key"].rsplit(":", 1)[0] if b["severity"] == "info" else b["key"], b["severity"],
                  b["detail"]) for _p, b in receiver.got)
    assert got == [("book:deribit:BTC-000", "warning", "gone for 42 s (threshold 30 s)"),
                   ("book:deribit:BTC-001", "warning", "gone for 42 s (threshold 30 s)"),
                   ("books:deribit:live", "info",
                    "200 books were not live; 2 still not live, alerted one by one"),
                   ("venue:deribit:back", "info", f"after {82 - 41} s down")]  # seen down at 41


def test_many_stale_books_on_a_connected_venue_are_grouped_too() -> None:
    """Not down, yet more than a few books stale at once (a feed handler stuck): one alert."""
    from engine.operator.alerts import MAX_SINGLE_BOOKS, AlertWatcher
    from engine.operator.tape import Tape
    from tests.engine.conftest import make_kernel

    k, _venue = make_kernel()
    tape = Tape(k)
    w = AlertWatcher(k, tape, Notifier([], "paper", dedup_s=600.0), stale_book_s=1.0)
    t0 = k.clock.now_ns()
    for i in range(MAX_SINGLE_BOOKS + 1):
        k.bus.publish(BookStatusChanged(instrument_id=f"okx:X-{i}", status=BookStatus.STALE,
                                        reason="stale_stream", ts=t0))
    tape.drain()
    w.check(t0 + 2_000_000_000)
    (alert,) = tape.alerts
    assert alert["key"] == "books:okx" and alert["title"] == f"{MAX_SINGLE_BOOKS + 1} books on okx not live"
    assert alert["detail"].startswith("not live for more than 1 s: okx:X-0, okx:X-1, okx:X-2")
    # two more go stale after the alert: no new alert, and the recovery counts all of them
    for i in range(MAX_SINGLE_BOOKS + 1, MAX_SINGLE_BOOKS + 3):
        k.bus.publish(BookStatusChanged(instrument_id=f"okx:X-{i}", status=BookStatus.STALE,
                                        reason="stale_stream", ts=t0 + 2_000_000_000))
    tape.drain()
    w.check(t0 + 4_000_000_000)
    assert len(tape.alerts) == 1
    for i in range(MAX_SINGLE_BOOKS + 3):
        k.bus.publish(BookStatusChanged(instrument_id=f"okx:X-{i}", status=BookStatus.LIVE,
                                        reason="snapshot", ts=t0 + 5_000_000_000))
    tape.drain()
    w.check(t0 + 6_000_000_000)
    assert [(a["key"], a["detail"]) for a in tape.alerts][1:] == [
        (f"books:okx:live:{t0 + 2_000_000_000}", f"{MAX_SINGLE_BOOKS + 3} books were not live, all live now")]


def test_a_venue_back_is_alerted_to_whoever_heard_it_went_down() -> None:
    """A venue down was a critical alert and its return nothing: the operator paged at night
    could not tell from the pager whether it was still down. Now an info alert when it is back
    (once per outage alerted: a flap inside the dedup window, not alerted down, is not either)."""
    import time

    from engine.operator.alerts import AlertWatcher
    from engine.operator.tape import Tape
    from tests.engine.conftest import make_kernel

    k, _venue = make_kernel()
    tape = Tape(k)
    w = AlertWatcher(k, tape, Notifier([], "paper", dedup_s=1.0), stale_book_s=0.0)
    v = next(iter(k.adapters))
    s = 1_000_000_000

    def link(status: str, sec: int) -> None:
        k.bus.publish(VenueStatusChanged(v, status, "test", sec * s))
        tape.drain()
        w.check(sec * s)

    link("disconnected", 10)  # (the dedup window runs on the monotonic clock: real time here)
    time.sleep(0.5)
    link("connected", 25)
    link("disconnected", 26)  # inside the 1 s dedup window: not alerted, so no recovery either
    link("connected", 27)
    assert [(a["title"], a["detail"]) for a in tape.alerts] == [
        (f"venue {v} disconnected", "venue disconnected: market data or orders on this venue are interrupted"),
        (f"venue {v} connected again", f"after {25 - 10} s down")]
    time.sleep(0.6)  # the down's window is over (1.1 s), not the last recovery's (0.6 s): the
    # next outage is alerted, and so is its end (a recovery is not deduplicated on another's)
    link("disconnected", 100)
    link("connected", 103)
    assert [a["detail"] for a in tape.alerts][2:] == [
        "venue disconnected: market data or orders on this venue are interrupted", f"after {103 - 100} s down"]


def test_a_down_venue_with_one_book_reads_as_written() -> None:
    """A venue with a single book going down read '1 books on bybit not live'."""
    from engine.operator.alerts import AlertWatcher
    from engine.operator.tape import Tape
    from tests.engine.conftest import make_kernel

    k, _venue = make_kernel()
    tape = Tape(k)
    w = AlertWatcher(k, tape, Notifier([], "paper", dedup_s=600.0), stale_book_s=1.0)
    t0 = k.clock.now_ns()
    k.bus.publish(VenueStatusChanged(venue="bybit", status="disconnected", reason="test", ts=t0))
    k.bus.publish(BookStatusChanged(instrument_id="bybit:BTCUSDT", status=BookStatus.SYNCING,
                                    reason="test", ts=t0))
    tape.drain()
    w.check(t0 + 2_000_000_000)
    k.bus.publish(VenueStatusChanged(venue="bybit", status="connected", reason="test", ts=t0 + 3_000_000_000))
    k.bus.publish(BookStatusChanged(instrument_id="bybit:BTCUSDT", status=BookStatus.LIVE,
                                    reason="snapshot", ts=t0 + 3_000_000_000))
    tape.drain()
    w.check(t0 + 4_000_000_000)
    said = [(a["severity"], a["title"], a["detail"]) for a in tape.alerts if a["key"].startswith("books:")]
    assert [(sev, title) for sev, title, _ in said] == [("warning", "1 book on bybit not live"),
                                                        ("info", "books on bybit live again")]
    assert said[0][2].endswith("bybit:BTCUSDT") and said[1][2] == "1 book was not live, all live now"
