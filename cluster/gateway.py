"""``volta gateway CONFIG``: venue market data, checked by the integrity layer, on NATS.

Theory of operation: the gateway is a node without strategies (``engine.runtime.build_node``
with its trading HALTED): the configured venues' sessions feed the kernel, whose integrity layer
decides per book whether an update was applied. A bus subscriber placed after the kernel's
handlers forwards what the kernel accepted (``adapters.nats.wire``):

* a delta the book applied (LIVE, its seq now the book's) -> ``delta``, re-sequenced;
* a book that became LIVE (a venue snapshot, or a resync after a gap) -> ``book``: the kernel's
  book as it is now (after any buffered deltas were replayed), never the raw venue snapshot;
* trades, marks and option summaries as they are -> ``trade`` / ``mark`` / ``summary``.

Deltas of a book that is not LIVE are not forwarded; nodes keep their last good book and see
the next ``book`` message (or go STALE on their own staleness timer). The handlers never await:
messages go to an outbox that one task writes to the NATS connection (one wake-up per batch).
Snapshot requests are answered from the kernel's book; the latest snapshot of each book is also
written to the key-value bucket at most once per ``SNAPSHOT_KV_INTERVAL_S`` (late joiners and
nodes that cannot reach the gateway read it). A bucket found missing (checked every
``SNAPSHOT_KV_INTERVAL_S`` and at every write: a nats-server restarted with an empty store, the
bucket deleted; quiet books write nothing) is recreated, then the instrument lists and every
book are written again: nodes started later need them.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import deque
from collections.abc import Coroutine, Sequence
from typing import Any

import msgspec
import structlog

from adapters.nats.connect import shown
from adapters.nats.wire import (
    INSTRUMENTS_KEY,
    BookMsg,
    DeltaMsg,
    InstrumentList,
    MarkMsg,
    SummaryMsg,
    TradeMsg,
    kv_key,
    md_subject,
    untoken,
)
from cluster.connection import NatsUnavailable, cluster_connect, ensure_bucket, store_gone
from engine.clock import LiveClock
from engine.config.schema import ClusterConfig, VoltaConfig
from engine.model import BookDelta, BookSnapshot, BookStatus, MarkPrice, OptionSummary, Trade
from engine.runtime import Node, build_node

log = structlog.get_logger("volta.gateway")
SNAPSHOT_KV_INTERVAL_S = 1.0
_encode = msgspec.msgpack.Encoder().encode


class _Track:
    __slots__ = ("seq", "book_seq", "live", "kv_dirty", "subject_delta", "subject_book",
                 "subject_trade", "subject_mark", "subject_summary", "key")

    def __init__(self, prefix: str, iid: str) -> None:
        self.seq = 0  # every message of the instrument
        self.book_seq = 0  # the last book message (a delta's prev_seq)
        self.live = False
        self.kv_dirty = False
        self.subject_delta = md_subject(prefix, iid, "delta")
        self.subject_book = md_subject(prefix, iid, "book")
        self.subject_trade = md_subject(prefix, iid, "trade")
        self.subject_mark = md_subject(prefix, iid, "mark")
        self.subject_summary = md_subject(prefix, iid, "summary")
        self.key = kv_key(iid)


class Gateway:
    """Forwards one node's accepted market data to NATS (see the module docstring)."""

    last: Gateway | None = None
    """The most recently started gateway of this process (tests, benchmarks)."""

    def __init__(self, node: Node, cfg: ClusterConfig) -> None:
        self.node = node
        self.cfg = cfg
        self.kernel = node.kernel
        self.prefix = cfg.subject_prefix
        self._tracks: dict[str, _Track] = {}
        self._outbox: deque[tuple[str, bytes]] = deque()
        self._wake = asyncio.Event()
        self._nc: Any = None
        self._kv: Any = None
        self._kv_js: Any = None
        self._kv_lost = False
        self._tasks: list[asyncio.Task[None]] = []
        self.published = 0
        self.snapshot_requests = 0
        Gateway.last = self

    # -- bus side (synchronous, after the kernel's handlers) ----------------------------------
    def _track(self, iid: str) -> _Track:
        t = self._tracks.get(iid)
        if t is None:
            t = self._tracks[iid] = _Track(self.prefix, iid)
        return t

    def _send(self, subject: str, data: bytes) -> None:
        self._outbox.append((subject, data))
        self._wake.set()

    def _book_msg(self, iid: str, t: _Track) -> BookMsg | None:
        book = self.kernel.books.get(iid)
        if book is None or book.status is not BookStatus.LIVE:
            return None
        n = 1 << 30
        snap = BookSnapshot(iid, tuple(book.depth_bids(n)), tuple(book.depth_asks(n)), t.book_seq,
                            book.ts_event, time.time_ns())
        return BookMsg(t.seq, time.time_ns(), snap)  # envelope: every message so far

    def on_snapshot(self, snap: BookSnapshot) -> None:
        iid = snap.instrument_id
        book = self.kernel.books.get(iid)
        t = self._track(iid)
        if book is None or book.status is not BookStatus.LIVE:
            t.live = False
            return
        t.live = True
        t.seq += 1
        t.book_seq = t.seq
        msg = self._book_msg(iid, t)
        if msg is not None:
            self._send(t.subject_book, _encode(msg))
            t.kv_dirty = True

    def on_delta(self, delta: BookDelta) -> None:
        iid = delta.instrument_id
        book = self.kernel.books.get(iid)
        t = self._track(iid)
        if book is None or book.status is not BookStatus.LIVE or book.seq != delta.seq:
            t.live = False  # not applied: nothing to forward until the book is LIVE again
            return
        if not t.live:  # LIVE again after a resync replayed buffered deltas: send the book
            self.on_snapshot(BookSnapshot(iid, (), (), delta.seq, delta.ts_event, delta.ts_recv))
            return
        t.seq += 1
        ev = msgspec.structs.replace(delta, seq=t.seq, prev_seq=t.book_seq, first_seq=-1,
                                     checksum=None, raw_bids=None, raw_asks=None)
        t.book_seq = t.seq
        t.kv_dirty = True
        self._send(t.subject_delta, _encode(DeltaMsg(t.seq, time.time_ns(), ev)))

    def on_trade(self, ev: Trade) -> None:
        t = self._track(ev.instrument_id)
        t.seq += 1
        self._send(t.subject_trade, _encode(TradeMsg(t.seq, time.time_ns(), ev)))

    def on_mark(self, ev: MarkPrice) -> None:
        t = self._track(ev.instrument_id)
        t.seq += 1
        self._send(t.subject_mark, _encode(MarkMsg(t.seq, time.time_ns(), ev)))

    def on_summary(self, ev: OptionSummary) -> None:
        t = self._track(ev.instrument_id)
        t.seq += 1
        self._send(t.subject_summary, _encode(SummaryMsg(t.seq, time.time_ns(), ev)))

    def skip_sequence(self, instrument_id: str) -> None:
        """Fault injection (tests): one book sequence number of ``instrument_id`` is never
        published, as if the message were lost; subscribers must detect the gap."""
        t = self._track(instrument_id)
        t.seq += 1
        t.book_seq = t.seq

    # -- NATS side ------------------------------------------------------------------------------
    async def start(self) -> None:
        self._nc = await cluster_connect(self.cfg, f"volta-gateway-{self.cfg.node_id}")
        self._kv_js = js = self._nc.jetstream()
        self._kv = await ensure_bucket(js, self.cfg.snapshot_bucket, self.cfg.replicas)
        sub = self.kernel.bus.subscribe
        sub(BookSnapshot, self.on_snapshot)
        sub(BookDelta, self.on_delta)
        sub(Trade, self.on_trade)
        sub(MarkPrice, self.on_mark)
        sub(OptionSummary, self.on_summary)
        await self._nc.subscribe(f"{self.prefix}.mdreq.>", cb=self._on_snapshot_request)
        self._tasks = [asyncio.get_running_loop().create_task(self._writer(), name="gateway-writer"),
                       asyncio.get_running_loop().create_task(self._kv_writer(), name="gateway-kv")]

    async def announce(self) -> None:
        """After the venues started: the instrument lists, then every book already LIVE."""
        await self._publish_instruments()
        for iid, book in self.kernel.books.items():
            if book.status is BookStatus.LIVE and not self._track(iid).live:
                self.on_snapshot(BookSnapshot(iid, (), (), book.seq, 0, 0))
        log.info("gateway_started", venues=list(self.kernel.adapters), servers=shown(self.cfg.servers),
                 instruments=len(self.kernel.instruments))

    async def _publish_instruments(self) -> None:
        by_venue: dict[str, list[Any]] = {}
        for inst in self.kernel.instruments.values():
            by_venue.setdefault(inst.venue, []).append(inst)
        for venue, insts in by_venue.items():
            await self._kv.put(f"{venue}.{INSTRUMENTS_KEY}", _encode(InstrumentList(venue, insts)))

    async def _writer(self) -> None:
        nc, out = self._nc, self._outbox
        while True:
            await self._wake.wait()
            self._wake.clear()
            while out:
                subject, data = out.popleft()
                await nc.publish(subject, data)
                self.published += 1

    async def _kv_writer(self) -> None:
        while True:
            await asyncio.sleep(SNAPSHOT_KV_INTERVAL_S)
            try:
                await self._kv_js.stream_info(f"KV_{self.cfg.snapshot_bucket}")
            except Exception as exc:  # noqa: BLE001 - disconnected: the writes below say so
                if store_gone(exc):
                    await self._recreate_bucket()
            for iid, t in list(self._tracks.items()):
                if not t.kv_dirty:
                    continue
                msg = self._book_msg(iid, t)
                if msg is None:
                    continue
                t.kv_dirty = False
                try:
                    await self._kv.put(t.key, _encode(msg))
                except Exception as exc:  # noqa: BLE001 - JetStream unavailable: next round
                    t.kv_dirty = True
                    if store_gone(exc):
                        await self._recreate_bucket()
                    else:
                        log.warning("snapshot_kv_failed", instrument=iid, error=type(exc).__name__)
                    break

    async def _recreate_bucket(self) -> None:
        if not self._kv_lost:  # once per loss, however many rounds the recreation takes
            log.warning("snapshot_bucket_lost", bucket=self.cfg.snapshot_bucket,
                        detail="nats-server has no snapshot bucket (restarted with an empty store, "
                               "or deleted): recreating it, then the instrument lists and every book")
            self._kv_lost = True
        try:
            self._kv = await ensure_bucket(self._kv_js, self.cfg.snapshot_bucket, self.cfg.replicas,
                                           timeout_s=SNAPSHOT_KV_INTERVAL_S)
            await self._publish_instruments()
        except Exception as exc:  # noqa: BLE001 - the next round retries
            log.debug("snapshot_bucket_not_restored", error=repr(exc))
            return
        self._kv_lost = False
        log.info("snapshot_bucket_recreated", bucket=self.cfg.snapshot_bucket)
        for t in self._tracks.values():
            t.kv_dirty = True

    async def _on_snapshot_request(self, msg: Any) -> None:
        self.snapshot_requests += 1
        parts = msg.subject.split(".")
        iid = None
        if len(parts) >= 4:
            iid = f"{parts[-2]}:{untoken(parts[-1])}"
        t = self._tracks.get(iid) if iid else None
        built = self._book_msg(iid, t) if (iid and t and t.live) else None
        await msg.respond(_encode(built) if built is not None else b"")

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._nc is not None:
            try:
                while self._outbox:
                    subject, data = self._outbox.popleft()
                    await self._nc.publish(subject, data)
                await self._nc.drain()
            except Exception:  # noqa: BLE001 - closing anyway
                pass


