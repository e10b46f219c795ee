"""Why a venue refuses orders: counted per venue and reason category in the snapshot's venues
view, in /metrics (a ``reason`` label whose values are a fixed set) and on the dashboard.

Before, the operator saw one unlabelled count: a venue refusing every order for margin and one
refusing post-only quotes that cross looked the same.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from engine.model import Side, SubmitOrder, TimeInForce
from engine.operator.client import render_status
from engine.operator.rejects import REJECT_CATEGORIES, reject_category
from tests.operator.conftest import Running, running_node
from tests.operator.test_dashboard_reconnect import LIVE, live_page, needs_chromium


@pytest.mark.parametrize(("reason", "category"), [
    # the simulators' codes
    ("post_only_would_cross", "post_only"),
    ("price_not_on_tick", "invalid_order"),
    ("quantity_below_min", "invalid_order"),
    ("market_closed", "instrument_unavailable"),
    ("unknown_instrument", "instrument_unavailable"),
    ("duplicate_client_order_id", "duplicate_order_id"),
    ("unknown_order", "unknown_order"),
    # the live adapters' own words
    ("NOT_CONNECTED: private stream down (never sent)", "not_connected"),
    ("THROTTLED: held by the rate limiter past the ack timeout; never sent", "throttled"),
    ("NOT_TRADING: no credentials", "not_trading"),
    ("not sent: journal write failed (disk full)", "not_sent"),
    # venues' codes and messages
    ("-2019: Margin is insufficient.", "insufficient_margin"),
    ("10009: not_enough_funds", "insufficient_margin"),
    ("10028: too_many_requests", "throttled"),
    ("cancel refused 110001: order not exists or too late to cancel", "unknown_order"),
    ("-5022: Due to the order could not be executed as maker, the Post Only order will be rejected",
     "post_only"),
    ("rejected by the venue", "other"),
    ("", "other"),
])
def test_reasons_map_onto_the_fixed_categories(reason: str, category: str) -> None:
    assert reject_category(reason) == category
    assert category in REJECT_CATEGORIES


def test_reasons_quoting_ids_add_no_label_value() -> None:
    seen = {reject_category(f"order {i} was refused by the matching engine") for i in range(1000)}
    assert seen == {"other"}


def _reject_samples(text: str) -> dict[tuple[str, str], float]:
    out = {}
    for fam in text_string_to_metric_families(text):
        if fam.name == "volta_order_rejects":
            for s in fam.samples:
                if s.name == "volta_order_rejects_total":
                    out[(s.labels["venue"], s.labels["reason"])] = s.value
    return out


async def test_venue_rejects_by_reason_in_the_snapshot_and_the_metrics(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with running_node(tmp_path, monkeypatch=monkeypatch) as r:
        await refuse_two(r)
        sim = (await r.get("api/snapshot"))["venues"]["sim"]
        assert sim["rejects"] == {"post_only": 2}
        assert sim["rejects_total"] == 2
        assert sim["last_reject"]["reason"] == "post_only"
        assert sim["last_reject"]["detail"] == "post_only_requires_gtc_limit"  # the venue's own words
        assert sim["last_reject"]["client_order_id"] == "probe-ioc"
        assert (await r.get("api/venues"))["sim"]["rejects"] == sim["rejects"]
        table = render_status(await r.get("api/snapshot"))  # volta status
        row = next(line for line in table.splitlines() if line.strip().startswith("sim ") and "connected" in line)
        assert row.rstrip().endswith("2 (post_only 2)"), row
        async with r.session.get(r.url + "metrics") as resp:
            samples = _reject_samples(await resp.text())
        assert samples[("sim", "post_only")] == 2
        assert samples[("sim", "invalid_order")] == 0
        assert samples[("sim", "insufficient_margin")] == 0  # every category, a first reject is an increase
        assert {why for (_v, why) in samples} == set(REJECT_CATEGORIES)


async def refuse_two(r: Running) -> None:
    """Two orders the gate lets through and the simulated venue refuses (post-only ones)."""
    k = r.node.kernel
    book = k.books["sim:BTC-PERP"]
    await r.wait_for(lambda: bool(book.depth_asks(1)), 20, "a book")
    ask = book.depth_asks(1)[0][0]
    for coid, price, tif in (("probe-cross", ask, TimeInForce.GTC),
                             ("probe-ioc", ask - 50.0, TimeInForce.IOC)):
        assert k.execution.submit(SubmitOrder(client_order_id=coid, strategy_id="probe",
                                              instrument_id="sim:BTC-PERP", side=Side.BUY,
                                              quantity=0.01, price=price, post_only=True,
                                              time_in_force=tif)) is None
    await r.wait_for(lambda: sum(r.op.tape.rejects.get("sim", {}).values()) >= 2, 10, "two rejects")


@needs_chromium
async def test_the_dashboard_shows_why_the_venue_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with live_page(tmp_path, monkeypatch) as (r, page):
        await page.goto(r.url)
        await page.wait_for_function(LIVE, timeout=15_000)
        await refuse_two(r)
        cell = "document.querySelector('#venues tbody td.rejects')"
        await page.wait_for_function(f"{cell} && {cell}.textContent.startsWith('2: post_only 2')",
                                     timeout=10_000)
        text = await page.locator("#venues tbody td.rejects").inner_text()
        assert "post_only_requires_gtc_limit (probe-ioc)" in text, text


def test_the_operator_guide_names_every_category() -> None:
    guide = (Path(__file__).resolve().parents[2] / "docs" / "operator.md").read_text()
    assert all(f"`{why}`" in guide for why in REJECT_CATEGORIES)
