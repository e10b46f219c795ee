"""Binance REST over aiohttp: self-throttled, signed, server-time-synced, errors classified.

Theory of operation: every request first waits on the venue's rate limiter (``adapters.ratelimit``,
table ``binance_usdm``/``binance_spot``), then goes out; the response's ``X-MBX-USED-WEIGHT-*``
and ``X-MBX-ORDER-COUNT-*`` headers correct our accounting, and a 429/418 with ``Retry-After``
blocks the limiter. What came back is classified once, here, because the session must treat the
three outcomes differently:

* ``Reply`` with ``ok`` True: a 2xx and a JSON body.
* ``Reply`` with ``ok`` False: the venue answered and refused (4xx with ``{"code","msg"}``,
  or 429/418 rate limited: Binance did not process the request). A definitive outcome.
* ``Unknown``: no answer we can trust (timeout, connection lost, 5xx, and the answers Binance
  documents as "execution status unknown": HTTP 408, codes ``-1006``/``-1007``): the request may
  or may not have been executed. The caller must not resend an order blindly.

Signed requests carry ``timestamp`` = local time + the offset measured against
``/fapi/v1/time`` (re-measured on ``-1021``), and ``recvWindow``. Nothing here logs a query
string: it carries a signature.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from adapters.binance.private import (
    EXECUTION_UNKNOWN,
    TIMESTAMP_OUTSIDE_RECV_WINDOW,
    error_of,
    loads,
    signed_query,
)
from adapters.live.rest import NotSent, Reply, SendMark, SyncedRestClient, Unknown
from adapters.live.rest import decode_body, transport_failure
from adapters.ratelimit import RateLimiter, parse_rate_limit_headers

__all__ = ["BinanceRest", "NotSent", "Reply", "Unknown"]


class BinanceRest(SyncedRestClient):
    """One REST client per session. ``api_key``/``api_secret`` may be empty (market data only)."""

    def __init__(self, base_url: str, limiter: RateLimiter, *, venue: str, api_key: str = "",
                 api_secret: str = "", recv_window_ms: int = 5000, timeout_s: float = 10.0,
                 time_path: str = "/fapi/v1/time", prefix: str = "/fapi") -> None:
        super().__init__(base_url, limiter, venue=venue, api_key=api_key, api_secret=api_secret,
                         recv_window_ms=recv_window_ms, timeout_s=timeout_s)
        self.time_path = time_path
        self.prefix = prefix
        self.rate_limited_until = 0.0
        self.used_weight = 0.0

    def _server_time_ms(self, body: Any) -> int:
        return int(body["serverTime"])

    async def request(self, method: str, path: str, params: dict[str, Any] | None = None, *,
                      signed: bool = False, key_only: bool = False,
                      timeout_s: float | None = None,
                      on_send: Callable[[], bool] | None = None) -> Reply:
        """Send one request (after the limiter admits it) and classify the answer."""
        assert self._http is not None, "BinanceRest.open() first"
        endpoint = f"{method} {path}"
        await self.limiter.acquire(endpoint)
        headers = {"X-MBX-APIKEY": self._key} if (signed or key_only) and self._key else {}
        if signed:
            query = signed_query(params or {}, self._secret, self.now_ms(), self.recv_window_ms)
        else:
            query = "&".join(f"{k}={v}" for k, v in (params or {}).items())
        url = f"{self.base_url}{path}" + (f"?{query}" if query else "")
        if on_send is not None and not on_send():  # past the limiter: last chance to drop it
            raise NotSent(f"{endpoint}: declined before sending")
        mark = SendMark()
        try:
            async with self._http.request(
                    method, url, headers=headers,
                    timeout=aiohttp.ClientTimeout(total=timeout_s or self.timeout_s),
                    trace_request_ctx=mark) as resp:
                raw = await resp.read()
                status = resp.status
                update = parse_rate_limit_headers("binance_usdm", resp.headers, endpoint)
        except (asyncio.TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise transport_failure(exc, endpoint, self.venue, timeout_s or self.timeout_s,
                                    mark) from exc
        self.limiter.apply(update, endpoint)
        self.used_weight = update.used.get("weight_1m", self.used_weight)
        if status in (429, 418):
            retry = update.retry_after_s if update.retry_after_s is not None else 60.0
            self.limiter.apply(type(update)(retry_after_s=retry))  # block every limit
            self.rate_limited_until = time.monotonic() + retry
        if status >= 500:
            raise Unknown(f"{endpoint}: HTTP {status}")
        body = decode_body(raw, status, loads, self.venue)
        err = error_of(body)
        if err is None and not 200 <= status < 300:
            err = (status, f"HTTP {status}")
        if err is not None and (status == 408 or err[0] in EXECUTION_UNKNOWN):
            raise Unknown(f"{endpoint}: HTTP {status} {err[0]}: {err[1]}")  # may have executed
        if err is not None:
            if err[0] == TIMESTAMP_OUTSIDE_RECV_WINDOW:
                with contextlib.suppress(Exception):  # the next request retries the sync
                    await self.sync_time()
            return Reply(status, body, raw, err[0], err[1])
        return Reply(status, body, raw)

