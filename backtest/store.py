"""The normalized event store: market events decoded once, kept columnar, replayed fast.

Theory of operation: a store is a directory with ``meta.json`` (format version, instrument
definitions, source files, counts, the integrity stats seen while decoding) and ``events.npz``
(plain numpy arrays, no pickle). Every event has a row in the global columns ``kind`` (int8),
``ts`` (receive time, the replay clock), ``ts_event`` and ``inst`` (index into the instrument id
list); each kind has its own columns indexed by its running row count, and book levels of all
snapshots and deltas sit in one flat ``lv_px``/``lv_sz`` pair (bids then asks per event, counts
in ``nb``/``na``). ``load`` rebuilds the frozen ``engine.model`` events in file order in one pass.
Depth diffs of instruments with deep diffs (``COLUMNAR_MIN_LEVELS`` levels per diff on average,
every price on the instrument's tick grid) also get ``columns``: their place in one ``(3, N)``
array of tick index, price and size, which the books apply in one compiled call
(``engine.book_array``).

Sources: captures decoded by the real codecs (``adapters.registry``; records in receive order
as ``volta replay`` does; a frame a codec rejects is counted and skipped) and the seeded
synthetic generator of the simulated venue run on a virtual clock with no client.
The store keeps what a backtest consumes: raw level strings and venue checksums are dropped
(they were verified, when present, by the integrity layer while the store was built).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from adapters import registry
from adapters.capture import CaptureFormatError, load_records
from adapters.sim import SimVenue, SimVenueParams
from engine.config import decode_params
from engine.clock import NS_PER_S, VirtualClock
from engine.book_array import register_levels
from engine.integrity import BookKeeper
from engine.model import (
    BookDelta,
    BookSnapshot,
    DeltaColumns,
    FundingRate,
    Instrument,
    MarkPrice,
    OptionSummary,
    Quote,
    Side,
    Trade,
    VenueProtocolError,
)

FORMAT = 1
COLUMNAR_MIN_LEVELS = 8  # levels per diff (mean) from which a compiled diff beats the dict loop
SNAP, DELTA, TRADE, QUOTE, MARK, FUND, OSUM = range(7)
_KIND = {BookSnapshot: SNAP, BookDelta: DELTA, Trade: TRADE, Quote: QUOTE, MarkPrice: MARK,
         FundingRate: FUND, OptionSummary: OSUM}
_AGGR = {None: 0, Side.BUY: 1, Side.SELL: 2}
_AGGR_BACK = (None, Side.BUY, Side.SELL)
_OSUM_FIELDS = ("mark_price", "mark_iv", "bid_iv", "ask_iv", "underlying_price", "delta", "gamma",
                "vega", "theta", "open_interest")


class StoreError(Exception):
    """A store or capture that cannot be read or built (the message says which and why)."""


class EventStore(msgspec.Struct):
    """Decoded market events in replay order plus the instruments the data defined."""

    events: list[Any]
    instruments: list[Instrument]
    meta: dict[str, Any]
    columns: dict[str, Any] | None = None
    """Per-event columns of ``events`` (``columns_of``), None until someone builds them."""
    levels: Any = None
    """The ``(3, N)`` level array the diffs' ``columns`` point into (``load`` sets it; the
    store owns it: books find it by the id the diffs carry, ``engine.book_array``)."""
    runs: Any = None
    """``(columns, backtest.batches.QuietRuns)``: the replay's quiet runs of these events, found
    from those columns by the first replay (a property of the data, like the columns; every
    later replay of the store reuses it while the columns are the same object)."""

    iids: list[str] | None = None
    """The instrument ids the events are of, sorted (``instrument_ids``, found once)."""

    def instrument_ids(self) -> list[str]:
        if self.iids is None:
            self.iids = sorted({ev.instrument_id for ev in self.events})
        return self.iids

    @property
    def start_ns(self) -> int:
        return self.events[0].ts_recv if self.events else 0

    @property
    def end_ns(self) -> int:
        return self.events[-1].ts_recv if self.events else 0


# ------------------------------------------------------------------------------ sources


def from_captures(files: Sequence[str | Path]) -> EventStore:
    """Decode captures with the real codecs, in receive-time order across all files."""
    records = []
    for f in files:
        try:
            got = load_records(f)
        except CaptureFormatError as exc:  # (its message names the file and line)
            raise StoreError(str(exc)) from exc
        except OSError as exc:
            raise StoreError(f"{f}: {exc}") from exc
        if not got:
            raise StoreError(f"{f}: empty capture (no records)")
        records.extend(got)
    records.sort(key=lambda r: r.ts)
    codecs: dict[str, Any] = {}
    keeper_fns: dict[str, Any] = {}
    for venue in sorted({r.venue for r in records}):
        try:
            codecs[venue] = registry.create_codec(venue)
            fn = registry.checksum_fn(venue)
        except registry.CodecUnavailable as exc:
            raise StoreError(f"no codec for venue {venue!r}: {exc}") from exc
        if fn is not None:
            keeper_fns[venue] = fn
    keeper = BookKeeper(checksum_fns=keeper_fns, stale_after_ns=0)
    events: list[Any] = []
    instruments: dict[str, Instrument] = {}
    malformed = 0
    for r in records:
        codec = codecs[r.venue]
        try:
            if r.kind == "ws-open":
                out = codec.on_open(r.url) or ()
            elif r.kind == "rest":
                out = codec.decode_rest(r.url, r.data, r.ts)
            elif r.kind == "ws":
                out = codec.decode(r.data, r.ts, r.url)
            else:
                continue
        except VenueProtocolError:
            malformed += 1
            continue
        for ev in out or ():
            cls = type(ev)
            if cls is Instrument:
                instruments[ev.id] = ev
            elif cls in _KIND:
                if cls is BookDelta or cls is BookSnapshot:
                    keeper.on_event(ev)  # integrity stats of the source, for the meta
                events.append(ev)
    meta = {"source": "capture", "files": [str(f) for f in files], "malformed": malformed,
            "integrity": keeper.stats.as_dict()}
    insts = list(instruments.values())
    events, levels = with_level_columns(events, insts)
    return EventStore(events, insts, meta, columns_of(events), levels)


def synthetic_params(params: dict[str, Any], venue: str) -> SimVenueParams:
    """The generator's parameters as ``synthetic`` runs it (defaults filled in)."""
    return decode_params({"venue": venue, **params}, SimVenueParams, "backtest.data.synthetic")


