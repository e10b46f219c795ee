"""Expiry follow-up at venues that settle on their own books (every live venue).

Theory of operation: a live venue settles an expired option or future in its own books and
says so only through its positions and its account balance. Until Volta asks, the expired
position would stay in the portfolio at its last mark, its Greeks and margin in every total
the gate checks. So for each expiry of an instrument held at such a venue the watch asks for a
reconciliation of that venue ``FOLLOW_UP_S`` after the expiry (the reconnect path: the venue's
positions replace the engine's, the part that went away realized at its mark and journaled).
While a position in the expired instrument is still held (the venue has not settled yet) it
asks again every ``FOLLOW_UP_S``, at most ``ATTEMPTS`` times in all; then one error names the
positions still held, for the operator.

Venues that settle into the engine themselves (the simulated venue and the backtest's exchange
publish ``PositionSettled`` at expiry) hold nothing in the instrument by the follow-up, so
nothing is asked of them: the watch acts on what is still held, whoever settles. Expiries are armed as instruments are listed (a venue listing a new expiry mid-run included);
each (venue, expiry) once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import structlog

from engine.clock import NS_PER_S, Clock
from engine.model import Instrument

log = structlog.get_logger("volta.expiry")
FOLLOW_UP_S = 60.0
"""After an expiry, and between attempts: Deribit, OKX, Binance and Bybit settle within a
minute of expiry (08:00 UTC)."""
ATTEMPTS = 10


class ExpiryWatch:
    """Asks for a reconciliation after each expiry held at a venue that settles on its own."""

    def __init__(self, clock: Clock, held: Callable[[str], float | None],
                 request_reconcile: Callable[[str], None]) -> None:
        self._clock = clock
        self._held = held
        self._request = request_reconcile
        self._expiring: dict[tuple[str, int], set[str]] = {}  # (venue, expiry) -> instrument ids

    def arm(self, instruments: Iterable[Instrument]) -> None:
        """Watch the expiries of ``instruments`` still to come (called as they are listed)."""
        now = self._clock.now_ns()
        for inst in instruments:
            if inst.expiry_ns <= now:
                continue  # (a perpetual's expiry is 0)
            key = (inst.venue, inst.expiry_ns)
            if key not in self._expiring:
                self._expiring[key] = set()
                self._schedule(key, 1, inst.expiry_ns + int(FOLLOW_UP_S * NS_PER_S))
            self._expiring[key].add(inst.id)

    def _schedule(self, key: tuple[str, int], attempt: int, at_ns: int) -> None:
        self._clock.call_at(at_ns, lambda now: self._due(key, attempt, now))

    def _due(self, key: tuple[str, int], attempt: int, now: int) -> None:
        venue, expiry = key
        still = {iid: q for iid in self._expiring.get(key, ()) if (q := self._held(iid))}
        if not still:
            self._expiring.pop(key, None)  # settled (or never held)
            return
        if attempt > ATTEMPTS:
            log.error("expired_positions_not_settled", venue=venue, expiry_ns=expiry,
                      positions=still, attempts=ATTEMPTS,
                      note="the venue still reports them: check its settlement, then "
                           "volta kill or reconcile by hand")
            self._expiring.pop(key, None)
            return
        log.info("expiry_reconcile_requested", venue=venue, expiry_ns=expiry,
                 positions=len(still), attempt=attempt)
        self._request(venue)
        self._schedule(key, attempt + 1, now + int(FOLLOW_UP_S * NS_PER_S))
