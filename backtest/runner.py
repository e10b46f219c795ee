"""Run one backtest: the live node (kernel, strategies, risk gate, router) on a virtual clock.

Theory of operation: ``build_node`` wires the deployment exactly as ``volta run`` does, with a
``VirtualClock`` and an in-memory journal. With recorded or generated data, every venue is a
``ReplayExchange`` and the driver walks the events in receive-time order: it moves the clock to
each event's time (timers due before it fire first, in time order: order arrivals, responses,
strategy and status timers, samples), delivers market data whose latency has elapsed, and hands
the event to its venue's exchange, which matches and passes it on to the engine. With
``source = "venue"`` the configured adapters (the simulated venue) make the market themselves
and the driver only advances the clock, exactly as ``run_virtual`` does for paper trading.
Nothing reads the wall clock except the progress line, so a run is a pure function of the
config, the data and the seed.

The replay loop is the hot path (one pass per recorded event): it runs the clock only when a
timer is due, calls the exchange's handler for the event's type directly, and the exchange
hands market data to the kernel through ``Kernel.market_publisher`` (the bus's semantics; a
quote or trade nobody but the kernel listens to skips the dispatch bookkeeping).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numba
import structlog

from backtest import store as stores
from backtest.batches import QuietRuns, quiet_runs
from backtest.batches import none as quiet_none
from backtest.exchange import ReplayExchange
from backtest.ledger import Ledger
from backtest.metrics import summarize
from backtest.catalog import CatalogError, open_catalog
from backtest.schema import BacktestSpec, DataConfig, backtest_spec, uses_catalog
from backtest.store import EventStore
from engine.config import ConfigError, ConfigProblem, VoltaConfig
from engine.book import OrderBook
from engine.clock import NS_PER_S, VirtualClock
from engine.kernel import Kernel
from engine.logging import log_clock
from engine.model import BookDelta, BookSnapshot, MarkPrice, OptionSummary, Quote, Trade
from engine.runtime import Node, build_node

log = structlog.get_logger("volta.backtest")

Progress = Callable[[int, int, float], None]
"""Called with (events processed, simulated time ns, wall seconds elapsed)."""

_CHECK_EVERY = 0x3FFF  # events between wall-clock reads for the progress line
_NEVER = 1 << 62


@dataclass
class BacktestResult:
    summary: dict[str, Any]
    ledger: Ledger
    node: Node
    events: int
    wall_s: float
    exchanges: dict[str, ReplayExchange] = field(default_factory=dict)

    @property
    def events_per_s(self) -> float:
        return self.events / self.wall_s if self.wall_s > 0 else 0.0


def load_data(config: VoltaConfig, spec: BacktestSpec) -> EventStore | None:
    """The market events the config names (None for ``source = "venue"``)."""
    d = spec.data
    if d.source == "venue":
        return None
    if uses_catalog(d):
        return load_catalog(d)
    if d.source == "store" and (Path(d.store) / "meta.json").is_file():
        return stores.load(d.store)  # the store the user named is the data
    if d.store and (Path(d.store) / "meta.json").is_file():
        cached = stores.load(d.store)  # a cache: only of this very data (else rebuilt below)
        if stores.made_from(cached.meta, d.source, d.files, d.synthetic, d.synthetic_venue,
                            d.start_ns, d.duration_s):
            return cached
    if d.source == "store":
        raise ConfigError([ConfigProblem("backtest.data.store", f"no event store at {d.store!r}")])
    if d.source == "capture":
        missing = [f for f in d.files if not Path(f).is_file()]
        if missing:
            raise ConfigError([ConfigProblem("backtest.data.files", f"no such file: {m}")
                               for m in missing])
        data = stores.from_captures(d.files)
    else:
        data = stores.synthetic(d.synthetic, d.synthetic_venue, d.start_ns, d.duration_s)
    if d.store:
        stores.save(data, d.store)
    return data


def load_catalog(d: DataConfig) -> EventStore:
    """The replayable events of the ``[backtest.data]`` catalog selection."""
    try:
        return open_catalog(d.catalog).load_store(
            datasets=d.datasets or None, venue=d.venues or None,
            instrument=d.instruments or None, start=d.start or None, end=d.end or None)
    except CatalogError as exc:
        raise ConfigError([ConfigProblem("backtest.data.catalog", str(exc))]) from None


def run_backtest(config: VoltaConfig, data: EventStore | None = None,
                 progress: Progress | None = None, spec: BacktestSpec | None = None,
                 progress_every_s: float | None = None) -> BacktestResult:
    """Run the deployment over the configured data; returns the summary and the recorders."""
    spec = spec or backtest_spec(config)
    # One backtest is one core (sweeps run one per process): Numba's thread pool only adds
    # wake-up latency to the small chain kernels here.
    numba.set_num_threads(max(1, min(spec.numba_threads, numba.config.NUMBA_NUM_THREADS)))
    if data is None:
        data = load_data(config, spec)
    replay = data is not None
    if replay and not data.events:  # type: ignore[union-attr]
        raise ConfigError([ConfigProblem("backtest.data", "the data holds no market events")])
    start = data.start_ns if replay else spec.data.start_ns  # type: ignore[union-attr]
    clock = VirtualClock(start)
    node = build_node(config, clock, ":memory:")
    node.strategy_start_failure_stops = False  # (a failed on_start: the result says so, exit 1)
    k = node.kernel
    exchanges = {v: a for v, a in k.adapters.items() if isinstance(a, ReplayExchange)}
    if replay:
        others = sorted(set(k.adapters) - set(exchanges))
        if others:
            raise ConfigError([ConfigProblem(f"venues.{v}.adapter", "replayed data needs the "
                                             "adapter backtest.exchange:ReplayExchange")
                               for v in others])
        for ex in exchanges.values():
            ex.add_instruments(data.instruments)  # type: ignore[union-attr]
            if not ex.md_delayed:
                ex.share_books(k.book_keeper)
        not_replayed = _check_replayable(data, exchanges)  # type: ignore[arg-type]

    def true_book(iid: str) -> OrderBook | None:
        ex = exchanges.get(iid.partition(":")[0])
        return ex.book(iid) if ex is not None else k.books.get(iid)

    def index_price(und: str) -> float:
        for ex in exchanges.values():
            px = ex.index_price(und)
            if px == px:
                return px
        return k.portfolio.underlying_prices.get(und, float("nan"))

    def fill_meta(tid: str) -> tuple[float, float] | None:
        for ex in exchanges.values():
            m = ex.fill_meta.get(tid)
            if m is not None:
                return m
        return None

    ledger = Ledger(k, spec.report, true_book, index_price, fill_meta)
    every = spec.progress_interval_s if progress_every_s is None else progress_every_s
    counted = [0]
    t_wall = time.perf_counter()

    async def drive() -> None:
        await node.start()
        interval = int(spec.report.sample_interval_s * NS_PER_S)
        sampler = clock.every(interval, ledger.sample, start_ns=start + interval)
        with _interruptible():
            if replay:
                counted[0] = _replay(data, exchanges, clock, progress, every, t_wall, k)
            else:
                counted[0] = _advance(k, clock, start, spec.data.duration_s, progress, every,
                                      t_wall)
        sampler.cancel()
        ledger.sample(clock.now_ns())
        await node.stop()

    with log_clock(clock.now_ns):  # log lines carry simulated time, not the wall clock
        asyncio.run(drive())
    wall = time.perf_counter() - t_wall
    meta = dict(data.meta) if replay else {"source": "venue", "venues": sorted(k.adapters)}  # type: ignore[union-attr]
    if replay and not_replayed:
        meta["not_replayed"] = not_replayed
    extra = {
        "events": counted[0],
        "span": {"start_ns": start, "end_ns": clock.now_ns(),
                 "simulated_s": round((clock.now_ns() - start) / NS_PER_S, 3)},
        "data": meta,
        "strategies": [{"id": sid, "class": f"{type(s).__module__}:{type(s).__qualname__}"}
                       for sid, s in k.strategies.items()],
        "exchange": {v: dict(ex.stats) for v, ex in sorted(exchanges.items())},
        "engine": {"counters": dict(sorted(k.counters.items())),
                   "strategy_errors": dict(sorted(k.strategy_errors.items()))},
    }
    summary = summarize(ledger, list(k.orders), extra, node.funding)
    return BacktestResult(summary, ledger, node, counted[0], wall, exchanges)


def _check_replayable(data: EventStore, exchanges: dict[str, ReplayExchange]
                      ) -> dict[str, list[str]]:
    """What of the data no order can trade on, said rather than replayed in silence: the
    instruments with no definition at their venue's exchange (a ``ConfigError`` when that is
    every instrument of the configured venues: the run could only end with nothing traded;
    else logged, as a recording's untraded book may be) and the venues no ``[venues.<v>]``
    replays (their events are skipped). Returns {"undefined" or "venue <v>": instrument ids}
    for the summary's ``data.not_replayed``."""
    out: dict[str, list[str]] = {}
    known = {v: {i.id for i in ex.instruments()} for v, ex in exchanges.items()}
    defined = 0
    for iid in data.instrument_ids():
        venue = iid.partition(":")[0]
        if venue not in known:
            out.setdefault(f"venue {venue}", []).append(iid)
        elif iid not in known[venue]:
            out.setdefault("undefined", []).append(iid)
        else:
            defined += 1
    undefined = out.get("undefined", [])
    if undefined and not defined:
        raise ConfigError([ConfigProblem(
            f"venues.{iid.partition(':')[0]}.params.instruments",
            f"no definition of {iid}: the data has none (a catalog's instrument.json, a "
            "capture's instrument list) and this list neither: add it here, or import the data "
            "again with the venue's instrument list (volta data import --instruments)")
            for iid in undefined])
    if undefined:
        log.warning("data_instruments_undefined", instruments=undefined,
                    why="no definition in the data or the venue's params.instruments: their "
                        "books replay, orders on them are refused")
    for key, iids in out.items():
        if key != "undefined":
            log.warning("data_not_replayed", venue=key[6:], instruments=len(iids),
                        why=f"no [venues.{key[6:]}] with adapter backtest.exchange:"
                            "ReplayExchange: its events are skipped")
    return out


