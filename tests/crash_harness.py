"""What the crash tests share (``tests/risk/test_crash_points.py``, ``tests/risk/test_recovery.py``,
``tests/e2e/test_crash_restart.py``): one paper deployment, one way to run it on a virtual clock,
and one set of checks of the journal against the simulated venue's own record.

The deployment is the example market maker quoting the perpetual on the simulated venue, whose
account persists in ``state_path`` (the venue remembers what it received, as a real one does).
After a crash and a restart, the venue is the referee: every fill it made is journaled exactly
once, the positions agree (the engine's, or summed from the journal's fills when the engine was
a separate process) and nothing is left open on either side.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from adapters.sim.state import SimAccount
from engine.clock import NS_PER_S, VirtualClock
from engine.journal import Journal
from engine.model import OrderFilled, Side
from engine.runtime import Node

START_NS = 1_767_225_600 * NS_PER_S
"""2026-01-01T00:00:00Z: where the crash tests' virtual clocks start."""

_CONFIG = """
[deployment]
name = "{name}"
mode = "paper"
journal = "{journal}"
{deployment}
[venues.sim]
adapter = "adapters.sim:SimVenue"
[venues.sim.params]
seed = {seed}
state_path = "{state}"
{venue}
[risk]
max_position_qty = 1.0

[[strategies]]
id = "mm-1"
class = "strategies.examples.mm:Quoter"
venue = "sim"
[strategies.params]
instrument = "BTC-PERP"
size = 0.01
half_spread_bps = 0.5
requote_bps = 1.0
max_position = 0.05
"""


def crash_config(name: str, journal: Path | str, state: Path | str, *, seed: int = 5,
                 deployment: str = "", venue: str = "") -> str:
    """The deployment's TOML: ``deployment``/``venue`` are extra lines for those tables (a
    ``"{journal}"`` passed as the path leaves a template to ``format`` later)."""
    return _CONFIG.format(name=name, journal=journal, state=state, seed=seed,
                          deployment=deployment, venue=venue)


async def drive(node: Node, clock: VirtualClock, start_ns: int, seconds: float, *,
                stop: bool = True) -> None:
    """Start ``node``, advance its virtual clock from ``start_ns`` in 0.1 s steps for
    ``seconds`` (yielding to the loop after each), then stop it (unless ``stop`` is False: the
    caller simulates a crash)."""
    await node.start()
    t = start_ns
    for _ in range(round(seconds * 10)):
        t += NS_PER_S // 10
        clock.advance_to(t)
        await asyncio.sleep(0)
    if stop:
        await node.stop()


def journal_fills(journal: Path) -> list[OrderFilled]:
    """Every ``OrderFilled`` the journal holds, in order."""
    return [r[4] for r in Journal(journal, read_only=True).records() if r[3] == "OrderFilled"]


def assert_fills_once(journal: Path, acc: SimAccount) -> list[OrderFilled]:
    """Every fill the venue made is journaled, exactly once, and no other; the fills."""
    fills = journal_fills(journal)
    trade_ids = [f.trade_id for f in fills]
    assert len(trade_ids) == len(set(trade_ids)), "a fill was journaled twice"
    assert set(trade_ids) == {f.trade_id for f in acc.fills}, "journal and venue fills differ"
    return fills


def assert_positions_agree(acc: SimAccount, engine_qty: Callable[[str], float]) -> None:
    """The venue's position in every instrument is the engine's (``engine_qty``)."""
    for iid, (qty, _avg) in acc.positions.items():
        assert engine_qty(iid) == pytest.approx(qty, abs=1e-9), iid


def kernel_qty(kernel: Any) -> Callable[[str], float]:
    """``engine_qty`` read from a live kernel's portfolio (no position: 0)."""
    def qty(iid: str) -> float:
        pos = kernel.portfolio.position(iid)
        return pos.qty if pos else 0.0
    return qty


def fills_qty(fills: list[OrderFilled]) -> Callable[[str], float]:
    """``engine_qty`` summed from journaled fills (the engine ran in another process)."""
    pos: dict[str, float] = {}
    for f in fills:
        pos[f.instrument_id] = pos.get(f.instrument_id, 0.0) + (
            f.quantity if f.side is Side.BUY else -f.quantity)
    return lambda iid: pos.get(iid, 0.0)
