"""After an expiry, a venue that settles on its own books is reconciled until it has settled.

A live venue says it settled an expired option only through its positions; without a follow-up
the position stayed in the portfolio at its last mark (Greeks and margin in every total) until
the next reconnect or restart."""

from __future__ import annotations

from structlog.testing import capture_logs

from engine.clock import NS_PER_S, VirtualClock
from engine.expiry_watch import ATTEMPTS, FOLLOW_UP_S
from engine.kernel import Kernel
from engine.model import Instrument, InstrumentKind, OptionType
from engine.risk import RiskLimits

T0 = 1_798_700_000 * NS_PER_S
EXPIRY = T0 + 3600 * NS_PER_S
FOLLOW = int(FOLLOW_UP_S * NS_PER_S)


def _option(venue: str, strike: float, expiry: int = EXPIRY) -> Instrument:
    return Instrument(venue=venue, symbol=f"BTC-X-{strike:.0f}-C", kind=InstrumentKind.OPTION,
                      base="BTC", quote="USD", settle="BTC", inverse=True, premium_in_coin=True,
                      tick_size=0.0005, lot_size=0.1, underlying="BTC", venue_underlying="btc_usd",
                      strike=strike, option_type=OptionType.CALL, expiry_ns=expiry)


def _kernel() -> tuple[Kernel, VirtualClock, list[str]]:
    clock = VirtualClock(T0)
    k = Kernel(clock, RiskLimits())
    asked: list[str] = []
    k.on_reconcile_request = asked.append
    return k, clock, asked


def test_a_held_expired_option_is_reconciled_after_expiry_until_the_venue_settled_it() -> None:
    k, clock, asked = _kernel()
    held, other_venue, not_held = _option("deribit", 60_000), _option("okx", 60_000), _option("deribit", 70_000)
    later = _option("deribit", 65_000, EXPIRY + 86_400 * NS_PER_S)
    k.add_instruments([held, other_venue, not_held, later])
    k.portfolio.adjust_position(held.id, 2.0, 0.05)
    k.portfolio.adjust_position(later.id, -1.0, 0.02)

    clock.advance_to(EXPIRY + FOLLOW - 1)
    assert asked == []  # not before the follow-up
    clock.advance_to(EXPIRY + FOLLOW)
    assert asked == ["deribit"]  # once for the venue; okx holds nothing of this expiry
    clock.advance_to(EXPIRY + 2 * FOLLOW)
    assert asked == ["deribit", "deribit"]  # the venue has not settled yet: asked again
    k.portfolio.adjust_position(held.id, 0.0, 0.0)  # what the reconciliation applies once settled
    clock.advance_to(EXPIRY + 5 * FOLLOW)
    assert asked == ["deribit", "deribit"]  # settled: nothing more
    clock.advance_to(later.expiry_ns + FOLLOW)
    assert asked[-1] == "deribit" and len(asked) == 3  # the next expiry, on its own


def test_a_position_the_venue_never_settles_is_named_once_after_the_last_attempt() -> None:
    k, clock, asked = _kernel()
    inst = _option("deribit", 60_000)
    k.add_instruments([inst])
    k.portfolio.adjust_position(inst.id, 1.5, 0.05)
    with capture_logs() as logs:
        clock.advance_to(EXPIRY + (ATTEMPTS + 3) * FOLLOW)
    assert asked == ["deribit"] * ATTEMPTS
    errors = [e for e in logs if e["event"] == "expired_positions_not_settled"]
    assert len(errors) == 1 and errors[0]["positions"] == {inst.id: 1.5}


def test_expiries_already_past_and_perpetuals_are_not_watched() -> None:
    k, clock, asked = _kernel()
    past = _option("deribit", 60_000, T0 - NS_PER_S)
    perp = Instrument(venue="deribit", symbol="BTC-PERPETUAL", kind=InstrumentKind.PERPETUAL,
                      base="BTC", quote="USD", settle="BTC", inverse=True, contract_size=10.0,
                      tick_size=0.5, lot_size=10.0, underlying="BTC", venue_underlying="btc_usd")
    k.add_instruments([past, perp])
    k.portfolio.adjust_position(past.id, 1.0, 0.05)
    k.portfolio.adjust_position(perp.id, 10.0, 60_000.0)
    clock.advance_to(T0 + 30 * 86_400 * NS_PER_S)
    assert asked == []
