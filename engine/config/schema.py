"""Typed deployment configuration: the msgspec Structs a TOML file is decoded into.

Every struct forbids unknown keys (a misspelt limit must fail loudly, not silently fall back to
its default) and is frozen (config is shared read-only by the whole runtime). Field names are the
TOML key names, except ``StrategyConfig.class_``, spelt ``class`` in TOML.

Numeric limits carry their constraints (``Meta(gt=0)``) so the loader reports "must be > 0" with
the key path. Cross-field rules (unique strategy ids, strategy venues exist) live in the loader.
``ConfigProblem``/``ConfigError`` and the key-path helpers are here so that both the loader and
the ``${ENV}`` expansion in ``engine.config.secrets`` can report problems without importing each other.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import msgspec

__all__ = [
    "ConfigError",
    "ConfigProblem",
    "AccountConfig",
    "BooksConfig",
    "ClusterConfig",
    "FirmUnderlyingLimits",
    "Deployment",
    "InstrumentRisk",
    "LogFormat",
    "LogLevel",
    "LoggingConfig",
    "Mode",
    "PricingConfig",
    "RateLimitConfig",
    "RiskConfig",
    "UnderlyingRisk",
    "StrategyConfig",
    "VenueConfig",
    "VoltaConfig",
    "OperatorConfig",
    "AlertsConfig",
    "index_path",
    "key_path",
]

Mode = Literal["paper", "live"]
LogLevel = Literal["debug", "info", "warning", "error"]
LogFormat = Literal["auto", "json", "console"]

PositiveFloat = Annotated[float, msgspec.Meta(gt=0)]
PositiveInt = Annotated[int, msgspec.Meta(gt=0)]
NonEmptyStr = Annotated[str, msgspec.Meta(min_length=1)]


class _Section(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """Common struct options for every config section."""


class Deployment(_Section):
    """``[deployment]``: what this process is.

    ``journal`` is a filesystem path; a relative path is resolved against the process's
    current working directory (NOT the config file's directory), like every other CLI path.
    """

    name: NonEmptyStr
    mode: Mode
    journal: NonEmptyStr
    status_interval_s: PositiveFloat = 5.0
    # A strategy callback longer than this is counted and logged (rate-limited); 0 turns it off.
    slow_callback_ms: Annotated[float, msgspec.Meta(ge=0)] = 10.0


class LoggingConfig(_Section):
    """``[logging]``: ``format = "auto"`` renders console lines on a TTY and JSON lines otherwise."""

    level: LogLevel = "info"
    format: LogFormat = "auto"


class VenueConfig(_Section):
    """``[venues.<name>]``: one venue connection; ``<name>`` is the venue part of instrument ids.

    ``adapter`` is an import path ``"module:Class"``. ``params`` stays a free-form table here and
    is decoded later into the adapter's own ``Params`` struct with ``config.decode_params``.
    Values that came from ``${ENV}`` or sit under secret-looking keys are ``Secret`` objects.
    """

    adapter: NonEmptyStr
    enabled: bool = True
    params: dict[str, Any] = {}


class InstrumentRisk(_Section):
    """``[risk.instruments."<venue>:<symbol>"]``: per-instrument overrides of the global limits."""

    max_order_qty: PositiveFloat | None = None
    max_position_qty: PositiveFloat | None = None


class UnderlyingRisk(_Section):
    """``[risk.underlyings.<UNDERLYING>]``: portfolio Greek limits across venues, checked on
    the portfolio as it would be after the order fills (working orders included).

    ``max_delta`` in underlying units (BTC); ``max_gamma`` in underlying units per 1 USD
    move; vega in USD per vol point, in total and per expiry.
    """

    max_delta: PositiveFloat | None = None
    max_gamma: PositiveFloat | None = None
    max_vega_usd: PositiveFloat | None = None
    max_vega_per_expiry_usd: PositiveFloat | None = None


class RateLimitConfig(_Section):
    """``[risk.venue_rates.<venue>]``: order submissions (and amends) per second, and burst."""

    rate: PositiveFloat
    burst: PositiveFloat = 1.0


class AccountConfig(_Section):
    """``[risk.accounts.<venue>]``: the paper/backtest account at one venue (engine/accounts.py).

    ``balances`` per currency (``{ BTC = 1.0, USDT = 50000 }``); ``leverage`` and
    ``maintenance_rate`` of its linear (USD-M) products: IM = notional / leverage, MM =
    notional x rate. Coin-margined products and options use Deribit's standard margin."""

    balances: dict[str, float] = {}
    leverage: PositiveFloat = 20.0
    maintenance_rate: PositiveFloat = 0.004


class RiskConfig(_Section):
    """``[risk]``: first-cut pre-trade risk gate limits. Every key is optional.

    Quantities are in contracts. The price bands are percentages around the book's reference
    price (mid, or the touch when one side is empty); options get their own, much wider band
    because their prices move by large fractions of themselves.
    """

    max_order_qty: PositiveFloat = 10.0
    max_order_notional_usd: PositiveFloat = 250_000.0
    max_position_qty: PositiveFloat = 50.0
    price_band_pct: PositiveFloat = 5.0
    option_price_band_pct: PositiveFloat = 50.0
    max_open_orders: PositiveInt = 200
    kill_switch: bool = False
    instruments: dict[str, InstrumentRisk] = {}
    # -- price collar ------------------------------------------------------------------------
    collar_reference: Literal["mid", "mark", "last"] = "mid"
    option_collar_vega_k: PositiveFloat | None = None
    """Options: allowed distance from the model price, in vol points times vega."""
    # -- orders per instrument / strategy ------------------------------------------------------
    max_open_orders_per_instrument: PositiveInt | None = None
    max_open_orders_per_strategy: PositiveInt | None = None
    duplicate_window_ms: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    # -- portfolio Greeks --------------------------------------------------------------------
    underlyings: dict[str, UnderlyingRisk] = {}
    # -- accounts and margin (paper and backtest) ---------------------------------------------
    accounts: dict[str, AccountConfig] = {}
    margin_buffer_pct: PositiveFloat | None = None
    """Deny an order that would leave equity within this % above maintenance margin."""
    # -- throttles ---------------------------------------------------------------------------
    order_rate_per_s: PositiveFloat | None = None
    order_burst: PositiveFloat = 10.0
    venue_rates: dict[str, RateLimitConfig] = {}
    max_fills: PositiveInt | None = None
    fills_window_s: PositiveFloat = 60.0
    # -- loss limits -------------------------------------------------------------------------
    max_daily_loss_usd: PositiveFloat | None = None
    max_drawdown_usd: PositiveFloat | None = None
    loss_kill_level: Annotated[int, msgspec.Meta(ge=0, le=3)] = 0
    # -- connectivity, acknowledgements, journal -----------------------------------------------
    halt_on_disconnect: bool = True
    cancel_on_disconnect_s: Annotated[float, msgspec.Meta(ge=0)] = 30.0
    """Arm the venues' cancel-on-disconnect / dead-man switch at start (0: do not)."""
    ack_timeout_s: PositiveFloat = 5.0
    max_status_queries: PositiveInt = 3
    journal_synchronous: Literal["NORMAL", "FULL"] = "NORMAL"

    def order_qty_limit(self, instrument_id: str) -> float:
        """Max quantity of one order on ``instrument_id`` (override, else the global limit)."""
        override = self.instruments.get(instrument_id)
        if override is not None and override.max_order_qty is not None:
            return override.max_order_qty
        return self.max_order_qty

    def position_qty_limit(self, instrument_id: str) -> float:
        """Max absolute position on ``instrument_id`` (override, else the global limit)."""
        override = self.instruments.get(instrument_id)
        if override is not None and override.max_position_qty is not None:
            return override.max_position_qty
        return self.max_position_qty


class PricingConfig(_Section):
    """``[pricing]``: the live option-chain view (market IVs, fitted SVI surface, model Greeks).

    The chain is refitted at most every ``chain_interval_s`` and only when an option book
    changed; ``rate`` is the continuously compounded rate used to discount premiums.
    """

    chain_interval_s: PositiveFloat = 1.0
    rate: float = 0.0


class BooksConfig(_Section):
    """``[books]``: the book integrity layer.

    A book that sees no update for ``stale_after_s`` is marked STALE and re-snapshotted
    (0 disables the check; quiet books of far out-of-the-money options need a long window).
    """

    stale_after_s: Annotated[float, msgspec.Meta(ge=0)] = 60.0


class AlertsConfig(_Section):
    """``[operator.alerts]``: where alerts go and when they fire (see engine/operator/alerts.py).

    URLs and the Telegram bot token are secrets: write them as ``${ENV}`` references.
    """

    webhook_url: Any = None
    slack_webhook_url: Any = None
    telegram_bot_token: Any = None
    telegram_chat_id: str = ""
    telegram_api: str = "https://api.telegram.org"
    stale_book_s: Annotated[float, msgspec.Meta(ge=0)] = 30.0
    loss_use_pct: PositiveFloat = 80.0
    dedup_s: Annotated[float, msgspec.Meta(ge=0)] = 300.0
    max_per_minute: PositiveInt = 10


class OperatorConfig(_Section):
    """``[operator]``: the daemon's HTTP surface (dashboard, JSON API, stream, /metrics, control).

    ``enabled`` defaults to on for paper deployments and off for live ones. Control actions need
    the token in ``$VOLTA_OPERATOR_TOKEN`` (paper: generated at start when unset); binding an
    address other than loopback without that token set is a config error. ``port = 0`` picks a
    free port; a paper deployment whose port is taken falls back to a free one (the URL is
    printed and written next to the journal for ``volta status``).
    """

    enabled: bool | None = None
    host: NonEmptyStr = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 8470
    book_levels: PositiveInt = 10
    history: PositiveInt = 500
    alerts: AlertsConfig = AlertsConfig()
class FirmUnderlyingLimits(_Section):
    """``[cluster.firm.<UNDERLYING>]``: firm-wide Greek limits the aggregator enforces by
    allocating budgets to nodes (units as in ``[risk.underlyings]``)."""

    max_delta: PositiveFloat | None = None
    max_gamma: PositiveFloat | None = None
    max_vega_usd: PositiveFloat | None = None


class ClusterConfig(_Section):
    """``[cluster]``: this process as one service of a Volta cluster over NATS JetStream.

    ``role`` says which service the file deploys (``volta run`` is a node, ``volta gateway``
    and ``volta aggregator`` the others). Credentials come through ``${ENV}`` and stay
    redacted. Times in seconds. See docs/cluster.md.
    """

    node_id: NonEmptyStr
    role: Literal["node", "gateway", "aggregator"] = "node"
    servers: Annotated[tuple[NonEmptyStr, ...], msgspec.Meta(min_length=1)] = ("nats://127.0.0.1:4222",)
    user: str | None = None
    password: str | None = None
    token: str | None = None
    connect_timeout_s: PositiveFloat = 2.0
    subject_prefix: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]+$")] = "volta"
    reports_stream: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]+$")] = "VOLTA_RISK"
    snapshot_bucket: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]+$")] = "volta_md_snapshots"
    lease_bucket: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]+$")] = "volta_aggregator_lease"
    replicas: Annotated[int, msgspec.Meta(ge=1, le=5)] = 1
    """JetStream replication of the reports stream and the key-value buckets (R3: 3 servers)."""
    # -- node ----------------------------------------------------------------------------------
    report_interval_s: PositiveFloat = 0.25
    """Exposure reports go out on change, at most one per interval."""
    heartbeat_interval_s: PositiveFloat = 1.0
    aggregator_timeout_s: PositiveFloat = 5.0
    """No budget renewal from the aggregator for this long: ``on_aggregator_loss`` applies."""
    on_aggregator_loss: Literal["reduce_only", "halt", "continue"] = "reduce_only"
    # -- aggregator ----------------------------------------------------------------------------
    nodes: list[NonEmptyStr] = []
    """Nodes expected to report (budgets are split among these and any node seen)."""
    node_weights: dict[str, PositiveFloat] = {}
    """Share of each firm limit per node (default: equal shares)."""
    firm: dict[str, FirmUnderlyingLimits] = {}
    node_stale_after_s: PositiveFloat = 3.0
    budget_renew_s: PositiveFloat = 1.0
    lease_ttl_s: Annotated[float, msgspec.Meta(ge=1.0)] = 3.0
    breach_kill_level: Annotated[int, msgspec.Meta(ge=1, le=3)] = 1
    breach_budget_factor: Annotated[float, msgspec.Meta(ge=0, lt=1)] = 0.0
    """On a firm breach every node's budget of that underlying shrinks to this fraction."""
    command_timeout_s: PositiveFloat = 0.25
    command_retries: PositiveInt = 8
    api_host: NonEmptyStr = "127.0.0.1"
    api_port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 8787
    """The aggregator's JSON firm view (0: an ephemeral port, logged at start)."""


