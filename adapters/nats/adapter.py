"""``NatsMarketData``: a venue's market data as a Volta gateway publishes it on NATS.

Theory of operation: configured under the *venue's own name* (``[venues.deribit]`` with
``adapter = "adapters.nats:NatsMarketData"``), so instrument ids, the kernel's resync routing
and the strategies are exactly those of a direct connection. ``start`` reads the instrument list
the gateway keeps in the key-value bucket, subscribes to ``<p>.md.<venue>.>`` and asks the
gateway for a snapshot of every book (request-reply; the bucket's copy when the gateway does not
answer). Messages are decoded into the engine's events and published on the bus; the kernel's
integrity layer checks the gateway's per-instrument sequence (``adapters.nats.wire``) and on a
gap marks the book STALE and calls ``request_resync``, which fetches a fresh snapshot. A gap in
the envelope sequence of a non-book message (a lost trade or mark) is counted. The adapter is
market data only: orders sent to it are rejected at once (a node trades on its own venues).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import msgspec
import structlog

from adapters.nats.connect import NatsUnavailable, connect, shown
from adapters.nats.wire import (
    DECODERS,
    INSTRUMENTS_KEY,
    BookMsg,
    InstrumentList,
    kv_key,
    snapshot_request_subject,
)
from engine.model import AmendOrder, CancelOrder, Instrument, OrderRejected, SubmitOrder, VenueStatusChanged
from engine.venue import VenueAdapter

log = structlog.get_logger("volta.nats_md")
_book_decoder = msgspec.msgpack.Decoder(BookMsg)
_instruments_decoder = msgspec.msgpack.Decoder(InstrumentList)


class NatsMarketDataParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``[venues.<venue>.params]`` of a node reading ``<venue>`` from a gateway."""

    venue: str
    servers: tuple[str, ...] = ("nats://127.0.0.1:4222",)
    subject_prefix: str = "volta"
    snapshot_bucket: str = "volta_md_snapshots"
    symbols: list[str] = []
    """Symbols to stream (empty: every instrument the gateway lists for the venue)."""
    user: str | None = None
    password: str | None = None
    token: str | None = None
    connect_timeout_s: float = 2.0
    snapshot_timeout_s: float = 1.0
    start_timeout_s: float = 10.0
    """How long ``start`` waits for the gateway's instrument list."""


