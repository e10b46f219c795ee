"""``volta journal``: audit a journal without touching it (read-only, no lock).

``volta journal ls PATH`` lists where the history is: the archived segments
(``<journal>.segments/``), the live store, the log's committed tail and the snapshots (seq,
UTC time, size, verified). ``volta journal show PATH`` prints records as JSON lines, oldest
first, segments included (``--after``/``--until`` seq, ``--type``, ``--limit``). Both work
while a node runs (they read what is committed).
"""

from __future__ import annotations

import argparse
import difflib
import sqlite3
import sys
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path

import msgspec

from engine.journal import Journal, JournalError
from engine.journal_read import missing_ranges, segment_records, stored_snapshots
from engine.journal_records import RECORD_TYPES
from engine.journal_store import open_store
from engine.journal_writer import describe

_ENC = msgspec.json.Encoder()


_PATH_HELP = "the journal file (deployment.journal, e.g. var/paper.journal.sqlite)"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="volta journal",
        description="Audit a journal without touching it (read-only, no lock; also while the "
                    "daemon runs): where its history is, and its records as JSON lines.")
    sub = p.add_subparsers(dest="action", required=True)
    ls = sub.add_parser("ls", help="segments, store, log tail and snapshots of a journal")
    ls.add_argument("journal", metavar="PATH", help=_PATH_HELP)
    show = sub.add_parser("show", help="records as JSON lines (segments included)")
    show.add_argument("journal", metavar="PATH", help=_PATH_HELP)
    show.add_argument("--after", type=_at_least(0), default=0, metavar="SEQ",
                      help="records after SEQ")
    show.add_argument("--until", type=_at_least(0), default=None, metavar="SEQ", help="up to SEQ")
    show.add_argument("--type", default=None, metavar="NAME",
                      help="only this record type (e.g. SubmitOrder, OrderFilled)")
    show.add_argument("--limit", type=_at_least(1), default=None, metavar="N",
                      help="at most N records")
    return p


def _at_least(low: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if value < low:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {low}, got {text!r}")
        return value
    return parse


def _no_record(path: Path, wanted: str, present: set[str]) -> int:
    """Nothing of type ``wanted``: say so (stderr); a name that is no record type is an error."""
    known = wanted in RECORD_TYPES
    close = [] if known else difflib.get_close_matches(
        wanted, sorted(present | set(RECORD_TYPES)), n=1, cutoff=0.4)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    print(f"volta journal: no record of type {wanted!r} in {path}{hint}; types in it: "
          f"{', '.join(sorted(present)) or 'none'}", file=sys.stderr)
    return 0 if known else 2


def _ls(j: Journal) -> int:
    print(f"journal {j.path}")
    segments = j.segments()
    lo, hi, n = j.store_range()
    # the history is seq 1 to j.seq: the segments, the store, then the log's tail after them
    parts = [(first, last) for first, last, _p in segments]
    if lo is not None and hi is not None:
        parts.append((lo, hi))
    tail_from = max([hi or 0] + [last for _f, last in parts]) + 1
    if j.seq >= tail_from:
        parts.append((tail_from, j.seq))
    lines: list[tuple[int, str]] = []
    unreadable: list[Path] = []
    for first, last, path in segments:
        try:
            count = f"{segment_records(path)} records  {path.stat().st_size} bytes"
        except (sqlite3.Error, OSError) as exc:  # listed as such; the rest is still listed
            count = f"UNREADABLE ({describe(exc)})"
            unreadable.append(path)
        lines.append((first, f"segment  seq {first}-{last}  {count}  {path}"))
    for first, last in missing_ranges(parts, j.seq):
        lines.append((first, f"missing  seq {first}-{last}  {last - first + 1} records in no "
                             "segment, store or log (archived or deleted?)"))
    for _first, text in sorted(lines, key=lambda item: item[0]):
        print(text)
    print(f"store    seq {lo or '-'}-{hi or '-'}  {n} records")
    print(f"log tail up to seq {j.seq} (not yet in the store: {max(0, j.seq - (hi or 0))})")
    # every stored snapshot, the ones a restart skips too (Journal.snapshots() has only those
    # that verify)
    store = open_store(j.path, j.synchronous, read_only=True)
    try:
        for seq, ts, payload, verifies in stored_snapshots(store):
            print(f"snapshot seq {seq}  at {_utc(ts)}  {len(payload)} bytes  " + (
                "verified" if verifies else "NOT VERIFIED (SHA-256 mismatch: a restart skips it)"))
    finally:
        store.close()
    for path in unreadable:
        print(f"volta journal: {j.path}: segment {path} is unreadable", file=sys.stderr)
    return 2 if unreadable else 0


def _show(j: Journal, args: argparse.Namespace) -> int:
    out = sys.stdout
    shown = 0
    present: set[str] = set()
    expected = args.after + 1  # the next seq of a history without holes
    ended = False  # stopped by --until or --limit, not by the end of the history
    for seq, ts, direction, type_name, obj in j.records(after_seq=args.after):
        if args.until is not None and seq > args.until:
            ended = True
            break
        if seq > expected:
            _missing(j.path, expected, seq - 1)
        expected = seq + 1
        if args.type is not None and type_name != args.type:
            present.add(type_name)
            continue
        out.write(f'{{"seq":{seq},"ts":{ts},"direction":"{direction}","type":"{type_name}",'
                  f'"record":{_ENC.encode(obj).decode()}}}\n')
        shown += 1
        if args.limit is not None and shown >= args.limit:
            ended = True
            break
    last = j.seq if args.until is None else min(j.seq, args.until)
    if not ended and expected <= last:
        _missing(j.path, expected, last)
    if args.type is not None and not shown:
        return _no_record(j.path, args.type, present)
    return 0


def _missing(path: Path, first: int, last: int) -> None:
    print(f"volta journal: seq {first}-{last} ({last - first + 1} records) not in {path} "
          "(archived or deleted?)", file=sys.stderr)


def _utc(ts_ns: int) -> str:
    """A journal time (ns since the epoch) as UTC ISO 8601, every nanosecond kept."""
    seconds, ns = divmod(ts_ns, 1_000_000_000)
    return f"{datetime.fromtimestamp(seconds, timezone.utc):%Y-%m-%dT%H:%M:%S}.{ns:09d}Z"


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    path = Path(args.journal).expanduser()
    if path.is_dir():
        print(f"volta journal: {path}: is a folder, not a journal (give the deployment's journal "
              "file, e.g. var/paper.journal.sqlite)", file=sys.stderr)
        return 2
    if not path.is_file():
        print(f"volta journal: {path}: no such journal", file=sys.stderr)
        return 2
    try:
        j = Journal(path, read_only=True)
    except JournalError as exc:
        print(f"volta journal: {exc}", file=sys.stderr)
        return 2
    try:
        if args.action == "ls":
            return _ls(j)
        return _show(j, args)
    except JournalError as exc:  # (its message names the journal)
        print(f"volta journal: {exc}", file=sys.stderr)
        return 2
    except sqlite3.Error as exc:
        print(f"volta journal: {path}: {describe(exc)}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # (piped into head)
        return 0
    finally:
        j.close()
