"""Why venues refuse orders, in a small fixed set of categories (the operator's ``reason``).

A venue's ``OrderRejected.reason`` is free text: a simulator code (``post_only_would_cross``),
an adapter's own (``NOT_CONNECTED: private stream down (never sent)``) or the venue's code and
message (``-2019: Margin is insufficient.``, ``10009: not_enough_funds``), sometimes quoting an
order id. Used as a Prometheus label as it is, it would grow a series per distinct message.
``reject_category`` maps it onto ``REJECT_CATEGORIES``: the text is lowercased, ``_`` and
``-`` become spaces, and the first rule whose phrase it contains names the category (rules are
checked in order: "THROTTLED: ... never sent" is throttled, not a connection problem);
anything no rule knows is ``other``. So the label set is this tuple, whatever the venues say;
the full text of each venue's last reject is kept beside the counts (``Tape.last_reject``) for
the operator who needs the exact words.
"""

from __future__ import annotations

from typing import Final

_RULES: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    ("not_sent", ("not sent:",)),  # the journal refused the command: it never left the engine
    ("throttled", ("throttled", "rate limit", "too many", "ratelimit")),
    ("not_connected", ("not connected", "stream down", "disconnected")),
    ("not_trading", ("not trading", "no credentials", "no wallet", "market data only")),
    ("post_only", ("post only", "postonly", "would cross", "would take liquidity")),
    ("insufficient_margin", ("insufficient", "not enough", "margin", "balance")),
    ("duplicate_order_id", ("duplicate",)),
    ("unknown_order", ("unknown order", "not found", "not exist", "too late",
                       "not sent by this session")),
    ("instrument_unavailable", ("unknown instrument", "not active", "market closed",
                                "instrument closed", "expired instrument", "settlement")),
    ("invalid_order", ("invalid", "quantity", "price", "lot", "tick", "minimum",
                       "precision", "size")),
)
REJECT_CATEGORIES: Final[tuple[str, ...]] = (*(name for name, _ in _RULES), "other")
"""Every value ``reject_category`` can return: the ``reason`` label's whole set."""


def reject_category(reason: str) -> str:
    """The category of a venue reject reason (one of ``REJECT_CATEGORIES``)."""
    text = reason.lower().replace("_", " ").replace("-", " ")
    for name, phrases in _RULES:
        if any(p in text for p in phrases):
            return name
    return "other"
