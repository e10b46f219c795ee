"""The ``[backtest]`` section of a deployment file and the replay exchange's venue parameters.

A backtest config is a live deployment file (``[deployment]``, ``[venues.*]``, ``[risk]``,
``[[strategies]]``) plus one ``[backtest]`` table, decoded here with ``config.decode_params`` so
every mistake names its key path (``backtest.data.source: expected one of ...``). The venues'
simulation parameters (latency, fees, queue model) live in ``[venues.<name>.params]`` of a venue
whose adapter is ``backtest.exchange:ReplayExchange``; a venue whose adapter generates its own
market (``adapters.sim:SimVenue``) runs exactly as in paper trading.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

# (the latency and queue models are shared with the simulated venue, hence defined there)
from adapters.sim.latency import LatencyModel
from adapters.sim.queue_model import QueueModel
from engine.config import ConfigError, ConfigProblem, VoltaConfig, decode_params

NonNeg = Annotated[float, msgspec.Meta(ge=0)]
Seed = Annotated[int, msgspec.Meta(ge=0)]
"""A seed of the random streams (numpy seeds are non-negative)."""
Positive = Annotated[float, msgspec.Meta(gt=0)]


class _S(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    pass


class InstrumentSpec(_S, kw_only=True):
    """An instrument the data does not define (e.g. a Binance stream without exchangeInfo)."""

    symbol: str
    kind: Literal["spot", "perpetual", "future", "option"] = "perpetual"
    base: str = "BTC"
    quote: str = "USDT"
    settle: str = "USDT"
    inverse: bool = False
    contract_size: Positive = 1.0
    tick_size: Positive
    lot_size: Positive
    min_size: NonNeg = 0.0
    underlying: str = ""
    expiry_ns: int = 0
    strike: NonNeg = 0.0
    option_type: Literal["call", "put"] | None = None
    premium_in_coin: bool = False
    maker_fee: float | None = None
    taker_fee: float | None = None

    def __post_init__(self) -> None:
        # an option without them was listed as one: never expiring nor settling, no model
        # price nor Greeks (its position left out of the delta), every figure quietly off
        if self.kind == "option":
            missing = [k for k, bad in (("expiry_ns", self.expiry_ns <= 0),
                                        ("strike", self.strike <= 0),
                                        ("option_type", self.option_type is None)) if bad]
            if missing:
                raise ValueError(f"option {self.symbol!r} needs {', '.join(missing)}")


class ExchangeParams(_S):
    """``[venues.<name>.params]`` of ``backtest.exchange:ReplayExchange``."""

    venue: str = ""
    order_latency: LatencyModel = LatencyModel()
    """Strategy -> matching engine (order entry, cancels, amends)."""
    response_latency: LatencyModel = LatencyModel()
    """Matching engine -> strategy (acks, fills, rejects)."""
    market_data_latency: LatencyModel = LatencyModel()
    """Extra delay of market data on top of the recording's own (0 for real captures)."""
    queue: QueueModel = QueueModel()
    maker_fee: float | None = None
    """Overrides every instrument's maker fee rate (negative = rebate)."""
    taker_fee: float | None = None
    option_fee_cap: NonNeg = 0.125
    """Cap of an option fee as a fraction of the premium (Deribit/OKX/Bybit convention)."""
    instruments: list[InstrumentSpec] = []
    seed: Seed = 1


class DataConfig(_S):
    """``[backtest.data]``: where market events come from.

    ``source = "capture"``: ``files`` (capture format, decoded by the real codecs, in receive
    order); ``"catalog"`` (implied when ``catalog`` is set): the Parquet catalog at ``catalog``
    (``volta data import``), narrowed by ``venues``, ``instruments``, ``start``/``end`` (UTC
    days, inclusive) and ``datasets``; ``"store"``: a normalized event store written earlier (``store``); ``"synthetic"``:
    the seeded generator (``[backtest.data.synthetic]`` = the simulated venue's params) run for
    ``duration_s`` and replayed; ``"venue"``: the configured adapters produce the market
    themselves (the simulated venue exactly as in paper trading) for ``duration_s``.
    With ``store`` set, capture and synthetic data are decoded once and cached there.
    Relative paths are relative to the config file; ``${VOLTA_MARKETDATA}`` (or any environment
    variable) and ``~`` are expanded (``backtest.datapaths``).
    """

    source: Literal["capture", "store", "synthetic", "venue", "catalog"] = "synthetic"
    files: list[str] = []
    store: str = ""
    catalog: str = ""
    venues: list[str] = []
    instruments: list[str] = []
    """Symbols (``BTC-PERPETUAL``) or instrument ids (``deribit:BTC-PERPETUAL``); all if empty."""
    start: str = ""
    end: str = ""
    datasets: list[str] = []
    """Catalog datasets to replay (e.g. ``["incremental_book_L2", "trades"]``); all if empty."""
    requires: str = ""
    """What a user must download or import for this config (shown when the data is missing)."""
    duration_s: Positive = 600.0
    synthetic: dict[str, Any] = {}
    synthetic_venue: str = "sim"
    start_ns: int = 1_767_225_600_000_000_000
    """Virtual start (synthetic/venue sources); 2026-01-01T00:00Z by default."""


