"""Risk limits and denial reason codes: the numbers the gate enforces and the words it uses.

Limits are plain frozen dataclasses built once from the deployment config
(``engine.runtime.risk_limits``); the gate reads them on every order, so they hold only
already-resolved numbers (no lookups through config objects in the hot path).
"""

from __future__ import annotations

from dataclasses import dataclass, field


class Reason:
    """Stable denial reason codes (documented in docs/risk.md)."""

    TRADING_HALTED = "TRADING_HALTED"
    REDUCE_ONLY = "REDUCE_ONLY"
    STRATEGY_DISABLED = "STRATEGY_DISABLED"
    UNKNOWN_INSTRUMENT = "UNKNOWN_INSTRUMENT"
    INSTRUMENT_INACTIVE = "INSTRUMENT_INACTIVE"
    BOOK_NOT_LIVE = "BOOK_NOT_LIVE"
    INVALID_QUANTITY = "INVALID_QUANTITY"
    INVALID_PRICE = "INVALID_PRICE"
    OFF_TICK = "OFF_TICK"
    OFF_LOT = "OFF_LOT"
    BELOW_MIN_SIZE = "BELOW_MIN_SIZE"
    MAX_ORDER_QTY = "MAX_ORDER_QTY"
    MAX_ORDER_NOTIONAL = "MAX_ORDER_NOTIONAL"
    MAX_POSITION = "MAX_POSITION"
    PRICE_BAND = "PRICE_BAND"
    NO_REFERENCE_PRICE = "NO_REFERENCE_PRICE"
    UNPRICED = "UNPRICED"
    INSUFFICIENT_MARGIN = "INSUFFICIENT_MARGIN"
    NEAR_MAINTENANCE = "NEAR_MAINTENANCE"
    MAX_OPEN_ORDERS = "MAX_OPEN_ORDERS"
    DUPLICATE_ORDER_ID = "DUPLICATE_ORDER_ID"
    DUPLICATE_ORDER = "DUPLICATE_ORDER"
    MAX_DELTA = "MAX_DELTA"
    MAX_GAMMA = "MAX_GAMMA"
    MAX_VEGA = "MAX_VEGA"
    MAX_VEGA_EXPIRY = "MAX_VEGA_EXPIRY"
    NO_GREEKS = "NO_GREEKS"
    RATE_LIMIT_VENUE = "RATE_LIMIT_VENUE"
    RATE_LIMIT_GLOBAL = "RATE_LIMIT_GLOBAL"
    ORDER_NOT_OPEN = "ORDER_NOT_OPEN"
    NO_VENUE = "NO_VENUE"


@dataclass(frozen=True, slots=True)
class Denial:
    """Why an order was refused: a stable ``reason`` code, a readable ``detail`` and the
    numbers behind it (``value`` against ``limit``; NaN where a check has no number)."""

    reason: str
    detail: str
    value: float = float("nan")
    limit: float = float("nan")


@dataclass(frozen=True, slots=True)
class InstrumentLimits:
    max_order_qty: float | None = None
    max_position_qty: float | None = None
    max_open_orders: int | None = None


@dataclass(frozen=True, slots=True)
class UnderlyingLimits:
    """Portfolio Greek limits of one underlying, on the portfolio after the order fills
    (absolute values; None = no limit). Units as in ``engine.portfolio``."""

    max_delta: float | None = None
    max_gamma: float | None = None
    max_vega_usd: float | None = None
    max_vega_per_expiry_usd: float | None = None

    @property
    def any(self) -> bool:
        return any(x is not None for x in (self.max_delta, self.max_gamma, self.max_vega_usd,
                                           self.max_vega_per_expiry_usd))


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A token bucket: ``rate`` orders per second sustained, ``burst`` at once."""

    rate: float
    burst: float


@dataclass(frozen=True, slots=True)
class RiskLimits:
    max_order_qty: float = 10.0
    max_order_notional_usd: float = 250_000.0
    max_position_qty: float = 50.0
    price_band_pct: float = 5.0
    option_price_band_pct: float = 50.0
    collar_reference: str = "mid"
    """``mid``, ``mark`` or ``last``: the reference of the price collar (falls back to mid)."""
    option_collar_vega_k: float | None = None
    """Options: allowed distance from the model price in vol points (k in model ± k·vega);
    None uses ``option_price_band_pct`` around the reference instead."""
    max_open_orders: int = 200
    max_open_orders_per_instrument: int | None = None
    max_open_orders_per_strategy: int | None = None
    duplicate_window_ms: float = 0.0
    """Same strategy, instrument, side, price and size within this window is a duplicate (0: off)."""
    per_instrument: dict[str, InstrumentLimits] = field(default_factory=dict)
    underlyings: dict[str, UnderlyingLimits] = field(default_factory=dict)
    global_rate: RateLimit | None = None
    venue_rates: dict[str, RateLimit] = field(default_factory=dict)
    max_fills: int | None = None
    """Repeated-execution throttle: more than ``max_fills`` fills of one strategy within
    ``fills_window_s`` disables it until an operator clears it."""
    fills_window_s: float = 60.0
    max_daily_loss_usd: float | None = None
    max_drawdown_usd: float | None = None
    loss_kill_level: int = 0
    """Kill-switch level tripped by a loss limit on top of REDUCING (0: REDUCING only)."""
    halt_on_disconnect: bool = True
    ack_timeout_s: float = 5.0
    max_status_queries: int = 3
