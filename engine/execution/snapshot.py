"""Snapshots: the engine's recoverable state at one journal seq, so a restart replays a tail.

Theory of operation. A snapshot holds what a full journal replay would rebuild: the orders
(``OrderBookkeeper.snapshot``: every open one, the newest ``KEEP_ENDED`` ended ones and each
strategy's newest), the positions with their exact quantities, realized PnL, fees and
funding, the newest ``KEEP_TRADES`` trade ids (``Portfolio.snapshot``: what de-duplicates a
fill a venue reports again), the kill-switch level a replay would restore
(``KillSwitch.durable``), the execution core's counters a replay rebuilds (fills, venue
rejects, late rejects, duplicate terminal events) with its newest fills, and the gate's pacing
state. Counters of what one process did (orders approved and sent, denials) are not in it: a
full replay does not rebuild them either (docs/risk.md). It is encoded with msgpack (floats
and NaN exact, quantities as decimal strings) and stored by ``Journal.save_snapshot`` together with the seq of the last
record it covers, in one transaction with a digest.

Retention: the live process keeps what a restarted one would, the same rule
(``OrderBookkeeper.retire``, ``Portfolio.retire_trades``): ``Snapshotter.tick`` applies it
every second, between events, before a snapshot is due (so its memory does not grow with the
history either), a slice at a time (``retain``: no call holds the loop for long). An order
dropped is unknown to a later venue report, as after a restart: a fill is journaled and
applied to the position (de-duplicated by trade id), anything else counted and logged.

``Snapshotter.tick`` (a 1 s timer) saves one when ``EVERY_RECORDS`` records or
``EVERY_NS`` of clock (and at least one record) have passed since the last, and
``Snapshotter.take`` at a clean stop. Both run between events, after the execution core's
checkpoint, so the state is exactly the state after every journaled record. Its size is
bounded (the constants above), which is what makes a restart's time independent of the
history: ``restore`` reads the newest snapshot that verifies and decodes; ``rebuild``
(engine/reconcile.py) then replays only the records after its seq.

A snapshot that fails to write fails the journal like any write (the execution core halts
trading); a damaged or undecodable one is skipped at restart (the previous one, else a full
replay).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

import msgspec
import structlog

from engine.execution.state import ExecutionState
from engine.journal import Journal, JournalError
from engine.orders import OrderBookkeeper, OrderState
from engine.portfolio import Portfolio
from engine.portfolio_state import PortfolioState
from engine.risk.throttle import ThrottleState

log = structlog.get_logger("volta.snapshot")

VERSION = 2
READABLE = (1, 2)
"""Versions ``load`` accepts (a version-1 snapshot lacks the execution and throttle parts)."""
KEEP_ENDED = 5_000
"""Ended orders kept (the newest): late venue answers about them are still recognised."""
KEEP_TRADES = 20_000
"""Trade ids kept (the newest) for de-duplicating fills a venue reports again."""
SLICE_ORDERS = 64
SLICE_TRADES = 256
"""What a timer call of the retention rule drops at most while less than an eighth of a cap
has gathered beyond it (``retain``): a market maker within venue rate limits ends fewer
orders than that in a second, so each call drops what the last second left, in microseconds."""
EVERY_RECORDS = 50_000
EVERY_NS = 60 * 1_000_000_000


class Snapshot(msgspec.Struct, frozen=True, kw_only=True):
    version: int
    seq: int
    ts: int
    portfolio: PortfolioState
    kill: tuple[int, str, str]
    execution: ExecutionState | None = None
    """The execution core's replayed counters and recent fills (None in a version-1 snapshot;
    without ``counters`` in one written before they were kept)."""
    throttle: ThrottleState | None = None
    """The gate's pacing state (None in a version-1 snapshot)."""
    orders: list[OrderState]
    """Last, so that ``encode`` can write it a slice at a time (the field order of the
    msgpack map; decoding goes by name)."""


