"""``[venues.<name>.params]`` of a live OKX venue (``adapters.okx.session:OkxVenue``).

Endpoints are picked by ``network`` (``testnet`` is OKX's demo trading: its own websocket
hosts and the ``x-simulated-trading: 1`` REST header); ``*_url`` override them (the local fake,
a proxy). Credentials are ``Secret`` (``${ENV}`` in the TOML); without them the session streams
market data only and refuses orders with a clear reason.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from adapters.live.params import check_common
from engine.config.secrets import Secret

Positive = Annotated[float, msgspec.Meta(gt=0)]

# https://www.okx.com/docs-v5/en/#overview-production-trading-services and
# #overview-demo-trading-services: (public ws, private ws, REST).
ENDPOINTS = {
    "mainnet": ("wss://ws.okx.com:8443/ws/v5/public", "wss://ws.okx.com:8443/ws/v5/private",
                "https://www.okx.com"),
    "testnet": ("wss://wspap.okx.com:8443/ws/v5/public", "wss://wspap.okx.com:8443/ws/v5/private",
                "https://www.okx.com"),
}
CHANNELS = ("books", "trades", "tickers")


class OkxParams(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    venue: str = "okx"
    """The venue name, the prefix of instrument ids (``okx:BTC-USD-SWAP``): always ``okx`` (the
    runtime sets it from the config table name, which must therefore be ``okx``)."""
    network: Literal["testnet", "mainnet"] = "testnet"
    public_url: str = ""
    private_url: str = ""
    rest_url: str = ""
    api_key: Secret | None = None
    api_secret: Secret | None = None
    passphrase: Secret | None = None
    inst_ids: list[str] = msgspec.field(default_factory=lambda: ["BTC-USD-SWAP"])
    channels: list[str] = msgspec.field(default_factory=lambda: ["books", "trades"])
    book_channel: Literal["books", "books50-l2-tbt", "books-l2-tbt"] = "books"
    td_mode: Literal["cross", "isolated", "cash"] = "cross"
    heartbeat_interval_s: Annotated[float, msgspec.Meta(gt=0, lt=30)] = 20.0
    """Text ``ping`` period: OKX closes a connection that sent nothing for 30 s."""
    stale_after_s: Positive | None = 30.0
    """Watchdog on the public stream: no frame for this long => reconnect."""
    private_stale_after_s: Positive | None = 60.0
    """Watchdog on the private stream (its ``pong`` answers keep it alive while idle)."""
    backoff_base_s: Positive = 0.5
    backoff_cap_s: Positive = 30.0
    ack_timeout_s: Positive = 5.0
    """No answer to an order operation within this: its fate is unknown (never resent)."""
    rest_timeout_s: Positive = 10.0
    start_timeout_s: Positive = 30.0
    """The whole start (connect, instruments, first snapshots, login) within this, else the venue
    did not start; each connection attempt gets min(10, this)."""
    account_poll_s: Positive | None = 5.0
    """Re-read ``/api/v5/account/balance`` this often (marks move unrealized PnL and margin);
    the ``account`` channel updates it in between. None: the channel only."""
    resubscribe_timeout_s: Positive = 5.0
    dead_man_refresh_ratio: Annotated[float, msgspec.Meta(gt=0, lt=1)] = 0.33
    """``cancel-all-after`` is re-sent every ``timeout * ratio`` while armed."""

    def __post_init__(self) -> None:
        # The codec, instrument and private-stream parsers build ids "okx:<name>"; any other
        # venue name would split books and orders across two ids (orders denied NO_VENUE).
        if self.venue != "okx":
            raise ValueError(f"the OKX adapter's instrument ids are 'okx:<name>': name its "
                             f"table [venues.okx] (got {self.venue!r})")
        check_common(channels=self.channels, known_channels=CHANNELS, markets=self.inst_ids,
                     markets_field="inst_ids", market_word="instrument",
                     credentials={"api_key": self.api_key, "api_secret": self.api_secret,
                                  "passphrase": self.passphrase},
                     ws_urls={"public_url": self.public_url, "private_url": self.private_url},
                     http_urls={"rest_url": self.rest_url})

    def endpoints(self) -> tuple[str, str, str]:
        pub, priv, rest = ENDPOINTS[self.network]
        return (self.public_url or pub, self.private_url or priv,
                (self.rest_url or rest).rstrip("/"))

    @property
    def trading(self) -> bool:
        return bool(self.api_key) and bool(self.api_secret) and bool(self.passphrase)

    def inst_types(self) -> list[str]:
        """``instType`` of every configured instrument, for the instruments endpoint."""
        out: list[str] = []
        for i in self.inst_ids:
            parts = i.split("-")
            kind = ("SWAP" if parts[-1] == "SWAP" else "OPTION" if len(parts) == 5
                    else "FUTURES" if len(parts) == 3 else "SPOT")
            if kind not in out:
                out.append(kind)
        return out
