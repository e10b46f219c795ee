"""Delivery (settlement) prices as each venue defines them: a time-weighted index average.

Theory of operation: an expiring option or future settles at the venue's *delivery price*, an
average of the venue's index over a window that ends at expiry. Every venue Volta trades
defines it as the average of the index sampled at a fixed rate (Deribit: every second; OKX:
every 200 ms), i.e. an average over *time*; a feed we record is sampled irregularly (an index
tick arrives when the index moves), so we weight each observation by how long it stood: the
price of an observation holds until the next one, the last observation before the window
carries into it, and the average is the integral of that step function divided by the window
covered. A plain mean of the observations would over-weight bursts of ticks.

Windows (``SETTLEMENT_RULES``; sources: the venues' published delivery rules):

* Deribit: last 30 minutes before expiry (08:00 UTC), options and futures.
* OKX: last 60 minutes before delivery until 2026-03-18, last 30 minutes from then on (OKX
  announcement of 2026-03-06 shortened the window).
* Binance (COIN-M and USD-M delivery, options): last 30 minutes.
* Bybit (options and delivery futures): last 30 minutes.
* anything else (the simulated venue, ``replay``): 30 minutes.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

NS_PER_S = 1_000_000_000
OKX_WINDOW_CHANGE_NS = 1_773_792_000 * NS_PER_S  # 2026-03-18 00:00 UTC


@dataclass(frozen=True, slots=True)
class SettlementRule:
    venue: str
    window_s: float
    source: str

    def window_ns(self, expiry_ns: int) -> int:
        if self.venue == "okx" and expiry_ns < OKX_WINDOW_CHANGE_NS:
            return 3600 * NS_PER_S
        return int(self.window_s * NS_PER_S)


SETTLEMENT_RULES: dict[str, SettlementRule] = {
    "deribit": SettlementRule("deribit", 1800.0, "time-weighted index, last 30 min"),
    "okx": SettlementRule("okx", 1800.0, "time-weighted index, last 60 min (30 min from 2026-03-18)"),
    "binance": SettlementRule("binance", 1800.0, "time-weighted index, last 30 min"),
    "bybit": SettlementRule("bybit", 1800.0, "time-weighted index, last 30 min"),
}
DEFAULT_RULE = SettlementRule("default", 1800.0, "time-weighted index, last 30 min")
MAX_WINDOW_NS = 3600 * NS_PER_S


def settlement_rule(venue: str) -> SettlementRule:
    """The rule of ``venue`` (``binance-coinm`` uses Binance's); the default otherwise."""
    return SETTLEMENT_RULES.get(venue.split("-", 1)[0].lower(), DEFAULT_RULE)


def time_weighted_average(obs: list[tuple[int, float]] | deque[tuple[int, float]],
                          start_ns: int, end_ns: int) -> float:
    """Average of the step function through ``obs`` (ts ascending) over [start, end].

    Each price holds from its timestamp to the next observation; the last one before
    ``start_ns`` carries into the window. Only the covered part of the window counts (no
    price is invented before the first observation). NaN without any observation <= end."""
    area = 0.0
    covered = 0
    prev_ts = prev_px = None
    for ts, px in obs:
        if ts > end_ns:
            break
        if prev_ts is not None:
            a, b = max(prev_ts, start_ns), ts
            if b > a:
                area += prev_px * (b - a)
                covered += b - a
        prev_ts, prev_px = ts, px
    if prev_ts is None:
        return math.nan
    a = max(prev_ts, start_ns)
    if end_ns > a:
        area += prev_px * (end_ns - a)
        covered += end_ns - a
    if covered == 0:
        return prev_px  # the only observation sits exactly at the end
    return area / covered


class IndexHistory:
    """Index observations of one underlying, kept for the longest settlement window."""

    __slots__ = ("obs",)

    def __init__(self) -> None:
        self.obs: deque[tuple[int, float]] = deque()

    def add(self, ts: int, px: float) -> None:
        obs = self.obs
        if obs and obs[-1][0] == ts:
            obs[-1] = (ts, px)
            return
        obs.append((ts, px))
        horizon = ts - MAX_WINDOW_NS
        # keep one observation at or before the horizon: it carries into the window
        while len(obs) > 1 and obs[1][0] <= horizon:
            obs.popleft()

    def latest(self) -> float:
        return self.obs[-1][1] if self.obs else math.nan

    def delivery_price(self, rule: SettlementRule, expiry_ns: int, now_ns: int) -> float:
        end = min(expiry_ns, now_ns) if expiry_ns > 0 else now_ns
        return time_weighted_average(self.obs, end - rule.window_ns(expiry_ns), end)