def made_from(meta: dict[str, Any], source: str, files: Sequence[str | Path] = (),
              params: dict[str, Any] | None = None, venue: str = "", start_ns: int = 0,
              duration_s: float = 0.0) -> bool:
    """Whether a store's ``meta`` says it holds this data: the same capture files, or the
    generator run with the same parameters, start and duration (else it must be rebuilt)."""
    if meta.get("source") != source:
        return False
    if source == "capture":
        return meta.get("files") == [str(f) for f in files]
    return (meta.get("start_ns") == start_ns and meta.get("duration_s") == duration_s
            and meta.get("params") == msgspec.to_builtins(synthetic_params(params or {}, venue)))


def synthetic(params: dict[str, Any], venue: str, start_ns: int, duration_s: float) -> EventStore:
    """Run the seeded synthetic market (no client) for ``duration_s`` and keep what it publishes."""
    p = synthetic_params(params, venue)
    sim = SimVenue(p)
    clock = VirtualClock(start_ns)
    events: list[Any] = []
    sim.bind(events.append, clock)
    asyncio.run(sim.start())
    insts = sim.instruments()
    clock.advance_to(start_ns + int(duration_s * NS_PER_S))
    asyncio.run(sim.stop())
    events = [e for e in events if type(e) in _KIND]
    meta = {"source": "synthetic", "params": msgspec.to_builtins(p), "start_ns": start_ns,
            "duration_s": duration_s}
    events, levels = with_level_columns(events, insts)
    return EventStore(events, insts, meta, columns_of(events), levels)


# ------------------------------------------------------------------------------ columnar I/O


def columns_of(events: list[Any]) -> dict[str, np.ndarray]:
    """The per-event columns a replay reads (``backtest.batches``): ``kind`` (the codes above;
    -1 for a type the store does not keep), ``inst`` (instruments numbered in order of
    appearance), ``ts`` (receive time), each quote's bid and ask price and each trade's price
    (``trade_px``; NaN for other events)."""
    kinds: list[int] = []
    ts: list[int] = []
    insts: list[int] = []
    bids: list[float] = []
    asks: list[float] = []
    tpx: list[float] = []
    ids: dict[str, int] = {}
    nan = float("nan")
    for ev in events:
        cls = type(ev)
        k = ids.get(ev.instrument_id)
        if k is None:
            k = ids[ev.instrument_id] = len(ids)
        insts.append(k)
        ts.append(ev.ts_recv)
        kinds.append(_KIND.get(cls, -1))
        if cls is Quote:
            bids.append(ev.bid_price)
            asks.append(ev.ask_price)
            tpx.append(nan)
        else:
            bids.append(nan)
            asks.append(nan)
            tpx.append(ev.price if cls is Trade else nan)
    return {"kind": np.array(kinds, np.int8), "ts": np.array(ts, np.int64),
            "inst": np.array(insts, np.int32),
            "quote_bid": np.array(bids, np.float64), "quote_ask": np.array(asks, np.float64),
            "trade_px": np.array(tpx, np.float64)}


