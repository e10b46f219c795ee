"""Local fake venues for tests: a generic websocket server with fault injection.

Per-venue fakes (``adapters.<venue>.fake``) plug a ``FakeHandler`` subclass into ``FakeWsServer``;
``adapters.fakes.venue`` holds what they share (lifecycle, REST app, market clock, order faults,
the standalone entry point) and ``adapters.fakes.market`` the tick-grid market of the
Binance and Bybit fakes.
"""

from adapters.fakes.server import FakeConnection, FakeHandler, FakeWsServer, Handshake, Received

__all__ = ["FakeConnection", "FakeHandler", "FakeWsServer", "Handshake", "Received"]
