"""Trading state: one owner, global holds plus a state per venue, published as events.

Theory of operation: every reason not to trade is a *hold* (a source, a state, a reason).
Two scopes:

* **Global holds** (the config's base state, the kill switch, reconciliation at start, loss
  limits, shutdown, a journal failure) are kept in the risk
  gate, which reads the effective state (the worst hold) on every order. After each change
  this owner publishes ``TradingStateChanged`` when the effective state moved, so
  strategies, status and the operator hear at once (no polling).
* **Venue holds** halt one venue only: one per venue while any of its streams is down or
  its reconciliation is pending, plus any ``hold_venue`` a caller puts (the runtime's for a
  venue whose start failed and is retried, ``venue_start:<venue>``). They never reach
  the gate's global state: the execution core asks ``venue_halt(venue)`` before every new
  order and amend (one dict lookup) and denies ``TRADING_HALTED`` naming the venue, while
  the other venues keep trading. A venue's change is published as ``VenueTradingChanged``
  (the venue, halted or not, its streams that are down, why).

A venue's streams are tracked one by one from ``VenueStatusChanged``: ``stream`` names the
connection (``"market_data"``, ``"private"`` for orders and fills, ``"order_entry"``, or ``""``
for the whole venue when one socket carries everything). The venue is halted while any stream
it reported is down; when the last one is back the venue is reconciled (``reconcile_hook``),
and only ``venue_reconciled`` (with every stream still up) releases it. So the first stream to
reconnect never resumes trading while the order stream is still down.

| event                                   | venue state                              |
| --------------------------------------- | ---------------------------------------- |
| a stream disconnected / reconnecting    | venue HALTED, stream down                |
| a stream connected, others still down   | still HALTED                             |
| the last down stream connected          | still HALTED, reconciliation requested   |
| reconciled, all streams up              | venue trades again (no other venue hold) |
| reconciled, a stream went down again    | still HALTED (waits for the next round)  |

With ``risk.halt_on_disconnect = false`` streams are still tracked (and reconciled) but do
not halt the venue.
"""

from __future__ import annotations

from collections import defaultdict
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
        self._venue_holds: dict[str, dict[str, str]] = {}  # venue -> source -> reason
        # venue -> why it may not trade ("" while it may), for every venue asked about or
        # halted (the one record of venue halts): read per order through ``venue_halt``, the
        # dict's own lookup (no Python frame); a venue asked about for the first time gets
        # its "" (defaultdict)
        self._halt_of: defaultdict[str, str] = defaultdict(str)
        self.venue_halt: Callable[[str], str] = self._halt_of.__getitem__
        """Why ``venue`` may not trade now ("" when it may); the global state aside."""

    # -- queries ----------------------------------------------------------------------------
    @property
    def state(self) -> TradingState:
        """The global state (the venues' own states: ``venue_halt`` / ``venues``)."""
        return self._gate.state

    def holds(self) -> dict[str, str]:
        return dict(self._gate.hold_reasons)

    def halted_venues(self) -> dict[str, str]:
        """Venue -> why, for every venue halted on its own now."""
        return {v: why for v, why in self._halt_of.items() if why}

    def venues(self) -> dict[str, dict[str, Any]]:
        """Every venue this owner has heard of: its state, why, and its streams that are down."""
        halted = self.halted_venues()
        names = set(self.down) | set(self._venue_holds) | set(halted) | self.awaiting_reconcile
        return {v: {"state": str(TradingState.HALTED if v in halted else TradingState.ACTIVE),
                    "reason": halted.get(v, ""),
                    "down": sorted(s if s != WHOLE_VENUE else "connection" for s in self.down.get(v, ())),
                    "awaiting_reconcile": v in self.awaiting_reconcile}
                for v in sorted(names)}

    # -- commands: global holds -------------------------------------------------------------
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

    # -- commands: venue holds --------------------------------------------------------------
    def hold_venue(self, venue: str, source: str, reason: str) -> None:
        """Halt ``venue`` only (until ``release_venue(venue, source)``)."""
        self._venue_holds.setdefault(venue, {})[source] = reason or source
        self._venue_state(venue)

    def release_venue(self, venue: str, source: str) -> None:
        holds = self._venue_holds.get(venue)
        if holds is not None and holds.pop(source, None) is not None:
            if not holds:
                del self._venue_holds[venue]
            self._venue_state(venue)

    def _why(self, venue: str) -> str:
        parts = []
        if self.halt_on_disconnect:
            down = self.down.get(venue)
            if down:
                parts.append("; ".join(f"{s if s != WHOLE_VENUE else 'connection'} down: {r}"
                                       for s, r in down.items()))
            elif venue in self.awaiting_reconcile:
                parts.append("waiting for reconciliation")
        parts.extend(self._venue_holds.get(venue, {}).values())
        return "; ".join(parts)

    def _venue_state(self, venue: str) -> None:
        """Recompute ``venue``'s state; publish ``VenueTradingChanged`` when it halted or resumed."""
        why = self._why(venue)
        was = bool(self._halt_of.get(venue))
        self._halt_of[venue] = why
        if bool(why) == was:
            return
        down = tuple(s if s != WHOLE_VENUE else "connection" for s in self.down.get(venue, ()))
        reason = why or "all streams up and reconciled"
        log.warning("venue_trading_state", venue=venue, halted=bool(why), reason=reason)
        self._publish(VenueTradingChanged(venue=venue, halted=bool(why), down=down, reason=reason,
                                          ts=self._now()))

    # -- venues -----------------------------------------------------------------------------
    def on_venue_status(self, ev: VenueStatusChanged) -> None:
        venue, stream = ev.venue, ev.stream or WHOLE_VENUE
        down = self.down.setdefault(venue, {})
        if ev.status in _DOWN:
            first = not down
            down[stream] = f"{ev.status}: {ev.reason}" if ev.reason else ev.status
            if first:
                log.warning("venue_connectivity_lost", venue=venue, stream=stream, reason=ev.reason)
            self._venue_state(venue)
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
                self._venue_state(venue)
                if self.reconcile_hook is not None:
                    self.reconcile_hook(venue)

    def venue_reconciled(self, venue: str) -> None:
        """Reconciliation of ``venue`` finished: it trades again if every stream is still up."""
        if self.down.get(venue):
            return
        self.awaiting_reconcile.discard(venue)
        self._venue_state(venue)