def save(store: EventStore, path: str | Path) -> Path:
    """Write ``store`` as ``path/meta.json`` + ``path/events.npz``; returns the directory."""
    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    arrays, ids = _arrays(store.events)
    np.savez(root / "events.npz", **arrays)
    meta = {"format": FORMAT, "instrument_ids": ids, "events": len(store.events),
            **store.meta}
    (root / "meta.json").write_bytes(msgspec.json.format(msgspec.json.encode(meta)))
    (root / "instruments.json").write_bytes(msgspec.json.encode(store.instruments))
    return root


def _arrays(events: list[Any]) -> tuple[dict[str, np.ndarray], list[str]]:
    """The store's columns of ``events`` and the instrument ids they number."""
    ids: dict[str, int] = {}
    cols: dict[str, list[Any]] = {k: [] for k in (
        "kind", "ts", "ts_event", "inst", "seq", "prev_seq", "first_seq", "nb", "na", "lv_px",
        "lv_sz", "t_px", "t_sz", "t_aggr", "t_id", "q_bp", "q_bs", "q_ap", "q_as", "q_seq",
        "m_mark", "m_index", "f_rate", "f_next", "o_vals")}
    for ev in events:
        kind = _KIND[type(ev)]
        iid = ev.instrument_id
        n = ids.get(iid)
        if n is None:
            n = ids[iid] = len(ids)
        cols["kind"].append(kind)
        cols["ts"].append(ev.ts_recv)
        cols["ts_event"].append(ev.ts_event)
        cols["inst"].append(n)
        if kind <= DELTA:
            cols["seq"].append(ev.seq)
            cols["prev_seq"].append(ev.prev_seq if kind == DELTA else -1)
            cols["first_seq"].append(ev.first_seq if kind == DELTA else -1)
            cols["nb"].append(len(ev.bids))
            cols["na"].append(len(ev.asks))
            for p, s in ev.bids:
                cols["lv_px"].append(p)
                cols["lv_sz"].append(s)
            for p, s in ev.asks:
                cols["lv_px"].append(p)
                cols["lv_sz"].append(s)
        elif kind == TRADE:
            cols["t_px"].append(ev.price)
            cols["t_sz"].append(ev.size)
            cols["t_aggr"].append(_AGGR[ev.aggressor])
            cols["t_id"].append(ev.trade_id)
        elif kind == QUOTE:
            for k, v in (("q_bp", ev.bid_price), ("q_bs", ev.bid_size), ("q_ap", ev.ask_price),
                         ("q_as", ev.ask_size), ("q_seq", ev.seq)):
                cols[k].append(v)
        elif kind == MARK:
            cols["m_mark"].append(ev.mark_price)
            cols["m_index"].append(ev.index_price)
        elif kind == FUND:
            cols["f_rate"].append(ev.rate)
            cols["f_next"].append(ev.next_funding_ns)
        else:
            cols["o_vals"].append([getattr(ev, f) for f in _OSUM_FIELDS])
    ints = {"kind": np.int8, "ts": np.int64, "ts_event": np.int64, "inst": np.int32,
            "seq": np.int64, "prev_seq": np.int64, "first_seq": np.int64, "nb": np.int32,
            "na": np.int32, "t_aggr": np.int8, "q_seq": np.int64, "f_next": np.int64}
    arrays: dict[str, np.ndarray] = {}
    for k, v in cols.items():
        if k == "t_id":
            arrays[k] = np.array(v, dtype=str) if v else np.zeros(0, dtype="<U1")
        elif k == "o_vals":
            arrays[k] = np.array(v, dtype=np.float64).reshape(-1, len(_OSUM_FIELDS))
        else:
            arrays[k] = np.array(v, dtype=ints.get(k, np.float64))
    return arrays, list(ids)