_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(Snapshot)


SLICE = 256
"""Orders encoded per slice by ``encode`` (about a quarter of a millisecond of GIL each)."""


def capture(seq: int, ts: int, orders: OrderBookkeeper, portfolio: Portfolio,
            kill: tuple[int, str, str], keep_ended: int = KEEP_ENDED,
            keep_trades: int = KEEP_TRADES, execution: ExecutionState | None = None,
            throttle: ThrottleState | None = None) -> Snapshot:
    """The state after record ``seq``, as immutable data (taken on the event loop, between
    events: nothing changes while it is read)."""
    return Snapshot(version=VERSION, seq=seq, ts=ts, orders=orders.snapshot(keep_ended),
                    portfolio=portfolio.snapshot(keep_trades), kill=kill,
                    execution=execution, throttle=throttle)


def _array_header(n: int) -> bytes:
    """The msgpack array header for ``n`` items (the smallest form, as msgpack prescribes)."""
    if n <= 15:
        return bytes((0x90 | n,))
    if n <= 0xFFFF:
        return b"\xdc" + n.to_bytes(2, "big")
    return b"\xdd" + n.to_bytes(4, "big")


def encode(snap: Snapshot, pause: Callable[[float], None] = time.sleep) -> bytes:
    """The msgpack encoding of ``snap`` (byte for byte ``msgspec.msgpack.encode(snap)``),
    the orders a ``SLICE`` at a time with ``pause(0)`` between slices: in the store
    writer's thread that releases the GIL, so the event loop waits for a slice at most,
    never for the whole encoding."""
    head = _ENCODER.encode(msgspec.structs.replace(snap, orders=[]))
    assert head[-1] == 0x90  # the empty orders array, last
    orders = snap.orders
    parts = [head[:-1], _array_header(len(orders))]
    for i in range(0, len(orders), SLICE):
        part = orders[i:i + SLICE]
        parts.append(_ENCODER.encode(part)[len(_array_header(len(part))):])
        pause(0)
    return b"".join(parts)


def load(journal: Journal) -> Snapshot | None:
    """The newest stored snapshot that verifies and decodes (None: replay everything)."""
    for seq, _ts, payload in journal.snapshots():
        try:
            snap = _DECODER.decode(payload)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            log.error("snapshot_unreadable", journal=str(journal.path), seq=seq, error=str(exc))
            continue
        if snap.version not in READABLE or snap.seq != seq:
            log.error("snapshot_unreadable", journal=str(journal.path), seq=seq,
                      error=f"version {snap.version}, seq {snap.seq}")
            continue
        return snap
    return None