@contextlib.contextmanager
def _interruptible() -> Iterator[None]:
    """Ctrl-C raises KeyboardInterrupt inside the block. The replay is one synchronous call in
    the event loop, and asyncio's own SIGINT handler only cancels the task at its next await:
    the run would go on to its end first. (Main thread only: elsewhere nothing to change.)"""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        if before is not None:
            signal.signal(signal.SIGINT, before)


def _replay(data: EventStore, exchanges: dict[str, ReplayExchange], clock: VirtualClock,
            progress: Progress | None, every: float, t_wall: float, kernel: Kernel) -> int:
    """The replay loop (the hot path: one clock move and one exchange call per event).

    Each event goes straight to its exchange's handler for its type (``market_handlers``).
    The clock is only asked to run timers when one is due by the event's time; otherwise the
    loop just moves its time (what ``advance_to`` does when nothing is due). A run of quotes
    and trades nobody acts on before the next due timer is applied in one step
    (``backtest.batches``; not with market-data latency, whose queue orders every event).
    """
    events = data.events
    route: dict[str, Any] = {}
    last_iid: str | None = None
    handlers: dict[type, Callable[[Any], None]] | None = None
    delayed = [ex for ex in exchanges.values() if ex.md_delayed]
    advance = clock.advance_to
    heap = clock.timer_heap
    last_report = t_wall
    single = delayed[0].md_queue if len(delayed) == 1 else None
    check_every = _CHECK_EVERY if progress is not None else -1  # -1: never (n & -1 == n > 0)
    total = len(events)
    runs = quiet_none(total) if delayed else _quiet_runs(data)
    r_end, r_lo, r_hi = runs.end, runs.lo, runs.hi
    r_qend, r_qlo, r_qhi = runs.qend, runs.qlo, runs.qhi
    r_ts, r_cum, r_last = runs.ts, runs.cum_quotes, runs.last_trade
    absorb = kernel.absorb_if_quiet
    queues_of: dict[str, Any] = {}  # instrument -> its venue's order queues (None: no venue)
    numbered = iter(range(total))
    skip_to = numbered.__setstate__  # (a range iterator moves to any index in one call)
    for i in numbered:
        ev = events[i]
        end = r_end[i]
        n = i + 1
        if end > n:
            # a run of quotes/trades: the part before the next due timer, in one step if quiet.
            # Timers due by its first event fire first (they would before that event anyway):
            # a run cut by a timer resumes in one step after it, from the event at the cut.
            if heap and heap[0][0] <= r_ts[i]:
                advance(r_ts[i])
            iid = ev.instrument_id
            queues = queues_of.get(iid, route)
            if queues is route:
                ex = exchanges.get(iid.partition(":")[0])
                queues = queues_of[iid] = ex.queues if ex is not None else None
            if queues is not None:
                q = queues.get(iid)
                if q is not None and not (q.top_bid < r_lo[i] and q.top_ask > r_hi[i]):
                    # an order of ours within reach of the run: its quotes alone, if they miss
                    end = r_qend[i]
                    if not (end > n and q.top_bid < r_qlo[i] and q.top_ask > r_qhi[i]):
                        end = i
                if end > n:
                    last = r_ts[end - 1]
                    if heap and last >= heap[0][0]:  # cut at the timer (its events go after it)
                        end = bisect_left(r_ts, heap[0][0], i, end)
                        last = r_ts[end - 1]
                    trade = r_last[end - 1]
                    if end > n and absorb(iid, end - i, r_cum[end] - r_cum[i],
                                          events[trade].price if trade >= i else None):
                        if last > clock._now:
                            clock._now = last
                        if progress is not None and (i ^ (end - 1)) & ~check_every:
                            now = time.perf_counter()
                            if now - last_report >= every:
                                last_report = now
                                progress(end, last, now - t_wall)
                        skip_to(end)
                        continue
        t = ev.ts_recv
        if delayed:  # market data whose latency has elapsed goes first
            if single is not None:
                if single and single[0][0] <= t:  # the common one-venue case, without a call
                    _deliver_one(delayed[0], clock, t)
            else:
                _deliver(delayed, clock, t)
        if heap and heap[0][0] <= t:
            advance(t)
        elif t > clock._now:
            clock._now = t
        iid = ev.instrument_id
        if iid is not last_iid:  # (the store shares one string per instrument)
            handlers = route.get(iid, route)
            if handlers is route:
                ex = exchanges.get(iid.partition(":")[0])
                handlers = route[iid] = _handlers(ex, kernel, iid) if ex is not None else None
            last_iid = iid
        if handlers is not None:
            try:
                handle = handlers[type(ev)]
            except KeyError:  # a type the exchange passes on as it is
                handle = handlers[object]
            handle(ev)
        if not n & check_every:
            now = time.perf_counter()
            if now - last_report >= every:
                last_report = now
                progress(n, t, now - t_wall)  # type: ignore[misc]
    n = total
    if delayed:
        _deliver(delayed, clock, 1 << 62)
    if progress is not None:
        progress(n, clock.now_ns(), time.perf_counter() - t_wall)
    return n