async def serve_gateway(config: VoltaConfig, duration_s: float | None = None,
                        ready: asyncio.Event | None = None) -> Gateway:
    """Run a gateway until cancelled, a signal or ``duration_s``."""
    import signal

    assert config.cluster is not None
    # The gateway prices nothing: no option-chain refits stealing its event loop.
    config = msgspec.structs.replace(
        config, pricing=msgspec.structs.replace(config.pricing, chain_interval_s=1e9))
    node = build_node(config, LiveClock(), journal_path=":memory:")
    gw = Gateway(node, config.cluster)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    await gw.start()  # connect first: an unreachable NATS fails before any venue starts
    await node.start()
    runs = [loop.create_task(a.run(), name=f"venue-{a.venue}") for a in node.kernel.adapters.values()]
    await gw.announce()  # live venues list their instruments only after start
    if ready is not None:
        ready.set()
    try:
        await asyncio.wait_for(stop.wait(), timeout=duration_s)
    except TimeoutError:
        pass
    finally:
        for r in runs:
            r.cancel()
        await node.stop()
        await gw.stop()
    return gw


def load_role_config(path: str, role: str, prog: str) -> VoltaConfig | int:
    """The config of a cluster service, or an exit code after its problems, one line each
    as ``volta check-config`` prints them (``FILE: key.path: reason``); what it refers to
    (adapters and their params) is checked too, as build_node would, before anything starts."""
    from engine.config import find_problems, print_problems
    from engine.runtime import resolve_plugins

    config, problems = find_problems(path, resolve_plugins)
    if problems or config is None:
        print_problems(path, problems)
        return 2
    if config.cluster is None:
        print(f"{prog}: {path} has no [cluster] section", file=sys.stderr)
        return 2
    if config.cluster.role != role:
        article = {"aggregator": "an"}  # (the roles: node, gateway, aggregator)
        print(f"{prog}: {path} deploys {article.get(config.cluster.role, 'a')} "
              f"{config.cluster.role}, not {article.get(role, 'a')} {role} (cluster.role): "
              f"run it with volta {'run' if config.cluster.role == 'node' else config.cluster.role}",
              file=sys.stderr)
        return 2
    return config


def main(argv: Sequence[str] | None = None) -> int:
    from engine.cli import seconds

    ap = argparse.ArgumentParser(prog="volta gateway",
                                 description="publish venue market data on NATS (docs/cluster.md)")
    ap.add_argument("config", help="the gateway's deployment TOML ([cluster] role = \"gateway\")")
    ap.add_argument("--duration", type=seconds, default=None, metavar="SECONDS",
                    help="stop by itself after this many seconds (default: until Ctrl-C)")
    args = ap.parse_args(argv)
    config = load_role_config(args.config, "gateway", "volta gateway")
    if isinstance(config, int):
        return config
    return run_service(config, serve_gateway(config, args.duration), "volta gateway")


def run_service(config: VoltaConfig, service: Coroutine[Any, Any, None], prog: str) -> int:
    """Run a cluster service to its end under the deployment's logging: NATS unreachable or
    refusing us is one line and exit 1, Ctrl-C a clean exit 0."""
    from engine.logging import configure_logging

    configure_logging(config.logging.level, config.logging.format)
    import uvloop

    try:
        uvloop.run(service)
    except NatsUnavailable as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0
