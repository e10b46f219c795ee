"""``/metrics``: the node's state in the Prometheus exposition format (prometheus_client).

Theory of operation: nothing is counted on the trading path for Prometheus. A custom
collector reads the kernel's own counters and state (and the operator tape's) at scrape time
and yields metric families; only the event-loop lag histogram is observed continuously, by
the operator's sampling task. The execution core's latency histograms (tick-to-order, risk
gate, journal write) are fed from its preallocated rings (``engine.execution.latency``):
the trading path only stores a ``perf_counter_ns`` delta; ``observe`` runs here, when
``/metrics`` is scraped or the operator samples (``drain_latency``), never per order. Each node gets its own ``CollectorRegistry`` (two nodes in one
process, as in tests, never share series). Names follow the Prometheus conventions: a
``volta_`` prefix, counters end in ``_total``, durations in ``_seconds``, units in the name
(``_usd``, ``_contracts``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector

from engine.model import BookStatus, TradingState
from engine.operator.rejects import REJECT_CATEGORIES
from engine.operator.views import loss_use_pct

if TYPE_CHECKING:
    from engine.execution.latency import ExecutionLatency
    from engine.kernel import Kernel
    from engine.operator.alerts import Notifier
    from engine.operator.tape import Tape

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LAG_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
# Sub-millisecond bounds: an in-process decision takes microseconds; a journal commit
# (SQLite, fsync) can take milliseconds.
TICK_BUCKETS = (0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                0.01, 0.025, 0.05, 0.1)
GATE_BUCKETS = (0.000001, 0.0000025, 0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025,
                0.0005, 0.001, 0.01)
JOURNAL_BUCKETS = (0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                   0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
ACK_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def _f(x: float) -> float:
    return x if math.isfinite(x) else math.nan


class KernelCollector(Collector):
    def __init__(self, kernel: Kernel, tape: Tape) -> None:
        self.k, self.tape = kernel, tape

    def collect(self) -> Iterator[Metric]:  # noqa: C901 - one block per family
        k, tape = self.k, self.tape
        venues = sorted(set(k.adapters) | set(tape.connection))
        up = GaugeMetricFamily("volta_venue_connected", "1 when every stream of the venue's "
                               "session is connected",
                               labels=["venue"])
        rate = GaugeMetricFamily("volta_venue_messages_per_second",
                                 "book updates received per second (last sample)", labels=["venue"])
        msgs = CounterMetricFamily("volta_venue_book_updates", "book updates applied", labels=["venue"])
        per_venue_updates: dict[str, int] = {v: 0 for v in venues}
        books = GaugeMetricFamily("volta_books", "books by integrity status", labels=["venue", "status"])
        by_status: dict[tuple[str, str], int] = {}
        for iid, book in k.books.items():
            v = iid.partition(":")[0]
            per_venue_updates[v] = per_venue_updates.get(v, 0) + book.updates
            key = (v, str(book.status))
            by_status[key] = by_status.get(key, 0) + 1
        for v in sorted(per_venue_updates):
            status = tape.connection.get(v, "connected")
            up.add_metric([v], 1.0 if status == "connected" else 0.0)
            rate.add_metric([v], tape.rates.get(v, 0.0))
            msgs.add_metric([v], float(per_venue_updates[v]))
            for st in (BookStatus.LIVE, BookStatus.SYNCING, BookStatus.STALE):
                books.add_metric([v, str(st)], float(by_status.get((v, str(st)), 0)))
        yield from (up, rate, msgs, books)
        limited = CounterMetricFamily("volta_venue_rate_limited", "rate-limit answers from the venue",
                                      labels=["venue"])
        for v in sorted(per_venue_updates):
            limited.add_metric([v], float(tape.rate_limited.get(v, 0)))
        yield limited
        for name, reason, help_ in (("volta_book_gaps", "gap", "sequence gaps detected"),
                                    ("volta_book_checksum_failures", "checksum", "book checksum mismatches"),
                                    ("volta_book_crossed", "crossed", "crossed books detected")):
            fam = CounterMetricFamily(name, help_, labels=["venue"])
            for v in sorted(per_venue_updates):
                fam.add_metric([v], float(tape.book_events.get(v, {}).get(reason, 0)))
            yield fam
        stats = k.book_keeper.stats
        yield CounterMetricFamily("volta_book_resyncs", "re-snapshots requested by the integrity layer",
                                  value=float(stats.resyncs))
        # -- orders ---------------------------------------------------------------------------
        g = k.gate
        yield CounterMetricFamily("volta_orders_submitted", "orders approved by the risk gate and sent",
                                  value=float(g.approved))
        yield GaugeMetricFamily("volta_open_orders", "orders working now", value=float(k.orders.open_count()))
        yield CounterMetricFamily("volta_fills", "fills applied", value=float(k.counters.get("fills", 0)))
        den = CounterMetricFamily("volta_order_denials", "orders denied by the risk gate", labels=["reason"])
        for reason, n in sorted(g.denied.items()):
            den.add_metric([str(reason)], float(n))
        yield den
        rej = CounterMetricFamily("volta_order_rejects", "orders (and cancels/amends) a venue "
                                  "refused, by reason category (engine.operator.rejects)",
                                  labels=["venue", "reason"])
        for v in sorted(set(k.adapters) | set(tape.rejects)):
            counts = tape.rejects.get(v, {})
            for why in REJECT_CATEGORIES:  # every category: a first reject is an increase
                rej.add_metric([v, why], float(counts.get(why, 0)))
        yield rej
        # -- positions, PnL, Greeks ------------------------------------------------------------
        pos = GaugeMetricFamily("volta_position_contracts", "position per instrument (contracts)",
                                labels=["instrument"])
        for p in k.portfolio.positions():
            if p.qty != 0.0 or p.fills:
                pos.add_metric([p.instrument.id], p.qty)
        yield pos
        pnl = k.portfolio.pnl_usd()
        fam = GaugeMetricFamily("volta_pnl_usd", "PnL in USD by component", labels=["component"])
        for comp in ("realized", "unrealized", "fees", "funding", "total"):
            if comp in pnl:
                fam.add_metric([comp], _f(pnl[comp]))
        yield fam
        yield GaugeMetricFamily("volta_pnl_usd_partial", "1 when volta_pnl_usd total leaves out "
                                "amounts with no USD price yet or positions with no mark",
                                value=1.0 if pnl.get("partial") else 0.0)
        greeks = GaugeMetricFamily("volta_portfolio_greek", "portfolio Greeks per underlying "
                                   "(delta: underlying units, gamma: per USD, vega: USD/vol pt, "
                                   "theta: USD/day)", labels=["underlying", "greek"])
        use = GaugeMetricFamily("volta_greek_limit_use_ratio", "portfolio Greek / its limit",
                                labels=["underlying", "greek"])
        left_out = GaugeMetricFamily("volta_portfolio_greek_uncounted_positions",
                                     "open positions left out of volta_portfolio_greek (their "
                                     "Greek not known yet): 0 when the total is complete",
                                     labels=["underlying", "greek"])
        lim = g.limits
        for und in sorted(set(k.portfolio.underlyings()) | set(lim.underlyings)):
            d, gm, vg, th = k.portfolio.greeks(und)
            for name, val in (("delta", d), ("gamma", gm), ("vega_usd", vg), ("theta_usd_day", th)):
                greeks.add_metric([und, name], _f(val))
                left_out.add_metric([und, name], float(len(k.portfolio.uncounted(und, name.split("_")[0]))))
            ul = lim.underlyings.get(und)
            if ul is not None:
                for name, val, cap in (("delta", d, ul.max_delta), ("gamma", gm, ul.max_gamma),
                                       ("vega_usd", vg, ul.max_vega_usd)):
                    if cap:
                        use.add_metric([und, name], abs(val) / cap)
        yield greeks
        yield use
        yield left_out
        lu = loss_use_pct(k)
        if lu is not None:
            yield GaugeMetricFamily("volta_loss_limit_use_ratio", "daily loss / drawdown use (larger)",
                                    value=lu / 100.0)
        # -- safety ---------------------------------------------------------------------------
        yield GaugeMetricFamily("volta_kill_level", "kill switch level (0 off, 1 halt, 2 cancel all, "
                                "3 flatten)", value=float(k.killswitch.level))
        st = GaugeMetricFamily("volta_trading_state", "1 for the current trading state", labels=["state"])
        for s in TradingState:
            st.add_metric([str(s)], 1.0 if g.state is s else 0.0)
        yield st
        vh = GaugeMetricFamily("volta_venue_halted", "1 while the venue is halted on its own "
                               "(a stream down, reconciliation pending)", labels=["venue"])
        halted = k.trading.halted_venues()
        for venue in sorted(set(k.adapters) | set(halted)):
            vh.add_metric([venue], 1.0 if venue in halted else 0.0)
        yield vh
        # -- strategies -----------------------------------------------------------------------
        cb = SummaryMetricFamily("volta_strategy_callback_seconds", "time in each strategy's callbacks",
                                 labels=["strategy"])
        errs = CounterMetricFamily("volta_strategy_errors", "exceptions raised by strategy callbacks",
                                   labels=["strategy"])
        for sid, t in k.strategy_timing().items():
            cb.add_metric([sid], count_value=float(t.get("calls", 0)),
                          sum_value=float(t.get("total_ms", 0.0)) / 1e3)
            errs.add_metric([sid], float(t.get("errors", 0)))
        yield cb
        yield errs
        yield CounterMetricFamily("volta_alerts", "alerts raised", value=float(tape.alerts_total))


class NodeMetrics:
    """The registry of one node: the kernel collector plus the event-loop lag histogram."""

    def __init__(self, kernel: Kernel, tape: Tape) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(KernelCollector(kernel, tape))
        self.loop_lag = Histogram("volta_event_loop_lag_seconds",
                                  "how late the event loop ran a 250 ms timer", buckets=LAG_BUCKETS,
                                  registry=self.registry)
        self.ack_latency = Histogram("volta_order_ack_latency_seconds",
                                     "order submitted to the venue's acknowledgement (accept or reject) received",
                                     buckets=ACK_BUCKETS, registry=self.registry)
        tape.on_ack_latency = self.ack_latency.observe
        self._latency = kernel.execution.latency
        self.tick_to_order = Histogram(
            "volta_tick_to_order_seconds", "book event arrived to the order it caused handed to "
            "the venue adapter (gate and journal commit included)", buckets=TICK_BUCKETS,
            registry=self.registry)
        self.gate_check = Histogram("volta_gate_check_seconds", "risk gate decision per order",
                                    buckets=GATE_BUCKETS, registry=self.registry)
        self.journal_write = Histogram(
            "volta_journal_write_seconds", "journal commit of a batch of commands before they "
            "are sent", buckets=JOURNAL_BUCKETS, registry=self.registry)
        self.registry.register(_DroppedCollector(self._latency))

    def drain_latency(self) -> None:
        """Move the execution core's latency samples into the histograms (off the trading
        path: at scrape time, and from the operator's sampler so the rings never overflow)."""
        lat = self._latency
        lat.tick_to_order.drain(self.tick_to_order.observe)
        lat.gate.drain(self.gate_check.observe)
        lat.journal.drain(self.journal_write.observe)

    def loop_lag_histogram(self) -> dict[str, list[float | None]]:
        return self.histogram(self.loop_lag)

    @staticmethod
    def histogram(hist: Histogram) -> dict[str, list[float | None]]:
        """Non-cumulative counts per bucket (upper bound in ms; None = +Inf) for the dashboard."""
        bounds: list[float | None] = []
        cumulative: list[float] = []
        for metric in hist.collect():
            for s in metric.samples:
                if s.name.endswith("_bucket"):
                    le = s.labels["le"]
                    bounds.append(None if le == "+Inf" else round(float(le) * 1e3, 4))  # (1 us bounds)
                    cumulative.append(s.value)
        counts = [c - (cumulative[i - 1] if i else 0.0) for i, c in enumerate(cumulative)]
        return {"le_ms": bounds, "count": counts}

    def render(self) -> bytes:
        self.drain_latency()
        return generate_latest(self.registry)


