"""Running Greek totals per underlying, and the positions they leave out.

Greeks per underlying (delta in underlying units, gamma, vega, theta) are kept as running
totals: every position caches its own contribution (``Position.contrib``) and a change (a
fill, a new Greek from the chain, a new mark of an inverse contract) replaces only that
contribution, so reading a total is O(1) however many positions there are. That is what lets
the risk gate check portfolio Greeks on every order. ``clear`` and re-putting every position
(``Portfolio.resum``, after each chain refresh) rebuilds them so float error cannot accumulate.

A Greek not known (an option with no delta yet, an inverse contract with no price) is not a
0: the totals leave the position out and name it (``GreekGaps``; ``Position.uncounted``), kept
in step with the totals. Units, per contract and in totals: delta in underlying units; gamma in
underlying units per 1 USD move of the underlying; vega in USD per 1 vol point (0.01); theta in
USD per calendar day. The portfolio decides what a position contributes; this module only sums.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from engine.greeks import GREEKS, GreekGaps
from engine.model import InstrumentKind

if TYPE_CHECKING:
    from engine.portfolio import Position

ZERO = (0.0, 0.0, 0.0, 0.0)


class GreekTotals:
    """The portfolio's per-underlying (delta, gamma, vega, theta) sums, vega per expiry, and
    the open positions each sum leaves out. One owner: the ``Portfolio`` that puts into it."""

    __slots__ = ("_totals", "_vega_expiry", "_gaps", "totals", "expiry_vegas", "uncounted_counts")

    def __init__(self) -> None:
        self._totals: dict[str, list[float]] = {}  # underlying -> [delta, gamma, vega, theta]
        self._vega_expiry: dict[tuple[str, int], float] = {}
        self._gaps = GreekGaps()  # the open positions the totals leave out, kept with them
        # read-only live views for the risk gate (no copy per order)
        self.totals: Mapping[str, list[float]] = MappingProxyType(self._totals)
        self.expiry_vegas: Mapping[tuple[str, int], float] = MappingProxyType(self._vega_expiry)
        self.uncounted_counts: Mapping[str, int] = self._gaps.counts

    def put(self, und: str, pos: Position, new: tuple[float, float, float, float],
            unknown: int) -> None:
        """``pos`` (on canonical underlying ``und``) now contributes ``new`` and its Greeks
        with bits ``unknown`` (of ``GREEKS``) are left out: replaces what it put before."""
        if unknown != pos.uncounted:
            self._gaps.set(und, pos.instrument.id, unknown)
            pos.uncounted = unknown
        old = pos.contrib
        if new == old:
            return
        tot = self._totals.get(und)
        if tot is None:
            tot = self._totals[und] = [0.0, 0.0, 0.0, 0.0]
        tot[0] += new[0] - old[0]
        tot[1] += new[1] - old[1]
        tot[2] += new[2] - old[2]
        tot[3] += new[3] - old[3]
        inst = pos.instrument
        if inst.kind is InstrumentKind.OPTION:
            key = (und, inst.expiry_ns)
            self._vega_expiry[key] = self._vega_expiry.get(key, 0.0) + new[2] - old[2]
        pos.contrib = new

    def clear(self, positions: Mapping[str, Position]) -> None:
        """Forget every sum and gap (and the positions' record of what they put in)."""
        self._totals.clear()
        self._vega_expiry.clear()
        self._gaps.clear()
        for pos in positions.values():
            pos.contrib = ZERO
            pos.uncounted = 0

    def uncounted(self, und: str, greek: str | None = "delta") -> list[str]:
        """Sorted ids of the open positions on canonical ``und`` left out of ``greek``'s
        total (None: of any)."""
        return self._gaps.instruments(und, greek)

    def get(self, und: str) -> tuple[float, float, float, float] | None:
        t = self._totals.get(und)
        return None if t is None else (t[0], t[1], t[2], t[3])

    def summary(self, und: str, t: tuple[float, float, float, float], px: float) -> dict[str, Any]:
        """The totals ``t`` of ``und`` for the status line, delta also in USD at ``px`` (NaN:
        unknown), with ``<greek>_incomplete`` (the ids left out) for each incomplete total."""
        d, g, v, th = t
        out: dict[str, Any] = {"delta": d, "delta_usd": d * px if px == px else math.nan,
                               "gamma": g, "vega_usd": v, "theta_usd_day": th}
        if self._gaps.counts.get(und):
            for greek in GREEKS:
                left_out = self._gaps.instruments(und, greek)
                if left_out:
                    out[f"{greek}_incomplete"] = left_out
        return out

    def vega_by_expiry(self, und: str) -> dict[int, float]:
        return {e: v for (u, e), v in self._vega_expiry.items() if u == und}

    def expiry_vega(self, und: str, expiry_ns: int) -> float:
        return self._vega_expiry.get((und, expiry_ns), 0.0)
