"""The venue-neutral NATS market-data adapter: a strategy node's market data from a Volta
gateway (``volta gateway``) instead of a venue connection. See docs/cluster.md."""

from adapters.nats.adapter import NatsMarketData, NatsMarketDataParams

__all__ = ["NatsMarketData", "NatsMarketDataParams"]
