"""``[venues.<name>.params]`` of a live Deribit venue (``adapters.deribit.session:DeribitVenue``).

The endpoint is picked by ``network``; ``ws_url`` overrides it (the local fake, a proxy).
Credentials are ``Secret`` (``${ENV}`` in the TOML); without them the session streams market
data only and refuses orders with a clear reason.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from adapters.live.params import check_common
from engine.config.secrets import Secret

Positive = Annotated[float, msgspec.Meta(gt=0)]

# https://docs.deribit.com (API v2): production and test environments.
ENDPOINTS = {"mainnet": "wss://www.deribit.com/ws/api/v2",
             "testnet": "wss://test.deribit.com/ws/api/v2"}
CHANNELS = ("book", "trades", "ticker")


class DeribitParams(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    venue: str = "deribit"
    """The venue name, the prefix of instrument ids (``deribit:BTC-PERPETUAL``): always ``deribit``
    (the runtime sets it from the config table name, which must therefore be ``deribit``)."""
    network: Literal["testnet", "mainnet"] = "testnet"
    ws_url: str = ""
    """Override of the websocket URL (``ws://127.0.0.1:8765/ws/api/v2`` for the fake)."""
    client_id: Secret | None = None
    client_secret: Secret | None = None
    auth: Literal["client_signature", "client_credentials"] = "client_signature"
    """``client_signature`` never sends the secret (HMAC-SHA256 over timestamp and nonce)."""
    instruments: list[str] = msgspec.field(default_factory=lambda: ["BTC-PERPETUAL"])
    channels: list[str] = msgspec.field(default_factory=lambda: ["book", "trades", "ticker"])
    book_interval: Literal["raw", "100ms", "agg2"] = "100ms"
    """``raw`` (every change) needs an authenticated connection on Deribit."""
    heartbeat_interval_s: Annotated[int, msgspec.Meta(ge=10)] = 15
    """``public/set_heartbeat``: Deribit then sends test_requests the session must answer."""
    stale_after_s: Positive | None = 40.0
    """Watchdog: no frame at all for this long => reconnect. The session sends its own
    ``public/test`` every third of it, so a quiet market never trips it on a live link."""
    ping_interval_s: Positive | None = 20.0
    """Websocket-level ping every this many seconds (docs/live-deribit.md, "Keys and endpoints")."""
    ping_timeout_s: Positive | None = 20.0
    """No pong within this many seconds: the connection is closed (``ping_timeout``) and redone."""
    backoff_base_s: Positive = 0.5
    backoff_cap_s: Positive = 30.0
    ack_timeout_s: Positive = 5.0
    """No answer to an order request within this: its fate is unknown (never resent)."""
    request_timeout_s: Positive = 10.0
    """Any other JSON-RPC request (instruments, queries) fails after this."""
    start_timeout_s: Positive = 30.0
    """The whole start (connect, instruments, first snapshots, login) within this, else the venue
    did not start; each connection attempt gets min(10, this)."""
    resubscribe_timeout_s: Positive = 5.0
    """A book resubscription not answered by a snapshot within this may be retried."""
    cancel_on_disconnect: bool = True
    """Arm ``private/enable_cancel_on_disconnect`` on every authenticated connection."""
    cancel_all_on_stop: bool = True
    """Deribit's cancel-on-disconnect does not fire on a graceful close: cancel explicitly."""

    def __post_init__(self) -> None:
        # The codec, instrument and private-stream parsers build ids "deribit:<name>"; any other
        # venue name would split books and orders across two ids (orders denied NO_VENUE).
        if self.venue != "deribit":
            raise ValueError(f"the Deribit adapter's instrument ids are 'deribit:<name>': name its "
                             f"table [venues.deribit] (got {self.venue!r})")
        check_common(channels=self.channels, known_channels=CHANNELS, markets=self.instruments,
                     markets_field="instruments", market_word="instrument",
                     credentials={"client_id": self.client_id, "client_secret": self.client_secret},
                     ws_urls={"ws_url": self.ws_url})

    @property
    def url(self) -> str:
        return self.ws_url or ENDPOINTS[self.network]

    @property
    def trading(self) -> bool:
        return bool(self.client_id) and bool(self.client_secret)

    def currencies(self) -> list[str]:
        """Currencies to list instruments in: ``BTC-...`` -> BTC, ``BTC_USDC-...`` -> USDC."""
        out: list[str] = []
        for name in self.instruments:
            head = name.split("-")[0]
            ccy = head.split("_")[1] if "_" in head else head
            if ccy not in out:
                out.append(ccy)
        return out
