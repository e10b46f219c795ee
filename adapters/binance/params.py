"""``[venues.<name>.params]`` of a live Binance venue (``adapters.binance.session:BinanceVenue``).

Endpoints are picked by ``market`` and ``network``; ``ws_url``/``rest_url`` override them (the
local fake venue, a proxy). Credentials are ``Secret`` (write them as ``${ENV}`` in the TOML);
without them the session streams market data only and refuses orders with a clear reason.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from adapters.live.params import check_common
from engine.config.secrets import Secret

Positive = Annotated[float, msgspec.Meta(gt=0)]

# (market, network) -> (websocket base, REST base).
# USD-M: https://developers.binance.com/docs/derivatives/usds-margined-futures/general-info
# (testnet https://testnet.binancefuture.com, streams wss://fstream.binancefuture.com);
# spot: https://developers.binance.com/docs/binance-spot-api-docs/testnet (testnet.binance.vision).
ENDPOINTS: dict[tuple[str, str], tuple[str, str]] = {
    ("usdm", "mainnet"): ("wss://fstream.binance.com", "https://fapi.binance.com"),
    ("usdm", "testnet"): ("wss://fstream.binancefuture.com", "https://testnet.binancefuture.com"),
    ("spot", "mainnet"): ("wss://stream.binance.com:9443", "https://api.binance.com"),
    ("spot", "testnet"): ("wss://stream.testnet.binance.vision", "https://testnet.binance.vision"),
}
CHANNELS = ("depth", "trade", "aggTrade", "bookTicker", "markPrice")


class BinanceParams(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    venue: str = "binance"
    """The venue name: the prefix of instrument ids (``binance:BTCUSDT``); the config table key."""
    market: Literal["usdm", "spot"] = "usdm"
    """USD-M futures (market data and trading) or spot (market data only)."""
    network: Literal["testnet", "mainnet"] = "testnet"
    ws_url: str = ""
    """Override of the websocket base (``ws://127.0.0.1:8765`` for the fake venue)."""
    rest_url: str = ""
    """Override of the REST base (``http://127.0.0.1:8766`` for the fake venue)."""
    api_key: Secret | None = None
    api_secret: Secret | None = None
    symbols: list[str] = msgspec.field(default_factory=lambda: ["BTCUSDT"])
    channels: list[str] = msgspec.field(default_factory=lambda: ["depth", "trade", "bookTicker"])
    depth_speed: str = "100ms"
    snapshot_limit: Annotated[int, msgspec.Meta(gt=0, le=1000)] = 1000
    recv_window_ms: Annotated[int, msgspec.Meta(gt=0, le=60_000)] = 5000
    ack_timeout_s: Positive = 5.0
    """No answer to an order request within this: the order's fate is unknown (never resent)."""
    rest_timeout_s: Positive = 10.0
    listen_key_keepalive_s: Positive = 1800.0
    """User-stream listen key keepalive (Binance expires keys after 60 min without one)."""
    ping_interval_s: Positive | None = 20.0
    """Websocket-level ping every this many seconds (docs/live-binance.md, "Keys and endpoints")."""
    ping_timeout_s: Positive | None = 20.0
    """No pong within this many seconds: the connection is closed (``ping_timeout``) and redone."""
    stale_after_s: Positive | None = 30.0
    """Watchdog: no frame at all for this long and the connection is presumed dead."""
    max_lifetime_s: Positive | None = 23.5 * 3600
    """Binance cuts connections at 24 h: reconnect (with a full resync) before that."""
    backoff_base_s: Positive = 0.5
    backoff_cap_s: Positive = 30.0
    start_timeout_s: Positive = 30.0
    """The whole start (connect, instruments, first snapshots, login) within this, else the venue
    did not start; each connection attempt gets min(10, this)."""
    account_poll_s: Positive | None = 5.0
    """Re-read ``/fapi/v2/account`` this often (marks move unrealized PnL and margin without a
    user-stream event); an ``ACCOUNT_UPDATE`` re-reads it at once. None: on events only."""

    def __post_init__(self) -> None:
        check_common(channels=self.channels, known_channels=CHANNELS, markets=self.symbols,
                     markets_field="symbols", market_word="symbol",
                     credentials={"api_key": self.api_key, "api_secret": self.api_secret},
                     ws_urls={"ws_url": self.ws_url}, http_urls={"rest_url": self.rest_url})
        if len(self.symbols) * len(self.channels) > 1024:
            raise ValueError("Binance allows 1024 streams per connection: "
                             f"{len(self.symbols)} symbols x {len(self.channels)} channels is too many")

    def endpoints(self) -> tuple[str, str]:
        ws, rest = ENDPOINTS[(self.market, self.network)]
        return (self.ws_url or ws).rstrip("/"), (self.rest_url or rest).rstrip("/")

    @property
    def trading(self) -> bool:
        return bool(self.api_key) and bool(self.api_secret) and self.market == "usdm"
