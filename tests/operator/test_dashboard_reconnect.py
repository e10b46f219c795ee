"""The dashboard after its event stream drops: it reloads the snapshot on reconnect.

A real paper node (in this test's event loop, so the test can drop the stream from the server
side the way a slow browser gets dropped: its bounded queue overflows) and Playwright driving
Debian's chromium. While the page cannot reconnect, the node makes a fill; after the reconnect
the fill must be in the fills table without a page reload.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.operator.conftest import Running, running_node

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
LIVE = "document.querySelector('#conn').textContent === 'live'"
needs_chromium = pytest.mark.skipif(CHROMIUM is None,
                                    reason="chromium is not installed (.ci/run installs it with apt-get)")


@contextlib.asynccontextmanager
async def live_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[Running, Any]]:
    """A paper node and the dashboard open on it, its stream live."""
    playwright = pytest.importorskip("playwright.async_api", reason="playwright (dev extra) is not installed")
    async with running_node(tmp_path, monkeypatch=monkeypatch) as r, playwright.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await (await browser.new_context(bypass_csp=True)).new_page()
            yield r, page
        finally:
            await browser.close()


async def drop_the_stream(r: Running) -> None:
    """What a browser that cannot keep up gets: its queue overflows, the server ends its stream."""
    (client,) = r.op.tape.clients
    while not client.dropped:
        client.put({"type": "keepalive"})
    await r.wait_for(lambda: not r.op.tape.clients, 10, "the server to end the dropped stream")


async def fill_while_away(r: Running) -> dict[str, Any]:
    tape = r.op.tape
    seen = len(tape.fills)
    await r.wait_for(lambda: len(tape.fills) > seen, 30, "a fill while the page is disconnected")
    assert not tape.clients  # nobody was connected to receive it live
    return tape.fills[-1]


async def shown_after_reconnect(r: Running, page: Any, fill: dict[str, Any]) -> None:
    await page.unroute("**/api/stream")
    await page.wait_for_function(LIVE, timeout=15_000)
    await r.wait_for(lambda: len(r.op.tape.clients) == 1, 10, "the page's new stream")
    await page.wait_for_function("(id) => document.querySelector('#fills tbody').textContent.includes(id)",
                                 arg=fill["client_order_id"], timeout=10_000)


@needs_chromium
async def test_fills_made_during_a_dropped_stream_appear_after_the_reconnect(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with live_page(tmp_path, monkeypatch) as (r, page):
        requests: list[str] = []
        page.on("request", lambda req: requests.append(req.url))
        await page.goto(r.url)
        await page.wait_for_function(LIVE, timeout=15_000)
        await r.wait_for(lambda: len(r.op.tape.clients) == 1, 10, "the page's stream")
        snapshots = requests.count(r.url + "api/snapshot")
        # the page cannot reconnect until we let it (a network error: EventSource retries)
        await page.route("**/api/stream", lambda route: route.abort())
        await drop_the_stream(r)
        await page.wait_for_function("document.querySelector('#conn').textContent === 'reconnecting'",
                                     timeout=10_000)
        fill = await fill_while_away(r)
        await shown_after_reconnect(r, page, fill)
        assert requests.count(r.url + "api/snapshot") > snapshots
        assert requests.count(r.url) == 1  # the same document: no page reload
        # the alert log after another reconnect: each alert once, the stream's own lines kept
        status, _ = await r.post("api/control/kill", {"level": 1})
        assert status == 200
        await page.wait_for_function("document.querySelector('#alerts').textContent.includes('kill switch level 1')",
                                     timeout=10_000)
        await page.wait_for_function("document.querySelector('#alerts').textContent.includes('operator kill')",
                                     timeout=10_000)
        async with page.expect_response(r.url + "api/snapshot"):
            await drop_the_stream(r)
        await page.wait_for_function(LIVE, timeout=15_000)
        await page.wait_for_timeout(300)  # the snapshot's rendering
        texts = await page.locator("#alerts li").all_inner_texts()
        alerts = [t for t in texts if "kill switch level 1" in t and " denied " not in t]
        assert len(alerts) == 1, texts
        assert sum("operator kill" in t for t in texts) == 1, texts


@needs_chromium
async def test_the_page_reconnects_after_an_answer_that_is_not_a_stream(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """EventSource gives up for good on an HTTP answer that is not a stream (a TLS proxy's 502
    while the daemon restarts, a 401 once the restarted daemon forgot the session): the page
    must keep trying, not read "reconnecting" forever."""
    async with live_page(tmp_path, monkeypatch) as (r, page):
        await page.goto(r.url)
        await page.wait_for_function(LIVE, timeout=15_000)
        await r.wait_for(lambda: len(r.op.tape.clients) == 1, 10, "the page's stream")
        answered: list[int] = []

        async def bad_gateway(route: Any) -> None:
            answered.append(502)
            await route.fulfill(status=502, content_type="text/plain", body="bad gateway")

        await page.route("**/api/stream", bad_gateway)
        await drop_the_stream(r)
        await r.wait_for(lambda: bool(answered), 10, "the page's reconnection attempt")
        await page.wait_for_function(f"!({LIVE})", timeout=10_000)
        fill = await fill_while_away(r)
        await shown_after_reconnect(r, page, fill)


async def log_lines(page: Any) -> list[str]:
    return await page.locator("#alerts li").all_inner_texts()


@needs_chromium
async def test_actions_and_denials_made_during_a_drop_show_as_on_a_page_that_stayed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An operator action and a gate denial made while one page's stream is down: after its
    reconnect that page's log (alerts, actions, denials, venue changes) is the same as the log
    of a page that stayed connected all along. Before, the snapshot carried alerts only: the
    reconnected page never showed the kill, the clear or the denial."""
    from engine.model import Side, SubmitOrder

    async with live_page(tmp_path, monkeypatch) as (r, away):
        tape = r.op.tape
        await away.goto(r.url)
        await away.wait_for_function(LIVE, timeout=15_000)
        await r.wait_for(lambda: len(tape.clients) == 1, 10, "the first page's stream")
        (away_client,) = tape.clients
        stayed = await away.context.new_page()
        await stayed.goto(r.url)
        await stayed.wait_for_function(LIVE, timeout=15_000)
        await r.wait_for(lambda: len(tape.clients) == 2, 10, "the second page's stream")
        await away.route("**/api/stream", lambda route: route.abort())
        while not away_client.dropped:  # its queue overflows: the server ends that stream only
            away_client.put({"type": "keepalive"})
        await away.wait_for_function("document.querySelector('#conn').textContent === 'reconnecting'",
                                     timeout=10_000)
        assert len(tape.clients) == 1
        status, _ = await r.post("api/control/kill", {"level": 1, "reason": "drill"})
        assert status == 200
        k = r.node.kernel
        assert k.execution.submit(SubmitOrder(client_order_id="probe-halted", strategy_id="probe",
                                              instrument_id="sim:BTC-PERP", side=Side.BUY,
                                              quantity=0.01, price=50_000.0)) is not None
        await r.wait_for(lambda: any(d["client_order_id"] == "probe-halted" for d in tape.denials),
                         10, "the denial on the tape")
        await r.wait_for(lambda: any(a["title"] == "kill switch level 1" for a in tape.alerts), 10,
                         "the kill alert")
        status, _ = await r.post("api/control/clear", {})
        assert status == 200
        await stayed.wait_for_function("document.querySelector('#alerts').textContent.includes('operator clear')",
                                       timeout=10_000)
        await away.unroute("**/api/stream")
        await away.wait_for_function(LIVE, timeout=15_000)
        await away.wait_for_function("document.querySelector('#alerts').textContent.includes('operator clear')",
                                     timeout=10_000)
        deadline = asyncio.get_running_loop().time() + 10
        while (a := await log_lines(away)) != (s := await log_lines(stayed)):
            assert asyncio.get_running_loop().time() < deadline, f"reconnected {a}\nstayed {s}"
            await asyncio.sleep(0.2)
        assert any("denied probe-halted: TRADING_HALTED" in t for t in a), a
        assert sum("operator kill (level 1, reason drill) from 127.0.0.1" in t for t in a) == 1, a
        assert sum("operator clear (reason operator) from 127.0.0.1" in t for t in a) == 1, a
        assert sum("kill switch level 1" in t and " denied " not in t for t in a) == 1, a
        # newest first: the clear came after the denial, which came after the kill
        order = [next(i for i, t in enumerate(a) if needle in t)
                 for needle in ("operator clear", "denied probe-halted", "operator kill")]
        assert order == sorted(order), a


