"""Restart time after one simulated hour and one simulated day, with and without snapshots.

Theory of operation. A history is written on a virtual clock by the real journal: an
options market maker's flow on 8 instruments (every cycle: a quote submitted, accepted, and
either cancelled or filled, partly then fully, against the opposite side). ``RATE`` records
per simulated second (the options market maker produced 164,752 records in one hour, 45.8/s;
by default a tenth of it, ``VOLTA_BENCH_RESTART_SCALE``: see ``SCALE``). Each simulated second's records are
committed and applied to a live kernel through the journal replay's own code
(``engine.reconcile.replay``), the journal's store checkpoint runs every simulated second
and the runtime's ``Snapshotter.tick`` too (a snapshot every 60 s of clock), exactly as a
node does; segments rotate by the journal's rule. Then the "process" dies (``abandon``).

Measured, each ``REPEATS`` times, median and spread: ``restart_s``, a fresh kernel opening
the journal and rebuilding from the newest snapshot plus the tail; ``full_replay_s`` (the
same-run baseline), the same journal rebuilt from every record (``use_snapshot=False``).
``longest_snapshot_ms``: the longest time a snapshot held the writing loop (with the
journal's store writer: the state capture and the hand-over only; a garbage collection over
the live kernel's whole in-memory history may fall in it, see docs/risk.md).

``loop_stall`` (``stall_figures``): the longest event-loop stall during one snapshot that
also rotates 100,000+ records into a segment, *before* (``background=False``: capture,
encode, store and rotation on the loop, as until now) and *after* (the store writer thread
does all but the capture), from one run on copies of the same journal and the same restored
state (the node's full snapshot caps: 5,000 ended orders, 20,000 trade ids). Measured by a
heartbeat task on an asyncio loop (a 0.5 ms sleep in a loop; its lateness is the time the
loop could not run), with the heartbeat's own lateness over an idle stretch of the same
length as the noise floor (a loaded 2-core VM schedules late on its own).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

from engine.clock import NS_PER_S, VirtualClock
from engine.execution.snapshot import KEEP_ENDED, KEEP_TRADES, Snapshotter
from engine.journal import ROTATE_RECORDS, Journal
from engine.kernel import Kernel
from engine.model import (
    CancelOrder,
    Instrument,
    InstrumentKind,
    Liquidity,
    OrderAccepted,
    OrderCancelled,
    OrderFilled,
    Side,
    SubmitOrder,
)
from engine.reconcile import rebuild, replay
from engine.risk import RiskLimits

MM_RATE = 45.8
"""Records per second of the options market maker (164,752 in one simulated hour)."""
SCALE = float(os.environ.get("VOLTA_BENCH_RESTART_SCALE", "0.1"))
"""The history's rate as a fraction of ``MM_RATE``; the snapshot's caps (ended orders, trade
ids) are scaled alike, so that they cover the same span of trading as a node's at full rate.
1.0 is the real rate (a day is then ~4 M records: minutes to write and to replay)."""
RATE = MM_RATE * SCALE
REPEATS = 5
BASELINE_REPEATS = 3
T0 = 1_780_000_000 * NS_PER_S
INSTRUMENTS = [Instrument(venue="sim", symbol=f"BTC-27MAR27-{k}-C", kind=InstrumentKind.OPTION,
                          base="BTC", quote="USD", settle="USDC", tick_size=1.0, lot_size=0.01,
                          min_size=0.01, underlying="BTC", strike=float(k),
                          expiry_ns=1_806_000_000 * NS_PER_S)
               for k in range(50_000, 90_000, 5_000)]


def _kernel(journal: Journal) -> Kernel:
    k = Kernel(VirtualClock(T0), RiskLimits(), journal)
    k.add_instruments(INSTRUMENTS)
    return k


def _flow(n: int, ts: int) -> list[Any]:
    """Records of one quote's life (about 4.5 records per quote on average)."""
    inst = INSTRUMENTS[n % len(INSTRUMENTS)]
    side = Side.BUY if n % 2 else Side.SELL
    coid = f"mm-{n}"
    px = 1_000.0 + (n % 7)
    cmd = SubmitOrder(client_order_id=coid, strategy_id="mm", instrument_id=inst.id, side=side,
                      quantity=0.1, price=px, ts=ts)
    acc = OrderAccepted(client_order_id=coid, venue_order_id=f"v{n}", instrument_id=inst.id,
                        ts_event=ts, ts_recv=ts)
    out: list[Any] = [("out", cmd), ("in", acc)]
    if n % 4 == 0:  # filled in two parts
        for i, (q, left) in enumerate(((0.04, 0.06), (0.06, 0.0))):
            out.append(("in", OrderFilled(client_order_id=coid, venue_order_id=f"v{n}",
                                          instrument_id=inst.id, trade_id=f"t{n}-{i}", side=side,
                                          price=px, quantity=q, remaining=left,
                                          liquidity=Liquidity.MAKER, fee=0.0003 * q,
                                          fee_currency="USDC", ts_event=ts, ts_recv=ts)))
    else:
        out.append(("out", CancelOrder(client_order_id=coid, strategy_id="mm", instrument_id=inst.id, ts=ts)))
        out.append(("in", OrderCancelled(client_order_id=coid, instrument_id=inst.id,
                                         reason="requote", ts_event=ts, ts_recv=ts)))
    return out


