"""Bybit v5 REST over aiohttp: self-throttled, signed, server-time-synced, errors classified.

Theory of operation: as ``adapters.binance.rest`` (venues never share code), for Bybit's rules.
Each request waits on the ``bybit`` rate-limiter table (per endpoint per UID, plus the IP
window), goes out signed with ``X-BAPI-*`` headers (timestamp = local time + the offset
measured against ``/v5/market/time``), and the answer is classified:

* ``Reply.ok``: HTTP 200 and ``retCode`` 0.
* ``Reply`` not ok: Bybit answered and refused (``retCode`` != 0; ``10006`` "Too many visits"
  and HTTP 403 are rate limits, ``X-Bapi-Limit-Reset-Timestamp`` says until when).
* ``Unknown``: timeout, connection loss, HTTP 5xx, ``retCode`` 10016 (server error): the
  request may have been executed; never resend an order on it.

``X-Bapi-Limit``/``X-Bapi-Limit-Status`` correct the limiter. Nothing here logs a signature.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import aiohttp
import orjson

from adapters.bybit.private import RATE_LIMITED, TIMESTAMP_ERROR, loads, rest_headers
from adapters.ratelimit import RateLimiter, RateLimitUpdate, parse_rate_limit_headers

SERVER_ERROR = 10016


class NotSent(Exception):
    """The request never left this process (``on_send`` declined it): a definitive outcome."""


class Unknown(Exception):
    """The request's fate is unknown (timeout, connection loss, 5xx, server error)."""


@dataclass(slots=True)
class Reply:
    status: int
    body: Any
    raw: bytes = b""
    code: int = 0
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.code == 0

    @property
    def rate_limited(self) -> bool:
        return self.code in RATE_LIMITED or self.status in (403, 429)

    @property
    def result(self) -> Any:
        return self.body.get("result") if isinstance(self.body, dict) else None


class BybitRest:
    def __init__(self, base_url: str, limiter: RateLimiter, *, venue: str, api_key: str = "",
                 api_secret: str = "", recv_window_ms: int = 5000, timeout_s: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.limiter = limiter
        self.venue = venue
        self._key = api_key
        self._secret = api_secret
        self.recv_window_ms = recv_window_ms
        self.timeout_s = timeout_s
        self.offset_ms = 0
        self._http: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        if self._http is None:
            self._http = aiohttp.ClientSession()

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000 + self.offset_ms

    async def sync_time(self) -> int:
        t0 = time.time_ns()
        reply = await self.request("GET", "/v5/market/time")
        t1 = time.time_ns()
        if not reply.ok:
            raise Unknown(f"server time: {reply.code} {reply.message}")
        self.offset_ms = int(reply.body["time"]) - (t0 + t1) // 2_000_000
        return self.offset_ms

    async def request(self, method: str, path: str, params: dict[str, Any] | None = None, *,
                      signed: bool = False, timeout_s: float | None = None,
                      on_send: Callable[[], bool] | None = None) -> Reply:
        assert self._http is not None, "BybitRest.open() first"
        endpoint = f"{method} {path}"
        await self.limiter.acquire(endpoint)
        url = f"{self.base_url}{path}"
        data: bytes | None = None
        if method == "GET":
            payload = urlencode(params or {})
            if payload:
                url = f"{url}?{payload}"
        else:
            data = orjson.dumps(params or {})
            payload = data.decode()
        headers = {"Content-Type": "application/json"}
        if signed:
            headers.update(rest_headers(self._key, self._secret, self.now_ms(),
                                        self.recv_window_ms, payload))
        if on_send is not None and not on_send():  # past the limiter: last chance to drop it
            raise NotSent(f"{endpoint}: declined before sending")
        try:
            async with self._http.request(
                    method, url, data=data, headers=headers,
                    timeout=aiohttp.ClientTimeout(total=timeout_s or self.timeout_s)) as resp:
                raw = await resp.read()
                status = resp.status
                update = parse_rate_limit_headers("bybit", resp.headers, endpoint)
                reset = resp.headers.get("X-Bapi-Limit-Reset-Timestamp")
        except (asyncio.TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise Unknown(f"{endpoint}: {type(exc).__name__}") from exc
        self.limiter.apply(update, endpoint)
        if status >= 500:
            raise Unknown(f"{endpoint}: HTTP {status}")
        body = loads(raw, self.venue) if raw else {}
        code = body.get("retCode", 0) if isinstance(body, dict) else 0
        message = str(body.get("retMsg", "")) if isinstance(body, dict) else ""
        if code == SERVER_ERROR:
            raise Unknown(f"{endpoint}: server error {message}")
        if status != 200 and not code:
            code, message = status, f"HTTP {status}"
        reply = Reply(status, body, raw, int(code), message)
        if reply.rate_limited:
            wait = 1.0
            if reset and reset.isdigit():
                wait = max(int(reset) / 1000 - time.time(), 0.05)
            if update.retry_after_s:
                wait = update.retry_after_s
            self.limiter.apply(RateLimitUpdate(retry_after_s=wait), endpoint)
        if code == TIMESTAMP_ERROR:
            with contextlib.suppress(Exception):  # the next request retries the sync
                await self.sync_time()
        return reply
