"""What the gate knows about one instrument before any order arrives, worked out once.

Theory of operation: most of what the gate checks per order depends only on the instrument
and the configured limits: its lot and tick grids, its size caps, how its notional is
measured, its collar band, its venue's token bucket, the Greek limits of its underlying.
``InstrumentFacts`` resolves all of it once, so the check itself is arithmetic on local
values and a few O(1) lookups of live state (position, working quantity, book, totals). The
gate resolves them when instruments are registered (``RiskGate.prepare``), not on an
instrument's first order; drops them when the limits are replaced (an operator's act: each
is rebuilt as its instrument is next checked); patches
them in place when a venue rate or a Greek budget changes (``set_venue_rate``,
``set_budget``: a cluster budget renewed unchanged costs nothing); and rebuilds one when its
instrument object is replaced (a new definition from the venue), so facts are never staler
than the state they summarize. What a check reads is a flat attribute here (caps, the
collar's k and floor, the Greek bounds): in a live process the gate runs between other work,
with cold caches, and every object touched is a likely miss.

``Grid`` is the exact form of "a multiple of the tick/lot": the step's decimal (``repr``, as
the venue wrote it) is ``units * 10**-places``; a value is on the grid when ``value *
10**places`` is within a millionth of a step of an integer that ``units`` divides. That is
the tolerance the gate always had (it absorbs the float noise of computed prices, e.g.
``0.1 + 0.2``), while the divisibility is decided on integers: no float division by a step
that binary floating point cannot hold exactly (0.1, 0.0005).
"""

from __future__ import annotations

from typing import Any

from engine.model import Instrument, Side, canonical_asset, is_usd, step_fraction
from engine.risk.limits import Reason, RiskLimits, UnderlyingLimits
from engine.risk.throttle import TokenBucket

TOLERANCE = 1e-6
"""How far from a grid point a value may be, in steps (float noise, not a venue rule)."""

_INF = float("inf")
INVERSE, OPTION, LINEAR = 0, 1, 2
"""How an instrument's notional is measured (``InstrumentFacts.notional``)."""


class Grid:
    """Multiples of one step (a tick or a lot); see the module docstring."""

    __slots__ = ("step", "scale", "units", "tol")

    def __init__(self, step: float) -> None:
        self.step = step
        self.scale = 0.0  # 0: no integer form (no step, or an unusual one): see ``contains``
        self.units = 1
        self.tol = 0.0
        frac = step_fraction(step)  # (None: not a positive finite step)
        if frac is not None:
            units, places = frac
            if places <= 15 and units * TOLERANCE < 0.25:  # (else: float steps, below)
                self.scale = float(10 ** places)
                self.units = units
                self.tol = units * TOLERANCE

    def contains(self, value: float) -> bool:
        """True when ``value`` (finite) is a multiple of the step."""
        scale = self.scale
        if scale:
            x = value * scale
            k = round(x)
            return abs(x - k) < self.tol and k % self.units == 0
        step = self.step
        if step <= 0:
            return True  # no step: every value is on it
        q = value / step
        return abs(q - round(q)) < TOLERANCE


_GRIDS: dict[float, Grid] = {}
"""One ``Grid`` per step value (thousands of options share a handful of ticks and lots)."""


def grid(step: float) -> Grid:
    g = _GRIDS.get(step)
    if g is None:
        g = Grid(step)
        if len(_GRIDS) < 4096 and step == step:  # (NaN is never equal to itself: not kept)
            _GRIDS[step] = g
    return g


