"""Reading the catalog: listing, notebook tables (pandas/polars), and replayable event stores.

Theory of operation: the catalog is a folder tree ``venue=<v>/instrument=<symbol>/date=<day>/
<kind>.<dataset>.parquet`` (see ``backtest.catalog.writer``). ``Catalog.files`` selects files by
venue, instrument, day range, kind and dataset from the folder names alone; ``to_arrow`` reads
and concatenates them with ``venue``/``instrument``/``dataset`` columns added, ordered by
receive time; ``load_store`` rebuilds the engine's events of the replayable kinds and merges
them into one replay order: by receive time, then ``ord`` (the position in the import that wrote
the row, so events of one import keep their exact order), then file order.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from backtest.catalog.tables import AUX, REPLAYED, SCHEMAS, events_of
from backtest.catalog.writer import STAGING_PREFIX, CatalogError, NS_PER_DAY
from engine.model import Instrument


_ONE_SOURCE = frozenset(("book", "trade", "quote"))
"""Kinds an instrument gets from one dataset at a time (two would replay every event twice)."""


@dataclass(frozen=True)
class CatalogFile:
    venue: str
    symbol: str
    day: str
    kind: str
    dataset: str
    path: Path

    @property
    def instrument_id(self) -> str:
        return f"{self.venue}:{self.symbol}"


def _as_set(x: str | Iterable[str] | None) -> set[str] | None:
    if x is None:
        return None
    return {x} if isinstance(x, str) else set(x)


def _day(x: str | dt.date | None) -> str | None:
    if x is None or isinstance(x, str):
        return x
    return x.isoformat()


class Catalog:
    """A Parquet catalog folder (see ``open_catalog``)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    # -- selection ---------------------------------------------------------------------------
    def files(self, venue: str | Iterable[str] | None = None,
              instrument: str | Iterable[str] | None = None,
              start: str | dt.date | None = None, end: str | dt.date | None = None,
              kind: str | Iterable[str] | None = None,
              dataset: str | Iterable[str] | None = None) -> list[CatalogFile]:
        """Files matching every filter given (days inclusive, ``YYYY-MM-DD``); an instrument is
        a symbol (``BTC-PERPETUAL``) or an instrument id (``deribit:BTC-PERPETUAL``)."""
        venues, insts = _as_set(venue), _as_set(instrument)
        kinds, datasets = _as_set(kind), _as_set(dataset)
        lo, hi = _day(start), _day(end)
        out: list[CatalogFile] = []
        for vdir in sorted(self.root.glob("venue=*")):
            v = vdir.name[6:]
            if venues is not None and v not in venues:
                continue
            for idir in sorted(vdir.glob("instrument=*")):
                sym = unquote(idir.name[11:])
                if insts is not None and sym not in insts and f"{v}:{sym}" not in insts:
                    continue
                for ddir in sorted(idir.glob("date=*")):
                    day = ddir.name[5:]
                    if (lo is not None and day < lo) or (hi is not None and day > hi):
                        continue
                    for f in sorted(ddir.glob("*.parquet")):
                        k, _, rest = f.name.partition(".")
                        ds = rest.removesuffix(".parquet")
                        if k not in SCHEMAS or (kinds is not None and k not in kinds) or \
                                (datasets is not None and ds not in datasets):
                            continue
                        out.append(CatalogFile(v, sym, day, k, ds, f))
        return out

    def instruments(self, venue: str | Iterable[str] | None = None) -> list[Instrument]:
        """The instrument definitions stored by imports."""
        venues = _as_set(venue)
        out: list[Instrument] = []
        for p in sorted(self.root.glob("venue=*/instrument=*/instrument.json")):
            if venues is not None and p.parent.parent.name[6:] not in venues:
                continue
            try:
                out.append(msgspec.json.decode(p.read_bytes(), type=Instrument))
            except (OSError, msgspec.DecodeError, msgspec.ValidationError) as exc:
                raise CatalogError(f"{p}: unreadable instrument definition: {exc}") from exc
        return out

    # -- notebook ----------------------------------------------------------------------------
    def to_arrow(self, kind: str, **filters: Any) -> pa.Table:
        """One kind's rows of the selected files, with ``venue``, ``instrument`` and ``dataset``
        columns, ordered by receive time (then import order)."""
        if kind not in SCHEMAS:
            raise CatalogError(f"unknown kind {kind!r}; kinds: {', '.join(SCHEMAS)}")
        tables = []
        for f in self.files(kind=kind, **filters):
            t = _read(f.path)
            n = t.num_rows
            t = t.append_column("venue", pa.array([f.venue] * n, pa.string()))
            t = t.append_column("instrument", pa.array([f.symbol] * n, pa.string()))
            tables.append(t.append_column("dataset", pa.array([f.dataset] * n, pa.string())))
        if not tables:
            schema = SCHEMAS[kind]
            for c in ("venue", "instrument", "dataset"):
                schema = schema.append(pa.field(c, pa.string()))
            return schema.empty_table()
        t = pa.concat_tables(tables)
        return t.take(pc.sort_indices(t, [("ts_recv", "ascending"), ("ord", "ascending")]))

    def to_pandas(self, kind: str, **filters: Any) -> Any:
        """``to_arrow`` as a pandas DataFrame (needs pandas installed)."""
        try:
            return self.to_arrow(kind, **filters).to_pandas()
        except ImportError as exc:
            raise CatalogError(f"to_pandas needs pandas: pip install pandas ({exc})") from exc

    def to_polars(self, kind: str, **filters: Any) -> Any:
        """``to_arrow`` as a polars DataFrame (needs polars installed)."""
        try:
            import polars
        except ImportError as exc:
            raise CatalogError(f"to_polars needs polars: pip install polars ({exc})") from exc
        return polars.from_arrow(self.to_arrow(kind, **filters))

    # -- listing -----------------------------------------------------------------------------
    def summary(self) -> list[dict[str, Any]]:
        """Per venue and instrument: days, rows per kind, bytes (from Parquet footers only)."""
        rows: dict[tuple[str, str], dict[str, Any]] = {}
        for f in self.files():
            r = rows.setdefault((f.venue, f.symbol), {"venue": f.venue, "instrument": f.symbol,
                                                      "days": set(), "rows": {}, "bytes": 0,
                                                      "datasets": set()})
            try:
                n = pq.ParquetFile(f.path).metadata.num_rows
                size = f.path.stat().st_size
            except (OSError, pa.ArrowException) as exc:
                raise CatalogError(f"{f.path}: unreadable: {exc}") from exc
            r["days"].add(f.day)
            r["rows"][f.kind] = r["rows"].get(f.kind, 0) + n
            r["bytes"] += size
            r["datasets"].add(f.dataset)
        return [{**r, "days": sorted(r["days"]), "datasets": sorted(r["datasets"])}
                for _, r in sorted(rows.items())]

    def _why_none(self, datasets: Iterable[str] | None, filters: dict[str, Any]) -> str:
        """Which filter of an empty selection found nothing, and what the catalog has there."""
        start, end = _day(filters.get("start")), _day(filters.get("end"))
        if start is not None and end is not None and start > end:
            return f"start {start} is after end {end}"
        chosen: dict[str, Any] = {}
        before = [f for f in self.files() if f.kind in REPLAYED]
        if not before:
            return ("the catalog holds no replayable data (only analysis tables): import "
                    "trades, books, quotes or the options chain with `volta data import`")
        for name, keys, asked, of in (
                ("venue", ("venue",), filters.get("venue"), lambda f: f.venue),
                ("instrument", ("instrument",), filters.get("instrument"), lambda f: f.symbol),
                ("day", ("start", "end"), None if start is None and end is None else
                 [f"{start or ''}..{end or ''}"], lambda f: f.day),
                ("dataset", ("dataset",), datasets, lambda f: f.dataset)):
            if asked is None:
                continue
            chosen.update({k: filters.get(k) for k in keys} if name != "dataset"
                          else {"dataset": datasets})
            now = [f for f in self.files(**chosen) if f.kind in REPLAYED]
            if not now:
                have = sorted({of(f) for f in before})
                listed = ", ".join(have[:8]) + (f", ... ({len(have)})" if len(have) > 8 else "")
                wanted = ", ".join(sorted(_as_set(asked) or ()))
                return (f"no data of {name} {wanted}; the catalog has "
                        f"{name}{'s' if len(have) > 1 else ''} {listed}")
            before = now
        return "no replayable kind in the selected files"

    def _one_source_each(self, spans: dict[tuple[str, str, str], list[tuple[int, int, str]]]
                         ) -> None:
        """Refuse two datasets giving one instrument's book, trades or quotes over the same
        time (e.g. Binance trades and aggTrades): the replay would see each one twice."""
        for (iid, day, kind), got in spans.items():
            got.sort()
            for (_, hi, a), (lo, _, b) in zip(got, got[1:]):
                if lo <= hi:
                    x, y = sorted((a, b))
                    raise CatalogError(
                        f"{self.root}: {iid} {day}: {kind} rows of datasets {x} and {y} overlap "
                        "in time: the backtest would replay both; select one with "
                        "[backtest.data] datasets")

    # -- replay ------------------------------------------------------------------------------
    def load_store(self, datasets: Iterable[str] | None = None, **filters: Any) -> Any:
        """The selected files' replayable events as an ``EventStore`` in replay order, with the
        stored instrument definitions of their venues."""
        from backtest.store import EventStore, with_level_columns

        files = [f for f in self.files(dataset=datasets, **filters) if f.kind in REPLAYED]
        if not files:
            raise CatalogError(f"{self.root}: no replayable data matches the selection: "
                               f"{self._why_none(datasets, filters)}")
        gens: list[Any] = []
        keys_ts: list[np.ndarray] = []
        keys_ord: list[np.ndarray] = []
        keys_file: list[np.ndarray] = []
        in_order = True
        ids: dict[str, str] = {}
        spans: dict[tuple[str, str, str], list[tuple[int, int, str]]] = {}
        for n, f in enumerate(files):
            t = _read(f.path)
            iid = ids.setdefault(f.instrument_id, f.instrument_id)  # one string per instrument
            try:
                gens.append(events_of(f.kind, t, iid))
            except (KeyError, pa.ArrowException, TypeError, ValueError) as exc:
                raise CatalogError(f"{f.path}: does not match the {f.kind} schema: {exc}") from exc
            ts, od = t["ts_recv"].to_numpy(), t["ord"].to_numpy()
            if in_order and ts.size > 1:
                dts = np.diff(ts)
                in_order = bool(np.all((dts > 0) | ((dts == 0) & (np.diff(od) > 0))))
            keys_ts.append(ts)
            keys_ord.append(od)
            keys_file.append(np.full(ts.size, n, dtype=np.int32))
            if f.kind in _ONE_SOURCE and ts.size:
                spans.setdefault((iid, f.day, f.kind), []).append(
                    (int(ts.min()), int(ts.max()), f.dataset))
        self._one_source_each(spans)
        file_of = np.concatenate(keys_file)
        order = np.lexsort((file_of, np.concatenate(keys_ord), np.concatenate(keys_ts)))
        if in_order:
            # every file's rows are already in replay order: build the events in the merged
            # order straight from the per-file iterators (consecutive events adjacent in memory,
            # which the replay loop's speed depends on)
            nexts = [g.__next__ for g in gens]
            events = [nexts[f]() for f in file_of[order].tolist()]
        else:
            flat = [e for g in gens for e in g]
            events = [flat[i] for i in order.tolist()]
        venues = sorted({f.venue for f in files})
        wanted = set(ids)
        insts = [i for i in self.instruments(venues) if i.id in wanted]
        meta = {"source": "catalog", "catalog": str(self.root),
                "datasets": sorted({f.dataset for f in files}),
                "days": sorted({f.day for f in files}), "files": len(files),
                "missing_days": _missing_days(files, _day(filters.get("start")),
                                              _day(filters.get("end")))}
        events, levels = with_level_columns(events, insts)  # (deep diffs: the compiled book)
        return EventStore(events, insts, meta, None, levels)


