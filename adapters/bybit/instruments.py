"""Bybit v5 ``GET /v5/market/instruments-info?category=...`` -> ``engine.model.Instrument``.

Theory of operation (https://bybit-exchange.github.io/docs/v5/market/instrument): the
response is ``{"retCode":0,"result":{"category":"linear","list":[...],"nextPageCursor":""}}``
and the row shape depends on the category:

* spot: ``baseCoin``/``quoteCoin``, ``priceFilter.tickSize``, ``lotSizeFilter.basePrecision``
  (the quantity step, used as lot) and ``minOrderQty``. Symbols get the Volta spot suffix
  (see ``channels.SPOT_SUFFIX``).
* linear/inverse: ``contractType`` ``LinearPerpetual``/``LinearFutures`` or
  ``InversePerpetual``/``InverseFutures``, ``priceFilter.tickSize``, ``lotSizeFilter.qtyStep``,
  ``minOrderQty``, ``settleCoin``, ``deliveryTime`` (ms, ``"0"`` for perpetuals). Linear
  quantities are in base coin (contract_size 1); inverse quantities are USD contracts of
  1 USD each (contract_size 1, ``inverse=True``).
* option: ``optionsType`` ``Call``/``Put``, ``deliveryTime``; symbol ``BTC-27DEC24-60000-C-USDT``
  (USDT-settled) or ``BTC-27DEC24-60000-C`` (older, USDC-settled). Strike and expiry come from
  the symbol (``deliveryTime`` wins for the expiry when present; symbols expire 08:00 UTC).
  Bybit options are linear: quantity in base coin, premium in the quote coin
  (``premium_in_coin=False``).

Rows of an unknown ``contractType`` (e.g. a product Bybit adds later) are skipped, not
rejected: one new product must not make the whole instrument list unreadable. Fees are not
part of this endpoint (they are per account: ``/v5/account/fee-rate``) and stay 0.
"""

from __future__ import annotations

import calendar
from typing import Any

from engine.model import Instrument, InstrumentKind, OptionType, canonical_asset

from adapters.bybit.channels import volta_symbol
from adapters.bybit.fields import VENUE, bad, num, opt_ms_to_ns, string

_MONTHS = {m: i for i, m in enumerate(
    ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1)}
_EXPIRY_HOUR_UTC = 8
_ACTIVE = frozenset(("Trading", "ONLINE", "Online"))
_CONTRACT_KINDS: dict[str, tuple[InstrumentKind, bool]] = {
    "LinearPerpetual": (InstrumentKind.PERPETUAL, False),
    "LinearFutures": (InstrumentKind.FUTURE, False),
    "InversePerpetual": (InstrumentKind.PERPETUAL, True),
    "InverseFutures": (InstrumentKind.FUTURE, True),
}


def parse_expiry_code(code: str) -> int:
    """``"27DEC24"`` -> expiry in integer ns (08:00 UTC, Bybit's delivery time)."""
    if len(code) < 6 or not code[:-5].isdigit() or not code[-2:].isdigit():
        raise bad(f"invalid expiry code {code!r}")
    month = _MONTHS.get(code[-5:-2])
    if month is None:
        raise bad(f"invalid expiry month in {code!r}")
    day, year = int(code[:-5]), 2000 + int(code[-2:])
    if not 1 <= day <= 31:
        raise bad(f"invalid expiry day in {code!r}")
    secs = calendar.timegm((year, month, day, _EXPIRY_HOUR_UTC, 0, 0, 0, 0, 0))
    return secs * 1_000_000_000


def parse_option_symbol(symbol: str) -> tuple[str, int, float, OptionType]:
    """``BTC-27DEC24-60000-C[-USDT]`` -> (base, expiry_ns, strike, option type)."""
    parts = symbol.split("-")
    if len(parts) not in (4, 5) or parts[3] not in ("C", "P"):
        raise bad(f"invalid option symbol {symbol!r}")
    strike = num(parts[2], "strike")
    if strike <= 0.0:
        raise bad(f"invalid strike in {symbol!r}")
    otype = OptionType.CALL if parts[3] == "C" else OptionType.PUT
    return parts[0], parse_expiry_code(parts[1]), strike, otype


def parse_instruments(result: Any, category: str) -> list[Instrument]:
    """The ``result`` object of an instruments-info response -> instruments."""
    if result.__class__ is not dict:
        raise bad("instruments-info result is not an object")
    cat = result.get("category") or category
    rows = result["list"]
    if rows.__class__ is not list:
        raise bad("instruments-info list is not a list")
    out: list[Instrument] = []
    for row in rows:
        if row.__class__ is not dict:
            raise bad("instrument row is not an object")
        inst = parse_instrument(row, cat)
        if inst is not None:
            out.append(inst)
    return out


def _filters(row: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    price, lot = row["priceFilter"], row["lotSizeFilter"]
    if price.__class__ is not dict or lot.__class__ is not dict:
        raise bad("priceFilter/lotSizeFilter is not an object")
    return price, lot


def _positive(value: Any, name: str) -> float:
    f = num(value, name)
    if f <= 0.0:
        raise bad(f"{name} must be positive, got {value!r}")
    return f


def parse_instrument(row: dict[str, Any], category: str) -> Instrument | None:
    """One instruments-info row of ``category``; None for a product kind Volta does not model."""
    symbol = string(row["symbol"], "symbol")
    base = string(row["baseCoin"], "baseCoin")
    quote = string(row["quoteCoin"], "quoteCoin")
    price_f, lot_f = _filters(row)
    tick = _positive(price_f["tickSize"], "tickSize")
    active = row.get("status") in _ACTIVE
    if category == "spot":
        return Instrument(
            venue=VENUE, symbol=volta_symbol(symbol, "spot"), kind=InstrumentKind.SPOT,
            base=base, quote=quote, settle=quote, tick_size=tick,
            lot_size=_positive(lot_f["basePrecision"], "basePrecision"),
            min_size=num(lot_f.get("minOrderQty", "0"), "minOrderQty"), active=active)
    settle = string(row.get("settleCoin") or quote, "settleCoin")
    lot = _positive(lot_f["qtyStep"], "qtyStep")
    min_size = num(lot_f.get("minOrderQty", "0"), "minOrderQty")
    delivery = opt_ms_to_ns(row.get("deliveryTime"), "deliveryTime") or 0
    if category == "option" or "optionsType" in row:
        o_base, expiry, strike, otype = parse_option_symbol(symbol)
        declared = row.get("optionsType")
        if declared not in ("Call", "Put") or (declared == "Call") != (otype is OptionType.CALL):
            raise bad(f"optionsType {declared!r} disagrees with symbol {symbol!r}")
        return Instrument(
            venue=VENUE, symbol=symbol, kind=InstrumentKind.OPTION, base=base, quote=quote,
            settle=settle, tick_size=tick, lot_size=lot, min_size=min_size,
            underlying=canonical_asset(o_base), venue_underlying=o_base, expiry_ns=delivery or expiry, strike=strike, option_type=otype,
            premium_in_coin=False, active=active)
    kind_inverse = _CONTRACT_KINDS.get(row.get("contractType", ""))
    if kind_inverse is None:
        return None
    kind, inverse = kind_inverse
    return Instrument(
        venue=VENUE, symbol=symbol, kind=kind, base=base, quote=quote, settle=settle,
        inverse=inverse, contract_size=1.0, tick_size=tick, lot_size=lot, min_size=min_size,
        underlying=canonical_asset(base), venue_underlying=base, expiry_ns=delivery if kind is InstrumentKind.FUTURE else 0,
        active=active)