def load(path: str | Path) -> EventStore:
    """Read a store written by ``save`` (raises ``StoreError`` naming the problem)."""
    root = Path(path)
    try:
        meta = msgspec.json.decode((root / "meta.json").read_bytes())
        insts = msgspec.json.decode((root / "instruments.json").read_bytes(), type=list[Instrument])
        z = np.load(root / "events.npz", allow_pickle=False)
        a = {k: z[k] for k in z.files}
    except (OSError, ValueError, msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise StoreError(f"{root}: not a readable event store: {exc}") from exc
    if meta.get("format") != FORMAT:
        raise StoreError(f"{root}: store format {meta.get('format')!r}, expected {FORMAT}")
    ids = meta["instrument_ids"]
    ticks = {i.id: i.tick_size for i in insts}
    levels, col_tick = _level_columns(a, [ticks.get(i, 0.0) for i in ids])
    block = register_levels(levels)
    return EventStore(_rebuild(a, ids, (block, col_tick)), insts, meta, _columns(a), levels)


def _level_columns(a: dict[str, np.ndarray], ticks: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """The ``(3, N)`` tick index / price / size array of every stored level, and per instrument
    the tick its diffs are applied with in columnar form (0: not columnar)."""
    kind = a["kind"]
    px, sz = a["lv_px"], a["lv_sz"]
    n_inst = len(ticks)
    book_inst = a["inst"][kind <= DELTA].astype(np.int64)
    nb, na = a["nb"].astype(np.int64), a["na"].astype(np.int64)
    lv_inst = np.repeat(book_inst, nb + na)
    deltas = kind[kind <= DELTA] == DELTA
    n_levels = np.bincount(book_inst[deltas], weights=(nb + na)[deltas], minlength=n_inst)
    n_diffs = np.bincount(book_inst[deltas], minlength=n_inst)
    deep = (n_diffs > 0) & (n_levels >= COLUMNAR_MIN_LEVELS * np.maximum(n_diffs, 1))
    # the instrument's tick where the store knows it and every price is on it, else the
    # prices' own decimal step (captures carry no definitions; any grid will do as an index)
    tick = np.zeros(n_inst)
    known = np.asarray(ticks, dtype=np.float64).reshape(n_inst)
    for grid in [known] + [np.full(n_inst, 10.0 ** -k) for k in range(0, 11)]:
        todo = deep & (tick == 0.0) & (grid > 0.0)
        if not todo.any():
            continue
        sel = todo[lv_inst]
        g = grid[lv_inst[sel]]
        q = px[sel] / g
        # (written so that NaN and infinite prices count as off the grid, and so do indices
        # beyond float64's exact integers)
        off = ~((np.abs(q - np.rint(q)) <= 1e-6 * np.maximum(1.0, np.abs(q)))
                & (np.abs(q) < 2.0 ** 52))
        bad = np.bincount(lv_inst[sel][off], minlength=n_inst)
        fits = todo & (bad == 0)
        tick[fits] = grid[fits]
    lv_tick = tick[lv_inst]
    idx = np.rint(px / np.where(lv_tick > 0.0, lv_tick, 1.0))
    return np.ascontiguousarray(np.vstack([idx, px, sz])), tick


def with_level_columns(events: list[Any], instruments: list[Instrument]
                        ) -> tuple[list[Any], np.ndarray | None]:
    """``events`` with ``DeltaColumns`` on the diffs ``load`` would give them, and the level
    array they point into (registered; the caller's ``EventStore.levels`` must keep it), for
    stores built in memory (captures, synthetic; a catalog's ``load_store`` can do the same). Diffs carrying venue
    strings or a checksum keep the dict path (the integrity layer reads those)."""
    # the columns ``_level_columns`` reads, for the book events only (one pass, levels in bulk)
    ids: dict[str, int] = {}
    kinds: list[int] = []
    insts: list[int] = []
    counts: list[int] = []
    levels_of: list[tuple[float, float]] = []
    for ev in events:
        cls = type(ev)
        if cls is BookDelta or cls is BookSnapshot:
            n = ids.get(ev.instrument_id)
            if n is None:
                n = ids[ev.instrument_id] = len(ids)
            kinds.append(DELTA if cls is BookDelta else SNAP)
            insts.append(n)
            counts += (len(ev.bids), len(ev.asks))
            levels_of += ev.bids
            levels_of += ev.asks
    if not levels_of:
        return events, None
    nbna = np.array(counts, np.int64).reshape(-1, 2)
    lv_arr = np.array(levels_of, np.float64).reshape(-1, 2)
    a = {"kind": np.array(kinds, np.int8), "inst": np.array(insts, np.int32), "nb": nbna[:, 0],
         "na": nbna[:, 1], "lv_px": lv_arr[:, 0].copy(), "lv_sz": lv_arr[:, 1].copy()}
    ticks = {i.id: i.tick_size for i in instruments}
    levels, col_tick = _level_columns(a, [ticks.get(i, 0.0) for i in ids])
    if not col_tick.any():
        return events, None
    block = register_levels(levels)
    tick_of = dict(zip(ids, col_tick.tolist()))
    out: list[Any] = []
    lv = 0
    for ev in events:
        cls = type(ev)
        if cls is BookDelta or cls is BookSnapshot:
            x, y = len(ev.bids), len(ev.asks)
            tk = tick_of[ev.instrument_id]
            if (cls is BookDelta and tk > 0.0 and ev.raw_bids is None and ev.raw_asks is None
                    and ev.checksum is None):
                ev = msgspec.structs.replace(ev, columns=DeltaColumns(block, lv, x, y, tk))
            lv += x + y
        out.append(ev)
    return out, levels


def _columns(a: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``columns_of`` from the stored arrays (no pass over the events)."""
    kind = a["kind"]
    quotes = kind == QUOTE
    bid = np.full(len(kind), np.nan)
    ask = np.full(len(kind), np.nan)
    bid[quotes] = a["q_bp"]
    ask[quotes] = a["q_ap"]
    tpx = np.full(len(kind), np.nan)
    tpx[kind == TRADE] = a["t_px"]  # (the trades' columns hold the trades in event order)
    return {"kind": kind, "ts": a["ts"], "inst": a["inst"], "quote_bid": bid, "quote_ask": ask,
            "trade_px": tpx}


def _rebuild(a: dict[str, np.ndarray], ids: list[str],
             level_cols: tuple[int, np.ndarray] | None = None) -> list[Any]:
    """Events from the columns (one pass, per-kind cursors); diffs of the instruments
    ``level_cols`` gives a tick also carry their ``DeltaColumns``."""
    kinds = a["kind"].tolist()
    ts, tse, inst = a["ts"].tolist(), a["ts_event"].tolist(), a["inst"].tolist()
    seq, prev, first = a["seq"].tolist(), a["prev_seq"].tolist(), a["first_seq"].tolist()
    nb, na = a["nb"].tolist(), a["na"].tolist()
    px, sz = a["lv_px"].tolist(), a["lv_sz"].tolist()
    levels = list(zip(px, sz))
    trades = zip(a["t_px"].tolist(), a["t_sz"].tolist(), a["t_aggr"].tolist(), a["t_id"].tolist())
    quotes = zip(a["q_bp"].tolist(), a["q_bs"].tolist(), a["q_ap"].tolist(), a["q_as"].tolist(),
                 a["q_seq"].tolist())
    marks = zip(a["m_mark"].tolist(), a["m_index"].tolist())
    funds = zip(a["f_rate"].tolist(), a["f_next"].tolist())
    osums = iter(a["o_vals"].tolist())
    block, col_tick = level_cols if level_cols is not None else (0, None)
    ticks = col_tick.tolist() if col_tick is not None else [0.0] * len(ids)
    out: list[Any] = []
    append = out.append
    b = lv = 0
    for k, t, te, i in zip(kinds, ts, tse, inst):
        iid = ids[i]
        if k <= DELTA:
            x, y = nb[b], na[b]
            bids = tuple(levels[lv:lv + x])
            asks = tuple(levels[lv + x:lv + x + y])
            start = lv
            lv += x + y
            if k == DELTA:
                tk = ticks[i]
                cols = DeltaColumns(block, start, x, y, tk) if tk > 0.0 else None
                append(BookDelta(iid, bids, asks, seq[b], prev[b], te, t, first[b], None, None, None,
                                 cols))
            else:
                append(BookSnapshot(iid, bids, asks, seq[b], te, t))
            b += 1
        elif k == TRADE:
            p, s, g, tid = next(trades)
            append(Trade(iid, p, s, _AGGR_BACK[g], tid, te, t))
        elif k == QUOTE:
            bp, bs, ap, as_, qs = next(quotes)
            append(Quote(iid, bp, bs, ap, as_, te, t, qs))
        elif k == MARK:
            m, x_ = next(marks)
            append(MarkPrice(iid, m, x_, te, t))
        elif k == FUND:
            r, nx = next(funds)
            append(FundingRate(iid, r, nx, te, t))
        else:
            append(OptionSummary(iid, *next(osums), te, t))
    return out
