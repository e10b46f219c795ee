"""Volta as services over NATS JetStream: a market-data gateway, strategy nodes and a central
risk aggregator with budgets and automated mitigation. See docs/cluster.md.

May import ``engine`` and ``adapters`` (like ``backtest``); ``engine`` reaches it only by import
path (``cluster.node:NodeService``, started by the runtime when ``[cluster]`` is set)."""
