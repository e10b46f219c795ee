"""Strategy state with NaN or infinite floats survives a restart (the template's own state
starts with ``ema = nan``): JSON has no NaN, so such a state must not be saved as ``null``
that no longer decodes as a float."""

from __future__ import annotations

import math
from pathlib import Path

import msgspec
import pytest

from engine import Strategy, StrategyContext
from engine.clock import VirtualClock
from engine.journal import Journal
from engine.kernel import Kernel
from engine.risk import RiskLimits


class State(msgspec.Struct):
    fills: int = 0
    ema: float = math.nan
    cap: float = math.inf
    floor: float = -math.inf
    last: float = 0.1


class Keeper(Strategy):
    pass


def _context(journal: Journal) -> StrategyContext:
    kernel = Kernel(VirtualClock(1_000_000_000), RiskLimits(), journal)
    return StrategyContext(kernel, "keeper", "fake")


def test_non_finite_floats_survive_a_restart_through_the_journal(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    journal = Journal(path)
    _context(journal).save_state(State(fills=2))
    journal.close()
    journal = Journal(path)
    try:
        got = _context(journal).load_state(State)
    finally:
        journal.close()
    assert got.fills == 2 and math.isnan(got.ema)
    assert got.cap == math.inf and got.floor == -math.inf and got.last == 0.1


def test_a_state_saved_as_json_by_an_earlier_version_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    journal = Journal(path)
    try:
        journal.save_state("keeper", 1, b'{"fills":3,"ema":1.5,"cap":2.0,"floor":0.0,"last":0.25}')
        got = _context(journal).load_state(State)
        assert got == State(3, 1.5, 2.0, 0.0, 0.25)
        journal.save_state("keeper", 2, b'{"fills":"three"}')
        with pytest.raises(ValueError, match="keeper"):
            _context(journal).load_state(State)
    finally:
        journal.close()
