"""Quiet runs of a replay, found columnar: consecutive quotes and trades nobody acts on.

Theory of operation. Most recorded events of a book-driven backtest are quotes (Binance
``bookTicker``) and trades between two depth updates. While no strategy listens to an
instrument's quotes and trades, the engine only counts a quote and remembers a trade's price
(``Kernel.quiet_market``); while the venue has no order of ours on the instrument, the replay
exchange only passes them on; while it has orders but none a quote could reach, a quote is
passed on unmatched. A run of such events before the next due timer therefore has exactly one
effect: the counters, the last trade price and the clock's time, which the replay driver
(``backtest.runner``) applies in one step (``Kernel.absorb_quiet``) instead of one call chain
per event. Anything else (a listener, a delayed venue, an order a quote could fill, a timer
due inside the run) sends the driver back to the per-event path, from the first event
concerned. The runs are found with numpy over the store's columns (``EventStore.columns``:
``kind``, ``ts``, ``inst`` and each quote's bid and ask) in a few milliseconds per run of the loop.

Per event ``i`` (lists, for the loop's cheap indexing):

* ``run_end[i]``: end (exclusive) of the run of quotes and trades of one instrument holding
  ``i``; ``i`` for any other event;
* ``qrun_end[i]``, ``qrun_min_ask[i]``, ``qrun_max_bid[i]``: the same for runs of quotes only,
  with the lowest ask and highest bid of the whole run (a bound for any part of it; NaN
  prices make the bound NaN, which no order can be proven to miss);
* ``cum_quotes[i]``: quotes before ``i``; ``last_trade[i]``: the index of the latest trade at or
  before ``i`` (-1: none); ``ts[i]``: its receive time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from backtest.store import QUOTE as QUOTE_KIND
from backtest.store import TRADE as TRADE_KIND


@dataclass(frozen=True)
class QuietRuns:
    run_end: list[int]
    qrun_end: list[int]
    qrun_min_ask: list[float]
    qrun_max_bid: list[float]
    cum_quotes: list[int]
    last_trade: list[int]
    ts: list[int]


def _runs(mask: np.ndarray, inst: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(end per event, run number per event (-1 outside), start flags) of the runs of
    ``mask`` events of one instrument."""
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


def quiet_runs(cols: dict[str, np.ndarray]) -> QuietRuns:
    kind, inst = cols["kind"], cols["inst"]
    n = len(kind)
    is_quote = kind == QUOTE_KIND
    is_trade = kind == TRADE_KIND
    run_end, _, _ = _runs(is_quote | is_trade, inst)
    qrun_end, qseg, qstart = _runs(is_quote, inst)
    qmin = np.full(n, np.nan)
    qmax = np.full(n, np.nan)
    members = np.flatnonzero(is_quote)
    if len(members):
        firsts = np.flatnonzero(qstart[members])  # run starts among the quotes
        mins = np.minimum.reduceat(cols["quote_ask"][members], firsts)
        maxs = np.maximum.reduceat(cols["quote_bid"][members], firsts)
        qmin[members] = mins[qseg[members]]
        qmax[members] = maxs[qseg[members]]
    cum = np.zeros(n + 1, np.int64)
    np.cumsum(is_quote, out=cum[1:])
    last = np.maximum.accumulate(np.where(is_trade, np.arange(n), -1)) if n else np.zeros(0, int)
    return QuietRuns(run_end.tolist(), qrun_end.tolist(), qmin.tolist(), qmax.tolist(),
                     cum.tolist(), last.tolist(), cols["ts"].tolist())
