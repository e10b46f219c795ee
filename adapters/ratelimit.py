"""Client-side rate limiting: token buckets, sliding windows, multi-limits, venue tables.

Theory of operation
-------------------
A venue rejects (or bans) a client that exceeds its limits, so we pace ourselves one step
below them and let the venue's own accounting correct ours when it tells us. Every limiter
is a pure function of an injected monotonic clock: ``try_acquire`` and
``delay_until_available`` never sleep, so they can run inside the synchronous event
handlers, and tests drive them with a fake clock. Only ``acquire`` awaits.

* ``TokenBucket(rate, burst)``: continuous refill (Deribit's credits work exactly like this).
* ``SlidingWindow(limit, window_s)``: at most ``limit`` in *any* window of ``window_s``.
  Used for the venues that count in fixed windows (Binance per minute, OKX per 2 s): we
  cannot see where the venue's window starts, and a sliding window is safe whatever the
  alignment, whereas a bucket with burst = limit can admit almost 2x limit inside one.
* ``MultiBucket``: several limits that must all admit a request (Binance weight per minute
  AND orders per 10 s AND orders per day), consumed all-or-nothing.
* ``RateLimiter``: a venue's table: named limits, per-endpoint costs, per-key instances
  (OKX per instrument), and ``apply(RateLimitUpdate)`` from response headers.

The numbers in ``VENUE_LIMITS`` come from the venues' published rate-limit documentation cited
next to them; ``verified=False`` marks a number not confirmed against the venue's own docs.
Venues change limits and tier them per account: prefer runtime values (Binance
``exchangeInfo.rateLimits``, Bybit ``X-Bapi-Limit``) when available.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import re
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

__all__ = ["Limiter", "LimitSpec", "MultiBucket", "RateLimitUpdate", "RateLimiter",
           "SlidingWindow", "TokenBucket", "VENUE_LIMITS", "VenueLimits",
           "parse_rate_limit_headers", "parse_retry_after"]

MonotonicClock = Callable[[], float]


class Limiter(Protocol):
    name: str

    def delay_until_available(self, cost: float = 1) -> float: ...
    def try_acquire(self, cost: float = 1) -> bool: ...
    def consume(self, cost: float = 1) -> None: ...
    def set_used(self, used: float) -> None: ...
    def block_for(self, seconds: float) -> None: ...


class _LimiterBase:
    """Shared behaviour: a ``Retry-After`` block, try/acquire in terms of delay + consume."""

    name: str
    clock: MonotonicClock
    _blocked_until: float = -math.inf

    def _delay(self, cost: float) -> float:
        raise NotImplementedError

    def consume(self, cost: float = 1) -> None:
        raise NotImplementedError

    def delay_until_available(self, cost: float = 1) -> float:
        """Seconds until ``cost`` would be admitted (0.0 = now). Never sleeps."""
        return max(self._delay(cost), self._blocked_until - self.clock(), 0.0)

    def try_acquire(self, cost: float = 1) -> bool:
        """Take ``cost`` now if admitted; False (and nothing taken) otherwise."""
        if self.delay_until_available(cost) > 0.0:
            return False
        self.consume(cost)
        return True

    async def acquire(self, cost: float = 1) -> None:
        """Sleep until ``cost`` is admitted, then take it. Waiters are not served FIFO."""
        while (delay := self.delay_until_available(cost)) > 0.0:
            await asyncio.sleep(delay)
        self.consume(cost)

    def block_for(self, seconds: float) -> None:
        """Admit nothing for ``seconds`` (a venue's ``Retry-After`` or a 429/418)."""
        self._blocked_until = max(self._blocked_until, self.clock() + seconds)


class TokenBucket(_LimiterBase):
    """``burst`` tokens, refilled continuously at ``rate`` per second."""

    def __init__(self, rate: float, burst: float, *, clock: MonotonicClock = time.monotonic,
                 name: str = "", initial: float | None = None) -> None:
        if rate <= 0 or burst <= 0:
            raise ValueError("rate and burst must be positive")
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.name = name
        self._tokens = burst if initial is None else min(initial, burst)
        self._last = clock()

    def _refill(self) -> float:
        now = self.clock()
        elapsed = now - self._last
        if elapsed > 0:  # a clock that steps back must not drain the bucket
            self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
            self._last = now
        return self._tokens

    @property
    def tokens(self) -> float:
        return self._refill()

    def _delay(self, cost: float) -> float:
        if cost > self.burst:
            raise ValueError(f"{self.name}: cost {cost} can never fit burst {self.burst}")
        return max(cost - self._refill(), 0.0) / self.rate

    def consume(self, cost: float = 1) -> None:
        """Take ``cost`` unconditionally (may go into debt, e.g. after a venue says so)."""
        self._refill()
        self._tokens -= cost

    def set_used(self, used: float) -> None:
        """The venue reports ``used`` of ``burst`` consumed: trust it over our estimate."""
        self._refill()
        self._tokens = self.burst - used


class SlidingWindow(_LimiterBase):
    """At most ``limit`` cost in any interval of ``window_s`` seconds (exact log)."""

    def __init__(self, limit: float, window_s: float, *, clock: MonotonicClock = time.monotonic,
                 name: str = "") -> None:
        if limit <= 0 or window_s <= 0:
            raise ValueError("limit and window_s must be positive")
        self.limit = limit
        self.window_s = window_s
        self.clock = clock
        self.name = name
        self._log: deque[list[float]] = deque()  # [time, cost], oldest first
        self._used = 0.0

    def _expire(self) -> float:
        now = self.clock()
        log, window = self._log, self.window_s
        while log and log[0][0] + window <= now:
            self._used -= log.popleft()[1]
        if not log:
            self._used = 0.0  # no float drift survives an empty window
        return now

    @property
    def used(self) -> float:
        self._expire()
        return self._used

    def _delay(self, cost: float) -> float:
        if cost > self.limit:
            raise ValueError(f"{self.name}: cost {cost} can never fit limit {self.limit}")
        now = self._expire()
        excess = self._used + cost - self.limit
        if excess <= 1e-9:
            return 0.0
        freed = 0.0
        for at, entry_cost in self._log:
            freed += entry_cost
            if freed >= excess - 1e-9:
                return max(at + self.window_s - now, 0.0)
        return self.window_s  # unreachable while cost <= limit

    def consume(self, cost: float = 1) -> None:
        now = self._expire()
        self._log.append([now, cost])
        self._used += cost

    def set_used(self, used: float) -> None:
        """Align with the venue's count: add the unseen usage now, or forget the oldest.

        When the venue reports less than we logged, its fixed window has rolled over: the
        entries it still counts are our newest ones, so the oldest are dropped.
        """
        self._expire()
        if used > self._used:
            self._log.append([self.clock(), used - self._used])
            self._used = used
            return
        surplus = self._used - used
        while surplus > 0 and self._log:
            oldest = self._log[0]
            take = min(oldest[1], surplus)
            oldest[1] -= take
            surplus -= take
            if oldest[1] <= 0:
                self._log.popleft()
        self._used = used


class MultiBucket:
    """Several limits that must all admit a request; taken all-or-nothing.

    ``costs`` maps member name to its cost for this request (members not named are not
    charged); without ``costs`` every member is charged ``cost``.
    """

    def __init__(self, members: Mapping[str, Limiter]) -> None:
        self.members = dict(members)

    def _charges(self, cost: float, costs: Mapping[str, float] | None) -> list[tuple[Limiter, float]]:
        if costs is None:
            return [(m, cost) for m in self.members.values()]
        unknown = set(costs) - set(self.members)
        if unknown:
            raise KeyError(f"unknown limits {sorted(unknown)}")
        return [(self.members[n], c) for n, c in costs.items() if c > 0]

    def delay_until_available(self, cost: float = 1, costs: Mapping[str, float] | None = None) -> float:
        return max((m.delay_until_available(c) for m, c in self._charges(cost, costs)), default=0.0)

    def try_acquire(self, cost: float = 1, costs: Mapping[str, float] | None = None) -> bool:
        charges = self._charges(cost, costs)
        if any(m.delay_until_available(c) > 0.0 for m, c in charges):
            return False
        for m, c in charges:
            m.consume(c)
        return True

    async def acquire(self, cost: float = 1, costs: Mapping[str, float] | None = None) -> None:
        while (delay := self.delay_until_available(cost, costs)) > 0.0:
            await asyncio.sleep(delay)
        for m, c in self._charges(cost, costs):
            m.consume(c)


# ---------------------------------------------------------------------------- venue tables

@dataclass(frozen=True, slots=True)
class LimitSpec:
    """One limit: a token bucket (``rate``/s, ``burst``) or a window (``limit`` per ``window_s``)."""

    kind: Literal["bucket", "window"]
    rate: float = 0.0
    burst: float = 0.0
    limit: float = 0.0
    window_s: float = 0.0
    per_key: bool = False       # one instance per key (OKX: per instrument)
    verified: bool = False      # confirmed against the venue's own documentation
    source: str = ""

    @classmethod
    def bucket(cls, rate: float, burst: float, **kw: object) -> LimitSpec:
        return cls("bucket", rate=rate, burst=burst, **kw)  # type: ignore[arg-type]

    @classmethod
    def window(cls, limit: float, window_s: float, **kw: object) -> LimitSpec:
        return cls("window", limit=limit, window_s=window_s, **kw)  # type: ignore[arg-type]

    def make(self, clock: MonotonicClock, name: str) -> TokenBucket | SlidingWindow:
        if self.kind == "bucket":
            return TokenBucket(self.rate, self.burst, clock=clock, name=name)
        return SlidingWindow(self.limit, self.window_s, clock=clock, name=name)


@dataclass(frozen=True, slots=True)
class VenueLimits:
    """A venue's limits by name and each endpoint's cost against them."""

    venue: str
    limits: Mapping[str, LimitSpec]
    endpoints: Mapping[str, Mapping[str, float]]
    default_cost: Mapping[str, float] = field(default_factory=dict)  # endpoints not listed


@dataclass(slots=True)
class RateLimitUpdate:
    """What a response told us: usage per limit name, and a block (``Retry-After``)."""

    used: dict[str, float] = field(default_factory=dict)
    retry_after_s: float | None = None


class RateLimiter:
    """A venue's limits as live limiters: ``try_acquire(endpoint, key)`` checks them all."""

    def __init__(self, table: VenueLimits, *, clock: MonotonicClock = time.monotonic) -> None:
        self.table = table
        self.clock = clock
        self._instances: dict[tuple[str, str | None], TokenBucket | SlidingWindow] = {}

    def limiter(self, name: str, key: str | None = None) -> TokenBucket | SlidingWindow:
        spec = self.table.limits[name]
        slot = (name, key if spec.per_key else None)
        inst = self._instances.get(slot)
        if inst is None:
            label = f"{self.table.venue}:{name}" + (f":{key}" if spec.per_key and key else "")
            inst = self._instances[slot] = spec.make(self.clock, label)
        return inst

    def costs(self, endpoint: str) -> Mapping[str, float]:
        return self.table.endpoints.get(endpoint, self.table.default_cost)

    def _multi(self, endpoint: str, key: str | None) -> tuple[MultiBucket, Mapping[str, float]]:
        costs = self.costs(endpoint)
        return MultiBucket({n: self.limiter(n, key) for n in costs}), costs

    def delay_until_available(self, endpoint: str, key: str | None = None) -> float:
        multi, costs = self._multi(endpoint, key)
        return multi.delay_until_available(costs=costs)

    def try_acquire(self, endpoint: str, key: str | None = None) -> bool:
        multi, costs = self._multi(endpoint, key)
        return multi.try_acquire(costs=costs)

    async def acquire(self, endpoint: str, key: str | None = None) -> None:
        multi, costs = self._multi(endpoint, key)
        await multi.acquire(costs=costs)

    def apply(self, update: RateLimitUpdate, endpoint: str | None = None, key: str | None = None) -> None:
        """Trust the venue's reported usage; block the endpoint's limits for a Retry-After."""
        for name, used in update.used.items():
            if name in self.table.limits:
                self.limiter(name, key).set_used(used)
        if update.retry_after_s:
            names = self.costs(endpoint) if endpoint is not None else self.table.limits
            for name in names:
                self.limiter(name, key).block_for(update.retry_after_s)


def parse_retry_after(value: str | None, now_epoch_s: float | None = None) -> float | None:
    """Seconds from an HTTP ``Retry-After`` (delta-seconds or HTTP-date); None if absent/bad."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    now = time.time() if now_epoch_s is None else now_epoch_s
    return max(when.timestamp() - now, 0.0)


_BINANCE_HEADER = re.compile(r"x-mbx-(used-weight|order-count)-(\d+)([smhd])")


def parse_rate_limit_headers(venue: str, headers: Mapping[str, str], endpoint: str | None = None,
                             now_epoch_s: float | None = None) -> RateLimitUpdate:
    """Turn a response's rate-limit headers into an update (header names case-insensitive).

    Binance: ``X-MBX-USED-WEIGHT-1M`` -> ``weight_1m``, ``X-MBX-ORDER-COUNT-10S`` ->
    ``orders_10s`` (used counts). Bybit: ``X-Bapi-Limit`` minus ``X-Bapi-Limit-Status``
    (remaining) -> usage of the limit named after ``endpoint``. Any venue: ``Retry-After``.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    update = RateLimitUpdate(retry_after_s=parse_retry_after(lower.get("retry-after"), now_epoch_s))
    if venue.startswith("binance"):
        for name, value in lower.items():
            m = _BINANCE_HEADER.fullmatch(name)
            if m:
                kind = "weight" if m.group(1) == "used-weight" else "orders"
                with _ignore_bad_number():
                    update.used[f"{kind}_{m.group(2)}{m.group(3)}"] = float(value)
    elif venue == "bybit" and endpoint is not None:
        with _ignore_bad_number():
            limit, remaining = lower.get("x-bapi-limit"), lower.get("x-bapi-limit-status")
            if limit is not None and remaining is not None:
                update.used[endpoint] = max(float(limit) - float(remaining), 0.0)
    return update


class _ignore_bad_number:
    """A malformed header value is ignored: our own accounting stays in force."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> bool:
        return exc_type is ValueError


# ---------------------------------------------------------------------------- the data
# Units: a cost is in the limit's own unit (Binance weight, Deribit credits, requests).
_W, _B = LimitSpec.window, LimitSpec.bucket
_DERIBIT_DOC = "https://docs.deribit.com/articles/rate-limits.md (credit system, tiered)"

VENUE_LIMITS: dict[str, VenueLimits] = {
    "deribit": VenueLimits(
        venue="deribit",
        limits={
            # Non-matching: 500 credits/request, pool 50 000, refill 10 000/s (~20 req/s).
            # [lib: nautilus DERIBIT_HTTP_REST_QUOTA; shape per _DERIBIT_DOC]
            "non_matching": _B(10_000, 50_000, source=_DERIBIT_DOC),
            # Matching engine (buy/sell/edit/cancel): default 5 req/s, burst 20; tiered by
            # 7-day volume. [lib: nautilus DERIBIT_HTTP_ORDER_QUOTA]
            "matching": _B(5, 20, source="nautilus DERIBIT_HTTP_ORDER_QUOTA"),
            # Subscribe: 3 000 credits/request, pool 30 000 (~3.3 req/s, burst 10).
            # [lib: nautilus DERIBIT_WS_SUBSCRIPTION_QUOTA]
            "subscribe": _B(10_000, 30_000, source="nautilus DERIBIT_WS_SUBSCRIPTION_QUOTA"),
        },
        endpoints={
            **{m: {"matching": 1} for m in (
                "private/buy", "private/sell", "private/edit", "private/cancel",
                "private/cancel_all", "private/cancel_all_by_instrument", "private/cancel_by_label")},
            "public/subscribe": {"subscribe": 3_000},
            "private/subscribe": {"subscribe": 3_000},
        },
        default_cost={"non_matching": 500},
    ),
    "binance_spot": VenueLimits(
        venue="binance_spot",
        limits={
            # REQUEST_WEIGHT 6000 per MINUTE (fixed calendar minute, per IP): the example in
            # developers.binance.com/docs/binance-spot-api-docs/websocket-api/rate-limits.
            "weight_1m": _W(6000, 60, verified=True,
                            source="binance spot websocket-api/rate-limits (example rateLimits)"),
            # ORDERS per 10 s / per day (per account). [unverified numbers]
            "orders_10s": _W(100, 10, source="general knowledge [unverified]"),
            "orders_1d": _W(200_000, 86_400, source="general knowledge [unverified]"),
            # 300 connection attempts per 5 min per IP: stated for the WS API; assumed for
            # market streams too (venues.md marks it [unverified]).
            "ws_connect_5m": _W(300, 300, source="binance spot websocket-api/rate-limits"),
        },
        endpoints={
            # Depth weight depends on `limit`; the figure is venues.md's for limit=1000. [unverified]
            "GET /api/v3/depth": {"weight_1m": 10},
            "GET /api/v3/exchangeInfo": {"weight_1m": 20},  # [unverified]
            "POST /api/v3/order": {"weight_1m": 1, "orders_10s": 1, "orders_1d": 1},
            "DELETE /api/v3/order": {"weight_1m": 1},
            "ws_connect": {"ws_connect_5m": 1},
        },
        default_cost={"weight_1m": 1},
    ),
    "binance_usdm": VenueLimits(
        venue="binance_usdm",
        limits={
            # venues.md: 2400/min weight, 300 orders/10 s, 1200 orders/min. [unverified]
            "weight_1m": _W(2400, 60, source="venues.md [unverified]"),
            "orders_10s": _W(300, 10, source="venues.md [unverified]"),
            "orders_1m": _W(1200, 60, source="venues.md [unverified]"),
        },
        endpoints={
            "GET /fapi/v1/depth": {"weight_1m": 20},  # limit=1000, venues.md [unverified]
            "POST /fapi/v1/order": {"weight_1m": 1, "orders_10s": 1, "orders_1m": 1},
            "DELETE /fapi/v1/order": {"weight_1m": 1},
            "GET /fapi/v2/account": {"weight_1m": 5},  # Account Information V2: weight 5
        },
        default_cost={"weight_1m": 1},
    ),
    "okx": VenueLimits(
        venue="okx",
        limits={
            # Per-endpoint 2 s windows; order endpoints per instrument (key = instId).
            # venues.md [unverified]: place 60/2 s per instrument, books 40/2 s.
            "trade/order": _W(60, 2, per_key=True, source="venues.md [unverified]"),
            "trade/cancel-order": _W(60, 2, per_key=True, source="[unverified]"),
            "trade/amend-order": _W(60, 2, per_key=True, source="[unverified]"),
            # api-evangelist/okx says 20/2 s for market data, venues.md 40/2 s: take the lower.
            "market/books": _W(20, 2, source="api-evangelist okx-rate-limits.yml [unverified]"),
            "public/instruments": _W(20, 2, source="api-evangelist okx-rate-limits.yml [unverified]"),
            # WS: 3 connects/s per IP; 480 subscribe/unsubscribe/login per hour per connection.
            # [lib: nautilus OKX_WS_QUOTA]
            "ws_connect": _W(3, 1, source="nautilus OKX_WS_QUOTA"),
            "ws_subscribe": _W(480, 3600, source="nautilus OKX_WS_QUOTA"),
        },
        endpoints={
            "POST /api/v5/trade/order": {"trade/order": 1},
            "POST /api/v5/trade/cancel-order": {"trade/cancel-order": 1},
            "POST /api/v5/trade/amend-order": {"trade/amend-order": 1},
            "GET /api/v5/market/books": {"market/books": 1},
            "GET /api/v5/public/instruments": {"public/instruments": 1},
            "ws_connect": {"ws_connect": 1},
            "ws_subscribe": {"ws_subscribe": 1},
        },
    ),
    "bybit": VenueLimits(
        venue="bybit",
        limits={
            # Per UID, per endpoint, rolling 1 s window; X-Bapi-Limit/-Status report it.
            # Default 10/s futures & options, 20/s spot: bybit-exchange.github.io/docs/v5/
            # rate-limit/rules-for-pros/introduction (UID-level table). Per-endpoint split [unverified].
            "POST /v5/order/create": _W(10, 1, verified=True, source="bybit v5 rules-for-pros UID table"),
            "POST /v5/order/amend": _W(10, 1, source="[unverified]"),
            "POST /v5/order/cancel": _W(10, 1, source="[unverified]"),
            # IP: 600 requests per 5 s (bybit-exchange.github.io/docs/v5/rate-limit).
            "ip_5s": _W(600, 5, verified=True, source="https://bybit-exchange.github.io/docs/v5/rate-limit"),
            # WS: at most 500 connections per 5 minutes per IP (same page).
            "ws_connect": _W(500, 300, verified=True, source="https://bybit-exchange.github.io/docs/v5/rate-limit"),
        },
        endpoints={
            **{e: {e: 1, "ip_5s": 1} for e in (
                "POST /v5/order/create", "POST /v5/order/amend", "POST /v5/order/cancel")},
            "ws_connect": {"ws_connect": 1},
        },
        default_cost={"ip_5s": 1},
    ),
}
