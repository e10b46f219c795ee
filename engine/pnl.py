"""PnL of a set of positions, per currency and in USD, saying what it does not know.

Each position's realized PnL, unrealized PnL (at its mark), fees and funding are summed per
currency (``pnl_parts``; coin for inverse products and coin-premium options) and converted at
the currency's USD price (``pnl_usd``). An amount that cannot be converted is never taken as 0:

* a currency with no USD price yet: its amounts stay out of the USD figures and are listed
  under ``unpriced`` (net, in that currency);
* a position with no mark: its unrealized PnL is not known in any currency; it is named under
  ``unmarked`` (instrument ids).

A USD figure none of whose amounts could be converted is NaN (unknown: "unpriced", ``null`` in
JSON), never 0.00; a figure (``total``) that has a converted part but leaves something out is
marked ``partial``. ``priced_total`` is the converted part alone, a number in every case (0
when nothing is converted): what the loss limits and the firm view sum, with ``unpriced``
beside them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.portfolio import Position

FIGURES = ("realized", "unrealized", "fees", "funding")
"""The USD figures besides ``total``; fees count against it, the others for it."""


def pnl_parts(positions: Iterable[Position]) -> dict[str, dict[str, float]]:
    """Per currency: realized, unrealized, fees and funding (native units; unrealized NaN when
    a position of that currency has no mark)."""
    out: dict[str, dict[str, float]] = {}
    for pos in positions:
        d = out.setdefault(pos.pnl_currency, dict.fromkeys(FIGURES, 0.0))
        d["realized"] += pos.realized
        d["unrealized"] += pos.unrealized()
        f = out.setdefault(pos.fee_currency, dict.fromkeys(FIGURES, 0.0))
        f["fees"] += pos.fees
        f["funding"] += pos.funding
        if pos.other_fees:  # fees charged in another currency: in that currency
            for ccy, fee in pos.other_fees.items():
                out.setdefault(ccy, dict.fromkeys(FIGURES, 0.0))["fees"] += fee
    return out


def pnl_usd(positions: Iterable[Position], price_usd: Callable[[str], float]) -> dict[str, Any]:
    """The USD figures of ``positions`` (module docstring): ``realized``, ``unrealized``,
    ``fees``, ``funding``, ``total`` (NaN: unknown), ``partial``, ``priced_total``,
    ``unpriced`` ({currency: net amount}) and ``unmarked`` (instrument ids)."""
    # One pass, per currency [realized, unrealized, fees, funding] (as pnl_parts; lists, not
    # dicts: this runs on the kill switch's timer as well as for the status line).
    sums: dict[str, list[float]] = {}
    unmarked: list[str] = []
    for pos in positions:
        ccy = pos.pnl_currency
        d = sums.get(ccy)
        if d is None:
            d = sums[ccy] = [0.0, 0.0, 0.0, 0.0]
        d[0] += pos.realized
        u = pos.unrealized()
        if u != u:
            unmarked.append(pos.instrument.id)
        d[1] += u
        ccy = pos.fee_currency
        f = sums.get(ccy)
        if f is None:
            f = sums[ccy] = [0.0, 0.0, 0.0, 0.0]
        f[2] += pos.fees
        f[3] += pos.funding
        if pos.other_fees:  # fees charged in another currency: in that currency
            for ccy, fee in pos.other_fees.items():
                o = sums.get(ccy)
                if o is None:
                    o = sums[ccy] = [0.0, 0.0, 0.0, 0.0]
                o[2] += fee
    usd = [0.0, 0.0, 0.0, 0.0]
    converted = [False, False, False, False]  # a figure has a converted amount
    left_out = [False, False, False, False]  # a figure has an amount left out
    unpriced: dict[str, float] = {}
    for ccy, d in sums.items():
        px = price_usd(ccy)
        if px == px and not unmarked:  # (the usual case: every amount converts)
            for i in (0, 1, 2, 3):
                if d[i] != 0.0:
                    usd[i] += d[i] * px
                    converted[i] = True
            continue
        for i in (0, 1, 2, 3):
            amount = d[i]
            if amount == 0.0:
                continue
            if px == px and amount == amount:
                usd[i] += amount * px
                converted[i] = True
            else:  # no USD price, or unrealized with no mark (unknown in any currency)
                left_out[i] = True
        if px != px:
            known = (d[0] if d[0] == d[0] else 0.0) + (d[1] if d[1] == d[1] else 0.0) - d[2] + d[3]
            if known != 0.0:  # (amounts netting to exactly 0 leave the total exact)
                unpriced[ccy] = known
    nan = math.nan
    out: dict[str, Any] = {
        "realized": nan if left_out[0] and not converted[0] else usd[0],
        "unrealized": nan if left_out[1] and not converted[1] else usd[1],
        "fees": nan if left_out[2] and not converted[2] else usd[2],
        "funding": nan if left_out[3] and not converted[3] else usd[3]}
    priced_total = usd[0] + usd[1] - usd[2] + usd[3]
    unknown = bool(unpriced) or bool(unmarked)  # what the total leaves out
    any_converted = converted[0] or converted[1] or converted[2] or converted[3]
    out["total"] = math.nan if unknown and not any_converted else priced_total
    out["partial"] = unknown and any_converted
    out["priced_total"] = priced_total
    out["unpriced"] = unpriced
    out["unmarked"] = sorted(unmarked) if unmarked else unmarked
    return out
