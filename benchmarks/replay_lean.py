"""The lean baseline process for ``volta replay`` on a Binance USD-M capture (bench_books).

What a minimal hand-written replayer does, as one process: read the gzip JSON Lines capture,
parse each record and its frame with orjson, keep one C ``order_book`` per symbol (cryptofeed's
book), synchronise it as Binance documents (REST snapshot, drop diffs with ``u`` <= its
``lastUpdateId``, then each diff's ``pu`` must be the previous ``u``), apply the diffs, and
extract the fields of ``bookTicker`` and ``trade`` frames. No integrity checks beyond that
sequence rule, no events, no cross-check. Prints one JSON line (messages, diffs applied, the
final top of book) so the benchmark can check it did the same work.

Run: ``python benchmarks/replay_lean.py CAPTURE.jsonl.gz``.
"""

from __future__ import annotations

import gzip
import sys

import orjson
from order_book import OrderBook


def replay(path: str) -> dict[str, object]:
    books: dict[str, OrderBook] = {}
    synced: dict[str, int] = {}  # symbol -> last applied u (-1: waiting for the bridging diff)
    pending: dict[str, list[dict[str, object]]] = {}
    messages = applied = quotes = trades = 0
    loads = orjson.loads
    with gzip.open(path, "rb") as f:
        for line in f:
            rec = loads(line)
            kind = rec["kind"]
            if kind == "rest":
                messages += 1
                url = rec["url"]
                if "/depth" not in url:
                    continue
                sym = url.split("symbol=")[1].split("&")[0].upper()
                body = loads(rec["data"])
                book = books[sym] = OrderBook()
                for p, q in body["bids"]:
                    book.bids[float(p)] = float(q)
                for p, q in body["asks"]:
                    book.asks[float(p)] = float(q)
                last = body["lastUpdateId"]
                synced[sym] = -1
                for d in pending.pop(sym, []):  # diffs buffered before the snapshot
                    if d["u"] > last and _apply(book, d, synced, sym, last):  # type: ignore[operator]
                        applied += 1
                synced.setdefault(sym, -1)
                books[sym + "#last"] = last  # type: ignore[assignment]
                continue
            if kind != "ws":
                continue
            messages += 1
            msg = loads(rec["data"])
            d = msg.get("data", msg)
            e = d.get("e")
            if e == "depthUpdate":
                sym = d["s"]
                book = books.get(sym)
                if book is None:
                    pending.setdefault(sym, []).append(d)
                    continue
                last = books[sym + "#last"]  # type: ignore[assignment]
                if d["u"] <= last:
                    continue
                if _apply(book, d, synced, sym, last):
                    applied += 1
            elif e == "bookTicker":
                quotes += 1
                _ = (float(d["b"]), float(d["B"]), float(d["a"]), float(d["A"]), d["u"])
            elif e == "trade":
                trades += 1
                _ = (float(d["p"]), float(d["q"]), d["m"], d["t"])
    tops = {s: (b.bids.index(0)[0], b.asks.index(0)[0]) for s, b in books.items()
            if isinstance(b, OrderBook) and len(b.bids) and len(b.asks)}
    return {"messages": messages, "diffs_applied": applied, "quotes": quotes, "trades": trades,
            "tops": tops}


def _apply(book: OrderBook, d: dict[str, object], synced: dict[str, int], sym: str,
           last: int) -> bool:
    prev = synced[sym]
    if prev < 0:
        if not d["U"] <= last + 1 <= d["u"]:  # type: ignore[operator]
            return False
    elif d["pu"] != prev:
        raise SystemExit(f"gap on {sym}: pu {d['pu']} != {prev}")
    for side, levels in ((book.bids, d["b"]), (book.asks, d["a"])):
        for p, q in levels:  # type: ignore[attr-defined]
            px, qty = float(p), float(q)
            if qty > 0.0:
                side[px] = qty
            elif px in side:
                del side[px]
    synced[sym] = d["u"]  # type: ignore[assignment]
    return True


if __name__ == "__main__":
    sys.stdout.write(orjson.dumps(replay(sys.argv[1])).decode() + "\n")
