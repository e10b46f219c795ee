"""The built-in simulated venue: a seeded synthetic BTC perp + option chain with local matching."""

from adapters.sim.adapter import SimVenue
from adapters.sim.params import SimVenueParams

__all__ = ["SimVenue", "SimVenueParams"]
