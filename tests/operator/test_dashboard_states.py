"""The dashboard on states a paper run rarely reaches: a PnL total that leaves out positions with
no mark (or is unknown altogether), a delta with no USD price, and a deployment with no venue.

Before: the header showed the priced part of a partial total as if it were the whole PnL (only
amounts with no USD price were named beside it, never the positions with no mark), a delta in
USD with no underlying price read "(- USD)", and an empty venues table said nothing. The page is a real chromium on a real node; its snapshot is the
node's own with those fields replaced (and its stream held off, so no tick overwrites them).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.operator.test_dashboard_reconnect import live_page, needs_chromium

OPTION = "sim:BTC-8DEC26-60000-C"


async def show(page: Any, url: str, change: Any) -> list[str]:
    """Open the page on the node's snapshot as ``change`` edits it; returns page errors."""
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    async def snapshot(route: Any) -> None:
        resp = await route.fetch()
        snap = await resp.json()
        change(snap)
        await route.fulfill(response=resp, body=json.dumps(snap))

    await page.route("**/api/snapshot", snapshot)
    await page.route("**/api/stream", lambda route: route.abort())
    await page.goto(url)
    await page.wait_for_function("document.querySelector('#deployment').textContent !== '-'", timeout=10_000)
    return errors


@needs_chromium
async def test_a_partial_total_names_the_positions_it_leaves_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def change(snap: dict[str, Any]) -> None:
        snap["state"]["pnl_usd"].update(total=12.5, priced_total=12.5, partial=True,
                                        unpriced={"BTC": 0.0012}, unmarked=[OPTION])
        snap["venues"] = {}
        snap["pnl"]["points"] = [[1, None, None, None, None], [2, 12.5, 10.0, 2.5, 0.0]]

    async with live_page(tmp_path, monkeypatch) as (r, page):
        errors = await show(page, r.url, change)
        assert await page.locator("#pnl-total").inner_text() == "12.50"
        assert await page.locator("#pnl-unpriced").inner_text() == (
            f"partial: leaves out +0.001200 BTC unpriced (no USD price yet); "
            f"the unrealized PnL of {OPTION} (no mark)")
        assert await page.locator("#venues tbody").inner_text() == "no venues configured"
        assert errors == []


@needs_chromium
async def test_an_unknown_total_reads_unpriced_and_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def change(snap: dict[str, Any]) -> None:
        snap["state"]["pnl_usd"].update(total=None, unrealized=None, partial=False, unpriced={},
                                        unmarked=[OPTION])
        # no index price for the underlying yet: the delta in USD is unknown, not "-" or 0
        snap["greeks"] = {"ETH": {"delta": 1.5, "delta_usd": None, "gamma": 0.0, "vega_usd": 0.0,
                                  "theta_usd_day": 0.0, "underlying_price": None, "limits": {},
                                  "by_expiry": {}, "by_strike": [], "unpriced_positions": []}}

    async with live_page(tmp_path, monkeypatch) as (r, page):
        errors = await show(page, r.url, change)
        assert await page.locator("#pnl-total").inner_text() == "unpriced"
        assert await page.locator("#pnl-unpriced").inner_text() == (
            f"leaves out the unrealized PnL of {OPTION} (no mark)")
        assert "delta 1.5000 (unpriced) ·" in await page.locator("#greeks").inner_text()
        assert errors == []
