"""Venue and symbol naming of imported data, mapped to Volta venues and ``Instrument``s (one place).

Theory of operation: a data vendor names exchanges its own way (Tardis: ``binance-futures`` for
Binance USD-M, ``okex-swap`` for OKX perpetual swaps...) and files carry no contract rules (tick,
lot, contract size). ``VENUES`` maps the vendor's exchange names to Volta venue names; a
``SymbolResolver`` turns a (venue, symbol) into an ``Instrument``:

1. definitions given by the user (``--instruments FILE``: the venue's own instrument list as its
   REST API returns it, decoded by the venue's real codec, or a JSON list of Volta instruments);
2. otherwise the symbol grammar of the venue (``BTC-PERPETUAL``, ``BTC-24SEP21``,
   ``BTC-24SEP21-40000-C``, ``BTC-USDT-SWAP``, ``BTCUSD_PERP``, ``BTC-230630-30000-C``...) gives
   kind, base, quote, settlement, expiry (08:00 UTC, the venues' convention), strike and type,
   and ``RULES`` gives the contract rules of the underlyings listed there, as the venues list
   them (``docs/data.md``);
3. anything else is an ``UnknownSymbol`` error naming the venue and symbol.

``underlying`` is the canonical asset (``engine.model.assets.canonical_asset``: ``BTC`` on every
venue) and ``venue_underlying`` the venue's own spelling of the index or pair (Deribit
``btc_usd``, OKX ``BTC-USD``, Binance ``BTCUSDT``, Bybit ``BTC``), exactly as the venues'
instrument codecs set them, so an imported instrument is the one the live adapter would build.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import msgspec

from adapters import registry
from engine.model import (
    Instrument,
    InstrumentKind,
    OptionType,
    VenueProtocolError,
    canonical_asset,
)

# vendor exchange name -> Volta venue
VENUES: dict[str, str] = {
    "deribit": "deribit",
    "binance": "binance-spot",
    "binance-futures": "binance-usdm",
    "binance-delivery": "binance-coinm",
    "binance-options": "binance-options",
    "binance-european-options": "binance-options",
    "okex": "okx", "okex-swap": "okx", "okex-futures": "okx", "okex-options": "okx", "okx": "okx",
    "okx-swap": "okx", "okx-futures": "okx", "okx-options": "okx",
    "bybit": "bybit", "bybit-spot": "bybit", "bybit-options": "bybit",
}

# The REST path whose body the venue's codec decodes into instruments (``--instruments FILE``).
INSTRUMENT_URLS: dict[str, str] = {
    "deribit": "https://www.deribit.com/api/v2/public/get_instruments",
    "okx": "https://www.okx.com/api/v5/public/instruments",
    "bybit": "https://api.bybit.com/v5/market/instruments-info",
    "binance-spot": "https://api.binance.com/api/v3/exchangeInfo",
    "binance-usdm": "https://fapi.binance.com/fapi/v1/exchangeInfo",
    "binance-coinm": "https://dapi.binance.com/dapi/v1/exchangeInfo",
}


class Rule(msgspec.Struct, frozen=True):
    """Contract rules of one product family: (venue, base, kind[, quote])."""

    tick: float
    lot: float
    contract_size: float = 1.0
    maker: float = 0.0
    taker: float = 0.0


# (venue, base, kind, quote) -> rules, as the venues list them (docs/data.md has the sources).
RULES: dict[tuple[str, str, str, str], Rule] = {
    ("deribit", "BTC", "perpetual", "USD"): Rule(0.5, 10.0, maker=0.0, taker=0.0005),
    ("deribit", "ETH", "perpetual", "USD"): Rule(0.05, 1.0, maker=0.0, taker=0.0005),
    ("deribit", "BTC", "future", "USD"): Rule(2.5, 10.0, maker=-0.0001, taker=0.0005),
    ("deribit", "ETH", "future", "USD"): Rule(0.25, 1.0, maker=-0.0001, taker=0.0005),
    ("deribit", "BTC", "option", "USD"): Rule(0.0005, 0.1, maker=0.0003, taker=0.0003),
    ("deribit", "ETH", "option", "USD"): Rule(0.0005, 1.0, maker=0.0003, taker=0.0003),
    ("binance-usdm", "BTC", "perpetual", "USDT"): Rule(0.1, 0.001, maker=0.0002, taker=0.0005),
    ("binance-usdm", "ETH", "perpetual", "USDT"): Rule(0.01, 0.001, maker=0.0002, taker=0.0005),
    ("binance-spot", "BTC", "spot", "USDT"): Rule(0.01, 0.00001, maker=0.001, taker=0.001),
    ("binance-spot", "ETH", "spot", "USDT"): Rule(0.01, 0.0001, maker=0.001, taker=0.001),
    ("binance-coinm", "BTC", "perpetual", "USD"): Rule(0.1, 1.0, 100.0, 0.0001, 0.0005),
    ("binance-coinm", "ETH", "perpetual", "USD"): Rule(0.01, 1.0, 10.0, 0.0001, 0.0005),
    ("binance-options", "BTC", "option", "USDT"): Rule(5.0, 0.01, maker=0.0003, taker=0.0003),
    ("binance-options", "ETH", "option", "USDT"): Rule(0.1, 0.01, maker=0.0003, taker=0.0003),
    ("okx", "BTC", "perpetual", "USDT"): Rule(0.1, 1.0, 0.01, 0.0002, 0.0005),
    ("okx", "ETH", "perpetual", "USDT"): Rule(0.01, 1.0, 0.1, 0.0002, 0.0005),
    ("okx", "BTC", "perpetual", "USD"): Rule(0.1, 1.0, 100.0, 0.0002, 0.0005),
    ("okx", "BTC", "spot", "USDT"): Rule(0.1, 0.00000001, maker=0.0008, taker=0.001),
    ("okx", "BTC", "option", "USD"): Rule(0.0005, 1.0, 0.01, 0.0003, 0.0003),
    ("okx", "ETH", "option", "USD"): Rule(0.0005, 1.0, 0.1, 0.0003, 0.0003),
    ("bybit", "BTC", "perpetual", "USDT"): Rule(0.1, 0.001, maker=0.0002, taker=0.00055),
    ("bybit", "ETH", "perpetual", "USDT"): Rule(0.01, 0.01, maker=0.0002, taker=0.00055),
    ("bybit", "BTC", "perpetual", "USD"): Rule(0.5, 1.0, maker=0.0002, taker=0.00055),
    ("bybit", "BTC", "option", "USDC"): Rule(5.0, 0.01, maker=0.0003, taker=0.0003),
    ("bybit", "ETH", "option", "USDC"): Rule(0.1, 0.1, maker=0.0003, taker=0.0003),
}

_MONTHS = {m: i for i, m in enumerate(
    ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1)}
_DMY = re.compile(r"^(\d{1,2})([A-Z]{3})(\d{2})$")  # Deribit/Bybit 24SEP21
_YMD = re.compile(r"^(\d{2})(\d{2})(\d{2})$")       # OKX/Binance 220624
_QUOTES = ("USDT", "USDC", "BUSD", "FDUSD", "USD", "BTC", "ETH", "EUR")


class UnknownSymbol(ValueError):
    """A symbol neither the user's definitions nor the venue's naming rules resolve."""


def _expiry(code: str) -> int:
    """Expiry code -> ns at 08:00 UTC (Deribit, OKX, Bybit and Binance options settle then)."""
    m = _DMY.match(code)
    if m:
        day, mon, yy = int(m[1]), _MONTHS.get(m[2]), int(m[3])
        if mon is None:
            raise ValueError(code)
    else:
        m = _YMD.match(code)
        if not m:
            raise ValueError(code)
        yy, mon, day = int(m[1]), int(m[2]), int(m[3])
    t = dt.datetime(2000 + yy, mon, day, 8, tzinfo=dt.timezone.utc)
    return int(t.timestamp()) * 1_000_000_000


def _strike(s: str) -> float:
    return float(s.replace("d", ".").replace("D", "."))  # Deribit writes 0.5 as 0d5


def parse_symbol(venue: str, symbol: str) -> dict[str, Any] | None:
    """The venue's naming grammar: kind, base, quote, settle, inverse, expiry, strike, type;
    None when the symbol does not follow it."""
    parts = symbol.split("-")
    try:
        if venue == "deribit":
            base, _, quote = parts[0].partition("_")
            quote = quote or "USD"
            inverse = quote == "USD"
            settle = base if inverse else quote
            d: dict[str, Any] = {"base": base, "quote": quote, "settle": settle,
                                 "inverse": inverse,
                                 "underlying": f"{base.lower()}_{quote.lower()}"}
            if len(parts) == 2 and parts[1] == "PERPETUAL":
                return {**d, "kind": "perpetual"}
            if len(parts) == 2:
                return {**d, "kind": "future", "expiry_ns": _expiry(parts[1])}
            if len(parts) == 4 and parts[3] in ("C", "P"):
                return {**d, "kind": "option", "expiry_ns": _expiry(parts[1]),
                        "strike": _strike(parts[2]), "option_type": parts[3]}
            return None
        if venue == "okx":
            if len(parts) == 2:
                return {"kind": "spot", "base": parts[0], "quote": parts[1], "settle": parts[1],
                        "inverse": False, "underlying": symbol}
            base, quote = parts[0], parts[1]
            inverse = quote == "USD"
            d = {"base": base, "quote": quote, "settle": base if inverse else quote,
                 "inverse": inverse, "underlying": f"{base}-{quote}"}
            if len(parts) == 3 and parts[2] == "SWAP":
                return {**d, "kind": "perpetual"}
            if len(parts) == 3:
                return {**d, "kind": "future", "expiry_ns": _expiry(parts[2])}
            if len(parts) == 5 and parts[4] in ("C", "P"):
                return {**d, "kind": "option", "expiry_ns": _expiry(parts[2]),
                        "strike": _strike(parts[3]), "option_type": parts[4]}
            return None
        if venue == "binance-options" or (venue == "bybit" and len(parts) >= 4):
            quote = "USDT" if venue == "binance-options" else "USDC"
            if len(parts) < 4 or parts[3] not in ("C", "P"):
                return None
            return {"kind": "option", "base": parts[0], "quote": quote, "settle": quote,
                    "inverse": False,
                    "underlying": parts[0] + quote if venue == "binance-options" else parts[0],
                    "expiry_ns": _expiry(parts[1]), "strike": _strike(parts[2]),
                    "option_type": parts[3]}
        if venue == "binance-coinm":
            pair, _, when = symbol.partition("_")
            if not pair.endswith("USD") or not when:
                return None
            base = pair[:-3]
            d = {"base": base, "quote": "USD", "settle": base, "inverse": True,
                 "underlying": pair}
            if when == "PERP":
                return {**d, "kind": "perpetual"}
            return {**d, "kind": "future", "expiry_ns": _expiry(when)}
        if venue in ("binance-spot", "binance-usdm", "bybit"):
            for q in _QUOTES:
                if symbol.endswith(q) and len(symbol) > len(q):
                    base = symbol[:-len(q)]
                    kind = "spot" if venue == "binance-spot" else "perpetual"
                    inverse = venue == "bybit" and q == "USD"
                    return {"kind": kind, "base": base, "quote": q,
                            "settle": base if inverse else q, "inverse": inverse,
                            "underlying": symbol if venue == "binance-usdm" else base}
            return None
    except (ValueError, IndexError):
        return None
    return None


def instrument_from_rules(venue: str, symbol: str) -> Instrument:
    """The instrument of ``symbol`` from the venue's naming grammar and ``RULES``."""
    p = parse_symbol(venue, symbol)
    if p is None:
        raise UnknownSymbol(f"{venue}: unknown symbol {symbol!r} (not a {venue} symbol name)")
    rule = RULES.get((venue, p["base"], p["kind"], p["quote"]))
    if rule is None:
        raise UnknownSymbol(
            f"{venue}: unknown symbol {symbol!r}: no contract rules for {p['base']} "
            f"{p['kind']}s quoted in {p['quote']}; pass --instruments FILE (the venue's "
            "instrument list as its REST API returns it)")
    kind = InstrumentKind(p["kind"])
    is_opt = kind is InstrumentKind.OPTION
    ot = p.get("option_type")
    return Instrument(
        venue=venue, symbol=symbol, kind=kind, base=p["base"], quote=p["quote"],
        settle=p["settle"], inverse=p["inverse"], contract_size=rule.contract_size,
        tick_size=rule.tick, lot_size=rule.lot, min_size=rule.lot,
        underlying=canonical_asset(p["underlying"]), venue_underlying=p["underlying"],
        expiry_ns=p.get("expiry_ns", 0), strike=p.get("strike", 0.0),
        option_type=None if ot is None else (OptionType.CALL if ot == "C" else OptionType.PUT),
        premium_in_coin=is_opt and p["inverse"], maker_fee=rule.maker, taker_fee=rule.taker)


