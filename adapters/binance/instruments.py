"""Binance ``exchangeInfo`` -> ``engine.model.Instrument``.

Theory of operation: one function per response. Tick size comes from the ``PRICE_FILTER``
filter (``tickSize``), lot and minimum size from ``LOT_SIZE`` (``stepSize``, ``minQty``)
(https://developers.binance.com/docs/binance-spot-api-docs/filters). Futures symbols carry
``contractType`` (``PERPETUAL``, ``CURRENT_QUARTER``, ``NEXT_QUARTER``, ...) and
``deliveryDate`` (ms; perpetuals carry a far-future placeholder, so it is not an expiry).
COIN-M contracts are inverse with ``contractSize`` USD per contract and settle in the
``marginAsset``; COIN-M reports ``contractStatus`` where the others report ``status``.
"""

from __future__ import annotations

from typing import Any

from engine.model import Instrument, InstrumentKind, VenueProtocolError, canonical_asset

_NS_PER_MS = 1_000_000


def _filters(sym: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["filterType"]: f for f in sym.get("filters", ()) if isinstance(f, dict)}


def parse_exchange_info(body: Any, market: str, venue: str) -> list[Instrument]:
    """Instruments of an ``exchangeInfo`` body (already JSON-decoded)."""
    if not isinstance(body, dict) or not isinstance(body.get("symbols"), list):
        raise VenueProtocolError("exchangeInfo without a symbols list", venue=venue)
    out: list[Instrument] = []
    try:
        for sym in body["symbols"]:
            out.append(_instrument(sym, market, venue))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise VenueProtocolError(f"bad exchangeInfo symbol: {exc!r}", venue=venue) from exc
    return out


def _instrument(sym: dict[str, Any], market: str, venue: str) -> Instrument:
    filters = _filters(sym)
    price_filter = filters.get("PRICE_FILTER", {})
    lot = filters.get("LOT_SIZE", {})
    tick = _size(price_filter.get("tickSize", 0.0), "tickSize")  # (0: no filter, no step)
    step = _size(lot.get("stepSize", 0.0), "stepSize")
    min_qty = _size(lot.get("minQty", 0.0), "minQty")
    status = sym.get("status", sym.get("contractStatus", "TRADING"))
    base = str(sym["baseAsset"])
    quote = str(sym["quoteAsset"])
    if market == "spot":
        return Instrument(venue=venue, symbol=str(sym["symbol"]), kind=InstrumentKind.SPOT,
                          base=base, quote=quote, settle=quote, tick_size=tick, lot_size=step,
                          min_size=min_qty, active=status == "TRADING")
    ctype = str(sym.get("contractType") or "")
    if "PERPETUAL" in ctype:
        kind, expiry = InstrumentKind.PERPETUAL, 0
    else:
        kind, expiry = InstrumentKind.FUTURE, int(sym.get("deliveryDate") or 0) * _NS_PER_MS
    inverse = market == "coinm"
    return Instrument(
        venue=venue, symbol=str(sym["symbol"]), kind=kind, base=base, quote=quote,
        settle=str(sym.get("marginAsset") or (base if inverse else quote)), inverse=inverse,
        contract_size=_size(sym.get("contractSize", 1.0), "contractSize", positive=True)
        if inverse else 1.0,
        tick_size=tick, lot_size=step, min_size=min_qty,
        underlying=canonical_asset(str(sym.get("pair") or base)),
        venue_underlying=str(sym.get("pair") or ""), expiry_ns=expiry,
        active=status == "TRADING" and bool(ctype))


def _size(value: Any, name: str, positive: bool = False) -> float:
    """A size of the symbol: finite, not negative (``positive``: above zero); else ValueError
    (a malformed exchangeInfo: a negative contract size would turn notionals around)."""
    if value.__class__ is bool:
        raise ValueError(f"{name} is a boolean: {value!r}")
    f = float(value)
    if f - f or f < 0.0 or (positive and f == 0.0):  # (f - f: NaN for NaN and infinities)
        raise ValueError(f"{name} {value!r} is not a {'positive' if positive else 'non-negative'} number")
    return f
