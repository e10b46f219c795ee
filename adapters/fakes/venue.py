"""What every local fake venue shares: servers, lifecycle, the market clock and order faults.

Theory of operation. A venue fake (``adapters.<venue>.fake``) is a ``FakeHandler`` that speaks
its venue's protocol; everything around the protocol is the same for all of them and lives here:

* ``FakeVenue``: one ``FakeWsServer`` (``self.ws``, transport faults), optionally an
  ``aiohttp.web`` app on another loopback port for the venue's REST API (``serves_rest``),
  background loops (the market clock calls ``step()`` every ``step_s`` unless ``paused``), the
  start/stop lifecycle (``async with``), and the order faults every venue fake offers:
  ``lose_acks(n)`` (executed, never answered), ``drop_orders(n)`` (new orders neither executed
  nor answered: the request was lost on its way) and ``rate_limit(n)`` (the venue's "too many
  requests" answer to the next ``n`` order requests).
* ``GridMarketFake``: a ``FakeVenue`` over ``adapters.fakes.market`` (a tick-grid book and a
  matcher per symbol), for the REST-order venues (Binance, Bybit): ``fail_acks(n)`` (executed,
  then HTTP 503), ``gap(n)`` and
  ``malformed(replace=...)`` counters the venue's depth publisher consumes, ``fill_order``.
* ``standalone_parser``/``serve_standalone``: the ``python -m adapters.<venue>.fake`` entry
  point that ``volta run config/fake-<venue>.toml`` talks to.

Only loopback addresses are ever bound: a fake is never reachable from outside the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any, ClassVar, TypeVar

from aiohttp import web

from adapters.fakes.market import FakeBook, FakeMatcher, FakeOrder
from adapters.fakes.server import FakeHandler, FakeWsServer

__all__ = ["STANDALONE_LIFETIME_S", "FakeVenue", "GridMarketFake", "now_ms", "serve_standalone",
           "standalone_parser"]

STANDALONE_LIFETIME_S = 10 * 365 * 86400
"""A standalone fake serves until Ctrl-C; the server's self-shutdown is for forgotten test fakes."""

_F = TypeVar("_F", bound="FakeVenue")


def now_ms() -> int:
    """Wall-clock milliseconds, the timestamp unit of every venue the fakes imitate."""
    return time.time_ns() // 1_000_000


class FakeVenue(FakeHandler):
    """Base of the venue fakes; see the module docstring. Subclasses implement ``step``
    (one market change) and, when ``serves_rest``, ``_rest`` (every REST request)."""

    serves_rest: ClassVar[bool] = True

    def __init__(self, *, step_s: float, ws_port: int = 0, rest_port: int = 0,
                 max_lifetime_s: float = 120.0) -> None:
        self.step_s = step_s
        self.ws = FakeWsServer(self, port=ws_port, max_lifetime_s=max_lifetime_s)
        self.rest_port = rest_port
        self.paused = False
        """True stops the market clock, so a test can compare the client's book with ours."""
        self.ack_delay_s = 0.0
        self._lose = 0
        self._drop = 0
        self._rate_limit = 0
        self._retry_after_s = 1.0
        self._firewall: list[int] = []
        self._garble = 0
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = asyncio.Event()

    # ------------------------------------------------------------------ lifecycle
    @property
    def ws_url(self) -> str:
        """The websocket server's base URL (the venue's paths go after it)."""
        return f"ws://127.0.0.1:{self.ws.port}"

    @property
    def rest_url(self) -> str:
        """The REST app's base URL (valid once started)."""
        return f"http://127.0.0.1:{self.rest_port}"

    async def start(self) -> None:
        """Start the websocket server, the REST app (if any) and the background loops."""
        await self.ws.start()
        if self.serves_rest:
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", self._serve_rest)
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", self.rest_port)
            await site.start()
            self.rest_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(coro) for coro in self._loops()]

    async def stop(self) -> None:
        """Release hung requests, cancel the loops, stop both servers."""
        self._closing.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.ws.stop()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self: _F) -> _F:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _loops(self) -> list[Coroutine[Any, Any, None]]:
        """The background loops to run while started; a venue adds its own (a dead-man timer)."""
        return [self._tick_loop()]

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self.step_s)
            if not self.paused:
                self.step()

    def step(self) -> None:
        """One market step (the venue publishes what changed)."""
        raise NotImplementedError

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        """Serve one REST request (venues with ``serves_rest``)."""
        raise NotImplementedError

    @property
    def order_create(self) -> tuple[str, str]:
        """The (method, path) of a new order (``garble_acks`` garbles its answers)."""
        raise NotImplementedError

    async def _serve_rest(self, request: web.Request) -> web.StreamResponse:
        """The REST faults that sit outside the venue's own rules, around ``_rest``."""
        if self._firewall:
            status = self._firewall.pop(0)  # stopped in front of the venue: nothing executed
            return web.Response(status=status, content_type="text/html",
                                text=f"<html><body><h1>{status} Forbidden</h1></body></html>")
        resp = await self._rest(request)
        if self._garble and resp.status == 200 and \
                (request.method, request.path) == self.order_create:
            self._garble -= 1  # executed, but the answer cannot be read
            return web.json_response({"unexpected": "answer"})
        return resp

    async def _hang(self) -> None:
        """Never answer this request (until the fake stops): the client must time out."""
        await self._closing.wait()
        raise web.HTTPServiceUnavailable()

    # ------------------------------------------------------------------ order faults
    def lose_acks(self, n: int = 1) -> None:
        """The next ``n`` order requests are executed, but their answer never comes."""
        self._lose += n

    def drop_orders(self, n: int = 1) -> None:
        """The next ``n`` new orders are neither executed nor answered (lost on the way)."""
        self._drop += n

    def firewall(self, n: int = 1, status: int = 403) -> None:
        """The next ``n`` REST requests are stopped by the firewall in front of the venue
        (Binance's WAF, Bybit's IP limit): ``status`` with an HTML page, nothing executed."""
        self._firewall += [status] * n

    def garble_acks(self, n: int = 1) -> None:
        """The next ``n`` new orders are executed, but answered 200 with a JSON body that
        says nothing about the order."""
        self._garble += n

    def rate_limit(self, n: int = 1, retry_after_s: float = 1.0) -> None:
        """Answer the next ``n`` rate-limited requests (which ones is the venue's rule) with the
        venue's rate-limit error (``retry_after_s`` where the venue sends a Retry-After)."""
        self._rate_limit += n
        self._retry_after_s = retry_after_s


