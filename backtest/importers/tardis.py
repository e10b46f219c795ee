"""Tardis.dev downloadable CSV (https://docs.tardis.dev/downloadable-csv-files) -> engine events.

Theory of operation: one file is one exchange, one day and one dataset; every row starts with
``exchange,symbol,timestamp,local_timestamp`` (microseconds since the Unix epoch: the exchange's
time and Tardis' receive time, kept as ``ts_event`` and ``ts_recv``). The dataset is taken from
the file name (``<exchange>_<dataset>_<YYYY-MM-DD>_<symbol>.csv.gz``, as Tardis names its
downloads) or, failing that, from the header; the header must then hold that dataset's columns.

* ``incremental_book_L2`` (``is_snapshot,side,price,amount``): consecutive rows with the same
  symbol, times and ``is_snapshot`` are one venue message -> one ``BookSnapshot`` or
  ``BookDelta`` (absolute sizes, 0 removes the level). ``is_snapshot`` rows after update rows
  are a book reset (Tardis' recorder reconnected).
* ``book_snapshot_25`` (and any ``book_snapshot_N``): ``asks[i].price/amount, bids[i]...`` ->
  one ``BookSnapshot`` per row (each replaces the book).
* ``trades`` -> ``Trade`` (side ``buy``/``sell`` = aggressor; ``unknown`` -> None).
* ``quotes`` -> ``Quote``.
* ``derivative_ticker`` -> ``MarkPrice`` (mark, index) when a mark is given, ``FundingRate``
  (``funding_rate``, next funding at ``funding_timestamp``) when a rate is given, and the
  auxiliary ``ticker`` row (open interest, last price, predicted funding).
* ``options_chain`` -> per row what the live venue's ticker gives (``adapters.deribit.codec``):
  ``MarkPrice`` (no index in the file: NaN, "unpriced") and ``OptionSummary`` (IVs from percent
  to fractions, a zero IV is "no quote on that side", Greeks, underlying price, open interest),
  and, when the best bid/ask changed, a ``Quote`` and a one-level ``BookSnapshot`` (the option's
  book in a backtest is its top of book: the file has no depth); the row's strike, expiry and
  type are checked against the instrument the symbol resolves to.
* ``liquidations`` -> the auxiliary ``liquidation`` table.

Empty fields are missing numbers (NaN; null in the catalog), never 0. A malformed row is an
error naming the file and line; the import is then abandoned and the catalog left unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from backtest.importers.checks import ImportChecks, price, price_or_none, size, size_or_none
from backtest.importers.stream import DataImportError, Progress, rows
from backtest.importers.symbols import SymbolResolver, UnknownSymbol, venue_of
from engine.model import (
    BookDelta,
    BookSnapshot,
    FundingRate,
    Instrument,
    MarkPrice,
    OptionSummary,
    OptionType,
    Quote,
    Side,
    Trade,
)

DATASETS = ("incremental_book_L2", "book_snapshot_25", "trades", "quotes", "derivative_ticker",
            "options_chain", "liquidations")
_HEAD = ["exchange", "symbol", "timestamp", "local_timestamp"]
_COLUMNS: dict[str, list[str]] = {
    "incremental_book_L2": _HEAD + ["is_snapshot", "side", "price", "amount"],
    "trades": _HEAD + ["id", "side", "price", "amount"],
    "liquidations": _HEAD + ["id", "side", "price", "amount"],
    "quotes": _HEAD + ["ask_amount", "ask_price", "bid_price", "bid_amount"],
    "derivative_ticker": _HEAD + ["funding_timestamp", "funding_rate", "predicted_funding_rate",
                                  "open_interest", "last_price", "index_price", "mark_price"],
    "options_chain": _HEAD + ["type", "strike_price", "expiration", "open_interest",
                              "last_price", "bid_price", "bid_amount", "bid_iv", "ask_price",
                              "ask_amount", "ask_iv", "mark_price", "mark_iv",
                              "underlying_index", "underlying_price", "delta", "gamma", "vega",
                              "theta", "rho"],
}
_NAME = re.compile(r"^(?P<ex>[a-z0-9-]+)_(?P<ds>[A-Za-z0-9_]+?)_(?P<day>\d{4}-\d{2}-\d{2})"
                   r"(?:_(?P<sym>.+?))?\.csv(?:\.gz)?$")
_SIDES = {"buy": Side.BUY, "sell": Side.SELL, "unknown": None, "": None}
_NAN = float("nan")
US = 1000  # ns per µs

Sink = Callable[[Any], None]


def _f(x: str) -> float:
    return float(x) if x else _NAN


def _iv(x: str) -> float:
    v = _f(x)
    return v / 100.0 if v > 0.0 else _NAN


def dataset_of(path: Path, header: list[str]) -> str:
    """The dataset of a Tardis file, from its name or else its header."""
    m = _NAME.match(path.name)
    if m:
        ds = m["ds"]
        if ds in _COLUMNS or ds.startswith("book_snapshot_"):
            return ds
    for ds, cols in _COLUMNS.items():
        if ds != "liquidations" and header == cols:
            return ds
    if header[:4] == _HEAD and len(header) > 4 and header[4] == "asks[0].price":
        return f"book_snapshot_{(len(header) - 4) // 4}"
    raise DataImportError(f"{path}: not a Tardis CSV file of a known dataset "
                          f"({', '.join(DATASETS)}); header: {','.join(header[:8])}...")


class TardisImporter:
    """Reads Tardis CSV files into ``sink(event)`` (and ``aux(kind, venue, symbol, ts, te, row)``)."""

    def __init__(self, resolver: SymbolResolver, checks: ImportChecks, progress: Progress,
                 skip_unknown: bool = False) -> None:
        self.resolver = resolver
        self.skip_unknown = skip_unknown
        self.skipped: dict[str, int] = {}
        """Rows skipped per unknown symbol (``skip_unknown``)."""
        self.checks = checks
        self.progress = progress
        self._seq: dict[str, int] = {}
        self._ids: dict[tuple[str, str], str] = {}

    def _iid(self, exchange: str, symbol: str) -> str:
        key = (exchange, symbol)
        iid = self._ids.get(key)
        if iid is None:
            inst = self.resolver.resolve(venue_of(exchange), symbol)
            iid = self._ids[key] = inst.id
        return iid

    def _next_seq(self, iid: str) -> int:
        n = self._seq.get(iid, 0) + 1
        self._seq[iid] = n
        return n

    def read(self, path: Path, sink: Sink, aux: Callable[..., None]) -> str:
        """Import one file; returns its dataset name."""
        it = rows(path, self.progress)
        try:
            _, header = next(it)
        except StopIteration:
            raise DataImportError(f"{path}: empty file") from None
        header = [h.strip() for h in header]
        ds = dataset_of(path, header)
        want = _COLUMNS.get(ds)
        if want is not None and header != want:
            raise DataImportError(f"{path}: header of a {ds} file must be {','.join(want)}")
        if want is None and (header[:4] != _HEAD or len(header) < 8):
            raise DataImportError(f"{path}: not a {ds} header")
        handler = {
            "incremental_book_L2": self._l2, "trades": self._trades, "quotes": self._quotes,
            "derivative_ticker": self._ticker, "options_chain": self._chain,
            "liquidations": self._liquidations,
        }.get(ds, self._snapshots)
        if self.skip_unknown:
            it = self._known_only(it)
        try:
            for _, ev in handler(it, header, aux):
                self.checks.on_event(ev)
                sink(ev)
        except DataImportError:
            raise  # the file itself (a truncated or corrupt download), already named
        except UnknownSymbol as exc:
            raise DataImportError(f"{path}:{self.progress.line()}: {exc}") from None
        except IndexError:  # the row just read is the bad one (so in the two below)
            raise DataImportError(f"{path}:{self.progress.line()}: malformed {ds} row: fewer "
                                  f"fields than the header's {len(header)}") from None
        except (ValueError, KeyError) as exc:
            raise DataImportError(f"{path}:{self.progress.line()}: malformed {ds} row: "
                                  f"{exc}") from None
        self.progress.done()
        return ds

    def _known_only(self, it: Iterator[tuple[int, list[str]]]) -> Iterator[tuple[int, list[str]]]:
        """Rows of symbols that resolve; the others are counted per symbol and skipped."""
        known: dict[tuple[str, str], bool] = {}
        for n, r in it:
            key = (r[0], r[1])
            ok = known.get(key)
            if ok is None:
                try:
                    self._iid(r[0], r[1])
                    ok = True
                except UnknownSymbol:
                    ok = False
                known[key] = ok
            if ok:
                yield n, r
            else:
                self.skipped[r[1]] = self.skipped.get(r[1], 0) + 1

    # -- datasets -----------------------------------------------------------------------------
    def _l2(self, it: Iterator[tuple[int, list[str]]], header: list[str], aux: Any
            ) -> Iterator[tuple[int, Any]]:
        key: tuple[str, ...] | None = None
        bids: list[tuple[float, float]] = []
        asks: list[tuple[float, float]] = []
        line0 = 0
        has_snapshot: set[str] = set()

        iid, te, tr, snap = "", 0, 0, False

        def flush() -> Any:
            seq = self._next_seq(iid)
            b = tuple(sorted(bids, reverse=True))
            a = tuple(sorted(asks))
            if snap:
                has_snapshot.add(iid)
                return BookSnapshot(iid, b, a, seq, te, tr)
            if iid not in has_snapshot:
                self.checks.orphan_deltas += 1
                return None
            return BookDelta(iid, b, a, seq, -1, te, tr, seq)

        for n, r in it:
            k = (r[0], r[1], r[2], r[3], r[4])
            if k != key:
                if key is not None:
                    ev = flush()
                    if ev is not None:
                        yield line0, ev
                key, line0 = k, n
                bids, asks = [], []
                # the message's symbol and times parsed at its first row: a bad one is this line
                iid, te, tr, snap = self._iid(r[0], r[1]), int(r[2]) * US, int(r[3]) * US, \
                    r[4] == "true"
            side = r[5]
            lvl = (price(r[6]), size(r[7], zero=True))  # (0: the level is deleted)
            if side == "bid":
                bids.append(lvl)
            elif side == "ask":
                asks.append(lvl)
            else:
                raise ValueError(f"side {side!r}")
        if key is not None:
            ev = flush()
            if ev is not None:
                yield line0, ev

    def _snapshots(self, it: Iterator[tuple[int, list[str]]], header: list[str], aux: Any
                   ) -> Iterator[tuple[int, Any]]:
        cols = {h: i for i, h in enumerate(header)}
        depth = (len(header) - 4) // 4
        ask_cols = [(cols[f"asks[{i}].price"], cols[f"asks[{i}].amount"]) for i in range(depth)]
        bid_cols = [(cols[f"bids[{i}].price"], cols[f"bids[{i}].amount"]) for i in range(depth)]
        for n, r in it:
            iid = self._iid(r[0], r[1])
            bids = tuple((price(r[p]), size(r[s], zero=True)) for p, s in bid_cols if r[p] and r[s])
            asks = tuple((price(r[p]), size(r[s], zero=True)) for p, s in ask_cols if r[p] and r[s])
            yield n, BookSnapshot(iid, bids, asks, self._next_seq(iid), int(r[2]) * US,
                                  int(r[3]) * US)

    def _trades(self, it: Iterator[tuple[int, list[str]]], header: list[str], aux: Any
                ) -> Iterator[tuple[int, Any]]:
        for n, r in it:
            yield n, Trade(self._iid(r[0], r[1]), price(r[6]), size(r[7]), _SIDES[r[5]], r[4],
                           int(r[2]) * US, int(r[3]) * US)

    def _quotes(self, it: Iterator[tuple[int, list[str]]], header: list[str], aux: Any
                ) -> Iterator[tuple[int, Any]]:
        for n, r in it:
            yield n, Quote(self._iid(r[0], r[1]), price_or_none(r[6]), size_or_none(r[7]),
                           price_or_none(r[5]), size_or_none(r[4]),
                           int(r[2]) * US, int(r[3]) * US)

    def _ticker(self, it: Iterator[tuple[int, list[str]]], header: list[str], aux: Any
                ) -> Iterator[tuple[int, Any]]:
        for n, r in it:
            iid = self._iid(r[0], r[1])
            te, tr = int(r[2]) * US, int(r[3]) * US
            venue, _, sym = iid.partition(":")
            aux("ticker", venue, sym, tr, te, (_f(r[7]), _f(r[8]), _f(r[6])))
            if r[10]:
                yield n, MarkPrice(iid, float(r[10]), _f(r[9]), te, tr)
            if r[5]:
                yield n, FundingRate(iid, float(r[5]), int(r[4]) * US if r[4] else 0, te, tr)

    def _chain(self, it: Iterator[tuple[int, list[str]]], header: list[str], aux: Any
               ) -> Iterator[tuple[int, Any]]:
        checked: set[str] = set()
        tops: dict[str, tuple[float, ...]] = {}
        for n, r in it:
            iid = self._iid(r[0], r[1])
            if iid not in checked:
                self._check_option(self.resolver.resolve(venue_of(r[0]), r[1]), r)
                checked.add(iid)
            te, tr = int(r[2]) * US, int(r[3]) * US
            mark = _f(r[15])
            top = (_f(r[9]), _f(r[10]), _f(r[12]), _f(r[13]))
            if top != tops.get(iid):  # (NaN != NaN: a one-sided top is re-sent; harmless)
                tops[iid] = top
                bp, bs, ap, as_ = top
                yield n, BookSnapshot(iid, ((bp, bs),) if bp == bp and bs > 0 else (),
                                      ((ap, as_),) if ap == ap and as_ > 0 else (),
                                      self._next_seq(iid), te, tr)
                yield n, Quote(iid, bp, bs, ap, as_, te, tr)
            if mark == mark:
                yield n, MarkPrice(iid, mark, _NAN, te, tr)
            yield n, OptionSummary(iid, mark, _iv(r[16]), _iv(r[11]), _iv(r[14]), _f(r[18]),
                                   _f(r[19]), _f(r[20]), _f(r[21]), _f(r[22]), _f(r[7]), te, tr)

    @staticmethod
    def _check_option(inst: Instrument, r: list[str]) -> None:
        want_type = OptionType.CALL if r[4] == "call" else OptionType.PUT
        if not inst.is_option or inst.option_type is not want_type \
                or abs(inst.strike - float(r[5])) > 1e-9 * max(1.0, inst.strike) \
                or inst.expiry_ns != int(r[6]) * US:
            raise ValueError(f"{r[1]}: the row's {r[4]} {r[5]} expiring "
                             f"{r[6]} µs does not match the instrument ({inst.option_type} "
                             f"{inst.strike} expiring {inst.expiry_ns // US} µs)")

    def _liquidations(self, it: Iterator[tuple[int, list[str]]], header: list[str], aux: Any
                      ) -> Iterator[tuple[int, Any]]:
        for n, r in it:
            iid = self._iid(r[0], r[1])
            venue, _, sym = iid.partition(":")
            aux("liquidation", venue, sym, int(r[3]) * US, int(r[2]) * US,
                (float(r[6]), float(r[7]), r[5] or None, r[4]))
        return
        yield
