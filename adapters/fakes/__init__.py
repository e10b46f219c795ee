"""Local fake venues for tests: a generic websocket server with fault injection.

Per-venue fakes plug a ``FakeHandler`` subclass into ``FakeWsServer``.
"""

from adapters.fakes.server import FakeConnection, FakeHandler, FakeWsServer, Handshake, Received

__all__ = ["FakeConnection", "FakeHandler", "FakeWsServer", "Handshake", "Received"]
