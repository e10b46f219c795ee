"""``DeriveVenue``: a live Derive session (market data and orders on one JSON-RPC websocket).

Theory of operation. One ``ReconnectingWebSocket`` carries everything (JSON-RPC 2.0). On every
(re)connect ``on_open`` writes, in order: ``public/login`` (with a wallet: the EIP-191
signature of the current time in ms by the signing key, ``signing``) and ``subscribe`` for the
public channels (``orderbook``/``trades``/``ticker_slim``). When the login succeeds the private
channels (``{subaccount}.orders``/``.trades``/``.balances``) are subscribed, cancel-on-
disconnect is armed (``private/set_cancel_on_disconnect``, bound to the connection), and after
a reconnect every order not known to be final is queried, so fills and cancels missed while
down are recovered.

Books: Derive publishes the whole top of book in every ``orderbook`` message (``codec``), so a
reconnect needs no separate snapshot and ``request_resync`` (crossed, silent book) just
unsubscribes and resubscribes the channel. ``public/get_time`` every ``heartbeat_interval_s``
keeps the link busy (the watchdog drops a link silent for ``stale_after_s``) and measures the
clock offset the login timestamp uses. ``VenueStatusChanged`` is published on every drop,
recovery and rate-limit answer. Login, cancel-on-disconnect, the clock offset and the reconnect
bookkeeping that Derive shares with Deribit are ``RpcLink`` (``adapters.live.rpc_link``). Orders
live in ``adapters.derive.orders``; margin and
collateral as Derive reports them (``private/get_subaccount``) in ``margin``. Nothing here logs
a frame, a signature or a key.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import structlog

from adapters.derive import private as pv
from adapters.derive.codec import DeriveCodec
from adapters.derive.instruments import DeriveAsset, parse_instruments
from adapters.derive.orders import DeriveOrders
from adapters.derive.params import DeriveParams
from adapters.derive.signing import ActionSigner
from adapters.live.jsonrpc import JsonRpcChannel, Refused, Unknown
from adapters.live.rpc_link import RpcLink
from adapters.live.session import LiveSession
from adapters.live.tracker import OrderTracker
from adapters.live.venue import LiveVenue
from adapters.ratelimit import RateLimiter
from adapters.ws import CloseReason, ReconnectingWebSocket, WsConfig
from engine.config import ConfigError, ConfigProblem
from engine.config.secrets import Secret
from engine.model import VenueProtocolError

__all__ = ["DeriveParams", "DeriveVenue"]

_log = structlog.get_logger("volta.derive")
_INSTRUMENT_TYPES = ("perp", "option")


def _signer(p: DeriveParams, env: dict[str, str] | None = None) -> ActionSigner | None:
    """The signing key from the environment (a wallet without one is a configuration error)."""
    if not p.trading:
        return None
    raw = (env if env is not None else os.environ).get(p.signer_env, "")
    where = f"venues.{p.venue}.params.signer_env"
    if not raw:
        raise ConfigError([ConfigProblem(where, f"wallet {p.wallet} is set but the signing key "
                                                f"is not: export {p.signer_env} (the session "
                                                f"key or the wallet owner's key)")])
    c = p.constants
    try:
        return ActionSigner(Secret(raw), domain_separator=c.domain_separator,
                            action_typehash=c.action_typehash)
    except ValueError as exc:
        raise ConfigError([ConfigProblem(where, f"{p.signer_env}: {exc}")]) from None


class DeriveVenue(LiveVenue):
    """A Derive session: ``DeriveStreams`` and ``DeriveOrders`` over one ``LiveSession``."""

    Params = DeriveParams

    def __init__(self, params: DeriveParams | None = None, *,
                 env: dict[str, str] | None = None) -> None:
        p = params if params is not None else DeriveParams()
        self.params = p
        stats: dict[str, int] = dict.fromkeys(
            ("connects", "malformed", "snapshots", "stale_books", "resync_requests",
             "resubscribes", "logins", "login_failed", "rate_limited", "acks_unknown", "queries",
             "private_malformed", "foreign_orders", "venue_errors"), 0)
        session = LiveSession(venue=p.venue, params=p, stats=stats, log=_log, log_name="derive",
                              resubscribe_timeout_s=p.resubscribe_timeout_s)
        tracker = OrderTracker()
        signer = _signer(p, env)
        streams = DeriveStreams(session, DeriveCodec(), RateLimiter(p.limits()), p, signer)
        orders = DeriveOrders(session, streams.link, tracker, p, signer, streams.assets)
        streams.attach_orders(orders)
        super().__init__(session=session, streams=streams, orders=orders, tracker=tracker)
        self.codec = streams.codec
        self._derive = streams

    @property
    def logged_in(self) -> bool:
        return self._derive.link.authenticated

    @property
    def margin(self) -> pv.Margin | None:
        """Collateral and margin as Derive last reported them (None before the first report)."""
        return self._derive.margin


class DeriveStreams:
    """Derive's JSON-RPC websocket: connection, login, subscriptions, requests, private data."""

    def __init__(self, session: LiveSession, codec: DeriveCodec, limiter: RateLimiter,
                 params: DeriveParams, signer: ActionSigner | None) -> None:
        self.params = params
        self.codec = codec
        self.limiter = limiter
        self.signer = signer
        self.assets: dict[str, DeriveAsset] = {}
        """Symbol -> the on-chain asset an order signature names."""
        self.margin: pv.Margin | None = None
        self._session = session
        self._orders: DeriveOrders | None = None
        self.channel = JsonRpcChannel(limiter, request_timeout_s=params.request_timeout_s,
                                      rate_limited_code=pv.RATE_LIMITED,
                                      on_rate_limited=self._rate_limited)
        self.rpc = self.channel.call
        """One request and its outcome (``JsonRpcChannel.call``)."""
        self.link = RpcLink(
            session, self.channel, log=_log, log_name="derive", login_ok="logins",
            login_failed="login_failed",
            private_subscribe=lambda: self._subscribe_frames(self._private_channels()),
            cancel_on_disconnect=("private/set_cancel_on_disconnect",
                                  lambda: {"wallet": params.wallet, "enabled": True}),
            cod_armed=params.cancel_on_disconnect and params.trading,
            resync=lambda: self.orders.desk.resync_orders())
        self._seen_errors = 0

    def attach_orders(self, orders: DeriveOrders) -> None:
        """The order API that private updates go to (built after this connection)."""
        self._orders = orders

    @property
    def orders(self) -> DeriveOrders:
        if self._orders is None:
            raise RuntimeError("DeriveStreams used before attach_orders")
        return self._orders

    # ------------------------------------------------------------------ lifecycle
    async def connect(self) -> None:
        """Connect, list instruments, log in, subscribe; wait for every book's first message."""
        p = self.params
        self._session.expect_snapshots(list(p.instruments) if "book" in p.channels else [])
        hb = p.heartbeat_interval_s
        ws = self.link.ws = self.channel.ws = ReconnectingWebSocket(
            p.constants.ws_url, on_frame=self._on_frame, on_open=self._on_open,
            on_close=self._on_close, make_heartbeat=self.link.time_frame,
            config=WsConfig(heartbeat_interval_s=hb, ping_interval_s=p.ping_interval_s,
                            ping_timeout_s=p.ping_timeout_s, stale_after_s=p.stale_after_s,
                            backoff_base_s=p.backoff_base_s, backoff_cap_s=p.backoff_cap_s,
                            open_timeout_s=min(10.0, p.start_timeout_s)),
            name=f"{p.venue}:ws")
        ws.start()
        async with asyncio.timeout(p.start_timeout_s):
            await ws.wait_open()
            await self._load_instruments()
            self.link.send(self._subscribe_frames(self._public_channels()))
            await asyncio.gather(*self._session.first_snapshots.values())
            if p.trading:
                await self.link.wait_login(f"{p.venue}: login refused (wallet {p.wallet})")
                await self.refresh_margin()
        _log.info("derive.started", venue=p.venue, network=p.network,
                  instruments=len(self._session.instruments), trading=p.trading)

    async def _load_instruments(self) -> None:
        found = {}
        for ccy in self.params.currencies():
            for kind in _INSTRUMENT_TYPES:
                result = await self.rpc("public/get_instruments",
                                        {"currency": ccy, "expired": False,
                                         "instrument_type": kind})
                insts, assets = parse_instruments(result)
                self.assets.update(assets)
                found.update((i.symbol, i) for i in insts)
        missing = [s for s in self.params.instruments if s not in found]
        if missing:
            raise RuntimeError(f"{self.params.venue}: not listed on {self.params.network}: {missing}")
        self._session.instruments = {found[s].id: found[s] for s in self.params.instruments}

    async def before_stop(self) -> None:
        """Cancel everything explicitly (cancel-on-disconnect is for a lost link, and a graceful
        close must not leave orders working)."""
        p = self.params
        if p.trading and p.cancel_all_on_stop:
            await self.link.cancel_all_on_stop({"subaccount_id": p.subaccount_id},
                                               p.ack_timeout_s)

    def websockets(self) -> list[ReconnectingWebSocket | None]:
        return [self.link.ws]

    async def after_streams_closed(self) -> None:
        """Nothing to release."""

    async def refresh_margin(self) -> pv.Margin | None:
        """Ask for collateral and margin (standard or portfolio, as the venue reports them) and
        publish them as the subaccount's ``AccountReported`` (at login, on every ``balances``
        push)."""
        try:
            res = await self.rpc("private/get_subaccount",
                                 {"subaccount_id": self.params.subaccount_id})
            self.margin = pv.parse_subaccount(res)
            self._session.publish(pv.account_report(self.margin, self.params.venue,
                                                    "private/get_subaccount", time.time_ns()))
        except (Unknown, Refused, VenueProtocolError) as exc:
            self._session.stats["account_read_failed"] = self._session.stats.get("account_read_failed", 0) + 1
            # (one the session's own stop cut off is expected: not a warning)
            log = _log.info if self._session.stopping else _log.warning
            log("derive.margin_query_failed", venue=self.params.venue, error=str(exc))
        return self.margin

    # ------------------------------------------------------------------ requests
    def _rate_limited(self, method: str) -> None:
        self.link.rate_limited(f"rate limit exceeded on {method}")

    def _subscribe_frames(self, channels: list[str], method: str = "subscribe") -> list[str]:
        ch = self.channel
        return [ch.frame(ch.next_id(), method, {"channels": channels})] if channels else []

    # ------------------------------------------------------------------ connection
    def _public_channels(self) -> list[str]:
        p, c, out = self.params, self.codec, []
        for s in p.instruments:
            if "book" in p.channels:
                out.append(c.book_channel(s, p.book_group, p.book_depth))
            if "trades" in p.channels:
                out.append(c.trades_channel(s))
            if "ticker" in p.channels:
                out.append(c.ticker_channel(s, p.ticker_interval_ms))
        return out

    def _private_channels(self) -> list[str]:
        sub = self.params.subaccount_id
        return [f"{sub}.orders", f"{sub}.trades", f"{sub}.balances"]

    def _on_open(self, url: str) -> list[str]:
        self.codec.on_open(url)
        self.link.opened()
        frames: list[str] = []
        if self.signer is not None:
            ts = time.time_ns() // 1_000_000 + self.link.offset_ms
            frames.append(self.link.login_frame("public/login", {
                "wallet": self.params.wallet, "timestamp": str(ts),
                "signature": self.signer.login(ts)}))
        if self._session.instruments:  # a reconnect: the first connect subscribes after listing
            frames += self._subscribe_frames(self._public_channels())
        return frames

    def _on_close(self, reason: CloseReason) -> None:
        self.link.closed(reason)

    # ------------------------------------------------------------------ frames
    def _on_frame(self, data: str | bytes, ts_recv: int) -> None:
        codec = self.codec
        stale = codec.stale
        if not self._session.publish_frame(codec.decode, data, ts_recv):
            return
        if codec.stale != stale:
            self._session.stats["stale_books"] += codec.stale - stale
        if codec.rpc is not None:
            msg, codec.rpc = codec.rpc, None
            self.channel.answer(msg)
        if codec.private is not None:
            (channel, payload), codec.private = codec.private, None
            self._on_private(channel, payload, ts_recv)
        if codec.error_count != self._seen_errors:
            self._seen_errors = codec.error_count
            self._session.stats["venue_errors"] += 1

    def _on_private(self, channel: str, data: Any, ts_recv: int) -> None:
        try:
            kind = channel.rpartition(".")[2]
            if kind == "orders":
                for d in data if isinstance(data, list) else [data]:
                    self.orders.on_order(pv.parse_order(d), (), ts_recv)
            elif kind == "trades":
                for d in data if isinstance(data, list) else [data]:
                    self.orders.on_trade(pv.parse_trade(d), ts_recv)
            elif kind == "balances":
                self._session.spawn(self.refresh_margin())
        except (VenueProtocolError, KeyError, TypeError, AttributeError) as exc:
            # Never silent: a lost order update is recovered by the next query/reconcile.
            self._session.stats["private_malformed"] += 1
            _log.error("derive.private_frame_malformed", venue=self.params.venue,
                       error=type(exc).__name__)

    # ------------------------------------------------------------------ books
    def request_resync(self, instrument_id: str) -> None:
        """Resubscribe the book channel: its next message is a whole book again."""
        symbol = self.link.resync_target(instrument_id, self.params.instruments)
        if symbol is None:
            return
        self.codec.forget(symbol)
        channel = self.codec.book_channel(symbol, self.params.book_group, self.params.book_depth)
        self.link.send(self._subscribe_frames([channel], "unsubscribe") +
                   self._subscribe_frames([channel]))