def write_history(path: Path, seconds: int, rate: float = RATE, *, full_caps: bool = False,
                  snapshots: bool = True) -> dict[str, Any]:
    """``seconds`` of simulated trading into the journal at ``path``; then a crash.
    ``full_caps``: the node's snapshot caps (not scaled by ``rate``); ``snapshots=False``:
    none on the way (one at the end)."""
    j = Journal(path, "NORMAL")
    live = _kernel(j)
    scale = 1.0 if full_caps else rate / MM_RATE
    snaps = Snapshotter(j, live.orders, live.portfolio, lambda: live.killswitch.durable,
                        j.checkpoint, keep_ended=max(1, int(KEEP_ENDED * scale)),
                        keep_trades=max(1, int(KEEP_TRADES * scale)),
                        every_records=1 << 62 if not snapshots else 50_000,
                        every_ns=1 << 62 if not snapshots else 60 * NS_PER_S)
    n = 0
    owed = 0.0
    counts: dict[str, int] = {}
    for s in range(seconds):
        now = T0 + s * NS_PER_S
        owed += rate
        rows = []
        while owed >= 1.0:
            for direction, obj in _flow(n, now):
                rows.append((j.append(now, direction, obj), now, direction, type(obj).__name__, obj))
                owed -= 1.0
            n += 1
        j.commit()  # (written first, applied after: the write-ahead order of a node)
        replay(live, rows, counts)
        j.checkpoint()
        snaps.tick(now)
    if not snapshots:
        snaps.take(now)
    j.drain()
    records = j.seq
    j.abandon()  # SIGKILL: no final snapshot, the tail since the last one is replayed
    return {"records": records, "snapshots": snaps.taken,
            "longest_snapshot_ms": round(snaps.longest_s * 1e3, 1), "segments": len(Journal(
        path, read_only=True).segments()), "quotes": n,
        "bytes": sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if p.is_file())
        + sum(p.stat().st_size for p in Path(f"{path}.segments").glob("*"))}


def _time_restart(path: Path, use_snapshot: bool) -> tuple[float, int]:
    t = time.perf_counter()
    j = Journal(path, "NORMAL")
    k = _kernel(j)
    counts = rebuild(k, j, use_snapshot=use_snapshot)
    dt = time.perf_counter() - t
    j.abandon()  # (no close: a close would checkpoint nothing, but keep the file as it is)
    return dt, sum(v for t_, v in counts.items() if t_ != "snapshot_seq")


def _measure(path: Path, use_snapshot: bool, repeats: int) -> dict[str, Any]:
    _time_restart(path, use_snapshot)  # (discarded: first imports and page cache)
    times, replayed = [], 0
    for _ in range(repeats):
        dt, replayed = _time_restart(path, use_snapshot)
        times.append(dt)
    return {"median_s": round(statistics.median(times), 4), "min_s": round(min(times), 4),
            "max_s": round(max(times), 4), "records_replayed": replayed}


