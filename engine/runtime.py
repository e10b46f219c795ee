"""The runtime: builds a node from a deployment config and runs it, live or on virtual time.

Theory of operation: ``build_node`` resolves the adapters and strategies named in the config
by import path, decodes their typed parameters (errors name the key path), and wires them
into one ``Kernel``. A ``Node`` starts in a fixed order (journal, venues, instruments,
strategies, timers) and stops in the reverse one: strategies stop, every open order is
cancelled, venues close, the journal is flushed. ``run_live`` drives it on uvloop with the
wall clock, with SIGINT/SIGTERM/SIGHUP (and an optional duration) ending the run; ``run_virtual``
drives the same node on a ``VirtualClock`` as fast as the CPU allows, which is how tests and
backtests run whole trading sessions in seconds.
"""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable
from typing import Any

import msgspec
import structlog

from engine.config import ConfigError, ConfigProblem, VoltaConfig, decode_params
from engine.clock import NS_PER_S, Clock, LiveClock, TimerHandle, VirtualClock
from engine.control import ControlWatcher, pid_path
from engine.execution.snapshot import Snapshotter
from engine.journal import Journal, JournalError
from engine.kernel import Kernel
from engine.logging import log_clock
from engine.model import AccountReported, TradingState
from engine.reconcile import rebuild, reconcile, recover
from engine.plugins import PluginError, load_object, resolve_strategy
from engine.risk import InstrumentLimits, RateLimit, RiskLimits, UnderlyingLimits
from engine.accounts import account_book, account_problems
from engine.funding import FundingEngine, unbooked
from engine.risk.underlyings import canonical_keys, check_known
from engine.startup import (
    STILL_CONNECTING,
    StrategyStartFailed,
    VenueStarter,
    VenueStartFailed,
    describe_strategy_failure,
)
from engine.status import status_fields, status_line
from engine.strategy import Strategy, StrategyContext
from engine.venue import VenueAdapter
from engine.warmup import warm_kernels

log = structlog.get_logger("volta.runtime")


def risk_limits(config: VoltaConfig) -> RiskLimits:
    r = config.risk
    return RiskLimits(
        max_order_qty=r.max_order_qty,
        max_order_notional_usd=r.max_order_notional_usd,
        max_position_qty=r.max_position_qty,
        price_band_pct=r.price_band_pct,
        option_price_band_pct=r.option_price_band_pct,
        max_open_orders=r.max_open_orders,
        per_instrument={k: InstrumentLimits(v.max_order_qty, v.max_position_qty)
                        for k, v in r.instruments.items()},
        collar_reference=r.collar_reference,
        option_collar_vega_k=r.option_collar_vega_k,
        max_open_orders_per_instrument=r.max_open_orders_per_instrument,
        max_open_orders_per_strategy=r.max_open_orders_per_strategy,
        duplicate_window_ms=r.duplicate_window_ms,
        underlyings=canonical_keys({k: UnderlyingLimits(v.max_delta, v.max_gamma, v.max_vega_usd,
                                                        v.max_vega_per_expiry_usd)
                                    for k, v in r.underlyings.items()}),
        global_rate=RateLimit(r.order_rate_per_s, r.order_burst) if r.order_rate_per_s else None,
        venue_rates={k: RateLimit(v.rate, v.burst) for k, v in r.venue_rates.items()},
        max_fills=r.max_fills,
        fills_window_s=r.fills_window_s,
        max_daily_loss_usd=r.max_daily_loss_usd,
        max_drawdown_usd=r.max_drawdown_usd,
        loss_kill_level=r.loss_kill_level,
        halt_on_disconnect=r.halt_on_disconnect,
        ack_timeout_s=r.ack_timeout_s,
        max_status_queries=r.max_status_queries,
    )


