"""Shared fixtures of the SDK tests: a kernel on a virtual clock with a recording fake venue."""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest

from engine.clock import VirtualClock
from engine.kernel import Kernel
from engine.model import BookSnapshot, Instrument, InstrumentKind
from engine.risk import RiskLimits
from engine.strategy import Strategy, StrategyContext
from tests.engine.conftest import RecordingVenue as EngineRecordingVenue

PERP = Instrument(venue="fake", symbol="BTC-PERP", kind=InstrumentKind.PERPETUAL, base="BTC",
                  quote="USD", settle="USD", tick_size=0.5, lot_size=0.001, min_size=0.001,
                  underlying="BTC", taker_fee=0.0005)


class RecordingVenue(EngineRecordingVenue):
    """Records commands; tests publish the venue's answers themselves. Lists the SDK tests'
    perpetual unless told otherwise."""

    def __init__(self, venue: str = "fake", instruments: list[Instrument] | None = None) -> None:
        super().__init__(venue, instruments if instruments is not None else [PERP])


def make_kernel(limits: RiskLimits | None = None,
                venues: list[RecordingVenue] | None = None) -> tuple[Kernel, list[RecordingVenue]]:
    kernel = Kernel(VirtualClock(1_000_000_000), limits or RiskLimits())
    venues = venues or [RecordingVenue()]
    for v in venues:
        kernel.add_adapter(v)
        kernel.add_instruments(v.instruments())
    for v in venues:
        for inst in v.instruments():
            kernel.bus.publish(BookSnapshot(inst.id, ((59_990.0, 1.0), (59_980.0, 2.0)),
                                            ((60_010.0, 1.0), (60_020.0, 2.0)), 1, 0, 0))
    return kernel, venues


def add_strategy(kernel: Kernel, cls: type[Strategy[Any]], sid: str = "s1", venue: str = "fake",
                 config: Any = None) -> Any:
    strategy = cls(StrategyContext(kernel, sid, venue), config if config is not None else cls.Config())
    kernel.add_strategy(sid, strategy)
    return strategy


def register_module(name: str, **objects: Any) -> str:
    """Expose test classes under an importable module name (for configs naming them by path)."""
    module = types.ModuleType(name)
    for key, obj in objects.items():
        setattr(module, key, obj)
    sys.modules[name] = module
    return name


@pytest.fixture
def kv() -> tuple[Kernel, RecordingVenue]:
    kernel, venues = make_kernel()
    return kernel, venues[0]
