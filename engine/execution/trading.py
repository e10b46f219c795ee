"""Trading state: one owner, derived per venue from each of its streams, published as events.

Theory of operation: every reason not to trade is a *hold* (a source, a state, a reason): the
config's base state, the kill switch, reconciliation, loss limits, shutdown, a journal failure,
and one per venue while any of its streams is down. The holds are kept in the risk gate (which
reads the effective state on every order); only this owner puts or releases them, and after
each change it publishes ``TradingStateChanged`` when the effective state moved, so strategies,
status and the operator hear at once (no polling).

A venue's streams are tracked one by one from ``VenueStatusChanged``: ``stream`` names the
connection (``"market_data"``, ``"private"`` for orders and fills, ``"order_entry"``, or ``""``
for the whole venue when one socket carries everything). The venue is halted while any stream
it reported is down; when the last one is back the venue is reconciled (``reconcile_hook``),
and only ``venue_reconciled`` (with every stream still up) releases it. So the first stream to
reconnect never resumes trading while the order stream is still down.

| event                                   | venue state                              |
| --------------------------------------- | ---------------------------------------- |
| a stream disconnected / reconnecting    | HALTED (hold ``venue:<v>``), stream down |
| a stream connected, others still down   | still HALTED                             |
| the last down stream connected          | still HALTED, reconciliation requested   |
| reconciled, all streams up              | hold released                            |
| reconciled, a stream went down again    | still HALTED (waits for the next round)  |
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
import structlog

from engine.model import TradingState, VenueStatusChanged
from engine.risk import RiskGate

log = structlog.get_logger("volta.trading")
_DOWN = ("disconnected", "reconnecting")
WHOLE_VENUE = "*"


class TradingStateChanged(msgspec.Struct, frozen=True, kw_only=True):
    """The effective trading state changed (``holds``: source -> reason now in force)."""

    state: TradingState
    previous: TradingState
    reason: str
    holds: dict[str, str]
    ts: int


class VenueTradingChanged(msgspec.Struct, frozen=True, kw_only=True):
    """One venue halted (``down``: its streams that are down) or resumed (``down`` empty)."""

    venue: str
    halted: bool
    down: tuple[str, ...]
    reason: str
    ts: int


class TradingStateOwner:
    def __init__(self, gate: RiskGate, publish: Callable[[Any], None],
                 now_ns: Callable[[], int]) -> None:
        self._gate = gate
        self._publish = publish
        self._now = now_ns
        self._told = gate.state
        self.down: dict[str, dict[str, str]] = {}  # venue -> stream -> reason
        self.awaiting_reconcile: set[str] = set()
        self.reconcile_hook: Callable[[str], None] | None = None
        self.halt_on_disconnect = gate.limits.halt_on_disconnect

    # -- queries ----------------------------------------------------------------------------
    @property
    def state(self) -> TradingState:
        return self._gate.state

    def holds(self) -> dict[str, str]:
        return dict(self._gate.hold_reasons)

    def venue_halt(self, venue: str) -> str:
        """Why ``venue`` may not trade now ("" when it may)."""
        if not self.halt_on_disconnect:
            return ""
        down = self.down.get(venue)
        if down:
            return "; ".join(f"{s if s != WHOLE_VENUE else 'connection'} down: {r}"
                             for s, r in down.items())
        if venue in self.awaiting_reconcile:
            return "waiting for reconciliation"
        return ""

    # -- commands ---------------------------------------------------------------------------
    def hold(self, source: str, state: TradingState, reason: str = "") -> TradingState:
        self._gate.hold(source, state, reason)
        self._changed(reason)
        return self._gate.state

    def release(self, source: str, reason: str = "") -> TradingState:
        self._gate.release(source)
        self._changed(reason or f"{source} released")
        return self._gate.state

    def set_base(self, state: TradingState, reason: str) -> None:
        """The base state (config ``kill_switch``, shutdown); other holds stay in force."""
        self._gate.hold("base", state, reason)
        self._changed(reason)

    def _changed(self, reason: str) -> None:
        state = self._gate.state
        if state is self._told:
            return
        previous, self._told = self._told, state
        if not reason:
            reason = "; ".join(v for v in self._gate.hold_reasons.values() if v) or "risk gate"
        log.warning("trading_state", state=str(state), previous=str(previous), reason=reason)
        self._publish(TradingStateChanged(state=state, previous=previous, reason=reason,
                                          holds=dict(self._gate.hold_reasons), ts=self._now()))

    # -- venues -----------------------------------------------------------------------------
    def on_venue_status(self, ev: VenueStatusChanged) -> None:
        venue, stream = ev.venue, ev.stream or WHOLE_VENUE
        down = self.down.setdefault(venue, {})
        if ev.status in _DOWN:
            first = not down
            down[stream] = f"{ev.status}: {ev.reason}" if ev.reason else ev.status
            if first:
                log.warning("venue_connectivity_lost", venue=venue, stream=stream, reason=ev.reason)
                self._venue(venue, True)
        elif ev.status == "connected":
            if stream == WHOLE_VENUE:
                was = bool(down)
                down.clear()
            else:
                was = down.pop(stream, None) is not None
                # (a whole-venue loss is over only when the venue says so as a whole or
                # every stream it reported comes back)
                if down.keys() == {WHOLE_VENUE} and not was:
                    return
            if was and not down:
                # every stream is back: reconcile before anything is sent
                self.awaiting_reconcile.add(venue)
                if self.reconcile_hook is not None:
                    self.reconcile_hook(venue)

    def venue_reconciled(self, venue: str) -> None:
        """Reconciliation of ``venue`` finished: it trades again if every stream is still up."""
        if self.down.get(venue):
            return
        self.awaiting_reconcile.discard(venue)
        if f"venue:{venue}" in self._gate.hold_reasons:
            self._venue(venue, False)

    def _venue(self, venue: str, halted: bool) -> None:
        down = tuple(self.down.get(venue, ()))
        reason = self.venue_halt(venue) if halted else "all streams up and reconciled"
        if self.halt_on_disconnect or not halted:
            if halted:
                self.hold(f"venue:{venue}", TradingState.HALTED, f"{venue} {reason}")
            else:
                self.release(f"venue:{venue}", f"{venue} reconciled")
        self._publish(VenueTradingChanged(venue=venue, halted=halted, down=down, reason=reason,
                                          ts=self._now()))