class StrategyConfig(_Section):
    """``[[strategies]]``: one strategy instance.

    ``class`` (``class_`` in Python) is an import path ``"module:Class"``; ``venue`` names an
    enabled ``[venues.<name>]``; ``params`` is decoded later into the strategy's own struct.
    """

    id: NonEmptyStr
    class_: NonEmptyStr = msgspec.field(name="class")
    venue: NonEmptyStr
    params: dict[str, Any] = {}


class VoltaConfig(_Section):
    """A whole deployment file."""

    deployment: Deployment
    logging: LoggingConfig = LoggingConfig()
    venues: dict[str, VenueConfig] = {}
    risk: RiskConfig = RiskConfig()
    pricing: PricingConfig = PricingConfig()
    books: BooksConfig = BooksConfig()
    strategies: list[StrategyConfig] = []
    operator: OperatorConfig = OperatorConfig()
    backtest: dict[str, Any] = {}
    cluster: ClusterConfig | None = None
    """``[cluster]``: optional; set, the process runs as a service of a cluster (docs/cluster.md)."""
    """``[backtest]``: optional; decoded by ``backtest.schema`` (data, clock, report), ignored live."""

    def enabled_venues(self) -> dict[str, VenueConfig]:
        """The venues with ``enabled = true``, by name."""
        return {name: v for name, v in self.venues.items() if v.enabled}


