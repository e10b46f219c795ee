"""Test helpers for a venue that cannot be reached: a port nothing listens on, and host names
in the ``.invalid`` TLD (RFC 2606) that do not resolve.

RFC 6761 says resolvers answer "no such name" for ``.invalid`` without asking anyone;
``getaddrinfo`` is made to do exactly that here (``invalid_tld_unresolved``), so that no query
leaves this machine (the test machine's resolver is not on 127.0.0.1).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then closed: connecting is refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def invalid_tld_unresolved(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Names ending in ``.invalid`` do not resolve (``EAI_NONAME``), as RFC 6761 requires."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kw: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name.rstrip(".").endswith(".invalid"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield
