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
"""

from __future__ import annotations

from engine.orders import Order
from engine.portfolio import Portfolio

_NONE = (0.0, 0.0, 0.0)
_ZEROS = [0.0] * 6  # read-only default


class WorkingExposure:
    """Per underlying: [delta+, delta-, gamma+, gamma-, vega+, vega-] of working orders."""

    def __init__(self, portfolio: Portfolio) -> None:
        self.portfolio = portfolio
        self._vec: dict[str, tuple[float, float, float]] = {}
        self.sums: dict[str, list[float]] = {}
        self.expiry: dict[tuple[str, int], list[float]] = {}

    def on_working_change(self, order: Order, change: float) -> None:
        coid = order.client_order_id
        vec = self._vec.get(coid)
        if vec is None:
            g = self.portfolio.greeks_per_contract(order.instrument_id)
            sign = order.side.sign
            vec = _NONE if g is None else (sign * g[0], sign * g[1], sign * g[2])
            self._vec[coid] = vec
        und = self.portfolio.underlying_of(order.instrument_id)
        if und is None:
            return
        s = self.sums.get(und)
        if s is None:
            s = self.sums[und] = [0.0] * 6
        for i in range(3):
            v = vec[i] * change
            if vec[i] > 0:
                s[2 * i] += v
            elif vec[i] < 0:
                s[2 * i + 1] += v
        inst = self.portfolio.instrument(order.instrument_id)
        if inst is not None and inst.expiry_ns > 0 and vec[2] != 0.0:
            e = self.expiry.setdefault((und, inst.expiry_ns), [0.0, 0.0])
            e[0 if vec[2] > 0 else 1] += vec[2] * change
        if order._counted <= 0.0:
            self._vec.pop(coid, None)

    def working(self, underlying: str) -> list[float]:
        return self.sums.get(underlying) or _ZEROS

    def working_expiry(self, underlying: str, expiry_ns: int) -> list[float]:
        return self.expiry.get((underlying, expiry_ns)) or [0.0, 0.0]
