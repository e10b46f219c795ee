"""Deribit instrument definitions (``public/get_instruments`` / ``public/get_instrument``).

Theory of operation: one JSON object per instrument becomes one ``engine.model.Instrument``
(https://docs.deribit.com/api-reference/market-data/public-get_instrument). Deribit has grown
fields over the years, so every rule has a fallback for older responses (the 2021 recording
has neither ``settlement_currency`` nor ``instrument_type``):

* kind: ``option`` -> OPTION; ``future`` with ``settlement_period == "perpetual"`` ->
  PERPETUAL, other ``future`` -> FUTURE; ``spot`` -> SPOT. Combos (``future_combo``,
  ``option_combo``) have no ``InstrumentKind`` and are skipped.
* inverse: ``instrument_type`` (or ``future_type``) ``"reversed"`` is inverse, ``"linear"``
  is not; without them, inverse when the product settles in its base coin (old responses:
  options quoted in the base coin, futures quoted in ``USD``, which Deribit never settles in).
* base = ``base_currency``; quote = ``counter_currency`` (the currency of strikes and of
  inverse contract sizes, ``USD``/``USDC``), falling back to ``quote_currency`` unless that is
  the base coin; settle = ``settlement_currency`` (fallback: base if inverse, else quote).
* units: Deribit sizes (``amount``) are in USD for inverse futures/perpetuals and in the coin
  for options and linear products. Volta quantities are the venue's ``amount`` everywhere
  (books, trades, orders), so one unit of quantity of an inverse future is 1 USD:
  ``contract_size`` is 1.0 there (the venue's 10-USD contract is the lot), and the venue's
  ``contract_size`` otherwise; ``lot_size``/``min_size`` are ``min_trade_amount``.
* ``tick_size``: the base tick. Options may add ``tick_size_steps``
  (``[{above_price, tick_size}]``: a coarser tick above a price); ``Instrument`` has no field
  for it, so the steps are returned separately by ``parse_instruments`` for the risk checks.
* options: ``strike``, ``option_type``, ``expiration_timestamp`` (ms -> ns), premium in coin
  for inverse options; perpetuals get ``expiry_ns = 0`` (Deribit reports year 3000).
"""

from __future__ import annotations

from typing import Any

from engine.model import Instrument, InstrumentKind, OptionType, VenueProtocolError, canonical_asset

VENUE = "deribit"
_NS_PER_MS = 1_000_000

TickSteps = tuple[tuple[float, float], ...]
"""``((above_price, tick_size), ...)`` ascending by price."""

_OPTION_TYPES = {"call": OptionType.CALL, "put": OptionType.PUT}
_SKIPPED_KINDS = frozenset({"future_combo", "option_combo"})


def _num(x: Any, field: str) -> float:
    if x.__class__ is float:
        return x
    if x.__class__ is int:
        return float(x)
    raise VenueProtocolError(f"deribit instrument: {field} is not a number: {x!r}", venue=VENUE)


def _positive(x: Any, field: str) -> float:
    """A size that must be above zero (a negative contract size would turn notionals around)."""
    f = _num(x, field)
    if f <= 0.0:
        raise VenueProtocolError(f"deribit instrument: {field} is not positive: {x!r}",
                                 venue=VENUE)
    return f


def _str(x: Any, field: str) -> str:
    if x.__class__ is not str or not x:
        raise VenueProtocolError(f"deribit instrument: {field} is not a string: {x!r}",
                                 venue=VENUE)
    return x


def _ms(x: Any, field: str) -> int:
    if x.__class__ is not int:
        raise VenueProtocolError(f"deribit instrument: {field} is not an integer: {x!r}",
                                 venue=VENUE)
    return x * _NS_PER_MS


