"""The simulated venue's instrument list and its volatility surface.

Theory of operation: the listing is fixed when the venue is bound to a clock: one linear perp and,
for every configured expiry (08:00 UTC, like Deribit), ``strikes_per_expiry`` strikes centred on the
start spot, calls and puts, USD premium, USDC settled. The chain is then kept as flat numpy arrays
(strike, expiry, call flag) so that every tick prices the whole chain in a handful of vector
operations instead of one Python call per option.

The smile is raw SVI written in standardized moneyness z = ln(K/F)/sqrt(T):

    iv(z, T)^2 = atm(T)^2 + b * (rho*(z - m) + sqrt((z - m)^2 + s^2) - sqrt(m^2 + s^2)),

which is the raw-SVI total variance w(k) = a + b'(rho(k-m') + sqrt((k-m')^2 + s'^2)) with
b' = b*sqrt(T), m' = m*sqrt(T), s' = s*sqrt(T) and ``a`` chosen so the ATM vol is ``atm(T)``: one
parameter set gives every expiry a sensible shape (short expiries steeper in strike). A
mean-reverting vol *level* multiplies the whole surface, so quotes drift a little over time.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
from numba import njit
from numpy.typing import NDArray

from adapters.sim.params import SimVenueParams
from engine.model import NS_PER_YEAR, Instrument, InstrumentKind, OptionType
from engine.pricing import black76_greeks_scalar
from engine.pricing.cache_guard import flush_if_pricing_changed

NS_PER_DAY = 86_400 * 1_000_000_000
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
PERP_SYMBOL = "BTC-PERP"


def expiry_times(start_ns: int, days: tuple[float, ...]) -> list[int]:
    """08:00 UTC on the day ``d`` days after ``start_ns`` (at least an hour ahead), deduplicated."""
    out: list[int] = []
    for d in days:
        target = start_ns + int(d * NS_PER_DAY)
        day0 = target - target % NS_PER_DAY
        exp = day0 + 8 * 3600 * 1_000_000_000
        while exp < start_ns + 3600 * 1_000_000_000:
            exp += NS_PER_DAY
        if exp not in out:
            out.append(exp)
    return sorted(out)


def nice_step(raw: float) -> float:
    """Smallest of 1, 2, 2.5, 5 x 10^n that is >= ``raw`` (strike grids use round numbers)."""
    if raw <= 0:
        return 1.0
    mag = 10.0 ** math.floor(math.log10(raw))
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        if m * mag >= raw - 1e-9:
            return m * mag
    return 10.0 * mag


def option_symbol(expiry_ns: int, strike: float, is_call: bool) -> str:
    """Deribit-style symbol, e.g. ``BTC-29NOV26-60000-C``."""
    d = dt.datetime.fromtimestamp(expiry_ns / 1e9, tz=dt.timezone.utc)
    k = str(int(strike)) if float(strike).is_integer() else f"{strike:g}"
    return f"BTC-{d.day}{_MONTHS[d.month - 1]}{d.year % 100:02d}-{k}-{'C' if is_call else 'P'}"


def build_instruments(p: SimVenueParams, start_ns: int) -> list[Instrument]:
    """The perp first, then options grouped by expiry, strike, call before put."""
    perp = Instrument(
        venue=p.venue, symbol=PERP_SYMBOL, kind=InstrumentKind.PERPETUAL, base="BTC", quote="USD",
        settle="USD", contract_size=1.0, tick_size=p.perp_tick, lot_size=p.perp_lot,
        min_size=p.perp_min_size, underlying="BTC", maker_fee=p.perp_maker_fee,
        taker_fee=p.perp_taker_fee,
    )
    out = [perp]
    n = p.strikes_per_expiry
    for exp in expiry_times(start_ns, p.expiries_days):
        t = (exp - start_ns) / NS_PER_YEAR
        step = p.strike_step or nice_step(p.spot * p.annual_vol * math.sqrt(t) * 0.4)
        centre = round(p.spot / step) * step
        for j in range(n):
            k = centre + (j - n // 2) * step
            if k <= 0:
                continue
            for is_call in (True, False):
                out.append(Instrument(
                    venue=p.venue, symbol=option_symbol(exp, k, is_call), kind=InstrumentKind.OPTION,
                    base="BTC", quote="USD", settle="USDC", contract_size=1.0,
                    tick_size=p.option_tick, lot_size=p.option_lot, min_size=p.option_min_size,
                    underlying="BTC", expiry_ns=exp, strike=float(k),
                    option_type=OptionType.CALL if is_call else OptionType.PUT,
                    maker_fee=p.option_maker_fee, taker_fee=p.option_taker_fee,
                ))
    return out


class VolSurface:
    """The SVI smile family above; ``level`` is the mean-reverting multiplier (1 = neutral)."""

    __slots__ = ("atm", "term_premium", "term_decay", "b", "rho", "m", "s", "_c0", "level")

    def __init__(self, p: SimVenueParams) -> None:
        self.atm = p.annual_vol
        self.term_premium = p.term_premium
        self.term_decay = max(p.term_decay_years, 1e-9)
        self.b, self.rho, self.m, self.s = p.svi_b, p.svi_rho, p.svi_m, p.svi_sigma
        # Subtracting the smile's value at z=0 pins the ATM vol to atm(T) exactly.
        self._c0 = self.rho * (-self.m) + math.sqrt(self.m * self.m + self.s * self.s)
        self.level = 1.0

    def atm_vol(self, t: NDArray[np.float64] | float) -> NDArray[np.float64] | float:
        """ATM vol before the level multiplier: a small premium on short expiries."""
        return self.atm * (1.0 + self.term_premium * np.exp(-np.asarray(t) / self.term_decay))

    def vol(self, k: NDArray[np.float64] | float, f: float, t: NDArray[np.float64] | float,
            ) -> NDArray[np.float64]:
        """Implied vol for strikes ``k``, forward ``f`` and year fractions ``t`` (broadcast)."""
        t = np.maximum(np.asarray(t, dtype=np.float64), 1e-9)
        z = np.log(np.asarray(k, dtype=np.float64) / f) / np.sqrt(t) - self.m
        smile = self.b * (self.rho * z + np.sqrt(z * z + self.s * self.s) - self._c0)
        atm = self.atm_vol(t)
        # Guard against a user SVI that dips below zero variance far in a wing.
        return self.level * np.sqrt(np.maximum(atm * atm + smile, 1e-4))


@njit(cache=True)
def chain_greeks(is_call: NDArray[np.bool_], f: NDArray[np.float64], k: NDArray[np.float64],
                 t: NDArray[np.float64], sigma: NDArray[np.float64], r: float,
                 out: NDArray[np.float64]) -> None:
    """Serial Black-76 over the chain into ``out`` rows (price, delta, gamma, vega, theta).

    ``engine.pricing``'s vectorised wrappers use a parallel kernel whose thread start-up costs
    hundreds of microseconds; ~70 options per tick are cheaper priced in one serial loop over
    the same scalar kernel.
    """
    for i in range(out.shape[1]):
        g = black76_greeks_scalar(is_call[i], f[i], k[i], t[i], sigma[i], r)
        out[0, i] = g[0]
        out[1, i] = g[1]
        out[2, i] = g[2]
        out[3, i] = g[3]
        out[4, i] = g[4]


# After the kernel is defined: its cache inlines engine.pricing's code, which Numba does not
# track; a cache written against other pricing sources is dropped (see the guard).
flush_if_pricing_changed(__name__)
