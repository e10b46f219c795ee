"""The operator HTTP surface: dashboard, JSON API, SSE stream, /metrics and control.

Theory of operation: ``Operator`` runs an aiohttp server in the node's own event loop, so
every handler reads the kernel between two bus handlers - consistent state, no locks. Reads
are cheap snapshots on request; the trading path only feeds the tape's deques (see tape.py).
One background task samples every 250 ms: drains the tape to the stream clients, and each
second checks alerts and pushes a ``tick`` (state, PnL, positions, Greeks, venues,
strategies), each step on its own so a view that raises cannot stop the alert checks, and
measures event-loop lag; the vol surface is pushed when a chain was refitted.

Security: reads need no token on a loopback bind (anything else needs it for every request);
control (``POST /api/control/<action>``) always needs ``Authorization: Bearer <token>``:
401 without, 403 wrong. Requests whose ``Host`` is not the bound loopback address are refused
(DNS rebinding), and no response or log line contains the token.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import secrets
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import structlog
from aiohttp import web

from engine.config import ConfigError, ConfigProblem
from engine.config.secrets import register_secret
from engine.operator import views
from engine.operator.actions import ActionError, OperatorActions
from engine.operator.alerts import AlertWatcher, Notifier, Sink
from engine.operator.auth import (
    OperatorSettings,
    discovery_path,
    reveal,
    token_path,
    write_token_file,
)
from engine.operator.metrics import CONTENT_TYPE, NodeMetrics, OperatorCollector
from engine.operator.tape import Tape

if TYPE_CHECKING:
    from engine.kernel import Kernel

log = structlog.get_logger("volta.operator")
_ENC = msgspec.json.Encoder()
SAMPLE_S = 0.25
SESSION_COOKIE = "volta_session"


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=_ENC.encode(data), status=status, content_type="application/json")


def _error(status: int, message: str) -> web.Response:
    resp = _json({"ok": False, "error": message}, status)
    if status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="volta"'
    return resp


def _static_dir() -> Path:
    return Path(str(resources.files("engine.operator") / "static"))


def _sinks(alerts: Any) -> list[Sink]:
    """The configured alert destinations; their URLs (with any bot token) become log-redacted."""
    out: list[Sink] = []
    if alerts is None:
        return out
    if reveal(alerts.webhook_url):
        out.append(Sink("webhook", reveal(alerts.webhook_url)))
    if reveal(alerts.slack_webhook_url):
        out.append(Sink("slack", reveal(alerts.slack_webhook_url)))
    if reveal(alerts.telegram_bot_token) and alerts.telegram_chat_id:
        url = f"{alerts.telegram_api.rstrip('/')}/bot{reveal(alerts.telegram_bot_token)}/sendMessage"
        out.append(Sink("telegram", url, alerts.telegram_chat_id))
        register_secret(reveal(alerts.telegram_bot_token))
    for sink in out:
        register_secret(sink.url)
    return out


class Operator:
    """The operator surface of one node (started and stopped by the runtime)."""

    def __init__(self, kernel: Kernel, settings: OperatorSettings, journal_path: str = "") -> None:
        self.k = kernel
        self.s = settings
        self.journal_path = journal_path
        self.tape = Tape(kernel, settings.history)
        self.metrics = NodeMetrics(kernel, self.tape)
        self.refused: dict[int, int] = {}  # requests refused for their token, by HTTP status
        self.actions = OperatorActions(kernel)
        a = settings.alerts
        self.notifier = Notifier(_sinks(a), settings.deployment,
                                 dedup_s=a.dedup_s if a else 300.0,
                                 max_per_minute=a.max_per_minute if a else 10)
        self.sample_errors = 0
        self.metrics.registry.register(OperatorCollector(self.notifier, self.refused,
                                                         lambda: self.sample_errors))
        self.watcher = AlertWatcher(kernel, self.tape, self.notifier,
                                    stale_book_s=a.stale_book_s if a else 30.0,
                                    loss_use_pct=a.loss_use_pct if a else 80.0)
        self.url = ""
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._task: asyncio.Task[None] | None = None
        self._surface_seen: dict[str, int] = {}
        self._pnl_point: tuple[int, float | None, float | None, float | None, float | None] | None = None
        self._last_state: tuple[Any, ...] = ()
        self._sessions: dict[str, None] = {}  # browser sessions (cookie values), insertion order
        self._written: list[Path] = []

    # -- lifecycle -------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard])
        r = app.router
        r.add_get("/", self._index)
        r.add_static("/static/", _static_dir(), show_index=False)
        r.add_get("/metrics", self._metrics)
        r.add_get("/api/stream", self._stream)
        r.add_get("/api/snapshot", self._snapshot)
        for name in ("state", "positions", "orders", "fills", "greeks", "surface", "books",
                     "venues", "risk", "strategies", "alerts", "alert_delivery", "pnl", "actions",
                     "denials", "venue_events", "latency"):
            r.add_get(f"/api/{name}", self._view)
        r.add_post("/api/control/{action}", self._control)
        r.add_post("/api/session", self._session)
        return app

    async def start(self) -> str:
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        try:
            site = web.TCPSite(self._runner, self.s.host, self.s.port, reuse_address=True)
            await site.start()
        except OSError as exc:
            taken = exc.errno == errno.EADDRINUSE  # else the host itself (not here, a typo)
            if self.s.mode != "paper" or self.s.port == 0 or not taken:
                await self._runner.cleanup()
                raise ConfigError([ConfigProblem("operator.port" if taken else "operator.host", (
                    f"cannot listen on {self.s.host}:{self.s.port}: {exc.strerror or exc}"))]) from None
            log.warning("operator_port_taken", port=self.s.port, fallback="a free port")
            site = web.TCPSite(self._runner, self.s.host, 0)
            await site.start()
        addresses = self._runner.addresses
        self.port = int(addresses[0][1]) if addresses else self.s.port
        host = f"[{self.s.host}]" if ":" in self.s.host else self.s.host
        self.url = f"http://{host}:{self.port}/"
        self._task = asyncio.get_running_loop().create_task(self._sampler(), name="operator-sampler")
        self._write_discovery()
        log.info("operator_started", url=self.url, control="token" if self.s.token else "disabled")
        return self.url

    def _write_discovery(self) -> None:
        if not self.journal_path or self.journal_path == ":memory:":
            return
        path = discovery_path(self.journal_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"url": self.url, "pid": os.getpid(),
                                    "deployment": self.s.deployment}) + "\n")
        self._written.append(path)
        if self.s.token_generated:
            tp = token_path(self.journal_path)
            write_token_file(tp, self.s.token)
            self._written.append(tp)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - stopping
                pass
            self._task = None
        self.tape.drain()
        for c in list(self.tape.clients):
            c.close()
        await self.notifier.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for path in self._written:
            path.unlink(missing_ok=True)
        self._written.clear()

    # -- periodic work ---------------------------------------------------------------------
    async def _sampler(self) -> None:
        loop = asyncio.get_running_loop()
        n = 0
        expected = loop.time() + SAMPLE_S
        while True:
            await asyncio.sleep(max(0.0, expected - loop.time()))
            lag = loop.time() - expected
            self.metrics.loop_lag.observe(max(0.0, lag))
            expected = loop.time() + SAMPLE_S
            n += 1
            # each step on its own: a view that raises must not stop the alert checks
            self._guarded(self._drain)
            if n % 4 == 0:
                self._guarded(self._check_alerts)
                self._guarded(self._sample)
                self._guarded(self._each_second)

    def _guarded(self, step: Callable[[], None]) -> None:
        try:
            step()
        except Exception:  # noqa: BLE001 - the sampler must keep running
            self.sample_errors += 1
            if self.sample_errors == 1 or self.sample_errors % 1000 == 0:  # no log flood
                log.exception("operator_sample_failed", step=step.__name__, errors=self.sample_errors)

    def _drain(self) -> None:
        self.tape.drain()
        self.metrics.drain_latency()
        self._state_changes()

    def _check_alerts(self) -> None:
        self.watcher.check(self.k.clock.now_ns())

    def _sample(self) -> None:
        """Once a second: message rates and the PnL point (the next tick carries it)."""
        now = self.k.clock.now_ns()
        self.tape.sample_rates(now)
        self._pnl_point = self.tape.sample_pnl(now)

    def _state_changes(self) -> None:
        """Publish a ``state`` message whenever trading state, kill level or holds change,
        whoever changed them (API, ``volta kill``, a signal, loss limits, a venue)."""
        k = self.k
        key = (k.gate.state, k.killswitch.level, tuple(sorted(k.gate.holds)),
               tuple(sorted(k.gate.disabled_strategies)),
               tuple(sorted(k.trading.halted_venues().items())))
        if key != self._last_state:
            self._last_state = key
            self.tape.publish({"type": "state", **views.state_view(k)})

    def _each_second(self) -> None:
        """Once a second, to the pages connected: a tick with every view they show."""
        if not self.tape.clients:
            return
        k = self.k
        point, self._pnl_point = self._pnl_point, None  # (none: no new point this second)
        self.tape.publish({"type": "tick", "pnl": list(point) if point else None,
                           "state": views.state_view(k),
                           "positions": views.positions_view(k), "greeks": views.greeks_view(k),
                           "venues": self._venues(), "strategies": views.strategies_view(k),
                           "orders": views.open_orders_view(k), "risk": views.risk_view(k),
                           "latency": self.view("latency"),
                           "alert_delivery": self.notifier.delivery()})
        changed = {key: ch.refreshes for key, ch in k.chains.items()
                   if ch.refreshes != self._surface_seen.get(key)}
        if changed:
            self._surface_seen.update(changed)
            self.tape.publish({"type": "surface", "surface": views.surface_view(k)})

    def _venues(self) -> dict[str, Any]:
        return views.venues_view(self.k, self.tape)

    # -- middleware: Host check and read auth --------------------------------------------------
    @web.middleware
    async def _guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if self.s.loopback:
            host = (request.host or "").rsplit(":", 1)[0].strip("[]")
            if host not in ("127.0.0.1", "localhost", "::1", self.s.host):
                return _error(421, "this daemon only answers on its loopback address")
        elif request.path not in ("/", "/api/session") and not request.path.startswith("/static/"):
            # Reads off loopback: the token, or the session cookie a browser got for it
            # (EventSource cannot send headers). Control always needs the token itself.
            cookie = request.cookies.get(SESSION_COOKIE, "")
            if not (cookie and cookie in self._sessions and not request.path.startswith("/api/control/")):
                status = self.s.check(self._presented(request))
                if status != 200:
                    return self._refused(request, status)
        return await handler(request)

    async def _session(self, request: web.Request) -> web.Response:
        """Exchange the token for an HttpOnly, SameSite=Strict session cookie (reads only)."""
        status = self.s.check(self._presented(request))
        if status != 200:
            return self._refused(request, status)
        sid = secrets.token_urlsafe(32)
        if len(self._sessions) >= 1000:
            self._sessions.pop(next(iter(self._sessions)))
        self._sessions[sid] = None
        resp = _json({"ok": True})
        resp.set_cookie(SESSION_COOKIE, sid, httponly=True, samesite="Strict", path="/")
        return resp

    def _refused(self, request: web.Request, status: int) -> web.Response:
        """Refuse a request for its token, counted by status (``volta_operator_refused_total``);
        a wrong token is logged with where it came from (never what was presented): the first,
        then every 100th, so someone guessing leaves a trace but cannot flood the log."""
        n = self.refused[status] = self.refused.get(status, 0) + 1
        if status == 403 and (n == 1 or n % 100 == 0):
            log.warning("operator_wrong_token", path=request.path, origin=_origin(request),
                        wrong_tokens=n)
        return _error(status, _AUTH_MESSAGES[status])

    @staticmethod
    def _presented(request: web.Request) -> str | None:
        auth = request.headers.get("Authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip() or None
        return None

    # -- handlers --------------------------------------------------------------------------
    async def _index(self, _request: web.Request) -> web.StreamResponse:
        return web.FileResponse(_static_dir() / "index.html",
                                headers={"Cache-Control": "no-store",
                                         "Content-Security-Policy": _CSP})

    async def _metrics(self, _request: web.Request) -> web.Response:
        return web.Response(body=self.metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    def view(self, name: str, query: dict[str, str] | None = None) -> Any:
        """One named view (also for in-process callers and tests)."""
        k, q = self.k, query or {}
        if name == "state":
            return {**views.state_view(k), "deployment": self.s.deployment, "mode": self.s.mode,
                    "url": self.url}
        if name == "positions":
            return views.positions_view(k)
        if name == "orders":
            recent = [views.order_view(o) for coid in reversed(self.tape.recent_orders)
                      if (o := k.orders.get(coid)) is not None]
            return {"open": views.open_orders_view(k), "recent": recent}
        if name == "fills":
            return list(reversed(self.tape.fills))
        if name == "greeks":
            return views.greeks_view(k)
        if name == "surface":
            return views.surface_view(k)
        if name == "books":
            try:
                top = max(1, min(int(q.get("top", self.s.book_levels)), 100))
            except ValueError:
                raise ActionError("top must be an integer") from None
            instrument = q.get("instrument")
            if instrument is not None and instrument not in k.books:
                example = next(iter(k.books), "venue:SYMBOL")
                raise ActionError(f"no book {instrument!r} (ids are venue:symbol, e.g. {example})", 404)
            return views.books_view(k, top, instrument)
        if name == "venues":
            return self._venues()
        if name == "risk":
            return views.risk_view(k)
        if name == "strategies":
            return views.strategies_view(k)
        if name == "alerts":
            return list(reversed(self.tape.alerts))
        if name == "alert_delivery":
            return self.notifier.delivery()
        if name == "pnl":
            return {"columns": ["ts_ns", "total_usd", "realized_usd", "unrealized_usd", "fees_usd"],
                    "points": [list(p) for p in self.tape.pnl]}
        if name == "actions":
            return list(reversed(self.tape.actions))
        if name == "denials":  # the gate's, as the stream's OrderDenied carries them
            return list(reversed(self.tape.denials))
        if name == "venue_events":
            return list(reversed(self.tape.venue_events))
        if name == "latency":
            self.metrics.drain_latency()
            return {"loop_lag": self.metrics.loop_lag_histogram(),
                    "order_ack": self.metrics.histogram(self.metrics.ack_latency),
                    "tick_to_order": self.metrics.histogram(self.metrics.tick_to_order),
                    "gate_check": self.metrics.histogram(self.metrics.gate_check),
                    "journal_write": self.metrics.histogram(self.metrics.journal_write),
                    "strategies": k.strategy_timing()}
        raise ActionError(f"no view {name!r}", 404)

    async def _view(self, request: web.Request) -> web.Response:
        name = request.path.rsplit("/", 1)[1]
        self.tape.drain()  # what the bus delivered up to now, so views agree with each other
        try:
            return _json(self.view(name, dict(request.query)))
        except ActionError as exc:
            return _error(exc.status, str(exc))

    async def _snapshot(self, _request: web.Request) -> web.Response:
        self.tape.drain()
        # everything the dashboard shows, so a page that reloads it after a drop shows what a
        # page that stayed connected shows (the log's actions, denials and venue changes too)
        names = ("state", "positions", "orders", "fills", "greeks", "surface", "venues", "risk",
                 "strategies", "alerts", "alert_delivery", "actions", "denials", "venue_events",
                 "pnl", "latency")
        return _json({n: self.view(n) for n in names})

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-store", "X-Accel-Buffering": "no"})
        await resp.prepare(request)
        client = self.tape.add_client()
        try:
            await resp.write(b"retry: 2000\n\n")
            while not client.dropped:
                try:
                    msg = await asyncio.wait_for(client.queue.get(), timeout=15.0)
                except TimeoutError:
                    await resp.write(b": keep-alive\n\n")
                    continue
                if msg is None:
                    break
                await resp.write(b"event: " + msg["type"].encode() + b"\ndata: " + _ENC.encode(msg) + b"\n\n")
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.tape.remove_client(client)
        return resp

    async def _control(self, request: web.Request) -> web.Response:
        status = self.s.check(self._presented(request))
        if status != 200:
            return self._refused(request, status)
        action = request.match_info["action"]
        try:
            body = await request.json() if request.can_read_body else {}
        except ValueError:
            return _error(400, "the body must be a JSON object")
        if not isinstance(body, dict):
            return _error(400, "the body must be a JSON object")
        origin = _origin(request)
        try:
            result = self.actions.apply(action, body, origin)
        except ActionError as exc:
            return _error(exc.status, str(exc))
        record = {"type": "action", "action": action, "origin": origin, "ts": time.time_ns(),
                  "args": result.get("args", {}),
                  "result": {k: v for k, v in result.items() if k not in ("ok", "args")}}
        self.tape.actions.append(record)
        self.tape.publish(record)
        self._guarded(self._state_changes)  # (done: a failing view must not make it look undone)
        return _json(result)


def _origin(request: web.Request) -> str:
    """Who sent a request, as the journal and the logs name it: address and user agent."""
    agent = request.headers.get("User-Agent", "")[:60]
    return f"{request.remote or '?'} {agent}".strip()


_AUTH_MESSAGES = {
    401: "this request needs the operator token (Authorization: Bearer <token>)",
    403: "wrong operator token",
    503: "control is disabled: the daemon has no operator token ($VOLTA_OPERATOR_TOKEN unset)",
}
# Everything the page loads comes from the daemon itself: no CDN, no third party.
_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'")
