"""OKX v5 instrument definitions (``GET /api/v5/public/instruments``, ``instruments`` channel).

Theory of operation: each entry of ``data`` becomes one ``engine.model.Instrument``
(https://www.okx.com/docs-v5/en/#public-data-rest-api-get-instruments). All values are
strings, empty when a field does not apply to the instrument type:

* kind: ``instType`` SPOT -> SPOT, SWAP -> PERPETUAL, FUTURES -> FUTURE, OPTION -> OPTION
  (MARGIN is the spot book traded on margin: reported as SPOT).
* base/quote: spot ``baseCcy``/``quoteCcy``; derivatives from the underlying ``uly`` (or
  ``instFamily``, newer), e.g. ``BTC-USD`` -> BTC / USD. settle = ``settleCcy`` (spot: quote).
* contract size = ``ctVal * ctMult`` (computed in ``Decimal`` so ``0.1 * 0.1`` stays 0.01),
  in ``ctValCcy`` units: USD for inverse contracts, the coin for linear ones and options.
* inverse: ``ctType == "inverse"``; options (``ctType`` empty) are coin-margined when they
  settle in the base coin: inverse, premium quoted in the coin (``premium_in_coin``).
* ``tickSz`` / ``lotSz`` / ``minSz`` (contracts for derivatives, base currency for spot);
  ``expTime`` ms -> ns; ``stk`` strike; ``optType`` C/P; ``state == "live"`` -> active.
  Fees are per account (``/api/v5/account/trade-fee``): left at 0 here.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from engine.model import Instrument, InstrumentKind, OptionType, VenueProtocolError, canonical_asset

VENUE = "okx"
_NS_PER_MS = 1_000_000

_KINDS = {"SPOT": InstrumentKind.SPOT, "MARGIN": InstrumentKind.SPOT,
          "SWAP": InstrumentKind.PERPETUAL, "FUTURES": InstrumentKind.FUTURE,
          "OPTION": InstrumentKind.OPTION}
_OPT_TYPES = {"C": OptionType.CALL, "P": OptionType.PUT}


def _bad(msg: str) -> VenueProtocolError:
    return VenueProtocolError(f"okx instrument: {msg}", venue=VENUE)


def _s(d: dict, key: str) -> str:
    v = d.get(key, "")
    if v is None:
        return ""
    if v.__class__ is not str:
        raise _bad(f"{key} is not a string: {v!r}")
    return v


def _f(d: dict, key: str) -> float:
    v = _s(d, key)
    if not v:
        raise _bad(f"{key} is missing")
    x = float(v)
    if x - x:  # NaN or infinity
        raise _bad(f"{key} is not finite: {v!r}")
    return x


def _positive(d: dict, key: str) -> float:
    x = _f(d, key)
    if x <= 0.0:
        raise _bad(f"{key} is not positive: {x!r}")
    return x


def _not_negative(d: dict, key: str) -> float:
    x = _f(d, key)
    if x < 0.0:
        raise _bad(f"{key} is negative: {x!r}")
    return x


def _dec(v: str, key: str) -> Decimal:
    try:
        x = Decimal(v)
    except InvalidOperation as e:
        raise _bad(f"{key} is not a decimal: {v!r}") from e
    if not x.is_finite():
        raise _bad(f"{key} is not finite: {v!r}")
    return x


def parse_instrument(d: Any) -> Instrument | None:
    """One instruments entry -> ``Instrument`` (None for instrument types Volta does not trade)."""
    if d.__class__ is not dict:
        raise _bad("entry is not an object")
    kind = _KINDS.get(_s(d, "instType"))
    if kind is None:
        return None
    symbol = _s(d, "instId")
    if not symbol:
        raise _bad("instId is missing")
    expiry_ns = 0
    strike = 0.0
    option_type: OptionType | None = None
    if kind is InstrumentKind.SPOT:
        base, quote = _s(d, "baseCcy"), _s(d, "quoteCcy")
        if not base or not quote:
            base, _, quote = symbol.partition("-")
        settle = quote
        underlying = ""
        inverse = False
        contract_size = 1.0
    else:
        underlying = _s(d, "uly") or _s(d, "instFamily")
        if not underlying:
            underlying = "-".join(symbol.split("-")[:2])
        base, _, quote = underlying.partition("-")
        settle = _s(d, "settleCcy") or quote
        ct_val, ct_mult = _s(d, "ctVal"), _s(d, "ctMult") or "1"
        contract_size = float(_dec(ct_val, "ctVal") * _dec(ct_mult, "ctMult")) if ct_val else 1.0
        if contract_size <= 0.0:  # a negative one would turn every notional and PnL around
            raise _bad(f"{symbol}: contract size ctVal x ctMult is not positive: {ct_val} x {ct_mult}")
        ct_type = _s(d, "ctType")
        inverse = ct_type == "inverse" if ct_type else settle == base
        if kind is not InstrumentKind.PERPETUAL:
            exp = _s(d, "expTime")
            if not exp.isdigit():
                raise _bad(f"{symbol}: expTime is not integer milliseconds: {exp!r}")
            expiry_ns = int(exp) * _NS_PER_MS
        if kind is InstrumentKind.OPTION:
            strike = _f(d, "stk")
            option_type = _OPT_TYPES.get(_s(d, "optType"))
            if option_type is None:
                raise _bad(f"{symbol}: optType must be C or P")
    if not base or not quote:
        raise _bad(f"{symbol}: cannot tell base and quote currencies")
    return Instrument(
        venue=VENUE,
        symbol=symbol,
        kind=kind,
        base=base,
        quote=quote,
        settle=settle,
        inverse=inverse,
        contract_size=contract_size,
        tick_size=_positive(d, "tickSz"),
        lot_size=_positive(d, "lotSz"),
        min_size=_not_negative(d, "minSz") if _s(d, "minSz") else 0.0,
        underlying=canonical_asset(underlying or base),
        venue_underlying=underlying,
        expiry_ns=expiry_ns,
        strike=strike,
        option_type=option_type,
        premium_in_coin=kind is InstrumentKind.OPTION and inverse,
        active=_s(d, "state") in ("live", ""),
    )


def parse_instruments(data: Any) -> list[Instrument]:
    """The ``data`` list of an instruments response or push."""
    if data.__class__ is not list:
        raise _bad("data is not a list")
    out = []
    for d in data:
        inst = parse_instrument(d)
        if inst is not None:
            out.append(inst)
    return out
