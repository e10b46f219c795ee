"""Binance public data (https://data.binance.vision, github.com/binance/binance-public-data):
daily and monthly zipped CSVs -> engine events and auxiliary catalog rows.

Theory of operation: the file name says symbol, dataset and period
(``BTCUSDT-trades-2024-08-08.zip``, ``BTCUSDT-1m-2024-08.zip`` for klines); the market (spot,
USD-M, COIN-M, options) is not in the name, so it comes from the download path
(``.../data/futures/um/daily/...``) or from ``--venue``. Newer futures files start with a
header row, older ones and spot files do not: a first row whose first field starts with a
letter is taken as the header. Times are epoch milliseconds (spot files from 2025 on: microseconds,
told apart by magnitude). The files have no receive time: ``ts_recv = ts_event``.

* ``trades`` -> ``Trade`` (``isBuyerMaker`` true: the seller was the aggressor);
* ``aggTrades`` -> ``Trade`` (id = aggregate trade id);
* ``bookTicker`` -> ``Quote`` and a one-level ``BookSnapshot`` (the top of book is the only
  book the files have; ``update_id`` kept as the ``seq``; time = transaction time, the event
  time as ``ts_recv``);
* ``fundingRate`` -> ``FundingRate`` (the rate settled at ``calc_time``, announced for that
  funding: ``next_funding_ns`` = ``calc_time``);
* ``klines`` (``<interval>`` in the name), ``bookDepth`` (cumulative depth and notional within
  +-1..5 % of the mid: not a book, so not replayed) and ``metrics`` (open interest, long/short
  ratios) -> the auxiliary ``kline``, ``book_depth`` and ``metrics`` tables.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from backtest.importers.checks import ImportChecks, price, price_or_none, size, size_or_none
from backtest.importers.stream import DataImportError, Progress, rows
from backtest.importers.symbols import SymbolResolver, UnknownSymbol
from engine.model import BookSnapshot, FundingRate, Quote, Side, Trade

DATASETS = ("trades", "aggTrades", "bookTicker", "bookDepth", "klines", "fundingRate", "metrics")
_NAME = re.compile(r"^(?P<sym>[A-Z0-9_-]+?)-(?P<ds>trades|aggTrades|bookTicker|bookDepth|"
                   r"fundingRate|metrics|\d+(?:s|m|h|d|w|mo))-(?P<period>\d{4}-\d{2}(?:-\d{2})?)"
                   r"\.(?:zip|csv)$")
_INTERVAL = re.compile(r"^\d+(?:s|m|h|d|w|mo)$")
_PATH_VENUES = (("/spot/", "binance-spot"), ("/futures/um/", "binance-usdm"),
                ("/futures/cm/", "binance-coinm"), ("/option/", "binance-options"))
_LAYOUT = re.compile(r"/data/(spot|futures/um|futures/cm|option)/(?:daily|monthly)/")
_NAN = float("nan")


def _ts(x: str) -> int:
    """Epoch ms (or µs, or s) -> ns, told apart by magnitude."""
    v = int(x)
    if v > 10**17:   # ns
        return v
    if v > 10**14:   # µs
        return v * 1_000
    if v > 10**11:   # ms
        return v * 1_000_000
    return v * 1_000_000_000


def _datetime(x: str) -> int:
    """``2024-08-08 00:00:08`` (UTC) or epoch digits -> ns."""
    if x.isdigit():
        return _ts(x)
    t = dt.datetime.fromisoformat(x).replace(tzinfo=dt.timezone.utc)
    return int(t.timestamp()) * 1_000_000_000 + t.microsecond * 1_000


def _f(x: str) -> float:
    return float(x) if x else _NAN


def _bool(x: str) -> bool:
    v = x.strip().lower()
    if v not in ("true", "false"):
        raise ValueError(f"expected true/false, got {x!r}")
    return v == "true"


def parse_name(path: Path) -> tuple[str, str, str]:
    """(symbol, dataset, interval or '') from a Binance public-data file name."""
    m = _NAME.match(path.name)
    if not m:
        raise DataImportError(f"{path}: not a Binance public-data file name "
                              "(SYMBOL-DATASET-YYYY-MM[-DD].zip, e.g. BTCUSDT-trades-2024-08-08.zip)")
    ds = m["ds"]
    if _INTERVAL.match(ds):
        return m["sym"], "klines", ds
    return m["sym"], ds, ""


def venue_from_path(path: Path) -> str | None:
    p = "/" + path.resolve().as_posix() + "/"
    for part, venue in _PATH_VENUES:
        if part in p:
            return venue
    return None


class BinanceImporter:
    def __init__(self, resolver: SymbolResolver, checks: ImportChecks, progress: Progress,
                 venue: str | None = None) -> None:
        self.resolver = resolver
        self.checks = checks
        self.progress = progress
        self.venue = venue

    def read(self, path: Path, sink: Callable[[Any], None], aux: Callable[..., None]) -> str:
        symbol, ds, interval = parse_name(path)
        laid_out = _LAYOUT.search("/" + path.resolve().as_posix())  # data.binance.vision's tree
        on_path = dict(_PATH_VENUES).get(f"/{laid_out.group(1)}/") if laid_out else None
        if self.venue and on_path and self.venue != on_path:
            raise DataImportError(f"{path}: its path is {on_path} data, --venue says "
                                  f"{self.venue}: drop --venue or fix it")
        venue = self.venue or venue_from_path(path)
        if venue is None:
            raise DataImportError(f"{path}: which Binance market? the path does not say (spot, "
                                  "futures/um, futures/cm, option): pass --venue binance-spot|"
                                  "binance-usdm|binance-coinm|binance-options")
        try:
            iid = self.resolver.resolve(venue, symbol).id
        except UnknownSymbol as exc:
            raise DataImportError(f"{path}: {exc}") from None
        handler = getattr(self, "_" + ds)
        line = 0
        try:
            first = True
            for line, r in rows(path, self.progress):
                if first:
                    first = False
                    if r[0].strip()[:1].isalpha():
                        continue  # the header row of newer files
                for ev in handler(iid, r, aux, interval):
                    self.checks.on_event(ev)
                    sink(ev)
        except DataImportError:
            raise  # the file itself (a truncated or corrupt download), already named
        except IndexError:  # (r: the row just read)
            raise DataImportError(f"{path}:{line}: malformed {ds} row: {len(r)} fields, too "
                                  "few for the format") from None
        except ValueError as exc:
            raise DataImportError(f"{path}:{line}: malformed {ds} row: {exc}") from None
        self.progress.done()
        return ds

    @staticmethod
    def _trade(iid: str, r: list[str], id_col: int, t_col: int, maker_col: int) -> Trade:
        t = _ts(r[t_col])
        return Trade(iid, price(r[1]), size(r[2]),
                     Side.SELL if _bool(r[maker_col]) else Side.BUY, r[id_col], t, t)

    def _trades(self, iid: str, r: list[str], aux: Any, _: str) -> Iterator[Any]:
        yield self._trade(iid, r, 0, 4, 5)

    def _aggTrades(self, iid: str, r: list[str], aux: Any, _: str) -> Iterator[Any]:
        yield self._trade(iid, r, 0, 5, 6)

    def _bookTicker(self, iid: str, r: list[str], aux: Any, _: str) -> Iterator[Any]:
        te = _ts(r[5])
        tr = max(_ts(r[6]) if len(r) > 6 and r[6] else te, te)
        bp, bs = price_or_none(r[1]), size_or_none(r[2])
        ap, as_ = price_or_none(r[3]), size_or_none(r[4])
        seq = int(r[0])
        # the only book Binance public data has: its top, as a one-level book (orders need a
        # LIVE book; the options chain's top of book is imported the same way)
        yield BookSnapshot(iid, ((bp, bs),) if bp == bp and bs > 0 else (),
                           ((ap, as_),) if ap == ap and as_ > 0 else (), seq, te, tr)
        yield Quote(iid, bp, bs, ap, as_, te, tr, seq)

    def _fundingRate(self, iid: str, r: list[str], aux: Any, _: str) -> Iterator[Any]:
        # the rate settled at calc_time: the funding it announces is at calc_time itself (one
        # interval on, each payment took the previous interval's rate and the first was lost)
        t = _ts(r[0])
        yield FundingRate(iid, float(r[2]), t, t, t)

    def _klines(self, iid: str, r: list[str], aux: Any, interval: str) -> Iterator[Any]:
        venue, _, sym = iid.partition(":")
        t_open, t_close = _ts(r[0]), _ts(r[6])
        aux("kline", venue, sym, t_close, t_open,
            (interval, float(r[1]), float(r[2]), float(r[3]), float(r[4]), float(r[5]), t_close,
             _f(r[7]), int(r[8]), _f(r[9]), _f(r[10])))
        return iter(())

    def _bookDepth(self, iid: str, r: list[str], aux: Any, _: str) -> Iterator[Any]:
        venue, _, sym = iid.partition(":")
        t = _datetime(r[0])
        aux("book_depth", venue, sym, t, t, (float(r[1]), float(r[2]), float(r[3])))
        return iter(())

    def _metrics(self, iid: str, r: list[str], aux: Any, _: str) -> Iterator[Any]:
        venue, _, sym = iid.partition(":")
        t = _datetime(r[0])
        aux("metrics", venue, sym, t, t, tuple(_f(x) for x in r[2:8]))
        return iter(())
