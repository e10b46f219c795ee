import time, sys
from pathlib import Path
from backtest import store as stores
from engine.model import BookDelta, BookSnapshot
from engine.book import OrderBook
data = stores.from_captures([Path('/work/shared/marketdata/binance-usdm/binance-usdm-btcusdt-2024-08-08.jsonl.gz')])
evs = [e for e in data.events if type(e) in (BookDelta, BookSnapshot)]
snap_i = next(i for i,e in enumerate(evs) if type(e) is BookSnapshot)
evs = evs[snap_i:]
nlev = sum(len(e.bids)+len(e.asks) for e in evs[1:])
def run():
    b = OrderBook('x'); b.apply_snapshot(evs[0])
    ad = b.apply_delta
    t = time.perf_counter()
    for e in evs[1:]:
        ad(e)
    return time.perf_counter()-t, b
best = min(run()[0] for _ in range(7))
_, b = run()
print(f"deltas {len(evs)-1} levels {nlev} best {best*1e3:.1f} ms  {best/nlev*1e9:.0f} ns/level")
print(b.best_bid(), b.best_ask(), len(b.bids), len(b.asks), b.depth_bids(3), b.depth_asks(3))