def _missing_days(files: list[CatalogFile], start: str | None, end: str | None
                  ) -> dict[str, list[str]]:
    """Per instrument, the days of the replayed range (``start``..``end``, else the first to
    the last day selected) with none of its files: a hole the replay would jump without a word
    (its books stay as they were at the hole's start)."""
    days = sorted({f.day for f in files})
    try:
        lo = dt.date.fromisoformat(start or days[0])
        hi = dt.date.fromisoformat(end or days[-1])
    except ValueError as exc:  # (a day folder not written by the catalog)
        raise CatalogError(f"{files[0].path.parents[3]}: a date= folder is not a YYYY-MM-DD "
                           f"day: {exc}") from None
    span = [(lo + dt.timedelta(days=i)).isoformat() for i in range((hi - lo).days + 1)]
    have: dict[str, set[str]] = {}
    for f in files:
        have.setdefault(f.instrument_id, set()).add(f.day)
    return {iid: gaps for iid, got in sorted(have.items())
            if (gaps := [d for d in span if d not in got])}


def _read(path: Path) -> pa.Table:
    try:
        return pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise CatalogError(f"{path}: unreadable Parquet file: {exc}") from exc


def open_catalog(path: str | Path) -> Catalog:
    """Open a catalog folder (``CatalogError`` if it is missing or not a catalog)."""
    root = Path(path).expanduser()
    if root.exists() and not root.is_dir():
        raise CatalogError(f"{root}: not a folder: a catalog is a folder (volta data import "
                           "--to creates it)")
    if not root.is_dir():
        raise CatalogError(f"{root}: no such catalog folder")
    if not any(root.glob("venue=*")) and any(p for p in root.iterdir()
                                             if not p.name.startswith(STAGING_PREFIX)):
        raise CatalogError(f"{root}: not a catalog (no venue=* folders)")
    return Catalog(root)


__all__ = ["AUX", "Catalog", "CatalogFile", "CatalogError", "NS_PER_DAY", "open_catalog"]
