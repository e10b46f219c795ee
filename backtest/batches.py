"""Quiet runs of a replay, found columnar: consecutive quotes and trades nobody acts on.

Theory of operation. Most recorded events of a book-driven backtest are quotes (Binance
``bookTicker``) and trades between two depth updates. While no strategy listens to an
instrument's quotes and trades, the engine only counts a quote and remembers a trade's price
(``Kernel.quiet_market``). The replay exchange only passes them on while it has no order of
ours on the instrument, or while none of our orders is within reach: a quote reaches a bid of
ours only at an ask at or below it (an offer of ours only at a bid at or above it), a trade
only at or through our price on its passive side (a seller's trade at or below our highest
bid, a buyer's at or above our lowest ask; a trade without an aggressor is taken as either).
A run of such events before the next due timer therefore has exactly one effect: the
counters, the last trade price and the clock's time, which the replay driver
(``backtest.runner``) applies in one step (``Kernel.absorb_quiet``) instead of one call chain
per event. Anything else (a listener, a delayed venue, an order an event could reach, a timer
due inside the run) sends the driver back to the per-event path, from the first event
concerned; the next event looks up its own run again (a run cut by a timer resumes after it).

The runs are found with numpy over the store's columns (``EventStore.columns``: ``kind``,
``ts``, ``inst``, each quote's bid and ask and each trade's price), in a few milliseconds per
run of the loop, and handed to the driver as flat arrays indexed by event (``array.array``: an
index costs what a list's does, and no object per entry is built). For each event of a run of
quotes and trades of one instrument: ``end`` (exclusive) of that run, and the bounds
``lo``/``hi`` of the whole run (``lo``: the lowest ask or trade price; ``hi``: the highest bid
or trade price; a trade counts on both sides whatever its aggressor, as a trade on the wrong
side of our order is rare and reading aggressors costs a pass over the events): no order of ours
is reached while our highest bid is below ``lo`` and our lowest ask above ``hi``. The same for
the run of quotes only (``qend``, ``qlo``, ``qhi``), which helps when a trade of the run is near
our price. A NaN price makes a bound NaN, which no order can be proven to miss. Events outside a
run have ``end = index``. ``cum_quotes`` counts the quotes before each event (one more entry
than events), ``last_trade`` is the index of the latest trade at or before each event (-1:
none).
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from backtest.store import QUOTE as QUOTE_KIND
from backtest.store import TRADE as TRADE_KIND


@dataclass(frozen=True)
class QuietRuns:
    end: array  # of int
    lo: array  # of float
    hi: array
    qend: array
    qlo: array
    qhi: array
    ts: array
    cum_quotes: array
    last_trade: array


def none(n: int) -> QuietRuns:
    """No runs at all: every event takes the per-event path (what a replay without the
    columnar pass does; tests compare the two)."""
    idx = _ints(np.arange(n))
    nan = _floats(np.full(n, np.nan))
    return QuietRuns(idx, nan, nan, idx, nan, nan, _ints(np.zeros(n)), _ints(np.zeros(n + 1)),
                     _ints(np.full(n, -1)))


def _runs(mask: np.ndarray, inst: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(end per event (the index itself outside a run), run number per event (-1 outside),
    start flags) of the runs of ``mask`` events of one instrument."""
    n = len(mask)
    idx = np.arange(n)
    cont = np.zeros(n, dtype=bool)  # continues the run of the event before it
    if n > 1:
        cont[1:] = mask[1:] & mask[:-1] & (inst[1:] == inst[:-1])
    start = mask & ~cont
    last = mask.copy()  # the last event of its run
    if n > 1:
        last[:-1] &= ~cont[1:]
    seg = np.cumsum(start) - 1
    ends = np.flatnonzero(last) + 1
    if len(ends) == 0:
        return idx, np.full(n, -1), start
    end = np.where(mask, ends[np.clip(seg, 0, None)], idx)
    return end, np.where(mask, seg, -1), start


def _bounds(low: np.ndarray, high: np.ndarray, mask: np.ndarray, start: np.ndarray,
            seg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per event of a ``mask`` run: the min of ``low`` and the max of ``high`` over its whole
    run (NaN outside runs; a NaN inside a run makes its bound NaN)."""
    lo = np.full(len(mask), np.nan)
    hi = np.full(len(mask), np.nan)
    members = np.flatnonzero(mask)
    if len(members):
        firsts = np.flatnonzero(start[members])  # run starts among the members
        runs = seg[members]
        lo[members] = np.minimum.reduceat(low[members], firsts)[runs]
        hi[members] = np.maximum.reduceat(high[members], firsts)[runs]
    return lo, hi


def trade_prices(events: Sequence[Any], is_trade: np.ndarray) -> np.ndarray:
    """Each trade's price (NaN for other events)."""
    price = np.full(len(is_trade), np.nan)
    where = np.flatnonzero(is_trade)
    if len(where):
        price[where] = [events[i].price for i in where.tolist()]
    return price


def _ints(a: np.ndarray) -> array:
    return array("q", a.astype(np.int64, copy=False).tobytes())


def _floats(a: np.ndarray) -> array:
    return array("d", a.astype(np.float64, copy=False).tobytes())


def quiet_runs(cols: dict[str, np.ndarray], events: Sequence[Any]) -> QuietRuns:
    kind, inst, ts = cols["kind"], cols["inst"], cols["ts"]
    n = len(kind)
    is_quote = kind == QUOTE_KIND
    is_trade = kind == TRADE_KIND
    mixed = is_quote | is_trade
    end, seg, start = _runs(mixed, inst)
    qend, qseg, qstart = _runs(is_quote, inst)
    cum = np.zeros(n + 1, np.int64)
    np.cumsum(is_quote, out=cum[1:])
    last = np.maximum.accumulate(np.where(is_trade, np.arange(n), -1)) if n else np.zeros(0, int)
    bid, ask = cols["quote_bid"], cols["quote_ask"]
    tpx = cols.get("trade_px")  # (a store's column; columns built elsewhere may lack it)
    if tpx is None:
        tpx = trade_prices(events, is_trade)
    lo, hi = _bounds(np.where(is_quote, ask, tpx), np.where(is_quote, bid, tpx), mixed, start,
                     seg)
    qlo, qhi = _bounds(ask, bid, is_quote, qstart, qseg)
    return QuietRuns(_ints(end), _floats(lo), _floats(hi), _ints(qend), _floats(qlo),
                     _floats(qhi), _ints(ts), _ints(cum), _ints(last))
