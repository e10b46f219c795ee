"""Configuration of the simulated venue.

One typed, frozen struct so a config file with a misspelled key fails loudly at load time
(``forbid_unknown_fields``) instead of silently running a different market. Every knob that
changes the generated stream lives here, so (params, seed, clock start, command sequence)
fully determines a run.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from adapters.sim.latency import LatencyModel
from adapters.sim.queue_model import QueueModel

# The ranges the model needs (docs/sim-venue.md): checked when the config is loaded, so
# ``volta check-config`` names the key instead of ``volta run`` halting the venue at start
# (``tick_ms = 0`` was "timer interval must be positive", retried for ever).
Positive = Annotated[float, msgspec.Meta(gt=0)]
NonNegative = Annotated[float, msgspec.Meta(ge=0)]
PositiveInt = Annotated[int, msgspec.Meta(ge=1)]


class SimVenueParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Parameters of :class:`adapters.sim.SimVenue` (all times in clock time)."""

    venue: str = "sim"
    seed: Annotated[int, msgspec.Meta(ge=0)] = 7
    """Seed of every random stream (numpy's generators take no negative seed)."""
    tick_ms: PositiveInt = 100
    """Market step: the underlying moves and books re-quote every ``tick_ms``."""
    summary_ms: PositiveInt = 1000
    """Cadence of ``MarkPrice`` (perp) and ``OptionSummary`` (every live option)."""

    # -- underlying -----------------------------------------------------------------------
    spot: Positive = 60_000.0
    annual_vol: Positive = 0.55
    jump_intensity_per_day: NonNegative = 2.0
    jump_size: NonNegative = 0.01
    """Standard deviation of the log jump size."""
    rate: float = 0.0
    """Continuously compounded rate: option forward F = S*exp(rate*T), premium discounted."""
    perp_premium_sd: NonNegative = 0.0002
    """Stationary std of the perp's (mean-reverting) premium over the index."""
    funding_interval_h: NonNegative = 8.0
    """Perp funding every this many hours, at UTC multiples (00:00, 08:00, 16:00 for 8); 0: off.
    The rate is Binance-style: premium + clamp(interest - premium, +-0.05 %), capped at
    ``funding_cap``, published with the perp's ``MarkPrice``."""
    funding_interest: float = 0.0001
    funding_cap: NonNegative = 0.0075

    # -- volatility surface (raw SVI in standardized moneyness z = ln(K/F)/sqrt(T)) --------
    vol_of_vol_sd: NonNegative = 0.05
    """Stationary std of the log vol level (mean-reverting around 1)."""
    vol_reversion_hours: Positive = 6.0
    term_premium: NonNegative = 0.05
    """Short expiries trade at ATM vol * (1 + term_premium * exp(-T/term_decay_years))."""
    term_decay_years: Positive = 0.05
    svi_b: NonNegative = 0.06
    svi_rho: Annotated[float, msgspec.Meta(gt=-1, lt=1)] = -0.25
    svi_m: float = 0.0
    svi_sigma: Positive = 0.25

    # -- instruments ----------------------------------------------------------------------
    expiries_days: tuple[Positive, ...] = (1.0, 7.0, 30.0)
    strikes_per_expiry: Annotated[int, msgspec.Meta(ge=0)] = 11
    strike_step: NonNegative = 0.0
    """Strike spacing in USD; 0 picks a round step per expiry from the expected move."""
    perp_tick: Positive = 0.5
    perp_lot: Positive = 0.001
    perp_min_size: Positive = 0.001
    option_tick: Positive = 1.0
    option_lot: Positive = 0.01
    option_min_size: Positive = 0.01
    perp_maker_fee: float = 0.0002
    perp_taker_fee: float = 0.0005
    option_maker_fee: float = 0.0003
    option_taker_fee: float = 0.0003
    """Option fees are a fraction of the underlying notional, capped by ``option_fee_cap``."""
    option_fee_cap: NonNegative = 0.125
    """Cap on an option fee as a fraction of the premium (Deribit/Bybit convention)."""

    # -- synthetic books and flow -----------------------------------------------------------
    perp_levels: PositiveInt = 10
    option_levels: PositiveInt = 5
    perp_half_spread_ticks: NonNegative = 0.25
    option_spread_vol: NonNegative = 0.02
    """Option quoted width in vol (0.02 = 2 vol points), converted to price with vega."""
    requote_fraction: NonNegative = 0.1
    """A book re-quotes when its fair moves max(1 tick, this * half spread) since its last quote."""
    perp_level_size: Positive = 2.0
    option_level_size: Positive = 10.0
    perp_trade_rate: NonNegative = 8.0
    """Synthetic market orders per second on the perp."""
    option_trade_rate: NonNegative = 3.0
    """Synthetic market orders per second across the whole chain (weighted to the money)."""
    perp_trade_size: Positive = 0.25
    option_trade_size: Positive = 2.0
    churn_rate: NonNegative = 20.0
    """Random resizes of displayed levels per second across all books."""

    # -- order handling ---------------------------------------------------------------------
    latency_ms: NonNegative = 0.0
    """Delay between a command and the venue processing it (0: synchronous); shorthand for a
    constant ``order_latency``."""
    order_latency: LatencyModel | None = None
    """Order-entry latency model (as the replay exchange's), seeded from ``seed``; overrides
    ``latency_ms``. Commands stay in order (FIFO)."""
    queue: QueueModel = QueueModel(model="worst")
    """Queue model of client orders resting in the synthetic books (as the replay exchange's):
    how much of a synthetic cancel was ahead of them. ``worst``: none."""

    # -- account persistence (risk/recovery) -------------------------------------------------
    state_path: str = ""
    """File where the venue keeps the account (orders, fills, positions, id counters) so it
    survives the engine process dying, like a real venue; empty: in memory only."""
    cancel_on_disconnect: bool = True
    """Honour ``enable_cancel_on_disconnect``: orders restored after the engine died are
    cancelled when it was armed (as Deribit does when the connection drops)."""