def load_definitions(path: str | Path, venue: str) -> list[Instrument]:
    """``--instruments FILE``: a JSON list of Volta instruments, or the venue's instrument list
    exactly as its REST API returned it (decoded by the venue's codec)."""
    try:
        body = Path(path).read_bytes()
    except OSError as exc:
        raise UnknownSymbol(f"--instruments {path}: {exc.strerror or exc}") from None
    try:
        return msgspec.json.decode(body, type=list[Instrument])
    except (msgspec.DecodeError, msgspec.ValidationError):
        pass
    url = INSTRUMENT_URLS.get(venue)
    if url is None:
        raise UnknownSymbol(f"--instruments {path}: not a list of Volta instruments, and {venue} "
                            "has no instrument-list decoder")
    try:
        out = [e for e in registry.create_codec(venue).decode_rest(url, body, 0)
               if isinstance(e, Instrument)]
    except (VenueProtocolError, registry.CodecUnavailable) as exc:
        raise UnknownSymbol(f"--instruments {path}: not a {venue} instrument list: {exc}") from None
    if not out:
        raise UnknownSymbol(f"--instruments {path}: no {venue} instruments in it")
    return out


class SymbolResolver:
    """(venue, symbol) -> Instrument, cached; the user's definitions first, then the rules."""

    def __init__(self, definitions: list[Instrument] = ()) -> None:  # type: ignore[assignment]
        self._defs = {(i.venue, i.symbol): i for i in definitions}
        self._cache: dict[tuple[str, str], Instrument] = {}

    def resolve(self, venue: str, symbol: str) -> Instrument:
        key = (venue, symbol)
        inst = self._cache.get(key)
        if inst is None:
            inst = self._defs.get(key) or instrument_from_rules(venue, symbol)
            self._cache[key] = inst
        return inst

    def resolved(self) -> list[Instrument]:
        return list(self._cache.values())


def venue_of(exchange: str) -> str:
    """The Volta venue of a vendor's exchange name (``UnknownSymbol`` naming it otherwise)."""
    v = VENUES.get(exchange)
    if v is None:
        raise UnknownSymbol(f"unknown exchange {exchange!r}; known: {', '.join(sorted(VENUES))}")
    return v
