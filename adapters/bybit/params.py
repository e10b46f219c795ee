"""``[venues.<name>.params]`` of a live Bybit v5 venue (``adapters.bybit.session:BybitVenue``).

One session serves one category (``linear``, ``inverse``, ``spot``, ``option``): Bybit serves
each category on its own public websocket. Endpoints come from ``network``; ``ws_url`` and
``rest_url`` override them (the local fake venue). Credentials are ``Secret`` (``${ENV}``);
without them the session streams market data only and refuses orders with a clear reason.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from adapters.live.params import check_common
from engine.config.secrets import Secret

Positive = Annotated[float, msgspec.Meta(gt=0)]

# https://bybit-exchange.github.io/docs/v5/guide (REST) and /v5/ws/connect (websockets).
ENDPOINTS: dict[str, tuple[str, str]] = {
    "mainnet": ("wss://stream.bybit.com", "https://api.bybit.com"),
    "testnet": ("wss://stream-testnet.bybit.com", "https://api-testnet.bybit.com"),
}
CHANNELS = ("orderbook", "publicTrade", "tickers")


class BybitParams(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    venue: str = "bybit"
    """The venue name: the prefix of instrument ids (``bybit:BTCUSDT``); the config table key."""
    category: Literal["linear", "inverse", "spot", "option"] = "linear"
    network: Literal["testnet", "mainnet"] = "testnet"
    ws_url: str = ""
    """Override of the websocket base: ``<ws_url>/v5/public/<category>``, ``<ws_url>/v5/private``."""
    rest_url: str = ""
    api_key: Secret | None = None
    api_secret: Secret | None = None
    symbols: list[str] = msgspec.field(default_factory=lambda: ["BTCUSDT"])
    channels: list[str] = msgspec.field(default_factory=lambda: ["orderbook", "publicTrade"])
    book_depth: int = 50
    recv_window_ms: Annotated[int, msgspec.Meta(gt=0, le=60_000)] = 5000
    ack_timeout_s: Positive = 5.0
    """No answer to an order request within this: the order's fate is unknown (never resent)."""
    rest_timeout_s: Positive = 10.0
    heartbeat_interval_s: Positive = 20.0
    """``{"op":"ping"}`` cadence (Bybit drops connections idle for more than about a minute)."""
    ping_interval_s: Positive | None = None
    """Websocket-level ping every this many seconds; None (the default): only the ``op: ping``
    heartbeat above (docs/live-bybit.md, "Keys and endpoints")."""
    ping_timeout_s: Positive | None = None
    """No pong within this many seconds: the connection is closed (``ping_timeout``) and redone."""
    stale_after_s: Positive | None = 45.0
    """Watchdog: no frame (not even a pong) for this long and the connection is presumed dead."""
    max_lifetime_s: Positive | None = None
    """Reconnect on purpose (with a full resync) after this long on one connection; None: never."""
    backoff_base_s: Positive = 0.5
    backoff_cap_s: Positive = 30.0
    resubscribe_timeout_s: Positive = 5.0
    """A resync (resubscribe) with no fresh snapshot after this is tried again."""
    start_timeout_s: Positive = 30.0
    """The whole start (connect, instruments, first snapshots, login) within this, else the venue
    did not start; each connection attempt gets min(10, this)."""
    account_type: Literal["UNIFIED", "CONTRACT"] = "UNIFIED"
    """The wallet ``/v5/account/wallet-balance`` reads (UTA: UNIFIED; classic: CONTRACT)."""
    account_poll_s: Positive | None = 5.0
    """Re-read the wallet this often (marks move unrealized PnL and margin); the ``wallet``
    topic updates it on every change in between. None: the topic only."""

    def __post_init__(self) -> None:
        check_common(channels=self.channels, known_channels=CHANNELS, markets=self.symbols,
                     markets_field="symbols", market_word="symbol",
                     credentials={"api_key": self.api_key, "api_secret": self.api_secret},
                     ws_urls={"ws_url": self.ws_url}, http_urls={"rest_url": self.rest_url})
        if self.stale_after_s is not None and self.stale_after_s <= self.heartbeat_interval_s:
            raise ValueError("stale_after_s must exceed heartbeat_interval_s (pongs keep it alive)")

    def endpoints(self) -> tuple[str, str]:
        ws, rest = ENDPOINTS[self.network]
        return (self.ws_url or ws).rstrip("/"), (self.rest_url or rest).rstrip("/")

    @property
    def trading(self) -> bool:
        return bool(self.api_key) and bool(self.api_secret)
