"""Data import and catalog throughput, each against a baseline measured in the same run.

* Import: a Tardis.dev ``incremental_book_L2`` day (generated in the documented format, gzip)
  through ``volta data import`` (CSV parse, symbol resolution, integrity checks, Parquet
  partitions), in CSV lines/s and catalog rows/s. Baseline: reading the same gzip CSV with the
  ``csv`` module and doing nothing with the rows (the floor of any Python importer).
* Backtest from the catalog vs the event store: the same events (the Binance USD-M BTCUSDT
  recording decoded by the real codec when ``VOLTA_MARKETDATA`` (or the development checkout's market-data folder) holds
  it, else the synthetic option-chain market) written to both formats; load time, and the
  whole of ``volta backtest`` (load + replay with the example quoter) in events/s.

Timings are process CPU time, best of ``REPEAT``.
Run: ``python -m benchmarks.bench_data [OUT.json]``.
"""

from __future__ import annotations

import csv
import gc
import gzip
import io
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec
import orjson
import structlog

from backtest import store as stores
from backtest.catalog import open_catalog, write_events
from backtest.importers import import_files
from backtest.runner import run_backtest
from backtest.sweep import load_with_overrides
from engine.model import BookDelta

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = ROOT / "benchmarks" / "results" / "data.json"
USDM = "binance-usdm/binance-usdm-btcusdt-2024-08-08.jsonl.gz"
REPEAT = 3
L2_UPDATES = 300_000
_clock = time.process_time


def _enc(events: list[Any]) -> bytes:
    # the columnar positions the event store attaches to deep diffs (``BookDelta.columns``, a
    # registry id per load) are not event data
    return msgspec.json.encode([msgspec.structs.replace(e, columns=None)
                                if type(e) is BookDelta else e for e in events])


def _best(fn: Any, repeat: int = REPEAT) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        gc.collect()
        t = _clock()
        out = fn()
        best = min(best, _clock() - t)
    return best, out


def _l2_file(folder: Path, updates: int) -> tuple[Path, int]:
    """A Tardis L2 day of BTC-PERPETUAL: a 40-level snapshot then ``updates`` update rows."""
    path = folder / "deribit_incremental_book_L2_2020-04-01_BTC-PERPETUAL.csv.gz"
    t = 1585699200245000
    buf = io.StringIO()
    buf.write("exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount\n")
    for i in range(20):
        buf.write(f"deribit,BTC-PERPETUAL,{t},{t + 1},true,bid,{6000 - i * 0.5},{100 + i}\n"
                  f"deribit,BTC-PERPETUAL,{t},{t + 1},true,ask,{6000.5 + i * 0.5},{100 + i}\n")
    lines = 41
    for n in range(updates):
        if n % 3 == 0:
            t += 1000  # about three rows per venue message
        side = "bid" if n % 2 else "ask"
        px = 6000 - (n % 20) * 0.5 if n % 2 else 6000.5 + (n % 20) * 0.5
        buf.write(f"deribit,BTC-PERPETUAL,{t},{t + 7},false,{side},{px},{(n * 7) % 900}\n")
        lines += 1
    with gzip.open(path, "wt", encoding="utf-8", newline="") as f:
        f.write(buf.getvalue())
    return path, lines


def _raw_read(path: Path) -> int:
    n = 0
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        for _ in csv.reader(f):
            n += 1
    return n


def _events_for_backtest() -> tuple[str, Any, Any]:
    env = os.environ.get("VOLTA_MARKETDATA")
    md = Path(env) if env else ROOT / ".." / "shared" / "marketdata"
    if (md / USDM).is_file():
        config, _ = load_with_overrides(ROOT / "config" / "backtest-binance.toml",
                                        [("backtest.data.files", [str(md / USDM)])])
        return "binance-usdm BTCUSDT recording", config, stores.from_captures([md / USDM])
    config, _ = load_with_overrides(ROOT / "config" / "backtest.toml",
                                    [("backtest.data.duration_s", 300.0)])
    spec = config.backtest["data"]
    data = stores.synthetic(spec.get("synthetic", {}), "sim", 1_767_225_600_000_000_000, 300.0)
    return "synthetic BTC perpetual + option chain (300 s)", config, data


def run(output_path: str | Path = DEFAULT_OUTPUT) -> dict[str, Any]:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="volta-bench-data-") as tmp:
        root = Path(tmp)
        path, lines = _l2_file(root, L2_UPDATES)
        raw_s, n = _best(lambda: _raw_read(path))
        assert n == lines
        k = [0]

        def imp() -> Any:
            k[0] += 1
            return import_files("tardis", [path], root / f"cat{k[0]}", progress=False)

        imp_s, res = _best(imp)
        out["import"] = {
            "file": "Tardis incremental_book_L2, BTC-PERPETUAL, gzip",
            "csv_lines": lines, "catalog_rows": res.rows,
            "import_s": round(imp_s, 3), "lines_per_s": round(lines / imp_s),
            "rows_per_s": round(res.rows / imp_s),
            "baseline_csv_read_s": round(raw_s, 3), "baseline_lines_per_s": round(lines / raw_s),
            "import_over_raw_read": round(imp_s / raw_s, 2),
            "catalog_bytes": sum(p.stat().st_size for p in (root / "cat1").rglob("*.parquet")),
            "gzip_csv_bytes": path.stat().st_size,
        }
        label, config, data = _events_for_backtest()
        stores.save(data, root / "store")
        write_events(root / "catalog", "bench", data.events, data.instruments)
        store_load_s, from_store = _best(lambda: stores.load(root / "store"))
        cat_load_s, from_cat = _best(lambda: open_catalog(root / "catalog").load_store())
        assert _enc(from_cat.events) == _enc(from_store.events)

        def bt(loader: Any) -> Any:
            return run_backtest(config, data=loader())

        store_bt_s, r1 = _best(lambda: bt(lambda: stores.load(root / "store")))
        cat_bt_s, r2 = _best(lambda: bt(lambda: open_catalog(root / "catalog").load_store()))
        assert r1.summary["fills"] == r2.summary["fills"]
        ev = len(data.events)
        out["backtest"] = {
            "data": label, "events": ev,
            "event_store_load_s": round(store_load_s, 3),
            "catalog_load_s": round(cat_load_s, 3),
            "catalog_over_store_load": round(cat_load_s / store_load_s, 2),
            "event_store_backtest_events_per_s": round(ev / store_bt_s),
            "catalog_backtest_events_per_s": round(ev / cat_bt_s),
            "catalog_over_store_backtest_time": round(cat_bt_s / store_bt_s, 3),
            "event_store_bytes": sum(p.stat().st_size for p in (root / "store").iterdir()),
            "catalog_bytes": sum(p.stat().st_size for p in (root / "catalog").rglob("*.parquet")),
        }
    Path(output_path).parent.mkdir(parents=True, exist_ok=True)
    Path(output_path).write_bytes(orjson.dumps(out, option=orjson.OPT_INDENT_2))
    print(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode())
    return out


if __name__ == "__main__":
    run(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_OUTPUT)
