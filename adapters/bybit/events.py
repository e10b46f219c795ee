"""Bybit-specific events the normalized model has no type for.

Theory of operation: a well-formed frame in which Bybit *refuses* something (a subscribe
for an unknown symbol, a failed auth, a REST body with ``retCode != 0``) is not a protocol
error: the frame parsed fine and the venue meant it. Raising ``VenueProtocolError`` would
make the session count it as garbage; returning ``[]`` would hide it. So the codec returns a
``VenueError`` event and the session decides (log it, drop the topic, alert).
"""

from __future__ import annotations

import msgspec


class VenueError(msgspec.Struct, frozen=True, gc=False):
    """Bybit rejected a request.

    ``op`` is the operation (``"subscribe"``, ``"auth"``, ``"order.create"``, ``"rest"``),
    ``code`` Bybit's ``retCode`` (0 when the frame only carries ``success: false``),
    ``message`` its ``ret_msg``/``retMsg`` (e.g. ``"Invalid symbol :[NOTACOINUSDT]"``).
    Sources: https://bybit-exchange.github.io/docs/v5/ws/connect (``success``/``ret_msg``
    acks), https://bybit-exchange.github.io/docs/v5/error (``retCode``).
    """

    venue: str
    op: str
    code: int
    message: str
    req_id: str
    ts_recv: int
