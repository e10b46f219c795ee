"""The shipped cluster node files notice a dead gateway within seconds, not the 60 s default."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from engine.config import load_config

CONFIG = Path(__file__).parents[2] / "config"
NODE_FILES = sorted(CONFIG.glob("cluster-node-*.toml"))


def test_there_are_node_files() -> None:
    assert "cluster-node-sim.toml" in [p.name for p in NODE_FILES]


@pytest.mark.parametrize("path", NODE_FILES, ids=lambda p: p.name)
def test_a_node_on_a_gateway_feed_sets_a_short_staleness_window(path: Path) -> None:
    doc = tomllib.loads(path.read_text())
    feeds = [v for v in doc["venues"].values() if v["adapter"] == "adapters.nats:NatsMarketData"]
    assert feeds, "a cluster node takes market data from the gateway"
    assert "stale_after_s" in doc.get("books", {}), "[books] stale_after_s left at its default"
    assert 0 < load_config(path).books.stale_after_s <= 10.0
