"""Build the Numba cache of the simulated venue's own kernel (its chain Greeks), at install time.

``make`` runs ``python -m engine.pricing.warm`` and then this after pip install, so that the
first ``volta run`` of a paper deployment or the first synthetic backtest compiles nothing:
a simulated venue is started on a virtual clock and ticks its market for one simulated second
(the same code path a run takes), and is stopped again. Run: ``python -m adapters.sim.warm``.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from adapters.sim.adapter import SimVenue
from adapters.sim.params import SimVenueParams
from engine.clock import NS_PER_S, VirtualClock


def warm() -> int:
    """Tick a simulated venue for a simulated second; returns the events it published."""
    clock = VirtualClock(1_767_225_600 * NS_PER_S)
    events: list[Any] = []
    venue = SimVenue(SimVenueParams(state_path=""))
    venue.bind(events.append, clock)
    asyncio.run(venue.start())
    clock.advance_to(clock.now_ns() + NS_PER_S)
    asyncio.run(venue.stop())
    return len(events)


def main() -> int:
    t = time.perf_counter()
    n = warm()
    print(f"simulated venue kernels ready ({n} events) in {time.perf_counter() - t:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
