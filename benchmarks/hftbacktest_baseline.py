"""hftbacktest as the baseline of the backtest benchmark (the ``bench`` extra installs it).

The Binance USD-M capture is turned into hftbacktest's own input: the capture's websocket
frames are written in the layout of hftbacktest's Binance futures collector (``<local ns>
<frame>`` per line, gzip) and converted by its converter
(``hftbacktest.data.utils.binancefutures.convert``, bookTicker kept as its custom events); the
REST depth snapshot becomes the initial snapshot (``DEPTH_SNAPSHOT_EVENT`` rows). Two runs are
timed, as Volta's are: no strategy (the data only) and a market maker equivalent to
``strategies.examples.mm.Quoter`` (same quote rule, size, skew, re-quote threshold, post-only
orders), with the same latency (constant order entry and response) and queue model
(``power_prob_queue_model(exponent)``). The strategy is an ``@njit`` function, as hftbacktest
strategies are; it is compiled once on a short slice before timing.
"""

from __future__ import annotations

import gzip
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson


def available() -> str | None:
    """None when hftbacktest is importable, else why not."""
    try:
        import hftbacktest  # noqa: F401
    except ImportError as exc:
        return f"hftbacktest not installed (pip install -e '.[bench]'): {exc}"
    return None


def convert_capture(capture: Path) -> tuple[np.ndarray, np.ndarray, int]:
    """(feed events, initial snapshot, capture messages) in hftbacktest's formats."""
    from hftbacktest import BUY_EVENT, DEPTH_SNAPSHOT_EVENT, SELL_EVENT, event_dtype
    from hftbacktest.data.utils import binancefutures

    snapshot_rows: list[tuple[Any, ...]] = []
    messages = 0
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "binancefutures.gz"
        with gzip.open(capture, "rb") as src, gzip.open(raw, "wb", compresslevel=1) as dst:
            for line in src:
                rec = orjson.loads(line)
                kind, data, ts = rec.get("kind"), rec.get("data") or "", int(rec["ts"])
                if kind == "ws" and data:
                    messages += 1
                    dst.write(f"{ts} ".encode() + data.encode() + b"\n")
                elif kind == "rest" and "depth" in rec.get("url", "") and not snapshot_rows:
                    messages += 1
                    body = orjson.loads(data)
                    for flag, levels in ((BUY_EVENT, body["bids"]), (SELL_EVENT, body["asks"])):
                        for px, qty in levels:
                            snapshot_rows.append((DEPTH_SNAPSHOT_EVENT | flag, ts, ts, float(px),
                                                  float(qty), 0, 0, 0.0))
        feed = binancefutures.convert(str(raw), opt="t", buffer_size=4_000_000)
    snapshot = np.array(snapshot_rows, dtype=event_dtype)
    return feed, snapshot, messages