class InstrumentFacts:
    """One instrument as the gate checks it (module docstring)."""

    # (in the order an approval reads them: they fill three cache lines, not four; the rest,
    # read on refusals and by the tail checks, after them)
    __slots__ = ("inst", "lot_ok", "min_size", "tick", "buy_key", "sell_key", "max_qty",
                 "notional", "contract_size", "quote_key", "max_pos", "model_collar", "band",
                 "open_cap", "greek_checks", "fixed_greeks", "asset", "greek_bounds",
                 "vega_expiry_limit", "expiry_ns", "margin", "bucket", "is_option", "iid", "venue",
                 "lot", "collar_k", "min_collar", "vega_expiry_bound", "expiry_key")

    def __init__(self, inst: Instrument, limits: RiskLimits, greeks: UnderlyingLimits | None,
                 venue_bucket: TokenBucket | None) -> None:
        iid = inst.id
        self.inst = inst
        self.iid = iid
        self.venue = inst.venue
        self.asset = inst.asset
        self.is_option = inst.is_option
        self.lot = grid(inst.lot_size)
        # the last quantity found on the lot grid (a strategy sends the same size again and
        # again: ``contains`` is a pure function of the value, so an equal one needs no test)
        self.lot_ok = float("nan")
        self.tick = grid(inst.tick_size)
        self.min_size = inst.min_size
        per = limits.per_instrument.get(iid)
        self.max_qty = per.max_order_qty if per and per.max_order_qty is not None else limits.max_order_qty
        self.max_pos = (per.max_position_qty if per and per.max_position_qty is not None
                        else limits.max_position_qty)
        self.open_cap = (per.max_open_orders if per and per.max_open_orders is not None
                         else limits.max_open_orders_per_instrument)
        self.notional = OPTION if inst.is_option else INVERSE if inst.inverse else LINEAR
        self.contract_size = inst.contract_size
        # USD price of the quote currency: None for USD and stablecoins (1, at par)
        self.quote_key = None if is_usd(inst.quote) else canonical_asset(inst.quote)
        self.band = limits.option_price_band_pct if inst.is_option else limits.price_band_pct
        self.model_collar = inst.is_option and limits.option_collar_vega_k is not None
        # the model collar: k vol points of vega, never tighter than two ticks
        self.collar_k = limits.option_collar_vega_k or 0.0
        self.min_collar = 2.0 * inst.tick_size
        self.bucket = venue_bucket
        self.greek_checks: tuple[tuple[int, float, str, str], ...] | None = None
        self.greek_bounds: tuple[float, float, float] = (_INF, _INF, _INF)
        self.vega_expiry_limit: float | None = None
        self.vega_expiry_bound = _INF
        self.set_greek_limits(greeks)
        self.expiry_ns = inst.expiry_ns
        self.expiry_key = (self.asset, inst.expiry_ns)
        # Greeks per contract that never change (a linear future or perpetual: its delta is
        # its contract size; the gate sets it when the portfolio knows the instrument), else
        # None: read from the portfolio per order
        self.fixed_greeks: tuple[float, float, float, float] | None = None
        # the working-quantity index keys of each side, built once (no tuple per order)
        self.buy_key: tuple[str, Any] = (iid, Side.BUY)
        self.sell_key: tuple[str, Any] = (iid, Side.SELL)
        # the account book's handle of the instrument (``MarginCheck.rules``; the gate sets it
        # when an account book is attached): the margin check starts from it, no lookup
        self.margin: Any = None

    def set_greek_limits(self, greeks: UnderlyingLimits | None) -> None:
        """The Greek limits of the underlying (configured, or tightened by a budget)."""
        # (index in (delta, gamma, vega), limit, reason code, name) per configured Greek limit
        self.greek_checks = None
        self.vega_expiry_limit = None
        if greeks is not None:
            self.greek_checks = tuple(
                (i, lim, code, name) for i, lim, code, name in (
                    (0, greeks.max_delta, Reason.MAX_DELTA, "delta"),
                    (1, greeks.max_gamma, Reason.MAX_GAMMA, "gamma"),
                    (2, greeks.max_vega_usd, Reason.MAX_VEGA, "vega")) if lim is not None)
            self.vega_expiry_limit = greeks.max_vega_per_expiry_usd
        # the same limits for the gate's fast test (every Greek at once; inf: no limit)
        lims = dict.fromkeys(range(3), _INF)
        lims.update((i, lim) for i, lim, _, _ in self.greek_checks or ())
        self.greek_bounds = (lims[0], lims[1], lims[2])
        cap = self.vega_expiry_limit
        self.vega_expiry_bound = _INF if cap is None else cap