@needs_chromium
async def test_a_flood_of_denials_does_not_push_the_alert_out_of_the_log(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A strategy hammering a halted gate: 150 denials after the kill. The log kept its newest
    100 lines whatever they were, so the kill alert and the action that explain the denials
    were gone; denials now keep their own share (50 lines)."""
    from engine.model import Side, SubmitOrder

    async with live_page(tmp_path, monkeypatch) as (r, page):
        await page.goto(r.url)
        await page.wait_for_function(LIVE, timeout=15_000)
        status, _ = await r.post("api/control/kill", {"level": 1, "reason": "drill"})
        assert status == 200
        await page.wait_for_function("document.querySelector('#alerts').textContent.includes('kill switch level 1')",
                                     timeout=10_000)
        k = r.node.kernel
        for i in range(150):
            assert k.execution.submit(SubmitOrder(client_order_id=f"flood-{i}", strategy_id="probe",
                                                  instrument_id="sim:BTC-PERP", side=Side.BUY,
                                                  quantity=0.01, price=50_000.0 + i)) is not None
        await page.wait_for_function("document.querySelector('#alerts').textContent.includes('denied flood-149:')",
                                     timeout=10_000)
        texts = await log_lines(page)
        denied = [t for t in texts if " denied flood-" in t]
        assert len(denied) == 50 and "denied flood-149:" in denied[0], texts[:3]
        assert sum("kill switch level 1" in t and " denied " not in t for t in texts) == 1, texts
        assert sum("operator kill (level 1, reason drill)" in t for t in texts) == 1, texts