def restart_figures(tmp: Path, hours: tuple[float, float] = (1.0, 24.0)) -> dict[str, Any]:
    import logging

    logging.disable(logging.CRITICAL)
    out: dict[str, Any] = {"rate_records_per_s": RATE, "scale_of_mm_rate": SCALE,
                           "repeats": REPEATS, "baseline_repeats": BASELINE_REPEATS}
    for label, h in zip(("hour", "day"), hours):
        path = tmp / f"restart-{label}.sqlite"
        t = time.perf_counter()
        hist = write_history(path, int(h * 3600))
        hist["write_s"] = round(time.perf_counter() - t, 1)
        out[label] = {"history": hist, "restart": _measure(path, True, REPEATS),
                      "full_replay_baseline": _measure(path, False, BASELINE_REPEATS)}
    out["loop_stall"] = stall_figures(tmp)
    hr, dy = out["hour"]["restart"], out["day"]["restart"]
    out["day_over_hour_restart"] = round(dy["median_s"] / hr["median_s"], 3)
    out["day_over_hour_full_replay"] = round(
        out["day"]["full_replay_baseline"]["median_s"] / out["hour"]["full_replay_baseline"]["median_s"], 3)
    return out


def _copy_journal(src: Path, dst: Path) -> None:
    for f in src.parent.glob(src.name + "*"):
        target = dst.parent / (dst.name + f.name[len(src.name):])
        if f.is_dir():
            shutil.copytree(f, target)
        elif not f.name.endswith(".lock"):
            shutil.copy2(f, target)


async def _heartbeat_max(stop: asyncio.Event, period_s: float = 0.0005) -> list[float]:
    late = []
    while not stop.is_set():
        t = time.perf_counter()
        await asyncio.sleep(period_s)
        late.append(time.perf_counter() - t - period_s)
    return late


async def _one_stall(path: Path, background: bool) -> dict[str, Any]:
    """Restore the journal at ``path`` into a kernel, then take one snapshot on the loop
    (with a rotation due) while a heartbeat measures how long the loop could not run."""
    j = Journal(path, "NORMAL", background=background)
    k = _kernel(j)
    rebuild(k, j)
    snaps = Snapshotter(j, k.orders, k.portfolio, lambda: k.killswitch.durable, j.checkpoint,
                        execution=k.execution.snapshot, throttle=k.gate.snapshot)
    segments_before = len(j.segments())
    stop = asyncio.Event()
    beat = asyncio.ensure_future(_heartbeat_max(stop))
    await asyncio.sleep(0.05)  # (the heartbeat running)
    t0 = time.perf_counter()
    snaps.take(T0 + 10**6 * NS_PER_S)
    take_s = time.perf_counter() - t0
    while not j.writer_idle:
        await asyncio.sleep(0.001)
    total_s = time.perf_counter() - t0
    await asyncio.sleep(0.02)
    stop.set()
    busy = await beat
    # the noise floor: the same heartbeat over an idle stretch as long as the snapshot took
    stop = asyncio.Event()
    idle = asyncio.ensure_future(_heartbeat_max(stop))
    await asyncio.sleep(max(total_s, 0.05))
    stop.set()
    noise = await idle
    rotated = len(j.segments()) - segments_before
    j.close()
    return {"longest_loop_stall_ms": round(max(busy) * 1e3, 2),
            "snapshot_on_loop_ms": round(take_s * 1e3, 2),
            "snapshot_total_ms": round(total_s * 1e3, 1),
            "store_ms": round(snaps.longest_store_s * 1e3, 1),
            "segments_rotated": rotated,
            "noise_floor_ms": round(max(noise) * 1e3, 2)}


def stall_figures(tmp: Path, rate: float = MM_RATE) -> dict[str, Any]:
    """The loop stall of one snapshot with a rotation, before (all on the loop) and after
    (the store writer), on copies of one journal."""
    base = tmp / "stall.sqlite"
    seconds = int(ROTATE_RECORDS * 1.05 / rate) + 1
    write_history(base, seconds, rate, full_caps=True, snapshots=False)  # ends with one snapshot
    # a little more after it: the measured snapshot rotates everything the first one covers
    j = Journal(base, "NORMAL")
    k = _kernel(j)
    rebuild(k, j)
    n0 = 10_000_000
    for i in range(200):
        for direction, obj in _flow(n0 + i, T0 + seconds * NS_PER_S):
            j.append(T0 + seconds * NS_PER_S, direction, obj)
    j.commit()
    j.close()
    out: dict[str, Any] = {"rate_records_per_s": rate, "records": j.seq}
    for label, background in (("before_on_loop", False), ("after_store_writer", True)):
        copy = tmp / f"stall-{label}.sqlite"
        _copy_journal(base, copy)
        out[label] = asyncio.run(_one_stall(copy, background))
    b, a = out["before_on_loop"], out["after_store_writer"]
    out["stall_before_over_after"] = round(b["longest_loop_stall_ms"] / max(a["longest_loop_stall_ms"], 1e-3), 1)
    return out