class ReportConfig(_S):
    sample_interval_s: Positive = 1.0
    """Equity, positions and Greeks are sampled on this virtual-time grid."""
    markout_s: list[Positive] = msgspec.field(default_factory=lambda: [1.0, 10.0])
    """Adverse selection: mid move this long after each fill (signed for the fill's side)."""
    max_points: Annotated[int, msgspec.Meta(ge=100)] = 1500
    """Charts are downsampled (min/max preserving) to this many points per series."""


class BacktestSpec(_S):
    data: DataConfig = DataConfig()
    report: ReportConfig = ReportConfig()
    seed: Seed = 1
    numba_threads: Annotated[int, msgspec.Meta(ge=1)] = 1
    """Threads for the engine's Numba kernels in this run (1: one core per backtest)."""
    progress_interval_s: NonNeg = 1.0
    """Progress line on stderr this often (wall time); 0 disables it."""


def backtest_spec(config: VoltaConfig) -> BacktestSpec:
    """Decode the ``[backtest]`` table (errors name ``backtest.<key path>``)."""
    return decode_params(dict(config.backtest), BacktestSpec, "backtest")


def check_backtest(config: VoltaConfig) -> list[ConfigProblem]:
    """Problems of the ``[backtest]`` table, as ``ConfigProblem``s (empty when valid)."""
    try:
        spec = backtest_spec(config)
    except ConfigError as exc:
        return exc.problems
    problems: list[ConfigProblem] = []
    d = spec.data
    if d.source == "capture" and not d.files:
        problems.append(ConfigProblem("backtest.data.files", "source 'capture' needs files"))
    if d.source == "store" and not d.store:
        problems.append(ConfigProblem("backtest.data.store", "source 'store' needs a store path"))
    if d.source == "catalog" and not d.catalog:
        problems.append(ConfigProblem("backtest.data.catalog", "source 'catalog' needs a catalog"))
    seed = d.synthetic.get("seed")  # (the generator's own params decode it later)
    if isinstance(seed, int) and seed < 0:
        problems.append(ConfigProblem("backtest.data.synthetic.seed",
                                      f"must be >= 0, got {seed}"))
    for key in ("start", "end"):
        v = getattr(d, key)
        if v and not _is_day(v):
            problems.append(ConfigProblem(f"backtest.data.{key}", f"{v!r} is not a YYYY-MM-DD day"))
    return problems


def uses_catalog(d: DataConfig) -> bool:
    """``source = "catalog"``, or a ``catalog`` given with the default source."""
    return d.source == "catalog" or (bool(d.catalog) and d.source == "synthetic")


def missing_data(spec: BacktestSpec) -> list[ConfigProblem]:
    """Data files the config names that do not exist (checked before any work is done; the
    paths must have been resolved against the config file: ``backtest.datapaths``)."""
    d = spec.data
    need = f" (needs: {d.requires})" if d.requires else ""
    out: list[ConfigProblem] = []
    if uses_catalog(d):
        if Path(d.catalog).exists() and not Path(d.catalog).is_dir():
            out.append(ConfigProblem("backtest.data.catalog", f"not a folder (a catalog is a "
                                     f"folder): {d.catalog}{need}"))
        elif not Path(d.catalog).is_dir():
            out.append(ConfigProblem("backtest.data.catalog", f"no such catalog folder: "
                                     f"{d.catalog}{need or ' (create it with `volta data import`)'}"))
    elif d.source == "capture":
        out.extend(ConfigProblem("backtest.data.files", f"no such file: {f}{need}")
                   for f in d.files if not Path(f).is_file())
    elif d.source == "store" and d.store and not (Path(d.store) / "meta.json").is_file():
        out.append(ConfigProblem("backtest.data.store", f"no event store at {d.store}{need}"))
    return out


def _is_day(v: str) -> bool:
    try:
        return len(v) == 10 and dt.date.fromisoformat(v).isoformat() == v
    except ValueError:
        return False