def _quiet_runs(data: EventStore) -> QuietRuns:
    cols = data.columns
    if cols is None or len(cols["kind"]) != len(data.events):
        # (a store built elsewhere, e.g. from a catalog: its columns, once for every run)
        cols = data.columns = stores.columns_of(data.events)
    cached = data.runs
    if cached is not None and cached[0] is cols:
        return cached[1]  # (runs depend on the data alone: a sweep or a re-run reuses them)
    runs = quiet_runs(cols, data.events)
    data.runs = (cols, runs)
    return runs


def _handlers(ex: ReplayExchange, kernel: Kernel, iid: str) -> dict[type, Callable[[Any], None]]:
    """The exchange's market-data handlers of ``iid``; publishing through the kernel's market
    publishers when the exchange is bound to the kernel's bus (what ``build_node`` does)."""
    if ex.publish == kernel.bus.publish:
        return ex.market_handlers(iid, lambda cls: kernel.market_publisher(cls, iid))
    return ex.market_handlers(iid)


def _deliver_one(ex: ReplayExchange, clock: VirtualClock, until: int) -> None:
    """``_deliver`` for one delayed venue (the same order: its queue is in time order)."""
    q = ex.md_queue
    heap = clock.timer_heap
    publish = ex.publish
    while q and q[0][0] <= until:
        due, ev = q.popleft()
        if heap and heap[0][0] <= due:
            clock.advance_to(due)
        elif due > clock._now:
            clock._now = due
        publish(ev)


