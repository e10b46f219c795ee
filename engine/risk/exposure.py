"""Greek exposure of working orders, per underlying, maintained incrementally.

Theory of operation: the gate checks an order against the portfolio as it would be after the
order fills, and counts working orders too (so ten orders each inside a limit cannot add up
past it). Positions' Greek totals live in ``engine.portfolio``; this module holds the
working orders' side. Each order, when it starts working, is priced once with the Greeks of
its instrument at that moment (per contract, signed by side); the bookkeeper tells us every
change of its working quantity, and we add ``change * vector`` to per-underlying sums kept
apart for positive and negative contributions of each Greek. The worst case of a Greek after
an order is then the candidate total plus the same-signed working sum, read in O(1).
Pricing an order once (not re-pricing at every chain refresh) is a deliberate trade: the
working sums can drift from fresh Greeks until the order ends, which is bounded by the
order's own size and keeps the gate's work per order constant.

The terms an order starts with depend only on its instrument, its side and the instrument's
Greeks per contract at that moment, so they are kept per instrument with the Greeks they
were worked out from and reused while the instrument's Greeks are the same (a requote's new
order on an unchanged instrument: one comparison, not the whole working-out); an order keeps
the terms it started with either way.
"""

from __future__ import annotations

from typing import Any

from engine.model import Side
from engine.orders import Order
from engine.portfolio import Portfolio

_ZEROS = (0.0,) * 6  # read-only default
_ZEROS2 = (0.0, 0.0)
_BUY = Side.BUY  # (a module global: ``Side.BUY`` is a class attribute lookup through the enum's metaclass)


class WorkingExposure:
    """Per underlying: [delta+, delta-, gamma+, gamma-, vega+, vega-] of working orders."""

    def __init__(self, portfolio: Portfolio) -> None:
        self.portfolio = portfolio
        # per working order, worked out when it starts working: the slots of the sums its
        # Greeks go to and the amounts per contract, [(list, index, amount), ...], so that
        # each later change is a few multiply-adds (no lookups, nothing built)
        self._terms: dict[str, list[tuple[list[float], int, float]]] = {}
        # per instrument: [the Greeks per contract the terms were worked out from, the terms
        # of a buy, of a sell (None: not worked out yet)]; valid while its Greeks compare equal
        self._latest: dict[str, list[Any]] = {}
        self.sums: dict[str, list[float]] = {}
        self.expiry: dict[tuple[str, int], list[float]] = {}

    def on_working_change(self, order: Order, change: float) -> None:
        """The bookkeeper's listener: ``order``'s working quantity changed by ``change``
        contracts (``order.counted`` is what is left)."""
        coid = order.client_order_id
        counted = order.counted
        # still working: its terms kept (made when it starts); no longer working: its terms
        # go with this last change
        terms = self._terms.get(coid) if counted else self._terms.pop(coid, None)
        if terms is None:  # it starts working now (``_start`` inline: the order path)
            iid = order.instrument_id
            g = self.portfolio.greeks_per_contract(iid)
            if g is None:
                terms = []  # no Greeks when it started working: it adds none (module docstring)
            else:
                side = 1 if order.side is _BUY else 2
                latest = self._latest.get(iid)
                if latest is None or latest[0] != g or latest[side] is None:
                    terms = self._start(iid, side, g, latest)
                else:
                    terms = latest[side]
            if counted:
                self._terms[coid] = terms
        for acc, i, amount in terms:
            acc[i] += amount * change

    def _start(self, iid: str, side: int, g: tuple[float, ...], latest: list[Any] | None
               ) -> list[tuple[list[float], int, float]]:
        """The terms of an order on ``iid`` (``side`` 1: buy, 2: sell) starting to work now
        with the Greeks per contract ``g``, when ``latest`` (the instrument's kept terms)
        has none for them (module docstring)."""
        if latest is None or latest[0] != g:
            latest = [g, None, None]
        terms = self._terms_of(iid, 1.0 if side == 1 else -1.0, g)
        if terms is None:
            return []  # (no underlying known yet: nothing kept, asked again next order)
        latest[side] = terms
        self._latest[iid] = latest
        return terms

    def _terms_of(self, iid: str, sign: float, g: tuple[float, ...]
                  ) -> list[tuple[list[float], int, float]] | None:
        pf = self.portfolio
        und = pf.underlying_of(iid)
        if und is None:
            return None
        s = self.sums.get(und)
        if s is None:
            s = self.sums[und] = [0.0] * 6
        terms = []
        for i in range(3):
            v = sign * g[i]
            if v > 0:
                terms.append((s, 2 * i, v))
            elif v < 0:
                terms.append((s, 2 * i + 1, v))
        inst = pf.instrument(iid)
        v = sign * g[2]
        if inst is not None and inst.expiry_ns > 0 and v != 0.0:
            e = self.expiry.setdefault((und, inst.expiry_ns), [0.0, 0.0])
            terms.append((e, 0 if v > 0 else 1, v))
        return terms

    def working(self, underlying: str) -> list[float] | tuple[float, ...]:
        return self.sums.get(underlying) or _ZEROS

    def working_expiry(self, underlying: str, expiry_ns: int) -> list[float] | tuple[float, float]:
        return self.expiry.get((underlying, expiry_ns)) or _ZEROS2
