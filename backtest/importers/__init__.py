"""Importers of market data bought or downloaded elsewhere into the Parquet catalog.

``import_files(source, files, catalog)`` streams each file through its source's reader into a
``CatalogWriter`` of the file's dataset and commits it: one file is imported wholly or not at
all, a re-import of the same file replaces what it wrote, and memory stays bounded by the
writer's buffers. Sources: ``tardis`` (Tardis.dev CSV), ``binance`` (Binance public data),
``capture`` (``volta record`` captures, decoded by the real codecs).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backtest.catalog import CatalogError, CatalogWriter
from backtest.catalog.writer import interrupts_deferred
from backtest.importers.binance import BinanceImporter
from backtest.importers.binance import parse_name as binance_name
from backtest.importers.checks import ImportChecks
from backtest.importers.stream import DataImportError, Progress, rows
from backtest.importers.symbols import SymbolResolver, UnknownSymbol, load_definitions
from backtest.importers.tardis import TardisImporter
from backtest.importers.tardis import dataset_of as tardis_dataset_of
from engine.model import Instrument

SOURCES = ("tardis", "binance", "capture")


@dataclass
class ImportResult:
    files: list[dict[str, Any]] = field(default_factory=list)
    rows: int = 0
    """Catalog rows written (events and auxiliary rows)."""
    lines: int = 0
    """CSV lines read."""
    wall_s: float = 0.0
    integrity: dict[str, Any] = field(default_factory=dict)

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.wall_s if self.wall_s > 0 else 0.0


def import_files(source: str, files: Sequence[str | Path], catalog: str | Path, *,
                 venue: str | None = None, instruments: str | Path | None = None,
                 progress: bool = True, stale_after_s: float = 60.0,
                 chunk_rows: int = 65_536, skip_unknown: bool = False,
                 on_file: Callable[[dict[str, Any]], None] | None = None) -> ImportResult:
    """Import ``files`` of ``source`` into the catalog at ``catalog`` (see the module doc);
    ``on_file(record)`` as each file is in place (a Ctrl-C then still finds it reported)."""
    if source not in SOURCES:
        raise DataImportError(f"unknown source {source!r}; sources: {', '.join(SOURCES)}")
    paths = [Path(f) for f in files]
    missing = [p for p in paths if not p.is_file()]
    if missing:  # all checked before any work
        raise DataImportError("; ".join(f"{p}: no such file" for p in missing))
    defs: list[Instrument] = []
    if instruments is not None:
        if venue is None:
            raise DataImportError("--instruments needs --venue (whose instrument list it is)")
        try:
            defs = load_definitions(instruments, venue)
        except UnknownSymbol as exc:
            raise DataImportError(str(exc)) from None
    resolver = SymbolResolver(defs)
    prog = Progress(progress)
    result = ImportResult()
    t0 = time.perf_counter()
    def done(rec: dict[str, Any]) -> None:
        result.files.append(rec)
        result.rows += rec["rows"]
        result.lines += rec.get("lines", 0)
        if on_file is not None:
            on_file(rec)

    if source == "capture":
        _captures(paths, catalog, result, done)
    else:
        reader: Any = (TardisImporter(resolver, ImportChecks(), prog, skip_unknown)
                       if source == "tardis" else BinanceImporter(resolver, ImportChecks(), prog,
                                                                   venue))
        for p in paths:
            lines = prog.rows

            def read(rec: dict[str, Any], lines: int = lines) -> None:
                rec["lines"] = prog.rows - lines
                skipped = getattr(reader, "skipped", {})
                if skipped:
                    rec["skipped_symbols"] = dict(sorted(skipped.items()))
                    skipped.clear()
                done(rec)

            _one(reader, p, catalog, resolver, chunk_rows, stale_after_s, read)
    result.wall_s = time.perf_counter() - t0
    return result


def _one(reader: Any, path: Path, catalog: str | Path, resolver: SymbolResolver,
         chunk_rows: int, stale_after_s: float, done: Callable[[dict[str, Any]], None]) -> None:
    """One file into one writer of its dataset, committed only if the whole file was read;
    ``done(record)`` once it is in place (with a Ctrl-C during the commit deferred past it)."""
    if isinstance(reader, TardisImporter):
        header = next((r for _, r in rows(path, Progress(False))), None)
        if header is None:
            raise DataImportError(f"{path}: empty file")
        dataset = tardis_dataset_of(path, [h.strip() for h in header])
    else:
        dataset = binance_name(path)[1]
    reader.checks = ImportChecks(stale_after_s, snapshots_are_resets=dataset in (
        "incremental_book_L2",))
    w = CatalogWriter(catalog, dataset, chunk_rows=chunk_rows)
    try:
        reader.read(path, w.add, w.add_aux)
        for inst in resolver.resolved():
            w.add_instrument(inst)
        n = w.rows
        with interrupts_deferred():
            w.commit()
            done({"file": str(path), "dataset": dataset, "rows": n,
                  "integrity": reader.checks.report()})
    except BaseException:
        w.abort()
        raise


def capture_dataset(path: Path) -> str:
    """``capture_<file stem>``: each capture file is its own dataset (re-import replaces it)."""
    stem = path.name.removesuffix(".gz").removesuffix(".jsonl")
    return "capture_" + re.sub(r"[^A-Za-z0-9_-]", "_", stem)


def _captures(paths: list[Path], catalog: str | Path, result: ImportResult,
              done: Callable[[dict[str, Any]], None]) -> None:
    """Each capture decoded by the real codecs (as ``volta backtest`` does), one dataset each."""
    from backtest import store as stores

    integrity: dict[str, int] = {}
    for p in paths:
        try:
            data = stores.from_captures([p])
        except stores.StoreError as exc:
            raise DataImportError(str(exc)) from None
        w = CatalogWriter(catalog, capture_dataset(p))
        try:
            for inst in data.instruments:
                w.add_instrument(inst)
            for ev in data.events:
                w.add(ev)
            with interrupts_deferred():
                w.commit()
                done({"file": str(p), "dataset": capture_dataset(p), "rows": len(data.events),
                      "malformed": data.meta["malformed"]})
        except BaseException:
            w.abort()
            raise
        for k, v in data.meta.get("integrity", {}).items():
            integrity[k] = integrity.get(k, 0) + v
    result.integrity = integrity


__all__ = ["SOURCES", "CatalogError", "DataImportError", "ImportResult", "import_files"]
