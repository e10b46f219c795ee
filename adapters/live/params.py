"""Checks every live venue's parameters share (each venue's ``params.py`` keeps its own fields).

A deployment file is decoded into a venue's frozen ``msgspec`` params struct; its
``__post_init__`` calls ``check_common`` so a bad file fails at load time, with the same words
for the same mistake on every venue: an unknown channel, no market named, half a set of
credentials (a key without its secret would fail only at the first signed request), an
endpoint override without its scheme (``127.0.0.1:8767``) or with the wrong one (``http://``
for a websocket), which would fail only at the start, in an HTTP library's words.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import urlsplit

__all__ = ["check_common"]


def check_common(*, channels: Sequence[str], known_channels: Iterable[str], markets: Sequence[str],
                 markets_field: str, market_word: str, credentials: Mapping[str, object],
                 ws_urls: Mapping[str, str] | None = None,
                 http_urls: Mapping[str, str] | None = None) -> None:
    """Raise ``ValueError`` for an unknown channel, an empty ``markets`` list (named
    ``markets_field``, one ``market_word`` each), credentials set only in part, or an endpoint
    override (field -> value; "" is no override) that is not a ``ws(s)://`` (``ws_urls``) or
    ``http(s)://`` (``http_urls``) URL with a host."""
    for urls, schemes, kind in ((ws_urls, ("ws", "wss"), "a ws:// or wss://"),
                                (http_urls, ("http", "https"), "an http:// or https://")):
        for field, url in (urls or {}).items():
            parts = urlsplit(url)
            if url and (parts.scheme not in schemes or not parts.netloc):
                raise ValueError(f"{field} must be {kind} URL with a host, got {url!r}")
    known = list(known_channels)
    bad = sorted(set(channels) - set(known))
    if bad:
        raise ValueError(f"unknown channels {bad}: expected some of {known}")
    if not markets:
        raise ValueError(f"{markets_field} must name at least one {market_word}")
    present = [bool(v) for v in credentials.values()]
    if any(present) and not all(present):
        names = list(credentials)
        listed = ", ".join(names[:-1]) + f" and {names[-1]}"
        raise ValueError(f"{listed} go together (all set, or all empty)" if len(names) > 2
                         else f"{listed} go together (both set, or both empty)")
