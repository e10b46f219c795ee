"""OKX v5 public channel names, as the strings ``OkxCodec.encode_subscribe`` takes.

Theory of operation: OKX subscribes with argument objects
(``{"op":"subscribe","args":[{"channel":"books","instId":"BTC-USDT"}]}``,
https://www.okx.com/docs-v5/en/#overview-websocket-subscribe), but the codec contract passes
channels as strings. A channel string is ``"{channel}:{value}"``; the value goes into the
argument key the channel expects (``instId`` for most, ``instFamily`` for ``opt-summary``,
``instType`` for ``instruments``). Instrument ids contain ``-`` but never ``:``.
"""

from __future__ import annotations

# Book channels and the depth the venue maintains (BookSnapshot.depth).
BOOK_DEPTHS = {"books": 400, "books-l2-tbt": 400, "books50-l2-tbt": 50, "books5": 5,
               "bbo-tbt": 1}
# Channels whose every push is a full snapshot (no ``action`` field).
FULL_SNAPSHOT_BOOKS = frozenset({"books5", "bbo-tbt"})

_ARG_KEYS = {"opt-summary": "instFamily", "instruments": "instType"}


def channel_arg(channel: str) -> dict[str, str]:
    """``"books:BTC-USDT"`` -> ``{"channel": "books", "instId": "BTC-USDT"}``."""
    name, sep, value = channel.partition(":")
    if not sep or not name or not value:
        raise ValueError(f"OKX channel {channel!r}: expected '<channel>:<instId>'")
    return {"channel": name, _ARG_KEYS.get(name, "instId"): value}


def book_channel(inst_id: str, channel: str = "books") -> str:
    """Order book: ``books`` (400 levels, snapshot + updates), ``books5``, ``bbo-tbt``,
    ``books-l2-tbt``, ``books50-l2-tbt``."""
    if channel not in BOOK_DEPTHS:
        raise ValueError(f"not an OKX book channel: {channel!r}")
    return f"{channel}:{inst_id}"


def trades_channel(inst_id: str) -> str:
    return f"trades:{inst_id}"


def tickers_channel(inst_id: str) -> str:
    return f"tickers:{inst_id}"


def mark_price_channel(inst_id: str) -> str:
    return f"mark-price:{inst_id}"


def index_tickers_channel(index_id: str) -> str:
    """Index ticker, e.g. ``BTC-USDT`` / ``BTC-USD`` (the index, not the spot pair)."""
    return f"index-tickers:{index_id}"


def funding_rate_channel(inst_id: str) -> str:
    return f"funding-rate:{inst_id}"


def opt_summary_channel(inst_family: str) -> str:
    """Option analytics of a whole family, e.g. ``BTC-USD``."""
    return f"opt-summary:{inst_family}"


def instruments_channel(inst_type: str) -> str:
    """Instrument list pushes for ``SPOT``/``SWAP``/``FUTURES``/``OPTION``."""
    return f"instruments:{inst_type}"