def _deliver(delayed: list[ReplayExchange], clock: VirtualClock, until: int) -> None:
    """Hand the engine the market data whose latency has elapsed by ``until``, in time order."""
    while True:
        best = None
        for ex in delayed:
            q = ex.md_queue
            if q and q[0][0] <= until and (best is None or q[0][0] < best.md_queue[0][0]):
                best = ex
        if best is None:
            return
        due, ev = best.md_queue.popleft()
        clock.advance_to(due)
        best.publish(ev)


def _advance(k: Any, clock: VirtualClock, start: int, duration_s: float,
             progress: Progress | None, every: float, t_wall: float) -> int:
    """Venue-generated market: advance the clock in 100 ms steps, counting market events."""
    counter = [0]

    def count(_: Any) -> None:
        counter[0] += 1

    for cls in (BookSnapshot, BookDelta, Trade, Quote, MarkPrice, OptionSummary):
        k.bus.subscribe(cls, count)
    end = start + int(duration_s * NS_PER_S)
    step = NS_PER_S // 10
    t = start
    last_report = t_wall
    while t < end:
        t = min(t + step, end)
        clock.advance_to(t)
        if progress is not None:
            now = time.perf_counter()
            if now - last_report >= every:
                last_report = now
                progress(counter[0], t, now - t_wall)
    if progress is not None:
        progress(counter[0], clock.now_ns(), time.perf_counter() - t_wall)
    return counter[0]