def _make_adapter(name: str, path: str, params: dict[str, Any]) -> VenueAdapter:
    cls = load_object(path)
    if not (isinstance(cls, type) and issubclass(cls, VenueAdapter)):
        raise ConfigError([ConfigProblem(f"venues.{name}.adapter", f"{path} is not a VenueAdapter class")])
    params_type = getattr(cls, "Params", None)
    if params_type is None:
        return cls()  # type: ignore[call-arg]
    if "venue" in getattr(params_type, "__struct_fields__", ()) and "venue" not in params:
        params = {**params, "venue": name}  # the config's table name is the venue id
    adapter = cls(decode_params(params, params_type, f"venues.{name}.params"))  # type: ignore[call-arg]
    if adapter.venue != name:
        raise ConfigError([ConfigProblem(f"venues.{name}.params.venue",
                                         f"adapter calls itself {adapter.venue!r}, not {name!r}")])
    return adapter


def resolve_plugins(config: VoltaConfig) -> list[ConfigProblem]:
    """Check every import path and typed parameter table without starting anything."""
    problems: list[ConfigProblem] = []
    for name, vc in config.enabled_venues().items():
        try:
            _make_adapter(name, vc.adapter, dict(vc.params))
        except PluginError as exc:
            problems.append(ConfigProblem(f"venues.{name}.adapter", str(exc)))
        except ConfigError as exc:
            problems.extend(exc.problems)
    for i, sc in enumerate(config.strategies):
        try:
            cls = resolve_strategy(sc.class_)
            decode_params(dict(sc.params), getattr(cls, "Config"), f"strategies[{i}].params")
        except PluginError as exc:
            problems.append(ConfigProblem(f"strategies[{i}].class", str(exc)))
        except ConfigError as exc:
            problems.extend(exc.problems)
    problems += account_problems(config)  # what build_node's account_book would refuse
    try:
        canonical_keys(config.risk.underlyings)  # what build_node's risk_limits would refuse
    except ConfigError as exc:
        problems.extend(exc.problems)
    return problems


def checkpoint_interval_ns(memory_journal: bool, clock: Clock) -> int:
    """The journal's commit timer: 200 ms live (it bounds what a crash can lose); once a
    virtual second for an in-memory journal on a virtual clock (a backtest: no crash to bound,
    and each firing cuts a quiet run of the replay). The same records either way, batched."""
    return NS_PER_S if memory_journal and isinstance(clock, VirtualClock) else NS_PER_S // 5