def retain(orders: OrderBookkeeper, portfolio: Portfolio, keep_ended: int = KEEP_ENDED,
           keep_trades: int = KEEP_TRADES, *, sliced: bool = True) -> tuple[int, int]:
    """Drop the orders and trade ids a snapshot leaves out; how many of each. The live
    process's timer (``Snapshotter.tick``, ``sliced``) drops at most a slice per call
    (``SLICE_ORDERS``, ``SLICE_TRADES``) until more than an eighth of a cap has gathered
    beyond the rule, then down to that eighth: no call holds the event loop for more than a
    slice's work at the rates a slice covers, and the memory bound (the caps plus an eighth
    plus a second's orders) holds at any rate. The journal's replay at start
    (``engine.reconcile.replay``, not ``sliced``) drops everything beyond the rule."""
    if not sliced:
        return orders.retire(keep_ended), portfolio.retire_trades(keep_trades)
    n = orders.excess_ended(keep_ended)
    m = portfolio.excess_trades(keep_trades)
    return (orders.retire(keep_ended, max(SLICE_ORDERS, n - keep_ended // 8)) if n > 0 else 0,
            portfolio.retire_trades(keep_trades, max(SLICE_TRADES, m - keep_trades // 8))
            if m > 0 else 0)


class Snapshotter:
    """Saves snapshots on a timer and at stop (one owner: the runtime builds it)."""

    def __init__(self, journal: Journal, orders: OrderBookkeeper, portfolio: Portfolio,
                 kill: Callable[[], tuple[int, str, str]], commit: Callable[[], None],
                 every_records: int = EVERY_RECORDS, every_ns: int = EVERY_NS,
                 keep_ended: int = KEEP_ENDED, keep_trades: int = KEEP_TRADES, *,
                 execution: Callable[[], ExecutionState] | None = None,
                 throttle: Callable[[], ThrottleState] | None = None,
                 retain: bool = True) -> None:
        self.journal = journal
        self.execution = execution  # the execution core's snapshot()
        self.throttle = throttle  # the risk gate's snapshot()
        self.orders = orders
        self.portfolio = portfolio
        self.kill = kill
        self.commit = commit  # the execution core's checkpoint (its failure path included)
        self.every_records = every_records
        self.every_ns = every_ns
        self.keep_ended = keep_ended
        self.keep_trades = keep_trades
        self.retain = retain
        """Apply the retention rule to the live orders and trade ids (False: keep everything,
        a benchmark's baseline)."""
        self.retired_orders = 0
        self.retired_trades = 0
        self.last_seq = max((s for s, _t, _p in journal.snapshots()), default=0) \
            if not journal.closed else 0
        self.last_ns = 0
        self.taken = 0
        self.longest_s = 0.0
        """The longest time a snapshot held the event loop (the capture and hand-over; without
        a store writer also the encoding, the store and the rotation)."""
        self.longest_store_s = 0.0
        """The longest encode + store + rotation (in the store writer when there is one)."""

    def tick(self, now_ns: int) -> None:
        """Timer: the retention rule, then a snapshot when enough records or time have
        passed since the last."""
        if self.retain:
            self.retire()
        j = self.journal
        if j.closed or j.failed:
            return
        new = j.seq - self.last_seq
        if new >= self.every_records or (new > 0 and now_ns - self.last_ns >= self.every_ns):
            self.take(now_ns)

    def retire(self) -> tuple[int, int]:
        """The retention rule on the live state (``retain``); how many orders and trade ids
        it dropped."""
        gone = retain(self.orders, self.portfolio, self.keep_ended, self.keep_trades)
        self.retired_orders += gone[0]
        self.retired_trades += gone[1]
        return gone

    def take(self, now_ns: int) -> int | None:
        """Snapshot the state now; its seq, or None (journal closed or failed). On the event
        loop only the capture (immutable data at the journal's last seq) and the hand-over;
        the journal's store writer encodes, stores and rotates (``Journal.submit_snapshot``)."""
        j = self.journal
        if j.closed or j.failed or j.memory:
            return None
        self.commit()  # every record the state reflects is committed (and handed over) first
        if j.failed:
            return None
        seq = j.seq
        if seq == self.last_seq:
            return seq
        t0 = time.perf_counter()
        snap = capture(seq, now_ns, self.orders, self.portfolio, self.kill(),
                       self.keep_ended, self.keep_trades,
                       self.execution() if self.execution is not None else None,
                       self.throttle() if self.throttle is not None else None)
        try:
            j.submit_snapshot(seq, now_ns, functools.partial(encode, snap), self._saved)
        except JournalError as exc:
            log.error("snapshot_failed", journal=str(j.path), error=str(exc))
            return None
        self.longest_s = max(self.longest_s, time.perf_counter() - t0)
        self.last_seq, self.last_ns = seq, now_ns
        return seq

    def _saved(self, seq: int, size: int, seconds: float) -> None:
        """A snapshot is stored (called by the store writer's thread, or inline without one)."""
        self.taken += 1
        self.longest_store_s = max(self.longest_store_s, seconds)
        log.info("snapshot_saved", seq=seq, bytes=size, store_ms=round(seconds * 1e3, 1))
