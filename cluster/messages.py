"""The cluster's risk messages: frozen msgspec Structs, MessagePack on the wire.

Subjects (``<p>`` is ``cluster.subject_prefix``)::

    <p>.risk.<node>.report    ExposureReport   JetStream stream ``reports_stream`` (persisted)
    <p>.hb.<node>             Heartbeat        core NATS (liveness only)
    <p>.ctl.<node>.budget     BudgetGrant  -> BudgetAck     request-reply
    <p>.ctl.<node>.kill       KillCommand  -> KillAck       request-reply
    <p>.ctl.resend            (empty)          core NATS: every node reports its current state again
    <p>.alerts                Alert            core NATS

Numbers carry their unit in the name; a value that cannot be priced is ``None`` ("unpriced"),
never 0.
"""

from __future__ import annotations

import msgspec


class GreekBucket(msgspec.Struct, frozen=True):
    """Greeks of one node's positions in one (canonical underlying, expiry); ``expiry_ns`` 0 is
    the undated products (perpetuals, spot). Delta in underlying units, gamma in underlying
    units per 1 USD, vega in USD per vol point, theta in USD per day."""

    underlying: str
    expiry_ns: int
    delta: float
    gamma: float
    vega_usd: float
    theta_usd_day: float


class UnderlyingTotals(msgspec.Struct, frozen=True):
    underlying: str
    delta: float
    gamma: float
    vega_usd: float
    theta_usd_day: float
    delta_usd: float | None
    """``None`` when the underlying has no price yet (unpriced)."""
    uncounted: dict[str, list[str]] = msgspec.field(default_factory=dict)
    """Per Greek (``delta``, ``gamma``, ``vega``, ``theta``), the node's open positions the
    totals above leave out, their Greek not known yet (absent: complete; older reports)."""


class PositionRow(msgspec.Struct, frozen=True):
    instrument_id: str
    qty: float
    avg_price: float
    mark: float | None
    notional_usd: float | None


class OpenOrderRow(msgspec.Struct, frozen=True):
    client_order_id: str
    instrument_id: str
    side: str
    leaves_qty: float
    price: float | None


class VenueExposure(msgspec.Struct, frozen=True):
    """Credit risk on one venue: what the node has there."""

    venue: str
    gross_notional_usd: float
    unpriced_positions: int
    open_orders: int
    collateral_usd: float | None = None
    margin_used_usd: float | None = None
    """``None``: the venue adapter reports no account figures (unknown, not zero)."""


class PnlUsd(msgspec.Struct, frozen=True):
    realized: float
    unrealized: float
    fees: float
    total: float
    """realized + unrealized - fees + funding, of the currencies that have a USD price"""
    funding: float = 0.0
    unpriced: dict[str, float] = {}
    """Amounts per currency with no USD price yet (not in the USD figures, never 0)."""


class ExposureReport(msgspec.Struct, frozen=True):
    node_id: str
    incarnation: int
    """Start time (ns) of the node process, above its previous life's whatever the clock
    (``cluster.node``): a restarted node starts a new sequence."""
    seq: int
    ts: int
    trading_state: str
    kill_level: int
    budget_revision: int
    totals: list[UnderlyingTotals]
    greeks: list[GreekBucket]
    positions: list[PositionRow]
    open_orders: list[OpenOrderRow]
    venues: list[VenueExposure]
    pnl_usd: PnlUsd


class Heartbeat(msgspec.Struct, frozen=True):
    node_id: str
    incarnation: int
    ts: int
    last_report_seq: int
    trading_state: str


class Budget(msgspec.Struct, frozen=True):
    """One underlying's budget for one node (absolute limits; ``None``: no limit)."""

    max_delta: float | None = None
    max_gamma: float | None = None
    max_vega_usd: float | None = None


class BudgetGrant(msgspec.Struct, frozen=True):
    aggregator_id: str
    revision: int
    budgets: dict[str, Budget]
    reason: str = "renewal"


class BudgetAck(msgspec.Struct, frozen=True):
    node_id: str
    revision: int
    applied_ts: int
    trading_state: str


class KillCommand(msgspec.Struct, frozen=True):
    command_id: str
    level: int
    reason: str
    aggregator_id: str


class KillAck(msgspec.Struct, frozen=True):
    node_id: str
    command_id: str
    level: int
    trading_state: str


class Alert(msgspec.Struct, frozen=True):
    ts: int
    kind: str
    """``node_stale``, ``node_back``, ``firm_breach``, ``command_failed``, ``leader``."""
    node_id: str
    message: str


encode = msgspec.msgpack.Encoder().encode


def decoder(cls: type) -> msgspec.msgpack.Decoder:  # type: ignore[type-arg]
    return msgspec.msgpack.Decoder(cls)


def report_subject(prefix: str, node_id: str) -> str:
    return f"{prefix}.risk.{node_id}.report"


def heartbeat_subject(prefix: str, node_id: str) -> str:
    return f"{prefix}.hb.{node_id}"


def control_subject(prefix: str, node_id: str, what: str) -> str:
    return f"{prefix}.ctl.{node_id}.{what}"


def resend_subject(prefix: str) -> str:
    """The aggregator asks every node to publish its current report again (the stream it was
    in was lost); no payload."""
    return f"{prefix}.ctl.resend"
