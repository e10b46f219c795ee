"""``/metrics`` of ``volta aggregator``: the firm view in the Prometheus exposition format.

Read from the aggregator's ``FirmView`` at scrape time (a custom collector, as the node's
``engine.operator.metrics`` does): firm Greeks per canonical underlying, their use of the firm
limits, firm PnL, per-venue gross notional, each node's freshness, and the aggregator's own
JetStream store (``cluster.store``: whether its stream, consumer and lease bucket are there,
how often they were lost). Names follow the
node's conventions (``volta_`` prefix, units in the name); a value nobody knows (a venue's
collateral without an account view) is left out, never exported as 0.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from cluster.firm import FirmView
from cluster.store import StoreHealth

_LIMITS = (("delta", "max_delta"), ("gamma", "max_gamma"), ("vega_usd", "max_vega_usd"))


class FirmCollector(Collector):
    def __init__(self, firm: FirmView, leader: Callable[[], bool], store: StoreHealth | None) -> None:
        self.firm, self.leader, self.store = firm, leader, store

    def collect(self) -> Iterator[Metric]:
        f = self.firm
        greeks = f.greeks()
        g = GaugeMetricFamily("volta_firm_greek", "firm Greeks per underlying, summed over nodes "
                              "(delta: underlying units, gamma: per USD, vega: USD/vol pt, "
                              "theta: USD/day)", labels=["underlying", "greek"])
        use = GaugeMetricFamily("volta_firm_limit_use_ratio", "|firm Greek| / its firm limit",
                                labels=["underlying", "greek"])
        for und, tot in sorted(greeks.items()):
            for name, val in tot.items():
                g.add_metric([und, name], val)
            lim = f.cfg.firm.get(und)
            for name, key in _LIMITS:
                cap = getattr(lim, key) if lim is not None else None
                if cap:
                    use.add_metric([und, name], abs(tot[name]) / cap)
        yield g
        yield use
        br = GaugeMetricFamily("volta_firm_limit_breached", "1 while a firm limit is breached",
                               labels=["underlying"])
        for und in sorted(f.cfg.firm):
            br.add_metric([und], 1.0 if und in f.breached else 0.0)
        yield br
        pnl = GaugeMetricFamily("volta_firm_pnl_usd", "firm PnL in USD by component",
                                labels=["component"])
        for comp, val in f.pnl_usd().items():
            pnl.add_metric([comp], val)
        yield pnl
        gross = GaugeMetricFamily("volta_firm_venue_gross_notional_usd",
                                  "gross notional per venue over every node (credit risk)",
                                  labels=["venue"])
        coll = GaugeMetricFamily("volta_firm_venue_collateral_usd",
                                 "collateral per venue over every node (absent when unknown)",
                                 labels=["venue"])
        for venue, row in sorted(f.venues().items()):
            gross.add_metric([venue], row["gross_notional_usd"])
            if row["collateral_usd"] is not None:
                coll.add_metric([venue], row["collateral_usd"])
        yield gross
        yield coll
        stale = GaugeMetricFamily("volta_firm_node_stale", "1 when the node is silent past "
                                  "node_stale_after_s", labels=["node"])
        seen = GaugeMetricFamily("volta_firm_node_last_seen_seconds",
                                 "seconds since the node's last report or heartbeat", labels=["node"])
        now = time.monotonic()
        for node, st in sorted(f.nodes.items()):
            stale.add_metric([node], 1.0 if st.stale else 0.0)
            if st.last_seen:
                seen.add_metric([node], now - st.last_seen)
        yield stale
        yield seen
        lag = GaugeMetricFamily("volta_firm_node_reports_lagging", "1 when the node's heartbeats "
                                "name a report the firm view has not received for "
                                "node_stale_after_s (its exposure here out of date)", labels=["node"])
        for node, st in sorted(f.nodes.items()):
            lag.add_metric([node], 1.0 if st.lagging else 0.0)
        yield lag
        yield GaugeMetricFamily("volta_firm_aggregator_leader", "1 while this aggregator leads",
                                value=1.0 if self.leader() else 0.0)
        if self.store is not None:
            st = self.store
            yield GaugeMetricFamily("volta_firm_store_ok", "1 while the server has the aggregator's "
                                    "reports stream, consumer and lease bucket (0: lost, the firm "
                                    "view not following the nodes)", value=1.0 if st.ok else 0.0)
            yield CounterMetricFamily("volta_firm_store_losses", "times the server lost them "
                                      "(restarted with an empty store, deleted)", value=st.losses)
            if st.lost_at_ns:
                yield GaugeMetricFamily("volta_firm_store_last_loss_timestamp_seconds",
                                        "wall-clock time the last loss was detected",
                                        value=st.lost_at_ns / 1e9)


def firm_registry(firm: FirmView, leader: Callable[[], bool],
                  store: StoreHealth | None = None) -> CollectorRegistry:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(FirmCollector(firm, leader, store))
    return reg


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
