"""``volta data``: import market data into a Parquet catalog and list what a catalog holds.

    volta data import tardis deribit_trades_2024-08-01_OPTIONS.csv.gz ... --to var/catalog
    volta data import binance BTCUSDT-trades-2024-08-08.zip --venue binance-usdm --to var/catalog
    volta data import capture var/captures/deribit.jsonl.gz --to var/catalog
    volta data ls var/catalog

Exit codes: 0 done, 2 bad arguments, unreadable or malformed input, unknown symbols (the
catalog is left as it was for the file that failed).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from backtest.catalog import CatalogError, open_catalog
from backtest.importers import SOURCES, DataImportError, import_files
from engine.cli import seconds

_VENUES = ("deribit", "okx", "bybit", "binance-spot", "binance-usdm", "binance-coinm",
           "binance-options")


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="volta data",
        description="Import market data into a Parquet catalog (Tardis.dev CSV, Binance public data, volta record captures) and list what a catalog holds (docs/data.md).",
        epilog="exit status: 0 done, 2 bad arguments, an unreadable or malformed file or an unknown symbol (the catalog keeps what it had for that file), 130 Ctrl-C")
    sub = ap.add_subparsers(dest="command", required=True)
    imp = sub.add_parser("import", help="import files into a catalog (each file wholly or not "
                         "at all; re-importing a day replaces it)")
    imp.add_argument("source", choices=SOURCES, help="tardis: Tardis.dev CSV (.csv.gz); binance: "
                     "Binance public data (.zip/.csv); capture: `volta record` captures")
    imp.add_argument("files", nargs="+", help="the files to import")
    imp.add_argument("--to", required=True, metavar="CATALOG", help="catalog folder (created)")
    imp.add_argument("--venue", choices=_VENUES, help="Binance market of the files when their "
                     "path does not say it; the venue of --instruments")
    imp.add_argument("--instruments", metavar="FILE", help="instrument definitions for symbols "
                     "the built-in rules do not know: the venue's instrument list as its REST API "
                     "returns it, or a JSON list of Volta instruments")
    imp.add_argument("--skip-unknown", action="store_true", help="skip (and count) rows of "
                     "symbols without instrument rules instead of stopping (Tardis)")
    imp.add_argument("--stale-after", type=seconds, default=60.0, metavar="SECONDS",
                     help="report book silences longer than this (default 60)")
    imp.add_argument("--quiet", action="store_true", help="no progress line")
    ls = sub.add_parser("ls", help="venues, instruments, days, rows and size in a catalog")
    ls.add_argument("catalog", help="catalog folder")
    return ap


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n} B"


def _days(days: list[str]) -> str:
    return days[0] if len(days) == 1 else f"{days[0]}..{days[-1]} ({len(days)})"


def _ls(path: str) -> int:
    rows = open_catalog(path).summary()
    if not rows:
        print(f"{path}: empty catalog")
        return 0
    table: list[list[str]] = [["venue", "instrument", "days", "rows", "size", "datasets"]]
    total_rows = total_bytes = 0
    for r in rows:
        n = sum(r["rows"].values())
        total_rows += n
        total_bytes += r["bytes"]
        kinds = ", ".join(f"{k} {v:,}" for k, v in sorted(r["rows"].items()))
        table.append([r["venue"], r["instrument"], _days(r["days"]), f"{n:,} ({kinds})",
                      _size(r["bytes"]), ",".join(r["datasets"])])
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    print(f"{len(rows)} instruments, {total_rows:,} rows, {_size(total_bytes)}")
    return 0


def _imported(f: dict[str, Any]) -> None:
    """The lines of one file, printed as soon as it is in the catalog."""
    lines = f" from {f['lines']:,} lines" if f.get("lines") else ""
    print(f"{f['file']}: {f['dataset']}, {f.get('rows', 0):,} rows{lines}", flush=True)
    skipped = f.get("skipped_symbols")
    if skipped:
        top = ", ".join(f"{k} ({v:,})" for k, v in list(skipped.items())[:5])
        print(f"  skipped {sum(skipped.values()):,} rows of {len(skipped)} unknown symbols: "
              f"{top}{' ...' if len(skipped) > 5 else ''}")
    _checks(f.get("integrity"))


def _import(args: argparse.Namespace, done: list[dict[str, Any]]) -> int:
    def imported(f: dict[str, Any]) -> None:
        done.append(f)
        _imported(f)

    res = import_files(args.source, args.files, args.to, venue=args.venue,
                       instruments=args.instruments, progress=not args.quiet,
                       stale_after_s=args.stale_after, skip_unknown=args.skip_unknown,
                       on_file=imported)
    rate = f"{res.lines / res.wall_s:,.0f} lines/s" if res.lines and res.wall_s > 0 else \
        f"{res.rows_per_s:,.0f} rows/s"
    print(f"imported {res.rows:,} rows in {res.wall_s:.1f} s ({rate}) into {args.to}")
    _checks(res.integrity)
    return 0


def _checks(report: dict[str, Any] | None) -> None:
    if report:
        found = ", ".join(f"{k} {v}" for k, v in report.items() if v not in (0, "", 0.0))
        print(f"  integrity: {found or 'nothing to report'}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``volta data``; returns the exit code."""
    ap = _parser()
    try:
        args = ap.parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exc:
        return 0 if exc.code == 0 else 2
    done: list[dict[str, Any]] = []
    try:
        return _import(args, done) if args.command == "import" else _ls(args.catalog)
    except (DataImportError, CatalogError) as exc:
        print(f"\nvolta data: {exc}" if not getattr(args, "quiet", True) else
              f"volta data: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\nvolta data: {_interrupted(args, done)}", file=sys.stderr)
        return 130


def _interrupted(args: argparse.Namespace, done: list[dict[str, Any]]) -> str:
    """What a Ctrl-C left: the file being imported is not in the catalog, those before are."""
    files = getattr(args, "files", None)
    if not files:
        return "interrupted"
    if len(done) >= len(files):
        return "interrupted after every file was imported"
    was = ("" if not done else f"; the {len(done)} file{'s' if len(done) > 1 else ''} listed "
           f"above {'were' if len(done) > 1 else 'was'}")
    return f"interrupted: {files[len(done)]} was not imported (the catalog keeps what it had){was}"


if __name__ == "__main__":
    sys.exit(main())
