"""Instrument definitions: what can be traded, where, and in which units."""

from __future__ import annotations

import decimal
import functools
import math

import msgspec

from engine.model.assets import MarginType, canonical_asset
from engine.model.enums import InstrumentKind, OptionType
from engine.model.identifiers import InstrumentId, instrument_id

NS_PER_YEAR = 365 * 24 * 3600 * 1_000_000_000


class Instrument(msgspec.Struct, frozen=True, kw_only=True):
    """A tradable instrument on one venue.

    Quantities are in contracts (``contract_size`` units of ``base`` each for linear
    products, ``contract_size`` units of ``quote`` each for inverse ones). Prices are in
    ``quote`` per unit of ``base`` for linear products; for inverse *options* (Deribit,
    OKX) the premium is quoted in the settlement coin, see ``premium_in_coin``.

    ``underlying`` is the canonical asset (``BTC``, see ``engine.model.assets``) the venue
    parsers map their own naming to; ``venue_underlying`` keeps the venue's spelling
    (``btc_usd``, ``BTC-USD``, ``BTCUSDT``). Read ``asset`` rather than ``underlying``: it is
    canonical even for an instrument built by hand with a venue name or none.
    """

    venue: str
    symbol: str
    kind: InstrumentKind
    base: str
    quote: str
    settle: str
    inverse: bool = False
    contract_size: float = 1.0
    tick_size: float
    lot_size: float
    min_size: float = 0.0
    # options (and futures: expiry only)
    underlying: str = ""
    venue_underlying: str = ""
    expiry_ns: int = 0
    strike: float = 0.0
    option_type: OptionType | None = None
    premium_in_coin: bool = False
    maker_fee: float = 0.0
    taker_fee: float = 0.0
    active: bool = True

    @property
    def id(self) -> InstrumentId:
        return instrument_id(self.venue, self.symbol)

    @property
    def asset(self) -> str:
        """Canonical underlying (``BTC``): the key of risk limits, Greeks and reports."""
        return canonical_asset(self.underlying or self.base)

    @property
    def margin_type(self) -> MarginType:
        if self.kind is InstrumentKind.SPOT:
            return MarginType.SPOT
        return MarginType.INVERSE if self.inverse else MarginType.LINEAR

    @property
    def contract_unit(self) -> str:
        """Currency one contract is sized in: the USD face (``quote``) of inverse futures and
        perpetuals, else the coin (``base``) it delivers."""
        return self.quote if self.inverse and self.kind is not InstrumentKind.OPTION else self.base

    @property
    def is_option(self) -> bool:
        return self.kind is InstrumentKind.OPTION

    @property
    def is_call(self) -> bool:
        return self.option_type is OptionType.CALL

    def years_to_expiry(self, now_ns: int) -> float:
        """Year fraction (ACT/365, calendar time) from ``now_ns`` to expiry; 0 if expired."""
        if self.expiry_ns <= 0:
            return math.inf
        return max(self.expiry_ns - now_ns, 0) / NS_PER_YEAR

    def round_price(self, price: float) -> float:
        """Round to the nearest valid tick (a tie to the even tick count): the float nearest
        to that tick's exact decimal value (``0.3``, not ``3 * 0.1``), at any magnitude."""
        tick = self.tick_size
        ticks = round(price / tick)
        units, scale = _GRID.get(tick) or _grid(tick)
        if scale:
            # int / int is correctly rounded: the float nearest the exact decimal ticks x tick
            # (and no dtoa round trip of round(x, n): about 1 us, twice per requote)
            return units * ticks / scale
        return _clean(ticks * tick, tick)  # not a positive finite tick: no decimal grid

    def round_size(self, size: float) -> float:
        """Round down to a whole number of lots."""
        lots = math.floor(size / self.lot_size + 1e-9)
        return _clean(lots * self.lot_size, self.lot_size)

    def is_on_tick(self, price: float) -> bool:
        return _is_multiple(price, self.tick_size)

    def is_on_lot(self, size: float) -> bool:
        return _is_multiple(size, self.lot_size)

    def notional_usd(self, size: float, price: float, underlying_price: float) -> float:
        """USD notional of ``size`` contracts at ``price``.

        Inverse futures and perpetuals: contracts x face value (USD), whatever the price.
        Options are measured on the underlying they deliver (the regulatory convention for
        notional caps, ``underlying_price`` in USD), everything else on the traded price.
        """
        if self.inverse and not self.is_option:
            return abs(size) * self.contract_size
        ref = underlying_price if self.is_option else price
        return abs(size) * self.contract_size * ref


@functools.cache  # (a handful of tick and lot sizes: the decimal work is done once each)
def step_fraction(step: float) -> tuple[int, int] | None:
    """A tick or lot size as the exact decimal the venue wrote: ``(units, places)`` with
    ``step``'s shortest ``repr`` equal to ``units * 10**-places``, ``places`` as small as it
    can be (0.25 -> (25, 2), 1e-08 -> (1, 8), 10.0 -> (10, 0), 2e+16 -> (2 * 10**16, 0)); None
    for a step that is not a positive finite number (it has no decimal grid).

    The one derivation of a step's decimal grid: ``Instrument.round_price`` rounds on it, the
    risk gate's grid checks test divisibility by ``units`` at scale ``10**places``.
    """
    if not (step > 0 and math.isfinite(step)):
        return None
    d = decimal.Decimal(repr(step)).normalize()
    places = max(0, -int(d.as_tuple().exponent))
    return int(d.scaleb(places)), places


_GRID: dict[float, tuple[int, int]] = {}
"""tick size -> the tick as an exact decimal fraction ``units / scale``: ``_grid``."""


def _grid(tick: float) -> tuple[int, int]:
    """``step_fraction`` of the tick as ``units / scale`` (0.25 -> 25 / 100), learnt once per
    tick size; a scale of 0 for a tick that is not a positive finite number."""
    frac = step_fraction(tick)
    entry = (0, 0) if frac is None else (frac[0], 10 ** frac[1])
    _GRID[tick] = entry
    return entry


def _clean(value: float, step: float) -> float:
    """``value`` rounded one decimal past the step's (the float noise of a product of steps)."""
    frac = step_fraction(step)
    return value if frac is None else round(value, frac[1] + 1)


def _is_multiple(value: float, step: float) -> bool:
    if step <= 0:
        return True
    q = value / step
    return abs(q - round(q)) < 1e-6
