"""Canonical assets: one name per coin whatever the venue calls it.

Venues name the same underlying differently: Deribit's index ``btc_usd`` (or ``btc_usdc``),
OKX's ``uly``/``instFamily`` ``BTC-USD`` / ``BTC-USDT``, Binance's pair ``BTCUSDT`` (USD-M)
or ``BTCUSD`` (COIN-M), Bybit's base coin ``BTC``. Risk limits, portfolio Greeks, status,
reports and config keys all use the canonical name (``BTC``), so a BTC delta from any venue
nets into one number; the venue's own spelling stays on the instrument as
``venue_underlying``.

The mapping is deliberately syntactic and small: upper-case, cut a venue separator (``_`` or
``-``) and the quote currency after it, or a known quote suffix glued to the coin (``USDT``,
``USDC``, ``USD``, ...), then apply a short alias table (``XBT`` is ``BTC``). A name that is
itself a quote currency (``USDC``) is left as it is.
"""

from __future__ import annotations

from enum import StrEnum

# Longest first, so "BTCUSDT" loses "USDT" rather than "USD"+"T" confusion.
QUOTE_SUFFIXES = ("FDUSD", "BUSD", "USDT", "USDC", "USDE", "TUSD", "USD", "EUR", "PERP")
ALIASES = {"XBT": "BTC"}
USD_LIKE = frozenset({"USD", "USDT", "USDC", "BUSD", "FDUSD", "TUSD", "USDE", "DAI"})
"""Currencies counted as 1 USD each (stablecoins at par; a documented approximation)."""

_cache: dict[str, str] = {}


class MarginType(StrEnum):
    """How a contract settles: spot exchange, linear (PnL in the quote currency) or inverse
    (USD face value, PnL in the coin)."""

    SPOT = "spot"
    LINEAR = "linear"
    INVERSE = "inverse"


def canonical_asset(name: str) -> str:
    """The canonical coin of a venue's underlying/index/pair name (``btc_usd`` -> ``BTC``)."""
    hit = _cache.get(name)
    if hit is not None:
        return hit
    text = name.strip().upper()
    for sep in ("_", "-", "/"):
        head = text.split(sep, 1)[0]
        if head:
            text = head
    for suffix in QUOTE_SUFFIXES:
        if text.endswith(suffix) and len(text) > len(suffix) and text not in USD_LIKE:
            text = text[: -len(suffix)]
            break
    text = ALIASES.get(text, text)
    _cache[name] = text
    return text


def is_usd(currency: str) -> bool:
    """True for USD and the USD stablecoins converted at par."""
    return currency.upper() in USD_LIKE