# ---------------------------------------------------------------------------- errors


class ConfigProblem(msgspec.Struct, frozen=True):
    """One thing wrong with a config: the key path (``risk.max_order_qty``) and why.

    ``line``/``column`` are set only for TOML syntax errors, whose ``path`` is empty.
    """

    path: str
    message: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        if self.line is not None:
            return f"line {self.line}, column {self.column}: {self.message}"
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(Exception):
    """A config (or a ``params`` table) is invalid; ``problems`` lists every problem found."""

    def __init__(self, problems: list[ConfigProblem], source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        super().__init__(self._render())

    def _render(self) -> str:
        prefix = f"{self.source}: " if self.source else ""
        if len(self.problems) == 1:
            return f"{prefix}{self.problems[0]}"
        where = f" in {self.source}" if self.source else ""
        lines = "\n".join(f"  {p}" for p in self.problems)
        return f"{len(self.problems)} config problems{where}:\n{lines}"


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def key_path(path: str, key: object) -> str:
    """``path`` + ``.key``, quoting keys TOML would need quoted (``risk.instruments."sim:X"``)."""
    text = str(key)
    if not _BARE_KEY.fullmatch(text):
        text = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{path}.{text}" if path else text


def index_path(path: str, i: int) -> str:
    """``path`` + ``[i]``."""
    return f"{path}[{i}]"
