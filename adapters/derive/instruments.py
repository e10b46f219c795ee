"""Derive instrument definitions (``public/get_instruments``) -> ``engine.model.Instrument``.

Theory of operation (https://docs.derive.xyz, ``public/get_instruments``): one object per
instrument, ``instrument_type`` ``option``/``perp`` (``erc20`` spot assets are not traded here).

* units: Derive quotes and settles in USDC: premium, strike, perpetual prices and fees are
  USDC (``quote_currency``); amounts are in the base coin (one unit = one ETH of underlying),
  so ``contract_size`` is 1.0 and ``premium_in_coin`` False: unlike Deribit and OKX, where an
  option premium is paid in the coin. ``settle`` is ``USDC``.
* canonical underlying: ``canonical_asset`` of ``option_details.index``/``perp_details.index``
  (``ETH-USD`` -> ``ETH``), the name every venue maps to, so one option is one underlying
  across venues; the index name itself is ``venue_underlying`` (``ETH-USD``).
* ``tick_size``, ``amount_step`` (lot), ``minimum_amount``, ``maker_fee_rate``/
  ``taker_fee_rate`` are decimal strings; options: ``expiry`` (unix seconds), ``strike``,
  ``option_type`` ``C``/``P``.
* signing needs each instrument's on-chain asset (``base_asset_address``,
  ``base_asset_sub_id``): returned separately as ``DeriveAsset`` per symbol.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.model import (
    Instrument,
    InstrumentKind,
    OptionType,
    VenueProtocolError,
    canonical_asset,
)

VENUE = "derive"
_NS_PER_S = 1_000_000_000
_KINDS = {"option": InstrumentKind.OPTION, "perp": InstrumentKind.PERPETUAL}
_OPTION_TYPES = {"C": OptionType.CALL, "P": OptionType.PUT}


@dataclass(frozen=True, slots=True)
class DeriveAsset:
    """What an order signature names: the instrument's asset contract and sub id."""

    address: str
    sub_id: int


def _dec(d: dict[str, Any], field: str, symbol: str) -> float:
    v = d.get(field)
    try:
        out = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise VenueProtocolError(f"derive instrument {symbol}: {field} is not a number: {v!r}",
                                 venue=VENUE) from None
    if out != out:
        raise VenueProtocolError(f"derive instrument {symbol}: {field} is NaN", venue=VENUE)
    return out


def parse_instrument(d: Any, venue: str = VENUE) -> tuple[Instrument, DeriveAsset] | None:
    """One entry -> (instrument, asset); None for a type this adapter does not trade."""
    if not isinstance(d, dict) or not isinstance(d.get("instrument_name"), str):
        raise VenueProtocolError("derive instrument: entry without instrument_name", venue=VENUE)
    symbol: str = d["instrument_name"]
    kind = _KINDS.get(d.get("instrument_type", ""))
    if kind is None:
        return None
    base = str(d.get("base_currency") or symbol.split("-")[0])
    quote = str(d.get("quote_currency") or "USDC")
    details = d.get("option_details" if kind is InstrumentKind.OPTION else "perp_details") or {}
    if not isinstance(details, dict):
        raise VenueProtocolError(f"derive instrument {symbol}: details not an object", venue=VENUE)
    index = details.get("index") or f"{base}-USD"
    expiry_ns, strike, otype = 0, 0.0, None
    if kind is InstrumentKind.OPTION:
        if not isinstance(details.get("expiry"), int):
            raise VenueProtocolError(f"derive instrument {symbol}: no expiry", venue=VENUE)
        expiry_ns = details["expiry"] * _NS_PER_S
        strike = _dec(details, "strike", symbol)
        otype = _OPTION_TYPES.get(details.get("option_type", ""))
        if otype is None:
            raise VenueProtocolError(f"derive instrument {symbol}: bad option_type", venue=VENUE)
    try:
        asset = DeriveAsset(str(d["base_asset_address"]), int(d["base_asset_sub_id"]))
    except (KeyError, TypeError, ValueError):
        raise VenueProtocolError(f"derive instrument {symbol}: no base asset", venue=VENUE) from None
    step = _dec(d, "amount_step", symbol)
    inst = Instrument(
        venue=venue, symbol=symbol, kind=kind, base=base, quote=quote, settle=quote,
        inverse=False, contract_size=1.0, tick_size=_dec(d, "tick_size", symbol),
        lot_size=step, min_size=_dec(d, "minimum_amount", symbol),
        underlying=canonical_asset(str(index)), venue_underlying=str(index), expiry_ns=expiry_ns, strike=strike,
        option_type=otype, premium_in_coin=False,
        maker_fee=_dec(d, "maker_fee_rate", symbol), taker_fee=_dec(d, "taker_fee_rate", symbol),
        active=d.get("is_active", True) is not False)
    return inst, asset


def parse_instruments(result: Any, venue: str = VENUE) -> tuple[list[Instrument], dict[str, DeriveAsset]]:
    """A ``get_instruments`` result (a list) -> instruments and their assets by symbol."""
    if not isinstance(result, list):
        raise VenueProtocolError("derive get_instruments: result is not a list", venue=VENUE)
    out: list[Instrument] = []
    assets: dict[str, DeriveAsset] = {}
    for d in result:
        parsed = parse_instrument(d, venue)
        if parsed is not None:
            out.append(parsed[0])
            assets[parsed[0].symbol] = parsed[1]
    return out, assets