def parse_instrument(d: Any) -> tuple[Instrument, TickSteps] | None:
    """One ``get_instruments`` entry -> (``Instrument``, tick-size steps); None for combos."""
    if not isinstance(d, dict):
        raise VenueProtocolError("deribit instrument: entry is not an object", venue=VENUE)
    venue_kind = _str(d["kind"], "kind")
    if venue_kind in _SKIPPED_KINDS:
        return None
    symbol = _str(d["instrument_name"], "instrument_name")
    period = d.get("settlement_period")
    if venue_kind == "option":
        kind = InstrumentKind.OPTION
    elif venue_kind == "future":
        kind = InstrumentKind.PERPETUAL if period == "perpetual" else InstrumentKind.FUTURE
    elif venue_kind == "spot":
        kind = InstrumentKind.SPOT
    else:
        raise VenueProtocolError(f"deribit instrument {symbol}: unknown kind {venue_kind!r}",
                                 venue=VENUE)
    base = _str(d["base_currency"], "base_currency")
    venue_quote = _str(d["quote_currency"], "quote_currency")
    counter = d.get("counter_currency")
    if counter is not None:
        quote = _str(counter, "counter_currency")
    else:
        # Options are quoted in the coin; the pair's quote then is USD (older responses only).
        quote = "USD" if venue_quote == base else venue_quote
    settle_field = d.get("settlement_currency")
    settle = _str(settle_field, "settlement_currency") if settle_field is not None else ""
    itype = d.get("instrument_type") or d.get("future_type")
    if kind is InstrumentKind.SPOT:
        inverse = False
    elif itype == "reversed":
        inverse = True
    elif itype == "linear":
        inverse = False
    elif settle:
        inverse = settle == base
    else:
        inverse = venue_quote == base or venue_quote == "USD"
    if not settle:
        settle = base if inverse else venue_quote
    expiry_ns = 0
    strike = 0.0
    option_type: OptionType | None = None
    if kind is InstrumentKind.OPTION or kind is InstrumentKind.FUTURE:
        expiry_ns = _ms(d["expiration_timestamp"], "expiration_timestamp")
    if kind is InstrumentKind.OPTION:
        strike = _num(d["strike"], "strike")
        option_type = _OPTION_TYPES.get(d["option_type"])
        if option_type is None:
            raise VenueProtocolError(f"deribit instrument {symbol}: bad option_type", venue=VENUE)
    min_amount = _positive(d["min_trade_amount"], "min_trade_amount")
    steps_raw = d.get("tick_size_steps") or ()
    steps = tuple(sorted((_num(s["above_price"], "above_price"),
                          _positive(s["tick_size"], "tick_size")) for s in steps_raw))
    index = d.get("price_index")
    underlying = index if index.__class__ is str and index else f"{base.lower()}_{quote.lower()}"
    inst = Instrument(
        venue=VENUE,
        symbol=symbol,
        kind=kind,
        base=base,
        quote=quote,
        settle=settle,
        inverse=inverse,
        contract_size=(1.0 if inverse and kind is not InstrumentKind.OPTION
                       else _positive(d["contract_size"], "contract_size")),
        tick_size=_positive(d["tick_size"], "tick_size"),
        lot_size=min_amount,
        min_size=min_amount,
        underlying=canonical_asset(underlying),
        venue_underlying=underlying,
        expiry_ns=expiry_ns,
        strike=strike,
        option_type=option_type,
        premium_in_coin=kind is InstrumentKind.OPTION and inverse,
        maker_fee=_num(d.get("maker_commission", 0.0), "maker_commission"),
        taker_fee=_num(d.get("taker_commission", 0.0), "taker_commission"),
        active=d.get("is_active", True) is not False,
    )
    return inst, steps


def parse_instruments(result: Any) -> tuple[list[Instrument], dict[str, TickSteps]]:
    """A ``get_instruments`` result (list) or ``get_instrument`` result (object)."""
    entries = result if isinstance(result, list) else [result]
    out: list[Instrument] = []
    steps: dict[str, TickSteps] = {}
    for d in entries:
        parsed = parse_instrument(d)
        if parsed is None:
            continue
        inst, st = parsed
        out.append(inst)
        if st:
            steps[inst.symbol] = st
    return out, steps


def looks_like_instruments(result: Any) -> bool:
    """Recognise an instrument list by shape (for ``get_instruments`` results we did not send)."""
    first = result[0] if isinstance(result, list) and result else result
    return isinstance(first, dict) and "instrument_name" in first and "kind" in first \
        and "tick_size" in first and "min_trade_amount" in first
