"""Bybit v5 REST over aiohttp: self-throttled, signed, server-time-synced, errors classified.

Theory of operation: the outcomes and the clock sync are ``adapters.live.rest``; this is Bybit's rules.
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
from adapters.live.rest import NotSent, Reply, SendMark, SyncedRestClient, Unknown
from adapters.live.rest import decode_body, transport_failure
from adapters.ratelimit import RateLimitUpdate, parse_rate_limit_headers

__all__ = ["BybitReply", "BybitRest", "NotSent", "Reply", "Unknown"]

SERVER_ERROR = 10016


@dataclass(slots=True)
class BybitReply(Reply):
    """A ``Reply`` read by Bybit's rules: ``retCode`` decides, and rate limits have codes too."""

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.code == 0

    @property
    def rate_limited(self) -> bool:
        return self.code in RATE_LIMITED or self.status in (403, 429)

    @property
    def result(self) -> Any:
        """The ``result`` object of the body (None when the body has none)."""
        return self.body.get("result") if isinstance(self.body, dict) else None


class BybitRest(SyncedRestClient):
    """One REST client per session. ``api_key``/``api_secret`` may be empty (market data only)."""

    time_path = "/v5/market/time"

    def _server_time_ms(self, body: Any) -> int:
        return int(body["time"])

    async def request(self, method: str, path: str, params: dict[str, Any] | None = None, *,
                      signed: bool = False, timeout_s: float | None = None,
                      on_send: Callable[[], bool] | None = None) -> BybitReply:
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
        mark = SendMark()
        try:
            async with self._http.request(
                    method, url, data=data, headers=headers,
                    timeout=aiohttp.ClientTimeout(total=timeout_s or self.timeout_s),
                    trace_request_ctx=mark) as resp:
                raw = await resp.read()
                status = resp.status
                update = parse_rate_limit_headers("bybit", resp.headers, endpoint)
                reset = resp.headers.get("X-Bapi-Limit-Reset-Timestamp")
        except (asyncio.TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise transport_failure(exc, endpoint, self.venue, timeout_s or self.timeout_s,
                                    mark) from exc
        self.limiter.apply(update, endpoint)
        if status >= 500:
            raise Unknown(f"{endpoint}: HTTP {status}")
        body = decode_body(raw, status, loads, self.venue)
        code = body.get("retCode", 0) if isinstance(body, dict) else 0
        message = str(body.get("retMsg", "")) if isinstance(body, dict) else ""
        if code == SERVER_ERROR:
            raise Unknown(f"{endpoint}: server error {message}")
        if status != 200 and not code:
            code, message = status, f"HTTP {status}"
        reply = BybitReply(status, body, raw, int(code), message)
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
