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

``QuietRuns.starts`` maps the index of each event where a run begins (of quotes and trades,
or of quotes only, of one instrument) to ``(end, last_ts, quotes, last_trade, qend, qlast_ts,
min_ask, max_bid)``: the end (exclusive) of the run of quotes and trades holding it, the
receive time of its last event, how many quotes it holds from here, the index of its latest
trade (-1: none); the end of the run of quotes only from here and its last receive time, and
the lowest ask and highest bid of the whole quote run (a bound for any part of it; a NaN
price makes the bound NaN, which no order can be proven to miss). A run cut short by a due
timer is counted from ``cum_quotes``/``last_trade``/``ts`` (numpy, read once per cut).
"""

from __future__ import annotations

from dataclasses import dataclass
import numpy as np

from backtest.store import QUOTE as QUOTE_KIND
from backtest.store import TRADE as TRADE_KIND


@dataclass(frozen=True)
class QuietRuns:
    starts: dict[int, tuple[int, int, int, int, int, int, float, float]]
    ts: np.ndarray  # receive time per event
    cum_quotes: np.ndarray  # quotes before each event (one more entry than events)
    last_trade: np.ndarray  # index of the latest trade at or before each event (-1: none)


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
    kind, inst, ts = cols["kind"], cols["inst"], cols["ts"]
    n = len(kind)
    is_quote = kind == QUOTE_KIND
    is_trade = kind == TRADE_KIND
    run_end, _, start = _runs(is_quote | is_trade, inst)
    qrun_end, qseg, qstart = _runs(is_quote, inst)
    cum = np.zeros(n + 1, np.int64)
    np.cumsum(is_quote, out=cum[1:])
    last = np.maximum.accumulate(np.where(is_trade, np.arange(n), -1)) if n else np.zeros(0, int)
    nxt = np.arange(1, n + 1)
    keys = np.flatnonzero((start & (run_end > nxt)) | (qstart & (qrun_end > nxt)))
    if not len(keys):
        return QuietRuns({}, ts, cum, last)
    qmin = np.full(n, np.nan)
    qmax = np.full(n, np.nan)
    members = np.flatnonzero(is_quote)
    firsts = np.flatnonzero(qstart[members])  # run starts among the quotes
    qmin[members] = np.minimum.reduceat(cols["quote_ask"][members], firsts)[qseg[members]]
    qmax[members] = np.maximum.reduceat(cols["quote_bid"][members], firsts)[qseg[members]]
    end = run_end[keys]
    qend = qrun_end[keys]
    values = zip(end.tolist(), ts[np.maximum(end - 1, 0)].tolist(),
                 (cum[end] - cum[keys]).tolist(), last[np.maximum(end - 1, 0)].tolist(),
                 qend.tolist(), ts[np.maximum(qend - 1, 0)].tolist(),
                 qmin[keys].tolist(), qmax[keys].tolist())
    return QuietRuns(dict(zip(keys.tolist(), values)), ts, cum, last)
