"""The sans-IO codec contract every venue implements (``adapters/<venue>/codec.py``).

A codec is a pure state machine: frames in, normalized events out, frames to send. It never
touches a socket, a clock, asyncio or a logger; the receive time is passed in. Fed arbitrary
bytes, a codec either decodes them or raises ``VenueProtocolError`` (never anything else), so
a session can count and report a malformed frame and carry on (h11's fuzzing rule).
"""

from __future__ import annotations

from typing import Any, Protocol


class VenueProtocolError(Exception):
    """A frame the codec cannot make sense of. ``remote`` is True when the venue is at fault."""

    def __init__(self, message: str, *, venue: str = "", remote: bool = True) -> None:
        super().__init__(message)
        self.venue = venue
        self.remote = remote


class Codec(Protocol):
    venue: str

    def on_open(self, url: str) -> list[Any]:
        """A new connection opened: forget per-connection state; books restart from snapshots."""
        ...

    def decode(self, data: bytes | str, ts_recv: int, url: str = "") -> list[Any]:
        """Decode one websocket frame into normalized events (possibly none)."""
        ...

    def decode_rest(self, url: str, body: bytes | str, ts_recv: int) -> list[Any]:
        """Decode a REST response body (depth snapshot, instrument list) into events/instruments."""
        ...
