"""``OkxVenue``: a live OKX v5 session (public market data, private orders, REST).

Theory of operation. Two ``ReconnectingWebSocket`` streams and one REST client:

* public (``/ws/v5/public``): ``on_open`` subscribes the configured channels; OKX answers a
  ``books`` subscription with a snapshot (``prevSeqId = -1``) and then updates chained by
  ``prevSeqId``/``seqId`` with a CRC32 checksum, which the kernel verifies with
  ``checksum_fn = okx_checksum``. A (re)connect therefore re-snapshots every book, and
  ``request_resync`` (gap, checksum, crossed, silent) unsubscribes and resubscribes one book,
  which is OKX's documented remedy. Text ``ping`` every ``heartbeat_interval_s`` (< 30 s, OKX's
  idle cut-off); the watchdog drops a silent connection.
* private (``/ws/v5/private``): ``login`` (signed with the server-time offset), then the
  ``orders``, ``positions`` and ``account`` channels (accounts also read from
  ``/api/v5/account/balance`` at start and every ``account_poll_s``); order entry as websocket operations
  (``adapters.okx.orders``). After a re-login every order not known to be final is queried.
* REST (``adapters.okx.rest``): instruments and server time at start, order queries,
  reconciliation, batch cancels and the ``cancel-all-after`` dead-man switch.

``VenueStatusChanged`` is published when a stream drops (``disconnected``), comes back
(``connected``) or the venue rate limits us (``rate_limited``). Nothing here logs a frame, a
signature or a key.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
import structlog

from adapters.live.accounts import AccountPoller, AccountReadFailed
from adapters.live.session import LiveSession
from adapters.live.venue import LiveVenue
from adapters.live.tracker import OrderTracker
from adapters.okx import channels as ch
from adapters.okx import private as pv
from adapters.okx.checksum import okx_checksum
from adapters.okx.codec import OkxCodec
from adapters.okx.instruments import parse_instruments
from adapters.okx.orders import OkxOrders
from adapters.okx.params import OkxParams
from adapters.okx.rest import OkxRest, Unknown, Unreachable
from adapters.ratelimit import VENUE_LIMITS, RateLimiter
from adapters.ws import CloseReason, NotConnected, ReconnectingWebSocket, WsConfig
from engine.model import (
    AccountReported,
    Instrument,
    PositionReport,
    VenueProtocolError,
    split_instrument_id,
)

__all__ = ["OkxParams", "OkxVenue"]

_log = structlog.get_logger("volta.okx")


class OkxVenue(LiveVenue):
    """An OKX session: ``OkxStreams`` and ``OkxOrders`` over one ``LiveSession``."""

    Params = OkxParams
    checksum_fn = staticmethod(okx_checksum)
    order_rate_limit = (30.0, 60.0)
    """Place-order limit per instrument: 60 requests / 2 s (the gate paces to it)."""

    def __init__(self, params: OkxParams | None = None) -> None:
        p = params if params is not None else OkxParams()
        self.params = p
        limiter = RateLimiter(VENUE_LIMITS["okx"])
        public_url, private_url, rest_base = p.endpoints()
        rest = OkxRest(rest_base, limiter,
                       api_key=p.api_key.reveal() if p.api_key else "",
                       secret=p.api_secret.reveal() if p.api_secret else "",
                       passphrase=p.passphrase.reveal() if p.passphrase else "",
                       simulated=p.network == "testnet", timeout_s=p.rest_timeout_s, venue=p.venue)
        stats: dict[str, int] = dict.fromkeys(
            ("md_connects", "private_connects", "malformed", "snapshots", "resync_requests",
             "resubscribes", "logins", "login_failed", "rate_limited", "acks_unknown", "queries",
             "private_malformed", "foreign_orders", "venue_errors", "dead_man_refreshes"), 0)
        session = LiveSession(venue=p.venue, params=p, stats=stats, log=_log, log_name="okx",
                              quiet_errors=(Unknown, Unreachable, VenueProtocolError), rest=rest,
                              resubscribe_timeout_s=p.resubscribe_timeout_s)
        tracker = OrderTracker()
        streams = OkxStreams(session, OkxCodec(), rest, limiter, p, public_url, private_url)
        orders = OkxOrders(session, streams, rest, limiter, tracker, p)
        streams.attach_orders(orders)
        super().__init__(session=session, streams=streams, orders=orders, tracker=tracker)
        self.rest = rest
        self.codec = streams.codec
        self.positions = streams.positions
        """The latest position per instrument from the private stream (owned by the streams)."""
        self._okx = streams
        self._okx_orders = orders

    @property
    def logged_in(self) -> bool:
        """The private stream is logged in."""
        return self._okx.logged_in

    @property
    def pending(self) -> dict[str, tuple[str, str, str]]:
        """Order operations sent and not answered yet (op id -> op, client id, instrument)."""
        return self._okx_orders.pending


class OkxStreams:
    """OKX's connection protocol: public and private websockets, login, instruments."""

    def __init__(self, session: LiveSession, codec: OkxCodec, rest: OkxRest,
                 limiter: RateLimiter, params: OkxParams, public_url: str,
                 private_url: str) -> None:
        self.params = params
        self.codec = codec
        self.rest = rest
        self.limiter = limiter
        self.public_url = public_url
        self.private_url = private_url
        self.positions: dict[str, PositionReport] = {}
        self.logged_in = False
        self.connection_number = 0
        self._refusals_before = 0
        """``stats["login_failed"]`` when the last login was sent: a refusal is one above it."""
        self._session = session
        self._orders: OkxOrders | None = None
        self._seen_errors = 0
        self._md: ReconnectingWebSocket | None = None
        self._priv: ReconnectingWebSocket | None = None
        self.accounts = AccountPoller(session, self._read_accounts, params.account_poll_s)
        """The trading account (``/api/v5/account/balance``), published as ``AccountReported``."""

    def attach_orders(self, orders: OkxOrders) -> None:
        """The order API that private updates go to (built after this link)."""
        self._orders = orders

    @property
    def orders(self) -> OkxOrders:
        if self._orders is None:
            raise RuntimeError("OkxStreams used before attach_orders")
        return self._orders

    def logged_in_socket(self) -> ReconnectingWebSocket | None:
        priv = self._priv
        return priv if priv is not None and self.logged_in and priv.is_open else None

    # ------------------------------------------------------------------ lifecycle
    def _ws_config(self, stale: float | None) -> WsConfig:
        p = self.params
        return WsConfig(ping_interval_s=None, stale_after_s=stale,
                        heartbeat_interval_s=p.heartbeat_interval_s,
                        backoff_base_s=p.backoff_base_s, backoff_cap_s=p.backoff_cap_s,
                        open_timeout_s=min(10.0, p.start_timeout_s))

    async def connect(self) -> None:
        """Server time and instruments (REST), public stream and first snapshots, then (with
        credentials) the private stream, logged in and subscribed."""
        p = self.params
        await self.rest.open()
        async with asyncio.timeout(p.start_timeout_s):
            await self.rest.sync_time()
            await self._load_instruments()
            if "books" in p.channels:
                self._session.expect_snapshots(list(p.inst_ids))
            await self.limiter.acquire("ws_connect")
            self._md = ReconnectingWebSocket(
                self.public_url, on_frame=self._on_md_frame, on_open=self._on_md_open,
                on_close=self._on_md_close, make_heartbeat=self.codec.encode_heartbeat,
                config=self._ws_config(p.stale_after_s), name=f"{self._session.venue}:public")
            self._md.start()
            await self._md.wait_open()
            await asyncio.gather(*self._session.first_snapshots.values())
            if p.trading:
                self._refusals_before = self._session.stats["login_failed"]
                self._priv = ReconnectingWebSocket(
                    self.private_url, on_frame=self._on_private_frame,
                    on_open=self._on_private_open, on_close=self._on_private_close,
                    make_heartbeat=lambda: "ping", config=self._ws_config(p.private_stale_after_s),
                    name=f"{self._session.venue}:private")
                self._priv.start()
                while not self.logged_in:  # (refused: the last login, not an earlier start's)
                    if self._session.stats["login_failed"] > self._refusals_before:
                        raise RuntimeError(f"{self._session.venue}: login refused")
                    await asyncio.sleep(0.01)
                await self.accounts.start()
        _log.info("okx.started", venue=self._session.venue, network=p.network,
                  instruments=len(self._session.instruments), trading=p.trading)

    async def _load_instruments(self) -> None:
        listed: dict[str, Instrument] = {}
        for kind in self.params.inst_types():
            body = await self.rest.request("GET", "/api/v5/public/instruments", {"instType": kind})
            if body.get("code") != "0":
                raise RuntimeError(f"{self._session.venue}: instruments refused: {body.get('code')} "
                                   f"{body.get('msg')}")
            listed.update((i.symbol, i) for i in parse_instruments(body["data"]))
        missing = [i for i in self.params.inst_ids if i not in listed]
        if missing:
            raise RuntimeError(f"{self._session.venue}: not listed on {self.params.network}: {missing}")
        self._session.instruments = {listed[i].id: listed[i] for i in self.params.inst_ids}

    async def before_stop(self) -> None:
        """Disarm the dead-man switch (then both streams, every task and the REST client close)."""
        await self.orders.disarm_dead_man()

    def websockets(self) -> list[ReconnectingWebSocket | None]:
        return [self._md, self._priv]

    async def after_streams_closed(self) -> None:
        """Nothing to release."""

    # ------------------------------------------------------------------ public stream
    def _channels(self) -> list[str]:
        p, out = self.params, []
        for i in p.inst_ids:
            if "books" in p.channels:
                out.append(ch.book_channel(i, p.book_channel))
            if "trades" in p.channels:
                out.append(ch.trades_channel(i))
            if "tickers" in p.channels:
                out.append(ch.tickers_channel(i))
        return out

    def _on_md_open(self, url: str) -> list[str]:
        self.codec.on_open(url)
        self._session.resub_forget_all()
        self._session.stream_opened("md_connects", "public stream", "market_data")
        self.limiter.try_acquire("ws_subscribe")
        return self.codec.encode_subscribe(self._channels())

    def _on_md_close(self, reason: CloseReason) -> None:
        self._session.stream_closed(reason, "public stream", "market_data")

    def _on_md_frame(self, data: str | bytes, ts_recv: int) -> None:
        codec = self.codec
        if not self._session.publish_frame(codec.decode, data, ts_recv):
            return
        if codec.error_count != self._seen_errors:
            self._seen_errors = codec.error_count
            err = codec.last_error
            self._session.stats["venue_errors"] += 1
            if err is not None:
                _log.warning("okx.venue_error", venue=self._session.venue, code=err.code, message=err.message)
                if err.code == pv.RATE_LIMITED:
                    self.rate_limited("public subscribe")

    def rate_limited(self, what: str) -> None:
        self._session.stats["rate_limited"] += 1
        self._session.status("rate_limited", f"{what}: 50011 Too Many Requests")

    def request_resync(self, instrument_id: str) -> None:
        """Resubscribe the book channel: OKX answers with a fresh snapshot."""
        self._session.stats["resync_requests"] += 1
        inst = split_instrument_id(instrument_id)[1]
        md = self._md
        if inst not in self.params.inst_ids or md is None or not md.is_open:
            return  # the next connection subscribes afresh and gets snapshots anyway
        if self._session.resub_pending(inst):
            return  # a resubscription is already waiting for its snapshot
        if not self.limiter.try_acquire("ws_subscribe"):
            return  # 480 per hour per connection: the next request will try again
        self._session.resub_started(inst)
        channel = ch.book_channel(inst, self.params.book_channel)
        try:
            for frame in self.codec.encode_unsubscribe([channel]) + self.codec.encode_subscribe([channel]):
                md.send_nowait(frame)
        except NotConnected:
            pass

    # ------------------------------------------------------------------ private stream
    def _on_private_open(self, url: str) -> list[str]:
        self.logged_in = False
        self.connection_number += 1
        self._session.stream_opened("private_connects", "private stream", "private")
        p = self.params
        assert p.api_key is not None and p.api_secret is not None and p.passphrase is not None
        self._refusals_before = self._session.stats["login_failed"]
        return [pv.login_frame(p.api_key.reveal(), p.api_secret.reveal(), p.passphrase.reveal(),
                               self.rest.now_ms() // 1000)]

    def _on_private_close(self, reason: CloseReason) -> None:
        self.logged_in = False
        self.orders.connection_lost()
        self._session.stream_closed(reason, "private stream", "private")

    def _on_private_frame(self, data: str | bytes, ts_recv: int) -> None:
        if data == "pong" or data == b"pong":
            return
        try:
            msg = orjson.loads(data)
            if "op" in msg and "id" in msg:
                self.orders.on_op_reply(pv.parse_op_reply(msg), ts_recv)
            elif "event" in msg:
                self._on_private_event(msg)
            elif "arg" in msg and "data" in msg:
                channel = msg["arg"]["channel"]
                if channel == "orders":
                    for d in msg["data"]:
                        self.orders.on_order(pv.parse_order(d), ts_recv)
                elif channel == "account":
                    for ev in pv.balance_reports(msg["data"], ts_recv, "account"):
                        self._session.publish(ev)
                elif channel == "positions":
                    for d in msg["data"]:
                        pos = pv.parse_position(d, ts_recv)
                        self.positions[pos.instrument_id] = pos
                        self._session.publish(pos)
        except (VenueProtocolError, orjson.JSONDecodeError, KeyError, TypeError) as exc:
            # Never silent: a lost order update is recovered by the next query/reconcile.
            self._session.stats["private_malformed"] += 1
            _log.error("okx.private_frame_malformed", venue=self._session.venue, error=type(exc).__name__)

    async def _read_accounts(self) -> list[AccountReported]:
        body = await self.rest.request("GET", "/api/v5/account/balance", signed=True)
        if body.get("code") != "0":
            raise AccountReadFailed(f"/api/v5/account/balance refused: {body.get('code')} {body.get('msg')}")
        return pv.balance_reports(body.get("data"), time.time_ns())

    def _on_private_event(self, msg: dict[str, Any]) -> None:
        event = msg["event"]
        if event == "login":
            if msg.get("code", "0") == "0":
                self.logged_in = True
                self._session.stats["logins"] += 1
                priv = self._priv
                if priv is not None:
                    priv.send_nowait(orjson.dumps({"op": "subscribe", "args": [
                        {"channel": "orders", "instType": "ANY"},
                        {"channel": "positions", "instType": "ANY"},
                        {"channel": "account"}]}).decode())
                if self._session.stats["logins"] > 1:
                    self._session.spawn(self.orders.desk.resync_orders())
            return
        if event == "error":
            code = str(msg.get("code", ""))
            if not self.logged_in and code in ("60004", "60005", "60006", "60007", "60009", "60024"):
                self._session.stats["login_failed"] += 1
            self._session.stats["venue_errors"] += 1
            _log.error("okx.private_error", venue=self._session.venue, code=code, message=msg.get("msg"))
