"""A Deribit day as Tardis.dev publishes it (https://docs.tardis.dev/downloadable-csv-files),
written row by row in the documented column order: ``incremental_book_L2`` and ``trades`` of
BTC-PERPETUAL, ``options_chain`` and ``trades`` of BTC options, gzip-compressed, named as Tardis names its
downloads (``<exchange>_<dataset>_<YYYY-MM-DD>_<symbol>.csv.gz``).

The prices are generated (a seeded random walk; option marks from Black-76 at a smile, in BTC
per option as Deribit quotes them) so the files can be of any length; the snapshot's first ask
levels are the real first rows of Tardis' sample file for 2020-04-01 (published with
nautechsystems/nautilus_trader's test data, LGPL-3.0: numbers only, no file copied).
"""

from __future__ import annotations

import gzip
import math
import random
from pathlib import Path

DAY = "2020-04-01"
T0_US = 1585699200_000_000  # 2020-04-01T00:00:00Z in µs
REAL_ASKS = [(6421.5, 18640), (6422.0, 1190), (6422.5, 1080), (6423.0, 1400), (6423.5, 6630),
             (6424.0, 37070), (6424.5, 120), (6425.0, 51280), (6425.5, 61770), (6426.0, 3500)]
EXPIRIES = {"10APR20": 1586505600_000_000, "24APR20": 1587715200_000_000}  # 08:00 UTC
STRIKES = (5500, 6000, 6500, 7000, 7500)
L2_HEADER = "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount"
TRADES_HEADER = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount"
CHAIN_HEADER = ("exchange,symbol,timestamp,local_timestamp,type,strike_price,expiration,"
                "open_interest,last_price,bid_price,bid_amount,bid_iv,ask_price,ask_amount,ask_iv,"
                "mark_price,mark_iv,underlying_index,underlying_price,delta,gamma,vega,theta,rho")


def _ncdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def black76(F: float, K: float, T: float, vol: float, call: bool) -> tuple[float, float]:
    """(USD price, delta) of a European option on a forward, undiscounted."""
    sd = vol * math.sqrt(T)
    d1 = (math.log(F / K) + 0.5 * sd * sd) / sd
    d2 = d1 - sd
    if call:
        return F * _ncdf(d1) - K * _ncdf(d2), _ncdf(d1)
    return K * _ncdf(-d2) - F * _ncdf(-d1), _ncdf(d1) - 1.0


def write_deribit_day(folder: Path, minutes: float = 20.0, seed: int = 1) -> dict[str, Path]:
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "l2": folder / f"deribit_incremental_book_L2_{DAY}_BTC-PERPETUAL.csv.gz",
        "trades": folder / f"deribit_trades_{DAY}_BTC-PERPETUAL.csv.gz",
        "chain": folder / f"deribit_options_chain_{DAY}_OPTIONS.csv.gz",
        "option_trades": folder / f"deribit_trades_{DAY}_OPTIONS.csv.gz",
    }
    end = T0_US + int(minutes * 60e6)
    mid = 6421.0
    l2 = [L2_HEADER]
    t = T0_US + 245_000
    for p, a in REAL_ASKS:
        l2.append(f"deribit,BTC-PERPETUAL,{t},{t + 110_684},true,ask,{p:g},{a}")
    for i in range(10):
        l2.append(f"deribit,BTC-PERPETUAL,{t},{t + 110_684},true,bid,{6421.0 - 0.5 * i:g},"
                  f"{rng.randrange(1, 60) * 100}")
    bid, ask = 6421.0, 6421.5
    trades = [TRADES_HEADER]
    mids: list[tuple[int, float]] = []
    n = 0
    while t < end:
        t += rng.randrange(50_000, 400_000)
        step = rng.choice((-0.5, 0.0, 0.0, 0.5))
        if step:
            bid += step
            ask += step
            gone = ask - 0.5 if step > 0 else bid + 0.5  # the level crossed by the move goes
            side = "bid" if step < 0 else "ask"
            l2.append(f"deribit,BTC-PERPETUAL,{t},{t + 900},false,{side},{gone:g},0")
        l2.append(f"deribit,BTC-PERPETUAL,{t},{t + 900},false,bid,{bid:g},"
                  f"{rng.randrange(1, 80) * 100}")
        l2.append(f"deribit,BTC-PERPETUAL,{t},{t + 900},false,ask,{ask:g},"
                  f"{rng.randrange(1, 80) * 100}")
        mid = (bid + ask) / 2
        mids.append((t, mid))
        if rng.random() < 0.3:
            n += 1
            side = rng.choice(("buy", "sell"))
            trades.append(f"deribit,BTC-PERPETUAL,{t - 300},{t + 1200},{40000000 + n},{side},"
                          f"{ask if side == 'buy' else bid:g},{rng.randrange(1, 50) * 10}")
    chain = [CHAIN_HEADER]
    option_trades = [TRADES_HEADER]
    ts = T0_US + 1_000_000
    k = 0
    while ts < end:
        while k + 1 < len(mids) and mids[k + 1][0] <= ts:
            k += 1
        F = mids[k][1]
        for code, exp in EXPIRIES.items():
            T = (exp - ts) / 1e6 / (365 * 86400)
            for K in STRIKES:
                for call in (True, False):
                    vol = 0.75 + 0.4 * math.log(K / F) ** 2
                    usd, delta = black76(F, K, T, vol, call)
                    mark = usd / F
                    sym = f"BTC-{code}-{K}-{'C' if call else 'P'}"
                    bid_px = max(round((mark * 0.97) / 0.0005) * 0.0005, 0.0)
                    ask_px = round((mark * 1.03) / 0.0005) * 0.0005 + 0.0005
                    bid_col = f"{bid_px:.4f},{rng.randrange(1, 30) / 10:g},{vol * 97:.2f}" \
                        if bid_px > 0 else ",,0"
                    chain.append(
                        f"deribit,{sym},{ts},{ts + 35_000},{'call' if call else 'put'},{K},{exp},"
                        f"{rng.randrange(0, 500) / 10:g},,{bid_col},{ask_px:.4f},"
                        f"{rng.randrange(1, 30) / 10:g},{vol * 103:.2f},{mark:.8f},"
                        f"{vol * 100:.2f},SYN.BTC-{code},{F:.2f},{delta:.5f},0.0003,5.1,-4.2,0.1")
                    if rng.random() < 0.02:  # someone takes the bid or lifts the offer
                        side = rng.choice(("buy", "sell"))
                        px = ask_px if side == "buy" or bid_px <= 0 else bid_px
                        option_trades.append(
                            f"deribit,{sym},{ts + 20_000},{ts + 60_000},{90000000 + len(option_trades)},"
                            f"{side},{px:.4f},{rng.randrange(1, 20) / 10:g}")
                    ts += 7_000
        ts += 5_000_000
    for key, lines in (("l2", l2), ("trades", trades), ("chain", chain),
                       ("option_trades", option_trades)):
        with gzip.open(paths[key], "wt", encoding="utf-8", newline="") as f:
            f.write("\n".join(lines) + "\n")
    return paths