class GridMarketFake(FakeVenue):
    """A ``FakeVenue`` over the tick-grid market of ``adapters.fakes.market`` (Binance, Bybit).

    The venue sets ``MALFORMED_FRAME`` (a truncated frame of its market stream) and implements
    ``_publish_fill(order)`` (the user-stream events of a fill)."""

    MALFORMED_FRAME: ClassVar[str] = ""

    def __init__(self, symbols: tuple[str, ...], *, seed: int, step_s: float, ws_port: int,
                 rest_port: int, max_lifetime_s: float) -> None:
        super().__init__(step_s=step_s, ws_port=ws_port, rest_port=rest_port,
                         max_lifetime_s=max_lifetime_s)
        self.rng = random.Random(seed)
        self.books = {s: FakeBook(s, self.rng, mid=60_000.0 + 1000 * i)
                      for i, s in enumerate(symbols)}
        self.matcher = FakeMatcher(self.books)
        self.requests: list[tuple[str, str]] = []  # (method, path) of every REST call
        self.quiet_private = False
        """True: the user stream loses its events (only a REST query can tell)."""
        self._gap = 0
        self._malformed_replace = 0
        self._fail = 0

    def gap(self, n: int = 1) -> None:
        """Never send the next ``n`` depth events (the book still changes)."""
        self._gap += n

    def malformed(self, replace: bool = False) -> None:
        """Send a truncated frame now, or instead of the next depth event (``replace``)."""
        if replace:
            self._malformed_replace += 1
        else:
            self.ws.inject(self.MALFORMED_FRAME)

    def fail_acks(self, n: int = 1) -> None:
        """The next ``n`` new orders are executed, then answered with HTTP 503."""
        self._fail += n

    def fill_order(self, client_id: str) -> None:
        """Fill what is left of a resting order now (an aggressor hit it), as a maker."""
        o = self.matcher.orders[client_id]
        if o.is_open and o.price_ticks is not None:
            self.matcher._fill(o, float(self.books[o.symbol].px(o.price_ticks)), o.remaining, True,
                               now_ms())
            self._publish_fill(o)

    def _publish_fill(self, o: FakeOrder) -> None:
        """Push the user-stream events of the last fill of ``o``."""
        raise NotImplementedError

    def book_levels(self, symbol: str) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        """The authoritative book (bids, asks best first) that tests compare client books with."""
        return self.books[symbol].as_floats()


def standalone_parser(venue: str, description: str, *, port: int, rest_port: int | None,
                      names: str, default_names: str, names_help: str = "comma-separated"
                      ) -> argparse.ArgumentParser:
    """The command line of ``python -m adapters.<venue>.fake`` (``--<names>`` lists the markets)."""
    ap = argparse.ArgumentParser(prog=f"python -m adapters.{venue}.fake", description=description)
    ap.add_argument("--port", type=int, default=port, help="websocket port")
    if rest_port is not None:
        ap.add_argument("--rest-port", type=int, default=rest_port)
    ap.add_argument(f"--{names}", default=default_names, help=names_help)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--step-ms", type=float, default=100.0)
    return ap


def serve_standalone(make: Callable[[], _F], banner: Callable[[_F], str]) -> int:
    """Run ``make()`` until Ctrl-C, printing ``banner(fake)`` once it listens; exit code 0.
    A port it cannot listen on (another process holds it) is one line and exit code 2."""
    async def serve_forever() -> None:
        async with make() as fake:
            print(banner(fake), flush=True)
            await asyncio.Event().wait()

    try:
        asyncio.run(serve_forever())
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(f"fake venue: cannot listen: {exc.strerror or exc} (another process holds the "
              "port? choose a free one with --port / --rest-port)", file=sys.stderr)
        return 2
    return 0
