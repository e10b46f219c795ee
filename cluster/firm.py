"""The firm-wide view: every node's latest exposure report, summed; budgets; breaches.

Pure state (no I/O), owned by the aggregator and fed in stream order.

* ``apply`` records every (incarnation, seq) once: a redelivered or replayed report is a
  duplicate and ignored. A report newer than the node's current one becomes the node's state;
  an older one arriving late (JetStream redelivers a message lost in flight after its ack
  wait, so it can come after its successors) fills its gap but does not roll the state back.
  ``missing`` is the number of seqs of the current incarnation not received yet. A report
  applied as a ``baseline`` (an aggregator rebuilding from the stream's latest report per
  node) stands for the seqs before it too: an earlier life of the aggregator took those, so
  they are not counted missing.
* A node is *stale* when nothing (report or heartbeat) came for ``stale_after_s``; its last
  exposure still counts in every firm figure (the positions did not go away because the node
  went quiet).
* A node is *lagging* when its heartbeats name a report (incarnation, seq) newer than the one
  the view holds and that report has not come for ``stale_after_s``: the node is alive but its
  reports do not arrive (the stream refuses them: full, capped), so the exposure counted for
  it is out of date. Heartbeats alone would show such a node as fresh.
* Firm Greeks per underlying are the sum of the nodes' own totals; per (underlying, expiry)
  the sum of their buckets; credit risk per venue the sum of gross notionals.
* ``allocate`` splits each firm limit among the nodes by weight (equal by default); a
  breached underlying's budgets shrink to ``shrink_factor`` of the allocation.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from cluster.messages import Budget, ExposureReport
from engine.config.schema import ClusterConfig, FirmUnderlyingLimits

GREEKS = ("delta", "gamma", "vega_usd", "theta_usd_day")
_LIMIT_OF = {"delta": "max_delta", "gamma": "max_gamma", "vega_usd": "max_vega_usd"}


@dataclass
class NodeState:
    node_id: str
    report: ExposureReport | None = None
    last_seen: float = 0.0  # monotonic seconds
    stale: bool = False
    applied: int = 0  # reports that became the node's state
    late: int = 0  # older reports that arrived after a newer one (gap filled, state kept)
    duplicates: int = 0
    received_seqs: list[tuple[int, int]] = field(default_factory=list)  # (tests: record_seqs)
    _seen: set[int] = field(default_factory=set)  # seqs of the current incarnation
    _incarnation: int = 0
    _max_seq: int = 0
    _base: int = 0  # seqs up to this one were received before a rebuild (see ``baseline``)
    lagging: bool = False
    announced: tuple[int, int] = (0, 0)  # the newest (incarnation, report seq) heartbeats named
    _behind_since: float = 0.0  # monotonic; when a heartbeat named a report not here yet (0: none)

    @property
    def missing(self) -> int:
        return self._max_seq - self._base - len(self._seen)

    @property
    def held(self) -> tuple[int, int]:
        """(incarnation, seq) of the report the view holds ((0, 0): none)."""
        return (self.report.incarnation, self.report.seq) if self.report is not None else (0, 0)

    @property
    def behind(self) -> int | None:
        """Reports the heartbeats named that the view does not hold (None: another life's)."""
        if self.announced[0] != self.held[0]:
            return None if self.announced > self.held else 0
        return max(0, self.announced[1] - self.held[1])
    budget_ack_revision: int = 0
    kill_acks: dict[str, int] = field(default_factory=dict)


class FirmView:
    def __init__(self, cfg: ClusterConfig) -> None:
        self.cfg = cfg
        self.nodes: dict[str, NodeState] = {n: NodeState(n) for n in cfg.nodes}
        self.breached: dict[str, list[str]] = {}  # underlying -> breached Greeks
        self.record_seqs = True

    def node(self, node_id: str) -> NodeState:
        st = self.nodes.get(node_id)
        if st is None:
            st = self.nodes[node_id] = NodeState(node_id)
        return st

    # -- input ----------------------------------------------------------------------------
    def apply(self, report: ExposureReport, now: float, baseline: bool = False) -> bool:
        st = self.node(report.node_id)
        st.last_seen = max(st.last_seen, now)
        inc, seq = report.incarnation, report.seq
        if inc < st._incarnation:
            st.duplicates += 1  # a previous life of the node: superseded
            return False
        if inc > st._incarnation:
            st._incarnation, st._max_seq, st._base = inc, 0, 0
            st._seen = set()
        if seq <= st._base or seq in st._seen:
            st.duplicates += 1
            return False
        if baseline and seq - 1 > st._base:
            # the seqs under the new base are an earlier life's: the ones already seen
            # leave the count too (the rebuild's consumer goes on delivering live reports as
            # baselines, each raising the base past the one before)
            st._base = seq - 1
            st._seen = {s for s in st._seen if s > st._base}
        st._seen.add(seq)
        st._max_seq = max(st._max_seq, seq)
        if self.record_seqs:
            st.received_seqs.append((inc, seq))
        last = st.report
        if last is not None and (inc, seq) <= (last.incarnation, last.seq):
            st.late += 1
            return False
        st.report = report
        st.applied += 1
        if st._behind_since and st.held >= st.announced:
            st._behind_since = 0.0
        return True

    def seen(self, node_id: str, now: float, incarnation: int = 0, report_seq: int = 0) -> None:
        """A heartbeat: alive, and its latest report is (``incarnation``, ``report_seq``)."""
        st = self.node(node_id)
        st.last_seen = max(st.last_seen, now)
        named = (incarnation, report_seq)
        if report_seq and named > st.held:
            st.announced = max(st.announced, named)
            if not st._behind_since:
                st._behind_since = now

    def update_lagging(self, now: float) -> tuple[list[str], list[str]]:
        """(nodes whose reports just fell behind their heartbeats, nodes just caught up)."""
        limit = self.cfg.node_stale_after_s
        return self._flip("lagging", lambda st: bool(st._behind_since) and now - st._behind_since > limit)

    def update_staleness(self, now: float) -> tuple[list[str], list[str]]:
        """(nodes that just went stale, nodes that just came back)."""
        return self._flip("stale", lambda st: now - st.last_seen > self.cfg.node_stale_after_s)

    def _flip(self, flag: str, on: Callable[[NodeState], bool]) -> tuple[list[str], list[str]]:
        """Set every node's boolean ``flag`` to ``on``; (nodes turned on, nodes turned off)."""
        went, back = [], []
        for st in self.nodes.values():
            now_on, was = on(st), getattr(st, flag)
            if now_on and not was:
                went.append(st.node_id)
            elif was and not now_on:
                back.append(st.node_id)
            setattr(st, flag, now_on)
        return went, back

    # -- figures -----------------------------------------------------------------------------
    def greeks(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for st in self.nodes.values():
            if st.report is None:
                continue
            for t in st.report.totals:
                g = out.setdefault(t.underlying, dict.fromkeys(GREEKS, 0.0))
                g["delta"] += t.delta
                g["gamma"] += t.gamma
                g["vega_usd"] += t.vega_usd
                g["theta_usd_day"] += t.theta_usd_day
        return out

    def greeks_incomplete(self) -> dict[str, dict[str, list[str]]]:
        """Underlying -> Greek -> the positions (``node: instrument``) the firm total of that
        Greek leaves out, their Greek not known yet at their node (absent: complete)."""
        out: dict[str, dict[str, list[str]]] = {}
        for st in self.nodes.values():
            for t in st.report.totals if st.report else ():
                for name, ids in t.uncounted.items():
                    out.setdefault(t.underlying, {}).setdefault(name, []).extend(
                        f"{st.node_id}: {iid}" for iid in ids)
        return out

    def greeks_by_expiry(self) -> dict[str, dict[int, dict[str, float]]]:
        out: dict[str, dict[int, dict[str, float]]] = {}
        for st in self.nodes.values():
            for b in st.report.greeks if st.report else ():
                g = out.setdefault(b.underlying, {}).setdefault(b.expiry_ns, dict.fromkeys(GREEKS, 0.0))
                g["delta"] += b.delta
                g["gamma"] += b.gamma
                g["vega_usd"] += b.vega_usd
                g["theta_usd_day"] += b.theta_usd_day
        return out

    def venues(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for st in self.nodes.values():
            for v in st.report.venues if st.report else ():
                row = out.setdefault(v.venue, {"gross_notional_usd": 0.0, "unpriced_positions": 0,
                                               "open_orders": 0, "collateral_usd": 0.0,
                                               "collateral_known": True, "nodes": []})
                row["gross_notional_usd"] += v.gross_notional_usd
                row["unpriced_positions"] += v.unpriced_positions
                row["open_orders"] += v.open_orders
                if v.collateral_usd is None:
                    row["collateral_known"] = False
                else:
                    row["collateral_usd"] += v.collateral_usd
                row["nodes"].append(st.node_id)
        for row in out.values():  # unknown is not zero
            if not row.pop("collateral_known"):
                row["collateral_usd"] = None
        return out

    def pnl_usd(self) -> dict[str, float]:
        tot = {"realized": 0.0, "unrealized": 0.0, "fees": 0.0, "funding": 0.0, "total": 0.0}
        for st in self.nodes.values():
            if st.report is not None:
                for k in tot:
                    tot[k] += getattr(st.report.pnl_usd, k)
        return tot

    def pnl_unpriced(self) -> dict[str, float]:
        """Per currency, the nodes' PnL with no USD price yet (not in ``pnl_usd``)."""
        out: dict[str, float] = {}
        for st in self.nodes.values():
            if st.report is not None:
                for ccy, amount in st.report.pnl_usd.unpriced.items():
                    out[ccy] = out.get(ccy, 0.0) + amount
        return out

    # -- limits and budgets -----------------------------------------------------------------------
    def breaches(self) -> dict[str, list[str]]:
        """Underlying -> the Greeks whose firm total is beyond its firm limit now."""
        g = self.greeks()
        out: dict[str, list[str]] = {}
        for und, lim in self.cfg.firm.items():
            tot = g.get(und)
            if tot is None:
                continue
            over = [name for name, key in _LIMIT_OF.items()
                    if (limit := getattr(lim, key)) is not None and abs(tot[name]) > limit]
            if over:
                out[und] = over
        return out

    def allocate(self) -> dict[str, dict[str, Budget]]:
        names = sorted(self.nodes)
        weights = {n: self.cfg.node_weights.get(n, 1.0) for n in names}
        total = sum(weights.values()) or 1.0
        out: dict[str, dict[str, Budget]] = {}
        for n in names:
            share = weights[n] / total
            per: dict[str, Budget] = {}
            for und, lim in self.cfg.firm.items():
                f = share * (self.cfg.breach_budget_factor if und in self.breached else 1.0)
                per[und] = _scaled(lim, f)
            out[n] = per
        return out

    # -- the JSON view ------------------------------------------------------------------------
    def view(self, now: float) -> dict[str, Any]:
        nodes = {}
        for n, st in sorted(self.nodes.items()):
            r = st.report
            nodes[n] = {
                "stale": st.stale,
                "last_seen_s_ago": round(now - st.last_seen, 3) if st.last_seen else None,
                "reports_applied": st.applied, "reports_duplicate": st.duplicates,
                "reports_missing": st.missing, "reports_late": st.late,
                "reports_lagging": st.lagging, "reports_behind": st.behind,
                "budget_ack_revision": st.budget_ack_revision,
                "report": msgspec.to_builtins(r) if r is not None else None,
            }
        return {
            "greeks": self.greeks(),
            "greeks_incomplete": self.greeks_incomplete(),
            "greeks_by_expiry": {u: {str(e): g for e, g in sorted(per.items())}
                                 for u, per in self.greeks_by_expiry().items()},
            "pnl_usd": self.pnl_usd(),
            "pnl_unpriced": self.pnl_unpriced(),
            "venues": self.venues(),
            "firm_limits": {u: msgspec.to_builtins(lim) for u, lim in self.cfg.firm.items()},
            "breached": self.breached,
            "budgets": {n: {u: msgspec.to_builtins(b) for u, b in per.items()}
                        for n, per in self.allocate().items()},
            "nodes": nodes,
        }


def _scaled(lim: FirmUnderlyingLimits, f: float) -> Budget:
    def s(x: float | None) -> float | None:
        return None if x is None else x * f
    return Budget(s(lim.max_delta), s(lim.max_gamma), s(lim.max_vega_usd))
