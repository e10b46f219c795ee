"""The dashboard after its event stream drops: it reloads the snapshot on reconnect.

A real paper node (in this test's event loop, so the test can drop the stream from the server
side the way a slow browser gets dropped: its bounded queue overflows) and Playwright driving
Debian's chromium. While the page cannot reconnect, the node makes a fill; after the reconnect
the fill must be in the fills table without a page reload.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.operator.conftest import running_node

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it with apt-get)")
async def test_fills_made_during_a_dropped_stream_appear_after_the_reconnect(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    playwright = pytest.importorskip("playwright.async_api", reason="playwright (dev extra) is not installed")
    async with running_node(tmp_path, monkeypatch=monkeypatch) as r, \
            playwright.async_playwright() as p:
        tape = r.op.tape
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await (await browser.new_context(bypass_csp=True)).new_page()
            loads: list[str] = []
            page.on("request", lambda req: loads.append(req.url) if req.url.endswith("/api/snapshot") else None)
            await page.goto(r.url)
            await page.wait_for_function("document.querySelector('#conn').textContent === 'live'", timeout=15_000)
            await r.wait_for(lambda: len(tape.clients) == 1, 10, "the page's stream")
            page_loads = sum(1 for u in loads if u.endswith("/api/snapshot"))
            # the page cannot reconnect until we let it (a network error: EventSource retries)
            await page.route("**/api/stream", lambda route: route.abort())
            (client,) = tape.clients
            while not client.dropped:  # what a browser that cannot keep up gets: the queue overflows
                client.put({"type": "keepalive"})
            await r.wait_for(lambda: not tape.clients, 10, "the server to end the dropped stream")
            await page.wait_for_function("document.querySelector('#conn').textContent === 'reconnecting'",
                                         timeout=10_000)
            seen = len(tape.fills)
            await r.wait_for(lambda: len(tape.fills) > seen, 30, "a fill while the page is disconnected")
            missed = tape.fills[-1]
            assert not tape.clients  # nobody was connected to receive it live
            await page.unroute("**/api/stream")
            await page.wait_for_function("document.querySelector('#conn').textContent === 'live'", timeout=15_000)
            await page.wait_for_function(
                "(id) => document.querySelector('#fills tbody').textContent.includes(id)",
                arg=missed["client_order_id"], timeout=10_000)
            assert sum(1 for u in loads if u.endswith("/api/snapshot")) > page_loads  # no page reload:
            assert len([u for u in loads if u.rstrip("/") == r.url.rstrip("/")]) == 0  # same document
            # the alerts log is rebuilt, not doubled, by the reload
            texts = await page.locator("#alerts li").all_inner_texts()
            assert len(texts) == len(set(texts)), texts
        finally:
            await browser.close()
