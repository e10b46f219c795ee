"""The benchmark harnesses still see what they time.

Two of them broke silently when the order path changed (orders now leave in the group commit,
when the bus goes idle after the book event; a snapshot's checkpoint takes a keyword): a harness
whose clock never starts or stops reports nothing, or fails only under ``make bench``. These
runs are short (seconds of virtual time) and check the harness, never a speed.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from benchmarks import bench_execution, bench_operator
from tests.logging_state import _restore_logging  # noqa: F401 -- autouse: _quiet_logs is undone


def test_tick_to_order_harness_counts_orders_and_journal_time(tmp_path: Path) -> None:
    bench_execution._quiet_logs()
    out = bench_execution.tick_to_order(tmp_path / "t.sqlite", seconds=20)
    # the paper quoter sends orders from book events within seconds; each one is timed
    assert out["orders_caused_by_book_events"] > 0
    assert out["orders_caused_by_book_events"] <= out["orders_sent"]
    assert out["p50_us"] > 0 and out["p99_us"] >= out["p50_us"]
    assert out["gate_in_run"]["n"] == out["orders_caused_by_book_events"]
    assert out["journal_order_path_per_order_us"] > 0
    assert set(out["stages_p50_us"]) == {"to_strategy", "to_commit", "commit", "commit_to_first_send"}


def test_operator_harness_times_orders_with_and_without_the_operator(tmp_path: Path) -> None:
    for on in (False, True):
        res = asyncio.run(bench_operator._one_run(tmp_path / f"{on}.sqlite", on, 3))
        assert res["orders"] > 0 and res["p50_us"] is not None
