"""A venue's connection on the operator surface is the worst of its streams.

Live sessions publish ``VenueStatusChanged`` per stream (``market_data``, ``private``) and a
venue-wide ``rate_limited`` answer. The tape kept the last event per venue: the public stream
coming back showed the venue "connected" (volta_venue_connected 1) while its private stream -
fills, order answers - was still down, and one rate-limit answer showed it "rate_limited"
(connected 0) until the next reconnect, which may never come.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from engine.model import VenueStatusChanged
from engine.operator.alerts import AlertWatcher, Notifier
from engine.operator.metrics import NodeMetrics
from engine.operator.tape import Tape
from engine.operator.views import venues_view
from tests.engine.conftest import make_kernel
from tests.operator.test_dashboard_reconnect import LIVE, live_page, needs_chromium


def _gauge(metrics: NodeMetrics, name: str, venue: str) -> float:
    for fam in text_string_to_metric_families(metrics.render().decode()):
        for s in fam.samples:
            if s.name == name and s.labels.get("venue") == venue:
                return s.value
    raise AssertionError(f"no {name} for {venue}")


def test_one_stream_back_does_not_make_the_venue_connected() -> None:
    k, _venue = make_kernel()
    tape = Tape(k)
    metrics = NodeMetrics(k, tape)
    watcher = AlertWatcher(k, tape, Notifier([], "paper", dedup_s=0.0))
    pub = k.bus.publish
    v = next(iter(k.adapters))
    pub(VenueStatusChanged(v, "disconnected", "public stream: abnormal", 1, "market_data"))
    pub(VenueStatusChanged(v, "disconnected", "private stream: abnormal", 2, "private"))
    pub(VenueStatusChanged(v, "connected", "public stream reconnected", 3, "market_data"))
    tape.drain()
    view = venues_view(k, tape)[v]
    assert view["connection"] == "disconnected"
    assert view["streams"] == {"market_data": "connected", "private": "disconnected"}
    assert _gauge(metrics, "volta_venue_connected", v) == 0.0
    watcher.check(4)
    (alert,) = tape.alerts
    assert alert["detail"].startswith("private disconnected")
    pub(VenueStatusChanged(v, "connected", "private stream reconnected", 5, "private"))
    tape.drain()
    assert venues_view(k, tape)[v]["connection"] == "connected"
    assert _gauge(metrics, "volta_venue_connected", v) == 1.0


def test_a_rate_limit_answer_is_counted_not_a_lost_connection() -> None:
    k, _venue = make_kernel()
    tape = Tape(k)
    metrics = NodeMetrics(k, tape)
    v = next(iter(k.adapters))
    k.bus.publish(VenueStatusChanged(v, "rate_limited", "50011: Too Many Requests", 1))
    k.bus.publish(VenueStatusChanged(v, "rate_limited", "50011: Too Many Requests", 2))
    tape.drain()
    view = venues_view(k, tape)[v]
    assert view["connection"] == "connected" and view["rate_limited"] == 2
    assert _gauge(metrics, "volta_venue_connected", v) == 1.0
    assert _gauge(metrics, "volta_venue_rate_limited_total", v) == 2.0


def test_a_venue_wide_event_sets_every_stream() -> None:
    k, _venue = make_kernel()
    tape = Tape(k)
    v = next(iter(k.adapters))
    k.bus.publish(VenueStatusChanged(v, "disconnected", "private stream: abnormal", 1, "private"))
    k.bus.publish(VenueStatusChanged(v, "connected", "websocket reconnected", 2))
    tape.drain()
    assert venues_view(k, tape)[v]["streams"] == {"venue": "connected"}
    assert tape.connection[v] == "connected"


@needs_chromium
async def test_the_page_logs_a_rate_limit_as_a_warning_and_a_lost_stream_as_critical(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every venue status that was not "connected" was a red critical line, a rate-limit answer
    as loud as a lost connection."""
    async with live_page(tmp_path, monkeypatch) as (r, page):
        await page.goto(r.url)
        await page.wait_for_function(LIVE, timeout=15_000)
        k = r.node.kernel
        now = k.clock.now_ns()
        k.bus.publish(VenueStatusChanged("sim", "rate_limited", "429 Too Many Requests", now))
        k.bus.publish(VenueStatusChanged("sim", "disconnected", "private stream: abnormal", now + 1, "private"))
        await page.wait_for_function("document.querySelectorAll('#alerts li').length >= 2", timeout=10_000)
        lines = {await li.inner_text(): await li.get_attribute("class")
                 for li in await page.locator("#alerts li").all()}
        (limited,) = [cls for text, cls in lines.items() if "rate_limited" in text]
        (lost,) = [cls for text, cls in lines.items() if "sim private disconnected" in text]
        assert (limited, lost) == ("warning", "critical"), lines
