"""``volta aggregator CONFIG``: the cluster's central risk service.

Theory of operation:

1. **Rebuild.** At start the aggregator reads the latest report of every node from the reports
   stream (an ordered consumer, last message per subject), so a restarted aggregator has the
   same firm view as before it died, before it does anything else.
2. **Consume.** A durable JetStream consumer (``agg-<node_id>``, explicit acks) then delivers
   every report in stream order; ``FirmView.apply`` takes each one once ((incarnation, seq)),
   and the message is acknowledged after it was applied. Heartbeats (core NATS) keep nodes fresh.
3. **Lead.** Several aggregators may run; the one holding the lease (``cluster.lease``) acts,
   the others keep their view warm and take over within ``lease_ttl_s`` + a quarter of it.
4. **Budgets.** The leader sends each node its budgets (``BudgetGrant``, request-reply) every
   ``budget_renew_s`` and at once when they change; the node's gate enforces them locally and
   acknowledges. The renewal is also the node's lease on trading (see ``cluster.node``).
5. **Mitigation.** On a firm breach (a firm Greek beyond ``[cluster.firm]``) the leader shrinks
   that underlying's budgets to ``breach_budget_factor``, sends them, and commands kill level
   ``breach_kill_level`` on every node (``KillCommand``, request-reply, retried up to
   ``command_retries`` times ``command_timeout_s``), alerting on each step. A node silent for
   ``node_stale_after_s`` is marked stale (alert); its last exposure still counts.
6. **Store loss.** Every ``cluster.store.CHECK_S`` the aggregator checks that the server still
   has the stream, its consumer and the lease bucket; if not (a nats-server restarted with a
   wiped store, a stream deleted), one warning and a ``store_lost`` alert, the resources are
   recreated with the configured settings, the consumer restarts on the new stream, and every
   node is asked to report again (``resend_subject``): the firm view follows the nodes again.

The firm view is served as JSON on ``api_host:api_port`` (``GET /api/firm``, ``/api/alerts``,
``/api/health``) and, in the operator surface's shape, as ``GET /api/snapshot`` (``{"kind":
"firm", "firm": ..., "alerts": [...]}``), so ``volta status --url http://HOST:PORT/`` shows the
firm view the way it shows one node (``engine.operator.client``); ``GET /metrics`` exports it
for Prometheus (``cluster.firm_metrics``).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

import msgspec
import structlog

from cluster.connection import NatsUnavailable, cluster_connect, ensure_bucket, ensure_reports_stream
from cluster.firm import FirmView
from cluster.firm_metrics import firm_registry
from cluster.firm_metrics import render as render_metrics
from cluster.lease import LeaderLease
from cluster.messages import (
    Alert,
    BudgetAck,
    BudgetGrant,
    ExposureReport,
    Heartbeat,
    KillAck,
    KillCommand,
    control_subject,
    decoder,
    encode,
    resend_subject,
)
from cluster.store import CHECK_S, StoreHealth, missing_resources
from engine.config.schema import ClusterConfig, VoltaConfig

log = structlog.get_logger("volta.aggregator")
_report = decoder(ExposureReport)
_hb = decoder(Heartbeat)
_budget_ack = decoder(BudgetAck)
_kill_ack = decoder(KillAck)


class Aggregator:
    def __init__(self, cfg: ClusterConfig) -> None:
        self.cfg = cfg
        self.id = cfg.node_id
        self.firm = FirmView(cfg)
        self.alerts: deque[Alert] = deque(maxlen=1000)
        self.leader = False
        self.revision = 0
        self.rebuilt_reports = 0
        self.kill_commands: dict[str, dict[str, Any]] = {}  # command id -> status
        self.breach_detected_at: dict[str, float] = {}  # underlying -> monotonic
        self._lease: LeaderLease | None = None
        self._nc: Any = None
        self._js: Any = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._cmd_ids = itertools.count(1)
        self._granted: dict[str, dict[str, Any]] = {}
        self._api: Any = None
        self.api_port = 0
        self.store = StoreHealth()
        self._sub: Any = None  # the durable consumer's subscription
        self._stream_created: Any = None  # the stream's creation time: a recreated one starts over
        self._stream_seq = 0  # the last stream seq applied (where a recreated consumer resumes)
        self._registry: Any = None
        self._store_lock = asyncio.Lock()

    # -- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        """Connect, rebuild, serve the API, then lead. A start that fails undoes what it did
        (a failed start never holds the leader lease nor leaves a consumer bound)."""
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        cfg = self.cfg
        self._nc = await cluster_connect(cfg, f"volta-aggregator-{self.id}")
        self._js = self._nc.jetstream()
        created = await ensure_reports_stream(self._js, cfg)
        kv = await ensure_bucket(self._js, cfg.lease_bucket, cfg.replicas, ttl_s=cfg.lease_ttl_s)
        self._lease = LeaderLease(kv, self.id)
        self._stream_seq = await self._rebuild()
        await self._consume(self._stream_seq)
        await self._nc.subscribe(f"{cfg.subject_prefix}.hb.*", cb=self._on_heartbeat)
        if created:  # an empty store: whatever the nodes hold now is not in it
            await self._nc.publish(resend_subject(cfg.subject_prefix), b"")
        # The API before the lease: its port taken used to fail the start after the lease task
        # had taken the lease, and the real leader waited out lease_ttl_s for nobody.
        await self._serve_api()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._lead(), name="aggregator-lease"),
                       loop.create_task(self._watch(), name="aggregator-watch"),
                       loop.create_task(self._guard_store(), name="aggregator-store")]
        log.info("aggregator_started", id=self.id, nodes=sorted(self.firm.nodes),
                 rebuilt_reports=self.rebuilt_reports, api=f"http://{cfg.api_host}:{self.api_port}/api/firm")

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        self._tasks = []
        if self._lease is not None:
            await self._lease.release()
        if self._api is not None:
            await self._api.cleanup()
            self._api = None
        if self._nc is not None:
            try:
                await self._nc.drain()
            except Exception:  # noqa: BLE001 - closing anyway
                pass

    # -- the stream ---------------------------------------------------------------------------
    async def _rebuild(self) -> int:
        """The latest report per node from the stream; returns the last stream seq read."""
        from nats.js.api import DeliverPolicy

        subject = f"{self.cfg.subject_prefix}.risk.*.report"
        info = await self._js.stream_info(self.cfg.reports_stream)
        self._stream_created = info.created
        if info.state.messages == 0:
            return info.state.last_seq
        sub = await self._js.subscribe(subject, ordered_consumer=True,
                                       deliver_policy=DeliverPolicy.LAST_PER_SUBJECT)
        last = 0
        try:
            while True:
                try:
                    msg = await sub.next_msg(timeout=1.0)
                except TimeoutError:
                    break
                last = max(last, msg.metadata.sequence.stream)
                self._apply(msg.data, rebuilding=True)
                if msg.metadata.num_pending == 0:
                    break
        finally:
            await sub.unsubscribe()
        return last

    async def _consume(self, after_stream_seq: int) -> None:
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

        config = ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=2.0, max_ack_pending=10_000,
                                deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                                opt_start_seq=after_stream_seq + 1)
        from nats.js.errors import Error as JetStreamError

        try:
            self._sub = await self._js.subscribe(
                f"{self.cfg.subject_prefix}.risk.*.report", durable=f"agg-{self.id}",
                stream=self.cfg.reports_stream, config=config, manual_ack=True, cb=self._on_report)
        except JetStreamError as exc:
            if "already bound" not in str(exc):
                raise
            # the durable consumer is this node_id's: a live aggregator holds it
            raise NatsUnavailable(
                f"another aggregator with node_id {self.id!r} is running (it holds the durable "
                f"consumer agg-{self.id}); a standby needs its own cluster.node_id and "
                "api_port") from None

    def _apply(self, data: bytes, rebuilding: bool = False) -> bool:
        try:
            report = _report.decode(data)
        except msgspec.DecodeError:
            log.warning("malformed_report", bytes=len(data))
            return False
        applied = self.firm.apply(report, time.monotonic(), baseline=rebuilding)
        if rebuilding and applied:
            self.rebuilt_reports += 1
        return applied

    async def _on_report(self, msg: Any) -> None:
        applied = self._apply(msg.data)
        self._stream_seq = max(self._stream_seq, msg.metadata.sequence.stream)
        await msg.ack()
        if applied and self.leader:
            await self._check_breaches()

    # -- the store (cluster.store) ----------------------------------------------------------
    async def _guard_store(self) -> None:
        failures = 0  # recreations failed in a row (said once a minute or so, not every check)
        while True:
            await asyncio.sleep(CHECK_S)
            try:
                await self.check_store()
                failures = 0
            except NatsUnavailable as exc:  # JetStream not ready yet: the next check retries
                failures += 1
                if failures % 15 == 1:
                    log.warning("jetstream_store_not_restored", aggregator=self.id, error=str(exc),
                                attempts=failures)
            except Exception as exc:  # noqa: BLE001 - keep guarding
                log.error("jetstream_store_check_failed", aggregator=self.id, error=repr(exc))

    async def check_store(self) -> None:
        """Recreate what the server lost of the stream, the consumer and the lease bucket."""
        async with self._store_lock:  # (one recreation at a time: one consumer subscription)
            await self._check_store()

    async def _check_store(self) -> None:
        lost = await missing_resources(self._js, self.cfg, f"agg-{self.id}", self._stream_created)
        if lost is None or (not lost and self.store.ok):
            return
        if self.store.ok:  # one warning per loss, however many checks the recreation takes
            self.store.note_lost(lost)
            log.warning("jetstream_store_lost", aggregator=self.id, lost=lost,
                        detail="nats-server no longer has them (restarted with an empty store, "
                               "or deleted): reports stopped reaching the firm view; recreating "
                               "them with the configured settings and asking every node to "
                               "report again")
            self._alert("store_lost", "", f"JetStream lost {', '.join(lost)}: recreating them and "
                                          "asking the nodes to report again; the firm view holds "
                                          "the last reports until they do")
        cfg = self.cfg
        if any(x.startswith(("stream", "consumer", "JetStream")) for x in lost):
            await ensure_reports_stream(self._js, cfg, timeout_s=CHECK_S * 3)
            info = await self._js.stream_info(cfg.reports_stream)
            start = self._stream_seq if info.created == self._stream_created else 0
            if self._sub is not None:
                try:
                    await self._sub.unsubscribe()
                except Exception:  # noqa: BLE001 - the consumer is gone anyway
                    pass
            self._stream_created, self._stream_seq = info.created, start  # (before: it delivers)
            await self._consume(start)
        assert self._lease is not None
        self._lease.kv = await ensure_bucket(self._js, cfg.lease_bucket, cfg.replicas,
                                             ttl_s=cfg.lease_ttl_s, timeout_s=CHECK_S * 3)
        await self._nc.publish(resend_subject(cfg.subject_prefix), b"")
        self.store.note_recovered()
        log.info("jetstream_store_recreated", aggregator=self.id, recreated=self.store.lost)

    async def _on_heartbeat(self, msg: Any) -> None:
        try:
            hb = _hb.decode(msg.data)
        except msgspec.DecodeError:
            return
        self.firm.seen(hb.node_id, time.monotonic(), hb.incarnation, hb.last_report_seq)

    # -- leadership, budgets, staleness -------------------------------------------------------
    async def _lead(self) -> None:
        assert self._lease is not None
        step = self.cfg.lease_ttl_s / 4
        next_grant = 0.0
        while True:
            was = self.leader
            self.leader = await self._lease.tick()
            if self.leader != was:
                self._alert("leader", self.id, "leads" if self.leader else "stepped down")
                if self.leader:
                    self.revision = max(self.revision, time.time_ns(), self._revision_floor() + 1)
                    await self._check_breaches()
                    next_grant = 0.0
            if self.leader and time.monotonic() >= next_grant:
                await self.send_budgets("renewal")
                next_grant = time.monotonic() + self.cfg.budget_renew_s
            await asyncio.sleep(min(step, self.cfg.budget_renew_s))

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(0.2)
            went, back = self.firm.update_staleness(time.monotonic())
            for n in went:
                if self.firm.nodes[n].report is None:
                    self._alert("node_stale", n, "an expected node has not reported (no exposure known)")
                else:
                    self._alert("node_stale", n, f"no report or heartbeat for {self.cfg.node_stale_after_s:g}s; "
                                                 "its last exposure still counts")
            for n in back:
                self._alert("node_back", n, "reporting again")
            went, back = self.firm.update_lagging(time.monotonic())
            for n in went:
                st = self.firm.nodes[n]
                self._alert("reports_lagging", n, f"alive, but its reports stopped arriving (its "
                            f"heartbeats name report {st.announced[1]}, the firm view holds "
                            f"{st.held[1]}): its exposure here is out of date; is JetStream "
                            "refusing them (stream full, capped)?")
            for n in back:
                self._alert("reports_caught_up", n, "its latest report arrived")
            if self.leader:
                await self._check_breaches()

    async def send_budgets(self, reason: str) -> dict[str, bool]:
        """Send every node its budgets; returns node -> acknowledged."""
        if reason != "renewal":
            self.revision = max(self.revision + 1, time.time_ns())
        alloc = self.firm.allocate()
        results = await asyncio.gather(*(self._grant(n, b, reason) for n, b in alloc.items()))
        if not all(results) and self._revision_floor() > self.revision:
            # a node holds a newer revision than ours (a previous leader's clock was ahead of
            # this one's) and ignores ours as older: go above it, or our budgets never bind
            log.warning("budget_revision_raised", aggregator=self.id, was=self.revision,
                        now=self._revision_floor() + 1)
            self.revision = self._revision_floor() + 1
            results = await asyncio.gather(*(self._grant(n, b, reason) for n, b in alloc.items()))
        return dict(zip(alloc, results, strict=True))

    def _revision_floor(self) -> int:
        """The highest budget revision a node is known to hold (its acks, its reports)."""
        return max((max(st.budget_ack_revision, st.report.budget_revision if st.report else 0)
                    for st in self.firm.nodes.values()), default=0)

    async def _grant(self, node_id: str, budgets: dict[str, Any], reason: str) -> bool:
        grant = BudgetGrant(self.id, self.revision, budgets, reason)
        subject = control_subject(self.cfg.subject_prefix, node_id, "budget")
        try:
            reply = await self._nc.request(subject, encode(grant), timeout=self.cfg.command_timeout_s)
            ack = _budget_ack.decode(reply.data)
        except Exception:  # noqa: BLE001 - no responder / timeout / garbage: not acknowledged
            return False
        self.firm.node(node_id).budget_ack_revision = ack.revision
        return ack.revision == self.revision

    async def _check_breaches(self) -> None:
        now = self.firm.breaches()
        new = {u: g for u, g in now.items() if u not in self.firm.breached}
        cleared = [u for u in self.firm.breached if u not in now]
        self.firm.breached = now
        for und in cleared:
            self.breach_detected_at.pop(und, None)
            self._alert("breach_cleared", "", f"firm {und} back within limits; budgets restored")
        if cleared and not new:
            await self.send_budgets("breach cleared")
        if not new:
            return
        for und, greeks in new.items():
            self.breach_detected_at[und] = time.monotonic()
            totals = self.firm.greeks().get(und, {})
            self._alert("firm_breach", "", f"firm {und} {', '.join(greeks)} beyond limit: "
                        + ", ".join(f"{g}={totals.get(g, float('nan')):.6g}" for g in greeks))
        await asyncio.gather(self.send_budgets("firm breach: " + ", ".join(new)),
                             self.kill_all(self.cfg.breach_kill_level, f"firm breach {sorted(new)}"))

    async def kill_all(self, level: int, reason: str) -> dict[str, bool]:
        names = sorted(self.firm.nodes)
        results = await asyncio.gather(*(self.kill(n, level, reason) for n in names))
        return dict(zip(names, results, strict=True))

    async def kill(self, node_id: str, level: int, reason: str) -> bool:
        """Command a kill level on one node, retried until acknowledged."""
        cmd_id = f"{self.id}-{time.time_ns()}-{next(self._cmd_ids)}"
        cmd = KillCommand(cmd_id, level, reason, self.id)
        subject = control_subject(self.cfg.subject_prefix, node_id, "kill")
        status: dict[str, Any] = {"node": node_id, "level": level, "reason": reason, "acked": False,
                                  "attempts": 0}
        self.kill_commands[cmd_id] = status
        for attempt in range(1, self.cfg.command_retries + 1):
            status["attempts"] = attempt
            try:
                reply = await self._nc.request(subject, encode(cmd), timeout=self.cfg.command_timeout_s)
                ack = _kill_ack.decode(reply.data)
            except Exception:  # noqa: BLE001 - retried
                await asyncio.sleep(min(0.05 * attempt, 0.5))
                continue
            status.update(acked=True, node_level=ack.level, node_state=ack.trading_state)
            self.firm.node(node_id).kill_acks[cmd_id] = ack.level
            log.warning("kill_acknowledged", node=node_id, level=ack.level, state=ack.trading_state)
            return True
        self._alert("command_failed", node_id, f"kill level {level} not acknowledged after "
                                               f"{self.cfg.command_retries} attempts")
        return False

    def _alert(self, kind: str, node_id: str, message: str) -> None:
        alert = Alert(time.time_ns(), kind, node_id, message)
        self.alerts.append(alert)
        log.warning("alert", kind=kind, node=node_id, message=message, aggregator=self.id)
        if self._nc is not None and self._nc.is_connected:
            try:
                asyncio.get_running_loop().create_task(
                    self._nc.publish(f"{self.cfg.subject_prefix}.alerts", encode(alert)))
            except RuntimeError:
                pass

    # -- JSON API -----------------------------------------------------------------------------
    def view(self) -> dict[str, Any]:
        out = self.firm.view(time.monotonic())
        out["aggregator"] = {"id": self.id, "leader": self.leader, "budget_revision": self.revision,
                             "rebuilt_reports": self.rebuilt_reports, "store": self.store.view()}
        return out

    def health(self) -> dict[str, Any]:
        """``ok`` is false while the JetStream resources are lost (the firm view not following)."""
        connected = self._nc is not None and self._nc.is_connected
        return {"ok": self.store.ok and connected, "leader": self.leader, "id": self.id,
                "nats_connected": connected, "store": self.store.view()}

    def metrics(self) -> bytes:
        if self._registry is None:
            self._registry = firm_registry(self.firm, lambda: self.leader, self.store)
        return render_metrics(self._registry)

    async def _serve_api(self) -> None:
        from aiohttp import web
        from engine.operator.metrics import CONTENT_TYPE  # (the format generate_latest writes)

        def json(data: Any) -> Any:
            return web.Response(body=msgspec.json.encode(data, enc_hook=str),
                                content_type="application/json")

        async def firm(_: Any) -> Any:
            return json(self.view())

        async def alerts(_: Any) -> Any:
            return json([msgspec.to_builtins(a) for a in self.alerts])

        async def health(_: Any) -> Any:
            return json(self.health())

        async def metrics(_: Any) -> Any:
            return web.Response(body=self.metrics(), headers={"Content-Type": CONTENT_TYPE})

        async def snapshot(_: Any) -> Any:
            return json({"kind": "firm", "firm": self.view(),
                         "alerts": [msgspec.to_builtins(a) for a in reversed(self.alerts)]})

        app = web.Application()
        app.add_routes([web.get("/api/firm", firm), web.get("/api/alerts", alerts),
                        web.get("/api/health", health), web.get("/api/snapshot", snapshot),
                        web.get("/metrics", metrics)])
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.cfg.api_host, self.cfg.api_port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise NatsUnavailable(f"cannot serve the firm view on {self.cfg.api_host}:"
                                  f"{self.cfg.api_port}: {exc.strerror or exc}") from None
        self._api = runner
        self.api_port = runner.addresses[0][1]


async def serve_aggregator(config: VoltaConfig, duration_s: float | None = None,
                           ready: asyncio.Event | None = None) -> Aggregator:
    import signal

    assert config.cluster is not None
    agg = Aggregator(config.cluster)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    await agg.start()
    if ready is not None:
        ready.set()
    try:
        await asyncio.wait_for(stop.wait(), timeout=duration_s)
    except TimeoutError:
        pass
    finally:
        await agg.stop()
    return agg


def main(argv: Sequence[str] | None = None) -> int:
    from cluster.gateway import load_role_config, run_service

    from engine.cli import seconds

    ap = argparse.ArgumentParser(prog="volta aggregator",
                                 description="the cluster's central risk service (docs/cluster.md)")
    ap.add_argument("config",
                    help="the aggregator's deployment TOML ([cluster] role = \"aggregator\")")
    ap.add_argument("--duration", type=seconds, default=None, metavar="SECONDS",
                    help="stop by itself after this many seconds (default: until Ctrl-C)")
    ap.add_argument("--port", type=int, default=None,
                    help="serve the firm API on this port instead of cluster.api_port (0: any free one)")
    args = ap.parse_args(argv)
    if args.port is not None and not 0 <= args.port <= 65535:
        ap.error(f"--port: expected 0-65535, got {args.port}")
    config = load_role_config(args.config, "aggregator", "volta aggregator")
    if isinstance(config, int):
        return config
    if args.port is not None and config.cluster is not None:
        config = msgspec.structs.replace(
            config, cluster=msgspec.structs.replace(config.cluster, api_port=args.port))
    return run_service(config, serve_aggregator(config, args.duration), "volta aggregator")
