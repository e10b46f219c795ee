"""What the strategies are told of trading state: the gate's state to all, a venue's own halts
to the strategies trading there.

Theory of operation: the gate's effective state changes through the trading-state owner
(which publishes ``TradingStateChanged``) or through a hold someone put on the gate itself;
``sync`` compares it with the state the strategies were last told and, on a change, calls
every strategy's ``on_halt`` (on leaving ACTIVE, or moving between HALTED and REDUCING) or
``on_resume`` (ACTIVE again). The kernel calls ``sync`` on every ``TradingStateChanged`` and
from its chain and staleness timers. A venue halted or resumed on its own
(``VenueTradingChanged``) is told to that venue's audience (``VenueAudience``) only. Every
callback goes through the kernel's strategy guard (``call``); before ``started`` and after the
strategies stop, the guard drops them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.execution import TradingStateChanged, VenueTradingChanged
from engine.model import TradingState
from engine.risk import RiskGate
from engine.strategy import Strategy
from engine.venue_audience import VenueAudience


class TradingNotices:
    __slots__ = ("_gate", "_strategies", "_audience", "_call", "_told")

    def __init__(self, gate: RiskGate, strategies: dict[str, Strategy[Any]],
                 audience: VenueAudience, call: Callable[..., None]) -> None:
        self._gate = gate
        self._strategies = strategies  # (the kernel's live table)
        self._audience = audience
        self._call = call
        self._told: TradingState | None = None  # what the strategies were last told

    def started(self) -> None:
        """The strategies start now: ``on_start`` reads the state, changes from here are told."""
        self._told = self._gate.state

    def sync(self, reason: str = "") -> None:
        """Tell every strategy the gate's effective state changed, whoever changed it
        (``reason``: why; the gate's hold reasons when not given)."""
        gate = self._gate
        state = gate.state
        if state is self._told:
            return
        self._told = state
        if not reason:
            reason = "; ".join(gate.hold_reasons.values()) or "risk gate"
        call = self._call
        for strategy in list(self._strategies.values()):
            if state is TradingState.ACTIVE:
                call(strategy, strategy.on_resume, reason)
            else:
                call(strategy, strategy.on_halt, state, reason)

    def on_trading_state(self, ev: TradingStateChanged) -> None:
        self.sync(ev.reason)

    def on_venue_trading(self, ev: VenueTradingChanged) -> None:
        """One venue halted or resumed on its own: tell the strategies that trade on it."""
        call = self._call
        for strategy in self._audience.of(ev.venue):
            if ev.halted:
                call(strategy, strategy.on_venue_halt, ev.venue, ev.reason)
            else:
                call(strategy, strategy.on_venue_resume, ev.venue, ev.reason)
