"""Greek totals that say what they leave out: the strategy API's ``Greeks`` and the
portfolio's record of the open positions whose Greek is not known (``GreekGaps``).

A Greek the portfolio cannot count (an option with no delta yet: no chain fit, no venue
Greeks; an inverse future or perpetual with no price at all; an option whose venue gave no
gamma, vega or theta) is never a silent 0 in a total that looks complete: the position is left
out of that total and named here, as an amount with no USD price is *unpriced*.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple

GREEKS = ("delta", "gamma", "vega", "theta")
ALL_UNKNOWN = 0b1111  # bit i set: GREEKS[i] is not known (an option without a delta: all four)


class _GreekTotals(NamedTuple):
    delta: float
    gamma: float
    vega: float
    theta: float


class Greeks(_GreekTotals):
    """Portfolio Greeks of one underlying in desk units (still a 4-tuple: ``d, g, v, t = ...``).

    ``delta`` in underlying units (BTC), ``gamma`` in underlying units per 1 USD move,
    ``vega`` in USD per vol point, ``theta`` in USD per calendar day. ``uncounted``: per Greek
    name, the open positions (instrument ids) that total leaves out because their Greek is not
    known (an option before any chain fit or venue Greeks, an inverse perpetual with no price);
    empty when every total is complete (``complete``). Never act on an incomplete total.
    """

    uncounted: Mapping[str, tuple[str, ...]] = MappingProxyType({})  # the complete case

    def __new__(cls, delta: float, gamma: float, vega: float, theta: float,
                uncounted: Mapping[str, tuple[str, ...]] | None = None) -> Greeks:
        self = super().__new__(cls, delta, gamma, vega, theta)
        if uncounted:
            self.uncounted = uncounted
        return self

    @property
    def complete(self) -> bool:
        """True when no position is left out of any of the four totals."""
        return not self.uncounted


class GreekGaps:
    """Per underlying, the open positions whose Greeks the totals leave out (a bit mask of
    ``GREEKS`` each). The portfolio updates it where it updates the totals: O(1) a change."""

    __slots__ = ("_by_und", "_counts", "counts")

    def __init__(self) -> None:
        self._by_und: dict[str, dict[str, int]] = {}
        self._counts: dict[str, int] = {}
        self.counts: Mapping[str, int] = MappingProxyType(self._counts)
        """How many positions each underlying's totals leave out (absent: none), read-only."""

    def set(self, underlying: str, instrument_id: str, unknown: int) -> None:
        """The Greeks of ``instrument_id`` not known now (0: every one counted)."""
        left_out = self._by_und.get(underlying)
        if unknown:
            if left_out is None:
                left_out = self._by_und[underlying] = {}
            left_out[instrument_id] = unknown
            self._counts[underlying] = len(left_out)
        elif left_out is not None and left_out.pop(instrument_id, None) is not None:
            if left_out:
                self._counts[underlying] = len(left_out)
            else:
                del self._by_und[underlying], self._counts[underlying]

    def instruments(self, underlying: str, greek: str | None = None) -> list[str]:
        """Sorted ids of the positions left out of ``greek``'s total (None: of any)."""
        left_out = self._by_und.get(underlying)
        if not left_out:
            return []
        bit = ALL_UNKNOWN if greek is None else 1 << GREEKS.index(greek)
        return sorted(iid for iid, m in left_out.items() if m & bit)

    def clear(self) -> None:
        self._by_und.clear()
        self._counts.clear()
