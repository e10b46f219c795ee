"""The node side of a cluster: exposure reports, heartbeats, budgets and kill commands.

Started by the runtime when the deployment has ``[cluster]`` (role ``node``); it reads the
kernel only through public state and changes it only through the gate's and the kill
switch's public methods. Pre-trade checks stay synchronous and local: the aggregator's budgets
become per-underlying limits of this node's own gate (``RiskGate.set_budget``, the tighter of
budget and configured limit), so no order ever waits for the network.

Theory of operation:

* **Reports.** Every ``report_interval_s`` the node builds its exposure report
  (``cluster.exposure``) and publishes it to the JetStream reports stream only if it changed:
  on change, coalesced to at most one per interval. Each report carries (incarnation, seq) and
  goes out with the JetStream message id ``<node>-<incarnation>-<seq>``; the incarnation is
  the wall clock at start, but always above the one of the node's last report in the stream
  (a node restarted on a clock that is behind is still a newer life, not an older one whose
  reports the aggregator drops); a publish that was not
  acknowledged is retried with the same id, so the stream stores it once. The current state
  is published again, changed or not, when the connection comes back and when the aggregator
  asks (``resend_subject``: it found the stream lost): a nats-server restarted with an empty
  store holds none of the reports, and a node whose state did not change would otherwise stay
  out of every firm view rebuilt from the stream. A publish that finds no stream recreates it
  (the configured settings), so the reports are kept even before an aggregator runs.
  No report goes out before the node has recovered its state (journal, venue reconciliation).
* **Heartbeats** (core NATS) every ``heartbeat_interval_s``.
* **Budgets** arrive as ``BudgetGrant`` requests, are applied to the gate and acknowledged
  (``BudgetAck``). A grant is also the aggregator's lease on this node.
* **Aggregator loss.** Without a grant for ``aggregator_timeout_s`` (and from start until the
  first one) the node holds its gate in ``on_aggregator_loss`` (``reduce_only`` by default:
  fail-closed; ``halt``; or ``continue``); the next grant releases the hold.
* **Kill commands** (``KillCommand``) trip the kill switch at the commanded level and are
  acknowledged with the level in force; a retried command (same id) is acknowledged again
  without tripping twice.

| state                  | event                          | next                 |
| ---------------------- | ------------------------------ | -------------------- |
| waiting (held)         | budget grant                   | leased (released)    |
| leased                 | no grant for the timeout       | lost (held)          |
| lost (held)            | budget grant                   | leased (released)    |
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import msgspec
import structlog

from adapters.nats.connect import shown
from cluster.connection import NatsUnavailable, cluster_connect, ensure_reports_stream, store_gone
from cluster.exposure import build_report
from cluster.messages import (
    BudgetAck,
    BudgetGrant,
    ExposureReport,
    Heartbeat,
    KillAck,
    KillCommand,
    control_subject,
    decoder,
    encode,
    heartbeat_subject,
    report_subject,
    resend_subject,
)
from engine.config.schema import ClusterConfig
from engine.model import TradingState
from engine.risk.limits import UnderlyingLimits

log = structlog.get_logger("volta.cluster.node")
HOLD = "cluster"
_LOSS_STATE = {"reduce_only": TradingState.REDUCING, "halt": TradingState.HALTED}
_grant_decoder = decoder(BudgetGrant)
_kill_decoder = decoder(KillCommand)
_report_decoder = decoder(ExposureReport)


class NodeService:
    def __init__(self, node: Any) -> None:
        cfg = node.config.cluster
        assert isinstance(cfg, ClusterConfig)
        self.node = node
        self.kernel = node.kernel
        self.cfg = cfg
        self.node_id = cfg.node_id
        self.incarnation = time.time_ns()
        self.seq = 0
        self.budget_revision = 0
        self.budgets: dict[str, UnderlyingLimits] = {}
        self.last_grant = 0.0  # monotonic; 0: none yet
        self.held = False
        self.reports_published = 0
        self.publish_failures = 0
        self.budget_applied_at: dict[int, int] = {}  # revision -> perf_counter_ns (benchmarks)
        self._last_body: bytes = b""
        self._pending: tuple[int, bytes] | None = None
        self._resend = False  # publish the current state on the next round, changed or not
        self._stream_lost = False
        self._kills: dict[str, int] = {}
        self._nc: Any = None
        self._js: Any = None
        self._tasks: list[asyncio.Task[None]] = []

    # -- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        cfg = self.cfg
        if cfg.on_aggregator_loss != "continue":
            self._hold("waiting for the aggregator's first budget")
        self._nc = await cluster_connect(cfg, f"volta-node-{self.node_id}",
                                         reconnected_cb=self._on_reconnected)
        self._js = self._nc.jetstream()
        await ensure_reports_stream(self._js, cfg)
        await self._continue_incarnation()
        p = cfg.subject_prefix
        await self._nc.subscribe(resend_subject(p), cb=self._on_resend)
        await self._nc.subscribe(control_subject(p, self.node_id, "budget"), cb=self._on_budget)
        await self._nc.subscribe(control_subject(p, self.node_id, "kill"), cb=self._on_kill)
        await self._nc.flush()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._reporter(), name="cluster-reports"),
                       loop.create_task(self._heartbeats(), name="cluster-heartbeats"),
                       loop.create_task(self._watchdog(), name="cluster-watchdog")]
        log.info("cluster_node_started", node=self.node_id, servers=shown(cfg.servers),
                 on_aggregator_loss=cfg.on_aggregator_loss)

    async def _continue_incarnation(self) -> None:
        subject = report_subject(self.cfg.subject_prefix, self.node_id)
        try:
            last = _report_decoder.decode(
                (await self._js.get_last_msg(self.cfg.reports_stream, subject)).data).incarnation
        except Exception:  # noqa: BLE001 - no report of this node stored (first life, new stream)
            return
        if last >= self.incarnation:
            log.warning("node_clock_behind", node=self.node_id,
                        behind_s=round((last - self.incarnation) / 1e9, 3),
                        detail="the wall clock is behind this node's previous life's: its "
                               "incarnation continues from the stream's last report")
            self.incarnation = last + 1

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        if self._nc is not None:
            try:
                await self._publish_report(force=True)  # the final state (orders cancelled)
                await self._nc.drain()
            except Exception:  # noqa: BLE001 - closing anyway
                pass
            self._nc = None

    # -- reports and heartbeats ---------------------------------------------------------------
    async def _reporter(self) -> None:
        while True:
            try:
                await self._publish_report()
            except Exception as exc:  # noqa: BLE001 - keep reporting
                log.error("report_failed", error=repr(exc))
            await asyncio.sleep(self.cfg.report_interval_s)

    async def _publish_report(self, force: bool = False) -> None:
        if self._pending is None and not self.node.recovered:
            # Started before the journal and the venues were read: a report now would say flat
            # (or half-read) and replace the previous life's in the firm view. Nothing until
            # reconciliation has run; the previous life's last report stands meanwhile.
            return
        if self._pending is None:
            body = encode(build_report(self.kernel, self.node_id, self.incarnation, 0, 0,
                                       self.budget_revision))
            if body == self._last_body and not force and not self._resend:
                return
            self._last_body = body
            self._resend = False
            self.seq += 1
            report = build_report(self.kernel, self.node_id, self.incarnation, self.seq,
                                  time.time_ns(), self.budget_revision)
            self._pending = (self.seq, encode(report))
        seq, data = self._pending
        try:
            await self._js.publish(report_subject(self.cfg.subject_prefix, self.node_id), data,
                                   timeout=1.0,
                                   headers={"Nats-Msg-Id": f"{self.node_id}-{self.incarnation}-{seq}"})
        except Exception as exc:  # noqa: BLE001 - not acknowledged: retried with the same id
            self.publish_failures += 1
            if self.publish_failures % 20 == 1:
                log.warning("report_not_acknowledged", seq=seq, error=type(exc).__name__)
            if store_gone(exc):
                await self._recreate_stream()
            return
        self._pending = None
        self._stream_lost = False
        self.reports_published += 1

    async def _recreate_stream(self) -> None:
        if not self._stream_lost:
            log.warning("reports_stream_lost", node=self.node_id, stream=self.cfg.reports_stream,
                        detail="nats-server has no reports stream (restarted with an empty store, "
                               "or deleted): recreating it with the configured settings")
            self._stream_lost = True
        try:
            await ensure_reports_stream(self._js, self.cfg, timeout_s=self.cfg.report_interval_s)
        except NatsUnavailable:
            pass  # the next round retries

    async def _on_reconnected(self) -> None:
        self._resend = True

    async def _on_resend(self, _msg: Any) -> None:
        self._resend = True

    def in_sync(self) -> bool:
        """True when the last acknowledged report is the node's state right now."""
        if self._pending is not None or self.reports_published == 0:
            return False
        body = encode(build_report(self.kernel, self.node_id, self.incarnation, 0, 0,
                                   self.budget_revision))
        return body == self._last_body

    async def _heartbeats(self) -> None:
        subject = heartbeat_subject(self.cfg.subject_prefix, self.node_id)
        while True:
            hb = Heartbeat(self.node_id, self.incarnation, time.time_ns(), self.seq,
                           str(self.kernel.gate.state))
            try:
                await self._nc.publish(subject, encode(hb))
            except Exception:  # noqa: BLE001 - disconnected: the client buffers or drops
                pass
            await asyncio.sleep(self.cfg.heartbeat_interval_s)

    # -- budgets and the aggregator lease --------------------------------------------------------
    def _hold(self, reason: str) -> None:
        state = _LOSS_STATE.get(self.cfg.on_aggregator_loss)
        if state is None:
            return
        self.kernel.gate.hold(HOLD, state, reason)
        self.kernel.sync_trading_state()
        if not self.held:
            log.warning("cluster_hold", node=self.node_id, state=str(state), reason=reason)
        self.held = True

    def _release(self) -> None:
        if self.held:
            self.kernel.gate.release(HOLD)
            self.kernel.sync_trading_state()
            self.held = False
            log.info("cluster_hold_released", node=self.node_id, state=str(self.kernel.gate.state))

    async def _watchdog(self) -> None:
        timeout = self.cfg.aggregator_timeout_s
        while True:
            await asyncio.sleep(min(0.1, timeout / 10))
            if self.last_grant and not self.held and time.monotonic() - self.last_grant > timeout:
                self._hold(f"no budget renewal from the aggregator for {timeout:g}s")

    def apply_grant(self, grant: BudgetGrant) -> None:
        if grant.revision >= self.budget_revision:
            gate = self.kernel.gate
            for und in set(self.budgets) - set(grant.budgets):
                gate.set_budget(und, None)
            self.budgets = {u: UnderlyingLimits(b.max_delta, b.max_gamma, b.max_vega_usd)
                            for u, b in grant.budgets.items()}
            for und, lim in self.budgets.items():
                gate.set_budget(und, lim)
            if grant.revision != self.budget_revision and grant.reason != "renewal":
                log.info("budget_applied", revision=grant.revision, reason=grant.reason,
                         budgets={u: msgspec.structs.asdict(b) for u, b in grant.budgets.items()})
            self.budget_revision = grant.revision
            self.budget_applied_at[grant.revision] = time.perf_counter_ns()
        self.last_grant = time.monotonic()
        self._release()

    async def _on_budget(self, msg: Any) -> None:
        try:
            grant = _grant_decoder.decode(msg.data)
        except msgspec.DecodeError:
            log.warning("malformed_budget_grant", bytes=len(msg.data))
            return
        self.apply_grant(grant)
        ack = BudgetAck(self.node_id, self.budget_revision, time.time_ns(), str(self.kernel.gate.state))
        await msg.respond(encode(ack))

    async def _on_kill(self, msg: Any) -> None:
        try:
            cmd = _kill_decoder.decode(msg.data)
        except msgspec.DecodeError:
            log.warning("malformed_kill_command", bytes=len(msg.data))
            return
        if cmd.command_id not in self._kills and cmd.level in (1, 2, 3):
            self._kills[cmd.command_id] = self.kernel.killswitch.trip(
                cmd.level, cmd.reason, source=f"aggregator {cmd.aggregator_id}")
            self.kernel.sync_trading_state()
        level = self.kernel.killswitch.level
        await msg.respond(encode(KillAck(self.node_id, cmd.command_id, level,
                                         str(self.kernel.gate.state))))
