"""``[venues.derive.params]`` of a live Derive venue (``adapters.derive.session:DeriveVenue``).

Credentials: Derive has no API key. The account is a smart-contract ``wallet`` (public) with a
``subaccount_id``; requests are signed by a secp256k1 private key, the wallet owner's or a
session key registered for the wallet. That key is read **only** from the environment variable
named by ``signer_env`` (default ``DERIVE_SESSION_KEY``) and held as a ``Secret`` (redacted
from every log line); a key written in a config file is refused at load time. Without a wallet
the session streams market data only.

Protocol constants (EIP-712 domain separator, action typehash, trade module address) default
to the network's published values (docs.derive.xyz "Protocol constants"); a fake venue may set
its own.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from adapters.live.params import check_common
from adapters.ratelimit import LimitSpec, VenueLimits
from engine.config.secrets import Secret

__all__ = ["CHANNELS", "NETWORKS", "DeriveParams", "NetworkConstants"]

Positive = Annotated[float, msgspec.Meta(gt=0)]
CHANNELS = ("book", "trades", "ticker")


class NetworkConstants(msgspec.Struct, frozen=True):
    ws_url: str
    domain_separator: str
    action_typehash: str
    trade_module: str


NETWORKS = {
    # Derive v2 (docs.derive.xyz; derivexyz/derive-py derive_client/config/contracts.py).
    "testnet": NetworkConstants(
        "wss://api-demo.lyra.finance/ws",
        "0x9bcf4dc06df5d8bf23af818d5716491b995020f377d3b7b64c29ed14e3dd1105",
        "0x4d7a9f27c403ff9c0f19bce61d76d82f9aa29f8d6d4b0c5474607d9770d1af17",
        "0x87F2863866D85E3192a35A73b388BD625D83f2be"),
    "mainnet": NetworkConstants(
        "wss://api.lyra.finance/ws",
        "0xd96e5f90797da7ec8dc4e276260c7f3f87fedf68775fbe1ef116e996fc60441b",
        "0x4d7a9f27c403ff9c0f19bce61d76d82f9aa29f8d6d4b0c5474607d9770d1af17",
        "0xB8D20c2B7a1Ad2EE33Bc50eF10876eD3035b5e7b"),
}


class DeriveParams(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    venue: str = "derive"
    """The venue name, the prefix of instrument ids (``derive:ETH-PERP``): always ``derive``."""
    network: Literal["testnet", "mainnet"] = "testnet"
    ws_url: str = ""
    """Override of the websocket URL (``ws://127.0.0.1:8767/ws`` for the fake)."""
    wallet: str = ""
    """The Derive smart-contract wallet (``0x`` address) that owns the subaccount."""
    subaccount_id: int | str = 0
    """The subaccount that trades (an integer; ``"${DERIVE_SUBACCOUNT_ID}"`` is read as one)."""
    signer_env: str = "DERIVE_SESSION_KEY"
    """The environment variable holding the signing key (session key or wallet owner key)."""
    signing_key: Secret | None = None
    """Never set: present only so that a key pasted into a config file is a clear error."""
    instruments: list[str] = msgspec.field(default_factory=lambda: ["ETH-PERP"])
    channels: list[str] = msgspec.field(default_factory=lambda: ["book", "trades", "ticker"])
    book_group: Literal["1", "10", "100"] = "1"
    book_depth: Literal[1, 10, 20, 100] = 20
    ticker_interval_ms: Literal[100, 1000] = 1000
    max_fee: Positive = 100.0
    """The most the venue may charge per unit of an order (USDC), signed into every order."""
    signature_expiry_s: Annotated[int, msgspec.Meta(ge=60, le=86_400 * 30)] = 600
    """Orders' ``signature_expiry_sec``: now plus this (Derive needs at least a few minutes)."""
    domain_separator: str = ""
    action_typehash: str = ""
    trade_module: str = ""
    stale_after_s: Positive | None = 40.0
    heartbeat_interval_s: Positive = 10.0
    """A ``public/get_time`` request this often keeps the link (and the clock offset) alive."""
    ping_interval_s: Positive | None = 20.0
    """Websocket-level ping every this many seconds (docs/live-derive.md, "Keys and endpoints")."""
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
    """``private/set_cancel_on_disconnect`` on every login: the venue cancels our orders when
    the connection drops."""
    cancel_all_on_stop: bool = True
    matching_rate: Positive = 1.0
    """Matching-engine requests (order, replace, cancel) per second: Derive's trader tier
    (market makers get more; set your account's tier)."""
    matching_burst: Positive = 5.0
    non_matching_rate: Positive = 5.0
    """Other private requests per second (queries, positions)."""

    def __post_init__(self) -> None:
        if self.venue != "derive":
            raise ValueError(f"the Derive adapter's instrument ids are 'derive:<name>': name its "
                             f"table [venues.derive] (got {self.venue!r})")
        sub = str(self.subaccount_id).strip()
        if not sub.isdigit():
            raise ValueError(f"subaccount_id must be a non-negative integer, got {sub!r}")
        msgspec.structs.force_setattr(self, "subaccount_id", int(sub))  # decoded once, here
        if self.signing_key is not None:
            raise ValueError(f"signing_key must not be in a config file: put the key in the "
                             f"environment variable {self.signer_env} (signer_env)")
        check_common(channels=self.channels, known_channels=CHANNELS, markets=self.instruments,
                     markets_field="instruments", market_word="instrument", credentials={},
                     ws_urls={"ws_url": self.ws_url})
        if self.wallet and (not self.wallet.startswith("0x") or len(self.wallet) != 42):
            raise ValueError(f"wallet must be a 0x-prefixed 20-byte address, got {self.wallet!r}")
        if self.wallet and not self.subaccount_id:
            raise ValueError("a wallet needs its subaccount_id (the subaccount that trades)")

    def limits(self) -> VenueLimits:
        """Our side of Derive's rate limits (docs.derive.xyz "Rate limits"; per account tier)."""
        src = "docs.derive.xyz/reference/rate-limits (tier set in params)"
        return VenueLimits(
            venue="derive",
            limits={"matching": LimitSpec.bucket(self.matching_rate, self.matching_burst,
                                                 source=src),
                    "non_matching": LimitSpec.bucket(self.non_matching_rate,
                                                     self.non_matching_rate * 5, source=src)},
            endpoints={m: {"matching": 1} for m in (
                "private/order", "private/replace", "private/cancel", "private/cancel_all")},
            default_cost={"non_matching": 1})

    @property
    def constants(self) -> NetworkConstants:
        """The network's constants with this deployment's overrides."""
        c = NETWORKS[self.network]
        return NetworkConstants(self.ws_url or c.ws_url, self.domain_separator or c.domain_separator,
                                self.action_typehash or c.action_typehash,
                                self.trade_module or c.trade_module)

    @property
    def trading(self) -> bool:
        """A wallet is configured (the signing key is then required from the environment)."""
        return bool(self.wallet)

    def currencies(self) -> list[str]:
        """Currencies to list instruments in: ``ETH-PERP``/``ETH-20270625-6000-C`` -> ETH."""
        out: list[str] = []
        for name in self.instruments:
            ccy = name.split("-")[0]
            if ccy not in out:
                out.append(ccy)
        return out