class NatsMarketData(VenueAdapter):
    Params = NatsMarketDataParams

    def __init__(self, params: NatsMarketDataParams) -> None:
        self.params = params
        self.venue = params.venue
        self._instruments: list[Instrument] = []
        self._wanted: set[str] = set()
        self._last_seq: dict[str, int] = {}
        self._nc: Any = None
        self._kv: Any = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._resyncing: set[str] = set()
        self._unavailable: set[str] = set()  # instruments whose resync found no usable book
        self.counters: dict[str, int] = {"messages": 0, "gaps": 0, "malformed": 0,
                                         "snapshots": 0, "snapshot_failures": 0}
        self.received: dict[str, int] = dict.fromkeys(DECODERS, 0)  # messages per kind
        self.last_latency_ns = 0
        self.latency_sink: list[int] | None = None
        """Tests and benchmarks: append publish-to-bus latencies (ns) of book messages."""

    # -- lifecycle ----------------------------------------------------------------------------
    def instruments(self) -> list[Instrument]:
        return self._instruments

    async def start(self) -> None:
        p = self.params
        try:
            self._nc = await connect(list(p.servers), name=f"volta-md-{p.venue}", user=p.user,
                                     password=p.password, token=p.token,
                                     connect_timeout_s=p.connect_timeout_s,
                                     disconnected_cb=self._disconnected,
                                     reconnected_cb=self._reconnected)
        except NatsUnavailable as exc:
            raise ConnectionError(f"venue {p.venue}: {exc}") from None
        js = self._nc.jetstream()
        try:
            listing = await self._instrument_list(js)
        except ConnectionError:
            await self.stop()  # the start is retried: no connection left behind per attempt
            raise
        wanted = set(p.symbols)
        self._instruments = [i for i in listing.instruments if not wanted or i.symbol in wanted]
        missing = wanted - {i.symbol for i in self._instruments}
        if wanted and not self._instruments:  # every one a typo or another venue's: no data at all
            await self.stop()
            listed = ", ".join(sorted(i.symbol for i in listing.instruments)[:5]) or "nothing"
            raise ConnectionError(f"venue {p.venue}: the gateway lists none of {', '.join(sorted(missing))} "
                                  f"(it lists {listed}{' ...' if len(listing.instruments) > 5 else ''})")
        if missing:
            log.error("gateway_lacks_symbols", venue=p.venue, symbols=sorted(missing))
        self._wanted = {i.id for i in self._instruments}
        await self._nc.subscribe(f"{p.subject_prefix}.md.{p.venue}.>", cb=self._on_msg)
        await self._nc.flush()
        for inst in self._instruments:
            await self._resync(inst.id)

    async def _instrument_list(self, js: Any) -> InstrumentList:
        p = self.params
        deadline = time.monotonic() + p.start_timeout_s
        while True:
            try:
                if self._kv is None:
                    self._kv = await js.key_value(p.snapshot_bucket)
                entry = await self._kv.get(f"{p.venue}.{INSTRUMENTS_KEY}")
                return _instruments_decoder.decode(entry.value)
            except Exception as exc:  # noqa: BLE001 - bucket or key not there yet: the gateway starts
                if time.monotonic() > deadline:
                    raise ConnectionError(f"venue {p.venue}: no gateway publishes it on "
                                       f"{shown(p.servers)} ({type(exc).__name__})") from None
                await asyncio.sleep(0.2)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._nc is not None:
            try:
                await self._nc.close()
            except Exception:  # noqa: BLE001 - closing anyway
                pass
            self._nc = None

    async def _disconnected(self) -> None:
        self.publish(VenueStatusChanged(self.venue, "disconnected", "nats connection lost",
                                        self.clock.now_ns(), "market_data"))

    async def _reconnected(self) -> None:
        self.publish(VenueStatusChanged(self.venue, "connected", "nats reconnected",
                                        self.clock.now_ns(), "market_data"))
        for iid in list(self._wanted):  # messages may be lost while away: start again from a snapshot
            self.request_resync(iid)

    # -- market data ----------------------------------------------------------------------------
    async def _on_msg(self, msg: Any) -> None:
        subject: str = msg.subject
        kind = subject.rpartition(".")[2]
        decoder = DECODERS.get(kind)
        if decoder is None:
            return
        try:
            m = decoder.decode(msg.data)
        except msgspec.DecodeError:
            self.counters["malformed"] += 1
            return
        iid = m.event.instrument_id
        if iid not in self._wanted:
            return  # a symbol this node did not ask for
        self.counters["messages"] += 1
        self.received[kind] += 1
        last = self._last_seq.get(iid, 0)
        if m.seq <= last and kind != "book":
            return  # already seen (covered by a snapshot)
        if last and m.seq > last + 1 and kind not in ("book", "delta"):
            self.counters["gaps"] += 1  # book gaps are the integrity layer's (prev_seq)
        # a whole book starts the instrument's sequence over: what came before is superseded,
        # also when a restarted gateway numbers from 1 again (max() would then drop every
        # later message as already seen, up to the old gateway's high-water mark)
        self._last_seq[iid] = m.seq if kind == "book" else max(last, m.seq)
        if kind == "book":
            self._unavailable.discard(iid)  # whole again: no resync retry needed
        self.publish(m.event)
        if kind == "delta" or kind == "book":
            lat = time.time_ns() - m.ts_pub
            self.last_latency_ns = lat
            if self.latency_sink is not None:
                self.latency_sink.append(lat)

    def request_resync(self, instrument_id: str) -> None:
        if instrument_id in self._resyncing or self._nc is None:
            return
        try:
            task = asyncio.get_running_loop().create_task(self._resync(instrument_id))
        except RuntimeError:
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _resync(self, instrument_id: str) -> None:
        """A fresh snapshot from the gateway (request-reply), else the bucket's latest."""
        self._resyncing.add(instrument_id)
        p = self.params
        try:
            data: bytes | None = None
            current = False  # the gateway's answer (its current book) rather than the bucket's copy
            for _ in range(3):
                try:
                    reply = await self._nc.request(snapshot_request_subject(p.subject_prefix, instrument_id),
                                                   b"", timeout=p.snapshot_timeout_s)
                    if reply.data:
                        data, current = reply.data, True
                        break
                except Exception:  # noqa: BLE001 - no responder / timeout: try again, then the bucket
                    await asyncio.sleep(0.05)
            if data is None and self._kv is not None:
                try:
                    data = (await self._kv.get(kv_key(instrument_id))).value
                except Exception:  # noqa: BLE001 - no copy either
                    data = None
            m = _book_decoder.decode(data) if data else None
            last = self._last_seq.get(instrument_id, 0)
            if m is None or (not current and m.seq <= last):
                # no book, or the bucket's copy is the book already held or older (the gateway
                # is gone): applying that would make a stale book LIVE with data that old.
                # Ask again shortly (the book stays STALE meanwhile), said once per outage.
                self.counters["snapshot_failures"] += 1
                if instrument_id not in self._unavailable:
                    self._unavailable.add(instrument_id)
                    log.warning("snapshot_unavailable", instrument=instrument_id,
                                reason="the gateway does not answer and it has no newer stored copy; "
                                       "retrying every second")
                asyncio.get_running_loop().call_later(1.0, self._retry_resync, instrument_id)
                return
            self._unavailable.discard(instrument_id)
            self.counters["snapshots"] += 1
            # the gateway's current book sets the sequence (a restarted gateway's is lower);
            # the bucket's copy may be older than what already arrived: never moves it back
            self._last_seq[instrument_id] = m.seq if current else max(last, m.seq)
            self.publish(m.event)
        except msgspec.DecodeError:
            self.counters["malformed"] += 1
        finally:
            self._resyncing.discard(instrument_id)

    def _retry_resync(self, instrument_id: str) -> None:
        if instrument_id in self._unavailable:  # (a whole book may have come meanwhile)
            self.request_resync(instrument_id)

    # -- orders: none here ----------------------------------------------------------------------
    def _reject(self, coid: str, iid: str) -> None:
        now = self.clock.now_ns()
        self.publish(OrderRejected(client_order_id=coid, instrument_id=iid,
                                   reason=f"{self.venue} is market data only on this node (via NATS)",
                                   ts_event=now, ts_recv=now))

    def submit(self, cmd: SubmitOrder) -> None:
        self._reject(cmd.client_order_id, cmd.instrument_id)

    def cancel(self, cmd: CancelOrder) -> None:
        self._reject(cmd.client_order_id, cmd.instrument_id)

    def amend(self, cmd: AmendOrder) -> None:
        self._reject(cmd.client_order_id, cmd.instrument_id)
