"""A small signed REST client for OKX v5 (aiohttp), paced by the venue's rate limits.

Theory of operation: ``request`` returns the parsed ``{"code", "msg", "data"}`` body, raises
``Unknown`` when no answer came (timeout, connection error, 5xx: the venue may have acted),
``Unreachable`` when the request could not leave this machine (both ``adapters.live.rest``'s,
classified there for every REST client) and never raises for a venue error code (the caller reads ``code``). Signed requests carry
``OK-ACCESS-*`` headers over timestamp + method + path(+query) + body with the server-time
offset learnt from ``/api/v5/public/time``. Every request is paced by the ``RateLimiter``
(endpoint ``"METHOD /path"``, keyed by ``instId`` where OKX counts per instrument); a 429 or
code ``50011`` blocks that endpoint for a second. ``on_body`` sees every body (``volta record``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import aiohttp
import orjson

from adapters.live.rest import SendMark, Unknown, Unreachable, http_session, transport_failure
from adapters.okx import private as pv
from adapters.ratelimit import RateLimiter

__all__ = ["OkxRest", "Unknown", "Unreachable"]


class OkxRest:
    def __init__(self, base: str, limiter: RateLimiter, *, api_key: str = "", secret: str = "",
                 passphrase: str = "", simulated: bool = False, timeout_s: float = 10.0,
                 venue: str = "okx") -> None:
        self.base = base
        self.venue = venue
        self.limiter = limiter
        self._key, self._secret, self._passphrase = api_key, secret, passphrase
        self.simulated = simulated
        self.timeout_s = timeout_s
        self.offset_ms = 0
        self.on_body: Callable[[str, str], None] | None = None
        self.rate_limited = 0
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        if self._session is None:
            self._session = http_session()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000 + self.offset_ms

    async def sync_time(self) -> None:
        sent = time.time_ns() // 1_000_000
        body = await self.request("GET", "/api/v5/public/time")
        if body.get("code") == "0":
            now = time.time_ns() // 1_000_000
            self.offset_ms = int(body["data"][0]["ts"]) - (sent + now) // 2

    async def request(self, method: str, path: str, params: dict[str, Any] | None = None,
                      body: Any = None, *, signed: bool = False, key: str | None = None,
                      timeout_s: float | None = None) -> dict[str, Any]:
        assert self._session is not None, "open() first"
        await self.limiter.acquire(f"{method} {path}", key)
        full = path + ("?" + urlencode(params) if params else "")
        text = orjson.dumps(body).decode() if body is not None else ""
        headers = {"Content-Type": "application/json"}
        if signed:
            headers = pv.rest_headers(self._key, self._secret, self._passphrase, self.now_ms(),
                                      method, full, text, self.simulated)
        elif self.simulated:
            headers["x-simulated-trading"] = "1"
        mark = SendMark()
        try:
            async with self._session.request(
                    method, self.base + full, data=text or None, headers=headers,
                    timeout=aiohttp.ClientTimeout(total=timeout_s or self.timeout_s),
                    trace_request_ctx=mark) as resp:
                raw = await resp.text()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise transport_failure(exc, f"{method} {path}", self.venue,
                                    timeout_s or self.timeout_s, mark) from exc
        if self.on_body is not None:
            self.on_body(self.base + full, raw)
        if status >= 500:
            raise Unknown(f"{method} {path}: HTTP {status}")
        try:
            parsed = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise Unknown(f"{method} {path}: HTTP {status}, body is not JSON") from exc
        if status == 429 or parsed.get("code") == pv.RATE_LIMITED:
            self.rate_limited += 1
            for name in self.limiter.costs(f"{method} {path}"):
                self.limiter.limiter(name, key).block_for(1.0)
        return parsed
