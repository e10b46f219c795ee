"""Writing the catalog: buffered, bounded in memory, committed all at once (idempotent).

Theory of operation: a ``CatalogWriter`` takes engine events (or auxiliary rows) of one
*dataset* (the source's name for the stream: ``incremental_book_L2``, ``trades``, ``capture``,
...) and routes each to its partition ``venue=<v>/instrument=<symbol>/date=<YYYY-MM-DD>`` (the
UTC day of the receive time) and kind. Rows are buffered per (partition, kind); a buffer of
``chunk_rows`` rows, or all buffers once ``max_buffered_rows`` are held, are written as part
files into a staging folder inside the catalog, so memory stays bounded whatever the size of
the input. ``commit`` merges each partition's parts (streaming, one part in memory at a time)
into ``<kind>.<dataset>.parquet`` in the staging folder, then moves every file into place with
``os.replace`` (a Ctrl-C during the moves takes effect after the last one): importing the same
day of the same dataset again replaces the file, and an import that fails or is interrupted
before the moves (``abort``) leaves the catalog as it was. Instrument definitions go to
``venue=<v>/instrument=<symbol>/instrument.json`` (the last definition wins).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq

from backtest.catalog.tables import SCHEMAS, row_of, to_table
from engine.model import Instrument

NS_PER_DAY = 86_400 * 1_000_000_000
STAGING_PREFIX = ".staging-"


class CatalogError(Exception):
    """A catalog that cannot be read or written (the message names the path and the problem)."""


def symbol_dir(symbol: str) -> str:
    """The folder name of a symbol (anything but letters, digits and ``-_.`` is %-escaped)."""
    return "instrument=" + quote(symbol, safe="-_.")


def day_of(ts_ns: int) -> str:
    return dt.datetime.fromtimestamp(ts_ns // NS_PER_DAY * 86_400, tz=dt.timezone.utc
                                     ).strftime("%Y-%m-%d")


@contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Ctrl-C (SIGINT) and SIGTERM received inside the block take effect at its end, so what it
    does is done whole. Only the main thread can set signal handlers; elsewhere it does nothing.
    Nested blocks pass a deferred signal on to the enclosing one."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got: list[int] = []
    before = {sig: signal.signal(sig, lambda n, _f: got.append(n))
              for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in before.items():
            if handler is not None:  # (None: a handler set outside Python, cannot be restored)
                signal.signal(sig, handler)
        for sig in dict.fromkeys(got):
            signal.raise_signal(sig)  # now, under the handler it would have met


class CatalogWriter:
    """Collects one dataset's events into catalog partitions; ``commit()`` makes them visible."""

    def __init__(self, root: str | Path, dataset: str, chunk_rows: int = 65_536,
                 max_buffered_rows: int = 1_000_000) -> None:
        if not dataset or "/" in dataset or "." in dataset:
            raise CatalogError(f"invalid dataset name {dataset!r}")
        self.root = Path(root)
        self.dataset = dataset
        self.chunk_rows = chunk_rows
        self.max_buffered_rows = max_buffered_rows
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CatalogError(f"{self.root}: cannot create the catalog: {exc}") from exc
        if not self.root.is_dir():
            raise CatalogError(f"{self.root}: not a directory")
        self._staging = self.root / f"{STAGING_PREFIX}{uuid.uuid4().hex[:12]}"
        self._staging.mkdir()
        self._buffers: dict[tuple[str, str, str, str], list[tuple]] = {}
        self._parts: dict[tuple[str, str, str, str], list[Path]] = {}
        self._buffered = 0
        self._ord = 0
        self._days: dict[int, str] = {}
        self._instruments: dict[str, Instrument] = {}
        self.rows = 0

    # -- input ------------------------------------------------------------------------------
    def add_instrument(self, inst: Instrument) -> None:
        self._instruments[inst.id] = inst

    def add(self, ev: Any) -> None:
        """A replayable engine event (its instrument id names venue and symbol)."""
        kind, row = row_of(ev, self._ord)
        venue, _, symbol = ev.instrument_id.partition(":")
        self._put(venue, symbol, ev.ts_recv, kind, row)

    def add_aux(self, kind: str, venue: str, symbol: str, ts_recv: int, ts_event: int,
                values: tuple) -> None:
        """A row of an auxiliary kind (``values`` in that schema's order after the head; a NaN
        is stored as null, a missing value)."""
        self._put(venue, symbol, ts_recv, kind, (ts_recv, ts_event, self._ord) + tuple(
            None if v.__class__ is float and v != v else v for v in values))

    def _put(self, venue: str, symbol: str, ts_recv: int, kind: str, row: tuple) -> None:
        d = ts_recv // NS_PER_DAY
        day = self._days.get(d)
        if day is None:
            day = self._days[d] = day_of(ts_recv)
        key = (venue, symbol, day, kind)
        buf = self._buffers.get(key)
        if buf is None:
            buf = self._buffers[key] = []
        buf.append(row)
        self._ord += 1
        self.rows += 1
        self._buffered += 1
        if len(buf) >= self.chunk_rows:
            self._spill(key)
        elif self._buffered >= self.max_buffered_rows:
            for k in list(self._buffers):
                self._spill(k)

    def _spill(self, key: tuple[str, str, str, str]) -> None:
        rows = self._buffers.pop(key, None)
        if not rows:
            return
        self._buffered -= len(rows)
        parts = self._parts.setdefault(key, [])
        path = self._staging / f"part-{len(self._parts)}-{len(parts)}-{uuid.uuid4().hex[:6]}.parquet"
        try:
            pq.write_table(to_table(key[3], rows), path)
        except (OSError, pa.ArrowException) as exc:
            raise CatalogError(f"{path}: cannot write: {exc}") from exc
        parts.append(path)

    # -- output -----------------------------------------------------------------------------
    def partitions(self) -> list[tuple[str, str, str, str]]:
        return sorted(set(self._parts) | set(self._buffers))

    def commit(self) -> list[Path]:
        """Write every partition file and the instrument definitions; returns the files."""
        for key in list(self._buffers):
            self._spill(key)
        written: list[Path] = []
        moves: list[tuple[Path, Path]] = []  # (staged file, its place in the catalog)
        try:
            # everything slow first, in the staging folder (an interrupt here changes nothing)
            for (venue, symbol, day, kind), parts in sorted(self._parts.items()):
                part_dir = self.root / f"venue={venue}" / symbol_dir(symbol) / f"date={day}"
                final = part_dir / f"{kind}.{self.dataset}.parquet"
                if len(parts) == 1:
                    moves.append((parts[0], final))
                else:
                    merged = self._staging / f"merged-{uuid.uuid4().hex[:8]}.parquet"
                    with pq.ParquetWriter(merged, SCHEMAS[kind]) as w:
                        for p in parts:
                            w.write_table(pq.read_table(p))
                            p.unlink()
                    moves.append((merged, final))
                written.append(final)
            for inst in self._instruments.values():
                tmp = self._staging / f"instrument-{uuid.uuid4().hex[:8]}.json"
                tmp.write_bytes(msgspec.json.encode(inst))
                moves.append((tmp, self.root / f"venue={inst.venue}" / symbol_dir(inst.symbol)
                              / "instrument.json"))
            with interrupts_deferred():  # then only renames: all of them, or none
                for src, dst in moves:
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(src, dst)
        except (OSError, pa.ArrowException) as exc:
            raise CatalogError(f"{self.root}: cannot commit the import: {exc}") from exc
        finally:
            self.abort()
        return written

    def abort(self) -> None:
        """Drop everything staged (the catalog stays as it was before this writer)."""
        shutil.rmtree(self._staging, ignore_errors=True)
        self._buffers.clear()
        self._parts.clear()
        self._buffered = 0


def write_events(root: str | Path, dataset: str, events: Any,
                 instruments: list[Instrument] = ()) -> CatalogWriter:  # type: ignore[assignment]
    """Write replayable events (e.g. an ``EventStore``'s) as ``dataset``; returns the writer."""
    w = CatalogWriter(root, dataset)
    try:
        for inst in instruments:
            w.add_instrument(inst)
        for ev in events:
            w.add(ev)
        w.commit()
    except BaseException:
        w.abort()
        raise
    return w
