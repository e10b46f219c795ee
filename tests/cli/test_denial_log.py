"""Denials are logged once per reason and interval, the rest counted (issue 18, item 8)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from engine.config import load_config
from engine.logging import configure_logging
from engine.repeats import RepeatAggregator
from engine.runtime import run_virtual

ROOT = Path(__file__).resolve().parents[2]


class _Recorder:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str, dict[str, Any]]] = []

    def info(self, event: str, **kw: Any) -> None:
        self.lines.append(("info", event, kw))

    def warning(self, event: str, **kw: Any) -> None:
        self.lines.append(("warning", event, kw))


def test_first_per_reason_then_one_summary_per_interval() -> None:
    rec = _Recorder()
    agg = RepeatAggregator(rec, "order_denied", "orders_denied", interval_ns=10_000)
    for t in range(0, 10_000, 1_000):  # 10 in the first interval: 6 A, 4 B
        agg.record("A" if t < 6_000 else "B", t, detail=str(t))
    agg.record("A", 10_000)  # a new interval: the summary of the first, then A in full
    agg.flush(12_000)
    events = [(lvl, ev, kw.get("reason"), kw.get("counts")) for lvl, ev, kw in rec.lines]
    assert events == [("info", "order_denied", "A", None), ("info", "order_denied", "B", None),
                      ("warning", "orders_denied", None, {"A": 5, "B": 3}),
                      ("info", "order_denied", "A", None)]  # nothing suppressed after: no summary
    assert rec.lines[0][2]["detail"] == "0" and rec.lines[1][2]["detail"] == "6000"


def test_tight_limits_log_each_denial_reason_not_each_denial(tmp_path: Path) -> None:
    buf = io.StringIO()
    configure_logging("info", "json", buf)
    config = load_config(ROOT / "config" / "tight-limits.toml")
    seconds = 120.0
    node = run_virtual(config, seconds, journal_path=tmp_path / "j.sqlite")
    lines = [json.loads(x) for x in buf.getvalue().splitlines()]
    denials = node.kernel.counters["denials"]
    assert denials > 500  # the deployment exists to be denied a lot
    firsts = [e for e in lines if e["event"] == "order_denied"]
    summaries = [e for e in lines if e["event"] == "orders_denied"]
    assert not [e for e in lines if e["event"] == "denied"]  # the strategy no longer repeats it
    assert len(firsts) + sum(e["total"] for e in summaries) == denials  # nothing lost
    reasons = {e["reason"] for e in firsts}
    intervals = int(seconds // 10) + 1
    assert len(firsts) <= len(reasons) * intervals and len(summaries) <= intervals
    assert len(firsts) + len(summaries) < denials / 10