def _strategies() -> tuple[Any, Any]:
    from numba import njit

    from hftbacktest import GTX, LIMIT

    @njit(cache=False)
    def to_end(hbt: Any) -> int:
        while hbt.elapse(60_000_000_000) == 0:
            pass
        return 0

    @njit(cache=False)
    def quoter(hbt: Any, size: float, half_spread_bps: float, requote_bps: float,
               max_position: float, skew_bps_per_unit: float) -> int:
        """``strategies.examples.mm.Quoter``'s rule, called on every feed event and answer."""
        depth = hbt.depth(0)
        tick = depth.tick_size
        quoted_mid = np.nan
        bid_id = 0
        ask_id = 0
        bid_px = 0.0
        ask_px = 0.0
        next_id = 1
        sent = 0
        while True:
            r = hbt.wait_next_feed(True, 60_000_000_000)
            if r == 1:
                break
            if r != 2 and r != 3:
                continue
            depth = hbt.depth(0)
            bb, ba = depth.best_bid, depth.best_ask
            if not (bb > 0.0 and ba > 0.0 and ba < 1e300 and bb == bb and ba == ba):
                continue
            mid = (bb + ba) / 2.0
            hbt.clear_inactive_orders(0)
            orders = hbt.orders(0)
            if bid_id != 0 and bid_id not in orders:
                bid_id = 0
                quoted_mid = np.nan
            if ask_id != 0 and ask_id not in orders:
                ask_id = 0
                quoted_mid = np.nan
            pos = hbt.position(0)
            want_bid = pos + size <= max_position + 1e-12
            want_ask = pos - size >= -max_position - 1e-12
            missing = (want_bid and bid_id == 0) or (want_ask and ask_id == 0)
            moved = abs(mid - quoted_mid) / mid * 1e4 if quoted_mid == quoted_mid else np.inf
            if not (moved >= requote_bps or missing):
                continue
            skew = -pos * skew_bps_per_unit
            new_bid = np.round((mid * (1 - (half_spread_bps - skew) / 1e4) - tick / 2) / tick) * tick
            new_ask = np.round((mid * (1 + (half_spread_bps + skew) / 1e4) + tick / 2) / tick) * tick
            quoted_mid = mid
            if bid_id != 0 and not (want_bid and bid_px == new_bid):
                hbt.cancel(0, bid_id, False)
                bid_id = 0
            if want_bid and bid_id == 0:
                bid_id = next_id
                next_id += 1
                bid_px = new_bid
                hbt.submit_buy_order(0, bid_id, new_bid, size, GTX, LIMIT, False)
                sent += 1
            if ask_id != 0 and not (want_ask and ask_px == new_ask):
                hbt.cancel(0, ask_id, False)
                ask_id = 0
            if want_ask and ask_id == 0:
                ask_id = next_id
                next_id += 1
                ask_px = new_ask
                hbt.submit_sell_order(0, ask_id, new_ask, size, GTX, LIMIT, False)
                sent += 1
        return sent

    return to_end, quoter


def _build(feed: np.ndarray, snapshot: np.ndarray, params: dict[str, Any]) -> Any:
    from hftbacktest import BacktestAsset, HashMapMarketDepthBacktest

    asset = (BacktestAsset().data(feed).initial_snapshot(snapshot).linear_asset(1.0)
             .constant_latency(params["order_latency_ns"], params["response_latency_ns"])
             .power_prob_queue_model(params["queue_exponent"]).no_partial_fill_exchange()
             .trading_value_fee_model(params["maker_fee"], params["taker_fee"])
             .tick_size(params["tick_size"]).lot_size(params["lot_size"]).last_trades_capacity(0))
    return HashMapMarketDepthBacktest([asset])


def run(capture: Path, params: dict[str, Any], repeat: int) -> dict[str, Any]:
    """Best-of-``repeat`` process CPU seconds for both runs (building the backtest included)."""
    feed, snapshot, messages = convert_capture(capture)
    to_end, quoter = _strategies()
    mm = params["mm"]
    args = (mm["size"], mm["half_spread_bps"], mm["requote_bps"], mm["max_position"],
            mm["skew_bps_per_unit"])
    warm = feed[: min(len(feed), 20_000)]
    for fn, a in ((to_end, ()), (quoter, args)):  # compile on a slice, outside the timing
        hbt = _build(warm, snapshot, params)
        fn(hbt, *a)
        hbt.close()
    out: dict[str, Any] = {"messages": messages, "feed_rows": int(len(feed))}
    for name, fn, a in (("no_strategy", to_end, ()), ("market_maker", quoter, args)):
        best, result, position = float("inf"), 0, 0.0
        for _ in range(repeat):
            t = time.process_time()
            hbt = _build(feed, snapshot, params)
            result = fn(hbt, *a)
            best = min(best, time.process_time() - t)
            position = hbt.position(0)
            hbt.close()
        out[name] = {"seconds": round(best, 4), "messages_per_s": round(messages / best)}
        if name == "market_maker":
            out[name].update(orders_sent=int(result), final_position=round(float(position), 6))
    return out
