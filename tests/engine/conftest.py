from __future__ import annotations

from typing import Any

import pytest

from engine.clock import VirtualClock
from engine.kernel import Kernel
from engine.model import (
    AmendOrder,
    BookSnapshot,
    CancelOrder,
    Instrument,
    InstrumentKind,
    OptionType,
    SubmitOrder,
)
from engine.risk import RiskLimits
from engine.venue import VenueAdapter

PERP = Instrument(venue="fake", symbol="BTC-PERP", kind=InstrumentKind.PERPETUAL, base="BTC",
                  quote="USD", settle="USD", tick_size=0.5, lot_size=0.001, min_size=0.001)
CALL = Instrument(venue="fake", symbol="BTC-1JAN27-60000-C", kind=InstrumentKind.OPTION, base="BTC",
                  quote="USD", settle="USDC", tick_size=1.0, lot_size=0.01, min_size=0.01,
                  underlying="BTC", strike=60000.0, option_type=OptionType.CALL, expiry_ns=1_900_000_000 * 10**9)


class RecordingVenue(VenueAdapter):
    """A venue that records what it is asked to do (``sent``, ``resyncs``); tests publish its
    answers. Named ``venue`` and listing ``instruments`` (the perpetual and the call here)."""

    def __init__(self, venue: str = "fake", instruments: list[Instrument] | None = None) -> None:
        self.venue = venue
        self._instruments = list(instruments) if instruments is not None else [PERP, CALL]
        self.sent: list[Any] = []
        self.resyncs: list[str] = []

    def instruments(self) -> list[Instrument]:
        return list(self._instruments)

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    def submit(self, cmd: SubmitOrder) -> None:
        self.sent.append(cmd)

    def cancel(self, cmd: CancelOrder) -> None:
        self.sent.append(cmd)

    def amend(self, cmd: AmendOrder) -> None:
        self.sent.append(cmd)

    def request_resync(self, instrument_id: str) -> None:
        self.resyncs.append(instrument_id)


def make_kernel(limits: RiskLimits | None = None) -> tuple[Kernel, RecordingVenue]:
    kernel = Kernel(VirtualClock(1_000_000_000), limits or RiskLimits())
    venue = RecordingVenue()
    kernel.add_adapter(venue)
    kernel.add_instruments(venue.instruments())
    kernel.bus.publish(BookSnapshot(PERP.id, ((59_990.0, 1.0), (59_980.0, 2.0)),
                                    ((60_010.0, 1.0), (60_020.0, 2.0)), 1, 0, 0))
    kernel.bus.publish(BookSnapshot(CALL.id, ((1_000.0, 5.0),), ((1_100.0, 5.0),), 1, 0, 0))
    return kernel, venue


@pytest.fixture
def kernel_and_venue() -> tuple[Kernel, RecordingVenue]:
    return make_kernel()