@dataclass
class Node:
    """One running deployment: the kernel plus its venues, strategies and timers."""

    config: VoltaConfig
    kernel: Kernel
    strategy_specs: list[tuple[str, type, Any, str]]
    timers: list[TimerHandle] = field(default_factory=list)
    started: bool = False
    status_log: list[dict[str, Any]] = field(default_factory=list)
    journal_path: str = ""
    control: ControlWatcher | None = None
    snapshotter: Snapshotter | None = None
    recovered: bool = False
    funding: FundingEngine | None = None
    """Funding of perpetual positions (paper and backtest; live venues book their own)."""
    operator: Any = None  # engine.operator.Operator when [operator] is on (run_live only)
    fail_fast: bool = False
    """A venue that does not start ends the run (``VenueStartFailed``) instead of being retried."""
    starter: VenueStarter | None = None
    opened: bool = False
    warmed: bool = False
    _tasks: set[Any] = field(default_factory=set)
    _reconciling: set[str] = field(default_factory=set)
    cluster_service: Any = None  # cluster.node:NodeService when [cluster] deploys a node
    start_failure: StrategyStartFailed | None = None
    """Strategies whose ``on_start`` raised when they started after a late reconciliation
    (``volta run`` stops and raises it; at start ``start`` raises it itself)."""
    request_stop: Callable[[], None] | None = None
    """Ends the run (``volta run`` sets it): a strategy that failed to start late."""
    strategy_start_failure_stops: bool = True
    """A strategy whose ``on_start`` raises stops the node (``StrategyStartFailed``). False (a
    backtest: its result says a strategy raised, and exits 1): a failed callback like any
    other (``Kernel.start_strategies``), and the run goes on."""

    @property
    def clock(self) -> Clock:
        return self.kernel.clock

    @property
    def journal_failure(self) -> str:
        """Why the journal failed during the run ("": it did not): trading was halted then."""
        return self.kernel.execution.journal_failure

    def warm(self) -> None:
        """Compile or load every Numba kernel the node uses (engine/warmup.py): nothing may
        compile once a venue is LIVE. Done once; ``volta run`` does it before its duration
        starts counting, so a cold cache does not eat into the run."""
        if self.warmed:
            return
        seconds = warm_kernels(self.clock.now_ns(), self.config.pricing.rate)
        self.warmed = True
        log.info("kernels_ready", seconds=round(seconds, 3), cached_in_process=seconds == 0.0)

    async def start(self) -> None:
        k = self.kernel
        self.opened = True  # from here on ``stop`` has something to close
        self.warm()
        # Recovery (engine/reconcile.py): the journal first (with the instruments venues list
        # before connecting), then the venues, then reconciliation; trading only after it.
        k.trading.hold("reconciliation", TradingState.HALTED, "waiting for venue reconciliation")
        if self.config.cluster is not None and self.config.cluster.role == "node":
            # Exposure reports, budgets, kill commands (docs/cluster.md); by import path. First,
            # so that an unreachable NATS fails the start before any venue connects.
            self.cluster_service = load_object("cluster.node:NodeService")(self)
            await self.cluster_service.start()
        for adapter in k.adapters.values():
            k.add_instruments(adapter.instruments())
        if k.journal is not None:
            rebuild(k, k.journal)
            k.killswitch.restore_losses()
        # A venue that does not start is halted (that venue only: the others trade) and
        # retried (engine/startup.py); its hold is ``venue_start:<venue>``.
        self.starter = VenueStarter(
            lambda src, why: k.trading.hold_venue(src.partition(":")[2], src, why),
            lambda src: k.trading.release_venue(src.partition(":")[2], src), self._venue_up)
        up = await self.starter.start_all(list(k.adapters.values()), self.fail_fast)
        for adapter in up:
            self._register_venue(adapter)
        if len(up) == len(k.adapters):  # a venue still down has not listed its instruments
            check_known(self.config.risk.underlyings, k.instruments.values())
            _check_instrument_keys(self.config.risk.instruments, k.instruments)
        self.recovered = await recover(k, venues=up)
        k.on_reconcile_request = self._reconcile_later
        for sid, cls, params, venue in self.strategy_specs:
            ctx = StrategyContext(k.strategy_ports(), sid, venue)
            ctx.continue_ids_after(o.client_order_id for o in k.orders)
            strategy: Strategy[Any] = cls(ctx, params)
            k.add_strategy(sid, strategy)
        if self.recovered:
            self._strategies_started(k.start_strategies(self.strategy_start_failure_stops))
        else:
            log.error("reconciliation_failed_trading_halted", holds=dict(k.gate.hold_reasons))
            self._reconcile_later("*")
        self.timers.append(self.clock.every(NS_PER_S, k.router.check_timeouts))
        self.timers.append(self.clock.every(NS_PER_S, k.killswitch.tick))
        accounts = k.gate.accounts
        if accounts is not None:  # account margin totals off the order path (engine/accounts.py)
            self.timers.append(self.clock.every(NS_PER_S, lambda _: accounts.refresh()))
        if self.journal_path and self.journal_path != ":memory:":
            self.control = ControlWatcher(k, self.journal_path)
            self.timers.append(self.clock.every(NS_PER_S // 4, self.control.poll))
        if self.config.books.stale_after_s > 0:
            self.timers.append(self.clock.every(NS_PER_S, k.check_stale_books))
        chain_ns = int(self.config.pricing.chain_interval_s * NS_PER_S)
        if k.chains:
            self.timers.append(self.clock.every(chain_ns, k.refresh_chains))
        interval = int(self.config.deployment.status_interval_s * NS_PER_S)
        self.timers.append(self.clock.every(interval, self._status))
        if k.journal is not None:
            every_ns = checkpoint_interval_ns(k.journal.memory, self.clock)
            self.timers.append(self.clock.every(every_ns, k.execution.checkpoint))
            if not k.journal.memory:  # recovery in time independent of history
                ks = k.killswitch
                self.snapshotter = Snapshotter(k.journal, k.orders, k.portfolio,
                                               lambda: ks.durable, k.execution.checkpoint,
                                               execution=k.execution.snapshot,
                                               throttle=k.gate.snapshot)
                self.timers.append(self.clock.every(NS_PER_S, self.snapshotter.tick))
        self.started = True
        log.info("node_started", deployment=self.config.deployment.name,
                 strategies=list(k.strategies), state=str(k.gate.state))

    def _register_venue(self, adapter: VenueAdapter) -> None:
        k = self.kernel
        k.add_instruments(adapter.instruments())
        rate = getattr(adapter, "order_rate_limit", None)  # (rate, burst) from the venue's docs
        if rate is not None:
            k.gate.set_venue_rate(adapter.venue, *rate)
        cod = self.config.risk.cancel_on_disconnect_s
        if cod > 0:
            adapter.enable_cancel_on_disconnect(cod)
        log.info("venue_started", venue=adapter.venue, instruments=len(adapter.instruments()))

    async def _venue_up(self, adapter: VenueAdapter) -> None:
        """A venue that was down at start came up: register it, reconcile it (retried)."""
        self._register_venue(adapter)
        delay = 1.0
        while True:
            try:
                await reconcile(self.kernel, adapter)
                return
            except Exception as exc:  # noqa: BLE001 - retried; the venue's hold stays
                log.error("reconcile_failed", venue=adapter.venue, error=str(exc) or repr(exc))
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)

    def _reconcile_later(self, venue: str) -> None:
        """Reconcile ``venue`` (``*``: all, then start the strategies) outside the core."""
        if venue in self._reconciling:
            return
        self._reconciling.add(venue)
        k = self.kernel

        async def run() -> None:
            try:
                while self.started or not self.recovered:
                    if venue == "*":
                        if await recover(k):
                            self.recovered = True
                            try:
                                self._strategies_started(
                                    k.start_strategies(self.strategy_start_failure_stops))
                            except StrategyStartFailed as exc:
                                self.start_failure = exc  # (a task: the run ends on it)
                                if self.request_stop is not None:
                                    self.request_stop()
                            return
                    else:
                        adapter = k.adapters.get(venue)
                        if adapter is None:
                            return
                        try:
                            await reconcile(k, adapter)
                            return
                        except Exception as exc:  # noqa: BLE001 - retried
                            log.error("reconcile_failed", venue=venue, error=repr(exc))
                    await asyncio.sleep(5.0)
            finally:
                self._reconciling.discard(venue)

        try:
            task = asyncio.get_running_loop().create_task(run(), name=f"reconcile-{venue}")
        except RuntimeError:
            self._reconciling.discard(venue)
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _strategies_started(self, failed: dict[str, BaseException]) -> None:
        """One error line per strategy whose ``on_start`` raised, then ``StrategyStartFailed``:
        the node does not trade a deployment with a strategy that never started (the caller's
        ``stop`` then stops the others and cancels what they placed)."""
        if not failed:
            return
        why = {sid: describe_strategy_failure(exc) for sid, exc in failed.items()}
        for sid, text in why.items():
            log.error("strategy_start_failed", strategy=sid, error=text, action="stopping the node")
        raise StrategyStartFailed(why)

    def _status(self, _now: int) -> None:
        fields = status_fields(self.kernel)
        fields["strategies"] = self.kernel.strategy_timing()
        if self.funding is not None:  # (payments, and the perps no funding rate reached)
            fields["funding"] = self.funding.summary()
        else:  # live: funding is the venue's, in its account; the PnL leaves it out
            fields["funding"] = unbooked(self.kernel.portfolio)
            if fields["funding"]["unfunded"]:
                fields["funding_usd"] = None  # unknown here, not 0
        self.status_log.append(fields)
        log.info("status", console_line=status_line(fields), **fields)

    async def stop(self) -> None:
        """Ordered shutdown: strategies, open orders, venues, journal (also after a start that
        was interrupted or failed part way)."""
        if not self.opened:
            return
        self.opened = self.started = False
        k = self.kernel
        if self.starter is not None:
            await self.starter.stop()
        for handle in self.timers:
            handle.cancel()
        for task in list(self._tasks):
            task.cancel()
        k.stop_strategies()
        k.set_trading_state(TradingState.HALTED, "shutdown")  # nothing new may leave now
        cancelled = k.execution.cancel_all()
        if self.cluster_service is not None:
            await self.cluster_service.stop()
        for adapter in k.adapters.values():
            try:
                await adapter.stop()
            except Exception:  # noqa: BLE001 - keep closing the others
                log.exception("venue_stop_failed", venue=adapter.venue)
        k.execution.denial_log.flush(self.clock.now_ns())
        self._status(self.clock.now_ns())
        if k.journal is not None:
            k.execution.checkpoint()  # (a failed journal was reported when it failed)
            if self.snapshotter is not None:
                self.snapshotter.take(self.clock.now_ns())  # the next start replays no tail
            try:
                k.journal.close()
            except JournalError as exc:
                log.error("journal_close_failed", journal=str(k.journal.path), error=str(exc))
        log.info("node_stopped", cancelled_orders=cancelled, fills=k.counters.get("fills", 0),
                 still_open=len(k.orders.open_orders()))


def build_node(config: VoltaConfig, clock: Clock, journal_path: str | Path | None = None) -> Node:
    """Resolve plugins and wire a node (nothing is started)."""
    problems = resolve_plugins(config)
    if problems:
        raise ConfigError(problems)
    path = journal_path if journal_path is not None else config.deployment.journal
    journal = Journal(path, config.risk.journal_synchronous)
    state = TradingState.HALTED if config.risk.kill_switch else TradingState.ACTIVE
    kernel = Kernel(clock, risk_limits(config), journal, state)
    kernel.option_chains.rate = config.pricing.rate
    kernel.book_keeper.stale_after_ns = int(config.books.stale_after_s * NS_PER_S)
    kernel.callbacks.slow_ns = int(config.deployment.slow_callback_ms * 1_000_000)
    for name, vc in config.enabled_venues().items():
        kernel.add_adapter(_make_adapter(name, vc.adapter, dict(vc.params)))
    specs = []
    for i, sc in enumerate(config.strategies):
        cls = resolve_strategy(sc.class_)
        params = decode_params(dict(sc.params), cls.Config, f"strategies[{i}].params")
        specs.append((sc.id, cls, params, sc.venue))
    funding = None if config.deployment.mode == "live" else \
        FundingEngine(kernel.bus, kernel.portfolio, clock, kernel.instruments.get)
    accounts = kernel.gate.accounts = account_book(config, kernel.portfolio, clock.now_ns)
    if accounts is not None and accounts.live:  # the venues' account reports feed the book
        kernel.bus.subscribe(AccountReported, accounts.on_report)
    return Node(config, kernel, specs, journal_path=str(path), funding=funding)


def _check_instrument_keys(overrides: dict[str, Any], instruments: dict[str, Any]) -> None:
    """ConfigError for a ``[risk.instruments."venue:SYMBOL"]`` no venue lists: a misspelt
    symbol would leave its limits applied to nothing."""
    import difflib

    from engine.config.schema import key_path

    problems = []
    for iid in overrides:
        if iid in instruments:
            continue
        venue, _, symbol = iid.partition(":")
        listed = [i.partition(":")[2] for i in instruments if i.partition(":")[0] == venue]
        close = difflib.get_close_matches(symbol, listed, n=1)
        problems.append(ConfigProblem(key_path("risk.instruments", iid),
                                      f"no instrument {symbol} at venue {venue}"
                                      + (f" (did you mean {close[0]!r}?)" if close else "")))
    if problems:
        raise ConfigError(problems)


async def _serve(node: Node, duration_s: float | None) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    ks = node.kernel.killswitch
    # (SIGHUP: the terminal or SSH session that started the daemon went away: a clean stop,
    # not a death that leaves orders working at the venues)
    handlers = {signal.SIGINT: stop.set, signal.SIGTERM: stop.set, signal.SIGHUP: stop.set,
                signal.SIGUSR1: lambda: ks.trip(1, "SIGUSR1", "signal"),
                signal.SIGUSR2: lambda: ks.trip(2, "SIGUSR2", "signal")}
    for sig, fn in handlers.items():
        try:
            loop.add_signal_handler(sig, fn)
        except (NotImplementedError, RuntimeError):  # not the main thread / platform
            pass
    node.request_stop = stop.set  # (a strategy that fails to start late ends the run)
    pid_file = pid_path(node.journal_path) if node.journal_path not in ("", ":memory:") else None
    if pid_file is not None:
        pid_file.parent.mkdir(parents=True, exist_ok=True)
        pid_file.write_text(f"{os.getpid()}\n")
    try:
        from engine.operator import make_operator, start_and_announce

        node.operator = make_operator(node.kernel, node.config, node.journal_path)
        if node.operator is not None:  # before start: its tape sees every event
            await start_and_announce(node.operator)
        node.warm()  # before the duration counts: a cold Numba cache is not run time
        # The duration counts from here: a venue that takes long to answer (or never does) at
        # start does not stretch the run, and a signal during the start ends it too.
        deadline = loop.time() + duration_s if duration_s is not None else None
        starting = loop.create_task(node.start(), name="node-start")
        stopping = loop.create_task(stop.wait(), name="stop-wait")
        await asyncio.wait({starting, stopping}, timeout=duration_s,
                           return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            starting.cancel()
            await asyncio.gather(starting, return_exceptions=True)
            stopping.cancel()
            log.info("stop_requested", reason="signal" if stop.is_set() else "duration",
                     seconds=duration_s, during="start")
            if node.fail_fast and node.starter is not None and node.starter.pending:
                raise VenueStartFailed({v: STILL_CONNECTING for v in sorted(node.starter.pending)})
            return
        starting.result()  # VenueStartFailed (fail fast), StrategyStartFailed end the run here
        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(a.run(), name=f"venue-{a.venue}")
                     for a in node.kernel.adapters.values()]
            remaining = None if deadline is None else max(0.0, deadline - loop.time())
            done, _ = await asyncio.wait({stopping}, timeout=remaining)
            stopping.cancel()
            if node.start_failure is not None:
                log.info("stop_requested", reason="strategy_start_failed")
            elif done:
                log.info("stop_requested", reason="signal")
            else:
                log.info("stop_requested", reason="duration", seconds=duration_s)
            await node.stop()
            for task in tasks:
                task.cancel()
        if node.start_failure is not None:
            raise node.start_failure
    finally:
        await node.stop()
        if node.operator is not None:
            await node.operator.stop()
        if pid_file is not None:
            pid_file.unlink(missing_ok=True)
        for sig in handlers:
            try:
                loop.remove_signal_handler(sig)
            except (NotImplementedError, RuntimeError):
                pass


def run_live(config: VoltaConfig, duration_s: float | None = None, fail_fast: bool = False) -> Node:
    """Run on the wall clock (uvloop) until a signal or ``duration_s``; returns the node.
    ``fail_fast``: a venue that does not start raises ``VenueStartFailed`` (else it is retried)."""
    import uvloop

    node = build_node(config, LiveClock())
    node.fail_fast = fail_fast
    uvloop.run(_serve(node, duration_s))
    return node


def run_virtual(config: VoltaConfig, duration_s: float, start_ns: int = 1_767_225_600 * NS_PER_S,
                journal_path: str | Path | None = None, step_ns: int = NS_PER_S) -> Node:
    """Run the same node on a virtual clock for ``duration_s`` simulated seconds."""
    clock = VirtualClock(start_ns)
    node = build_node(config, clock, journal_path)

    async def drive() -> None:
        try:
            await node.start()
        except StrategyStartFailed:
            await node.stop()  # (the strategies that did start: their orders cancelled)
            raise
        end = start_ns + int(duration_s * NS_PER_S)
        t = start_ns
        while t < end:
            t = min(t + step_ns, end)
            clock.advance_to(t)
            await asyncio.sleep(0)  # let any adapter task run, as the live loop would
        await node.stop()

    with log_clock(clock.now_ns):  # log lines carry simulated time, not the wall clock
        asyncio.run(drive())
    return node


def config_to_dict(config: VoltaConfig) -> dict[str, Any]:
    return msgspec.to_builtins(config, enc_hook=str)