class _DroppedCollector(Collector):
    """Samples a ring overwrote before they reached a histogram (0 unless scrapes lag far)."""

    def __init__(self, latency: ExecutionLatency) -> None:
        self.latency = latency

    def collect(self) -> Iterator[Metric]:
        fam = CounterMetricFamily("volta_latency_samples_dropped",
                                  "latency samples lost before reaching their histogram",
                                  labels=["histogram"])
        for name, ring in (("tick_to_order", self.latency.tick_to_order),
                           ("gate_check", self.latency.gate), ("journal_write", self.latency.journal)):
            fam.add_metric([name], float(ring.dropped))
        yield fam


class OperatorCollector(Collector):
    """The operator surface's own health: alert deliveries per sink (a sink that fails cannot
    report its own failure) and requests refused for their token."""

    def __init__(self, notifier: Notifier, refused: dict[int, int], sample_errors: Callable[[], int]) -> None:
        self.notifier, self.refused, self.sample_errors = notifier, refused, sample_errors

    def collect(self) -> Iterator[Metric]:
        sent = CounterMetricFamily("volta_alert_deliveries", "alert deliveries per sink and "
                                   "outcome (sent, failed)", labels=["sink", "outcome"])
        down = GaugeMetricFamily("volta_alert_sink_down", "1 while the sink's last delivery "
                                 "failed", labels=["sink"])
        for kind, d in sorted(self.notifier.delivery().items()):
            sent.add_metric([kind, "sent"], float(d["sent"]))
            sent.add_metric([kind, "failed"], float(d["failed"]))
            down.add_metric([kind], 1.0 if d["down"] else 0.0)
        yield sent
        yield down
        refused = CounterMetricFamily("volta_operator_refused", "operator API requests refused "
                                      "for their token (401: none, 403: wrong)", labels=["status"])
        for status in (401, 403):
            refused.add_metric([str(status)], float(self.refused.get(status, 0)))
        yield refused
        yield CounterMetricFamily("volta_operator_sample_errors", "failures of the operator's 250 ms "
                                  "sampler (views, alert checks; see operator_sample_failed)",
                                  value=float(self.sample_errors()))
