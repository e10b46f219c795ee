"""What the gate works out before any order arrives (issue 13, gate p99): each instrument's
facts resolved when it is registered, the account book's rules when it is attached, facts
patched in place when a rate or a Greek budget changes, and rebuilt at once when the limits
are replaced. The first order on an instrument pays no more than any other. Expected values
are worked out here by hand."""

from __future__ import annotations

import dataclasses

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import engine.accounts as accounts_module
import engine.risk.gate as gate_module
from engine.accounts import AccountBook, AccountSpec
from engine.model import BookSnapshot, Instrument, InstrumentKind, Side
from engine.risk import Reason, UnderlyingLimits
from engine.risk.facts import InstrumentFacts
from tests.risk.helpers import ALL, CALL, CALL2, PERP, PUT, make, order, position, reason


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Instrument ids whose gate facts are built from now on."""
    made: list[str] = []

    class Counted(InstrumentFacts):
        __slots__ = ()

        def __init__(self, inst: Instrument, *a: object) -> None:
            made.append(inst.id)
            super().__init__(inst, *a)  # type: ignore[arg-type]

    monkeypatch.setattr(gate_module, "InstrumentFacts", Counted)
    return made


def test_facts_are_resolved_at_registration_not_on_a_first_order(built: list[str]) -> None:
    k, _ = make(max_position_qty=100)
    assert sorted(built) == sorted(i.id for i in ALL)  # every instrument, once, at registration
    built.clear()
    assert reason(k, order()) is None
    assert reason(k, order(CALL, qty=0.1, price=1_050.0)) is None
    assert built == []  # the first orders built nothing
    # an instrument the venue lists later: resolved as the kernel registers it
    eth = Instrument(venue="fake", symbol="ETH-PERP", kind=InstrumentKind.PERPETUAL, base="ETH",
                     quote="USD", settle="USD", tick_size=0.05, lot_size=0.01, min_size=0.01)
    k.add_instruments([eth])
    assert built == [eth.id]
    built.clear()
    k.bus.publish(BookSnapshot(eth.id, ((2_999.95, 5.0),), ((3_000.05, 5.0),), 1, 0, 0))
    k.portfolio.set_underlying_price("ETH", 3_000.0)
    assert reason(k, order(eth, qty=0.5, price=3_000.0)) is None
    assert built == []


def test_inactive_instruments_are_not_prepared_and_are_refused(built: list[str]) -> None:
    k, _ = make()
    built.clear()
    dead = msgspec.structs.replace(PERP, symbol="BTC-DEAD", active=False)
    k.add_instruments([dead])
    assert built == []
    assert reason(k, order(dead)) == Reason.INSTRUMENT_INACTIVE
    # the venue replaces a prepared instrument by an inactive definition: refused, not reused
    k.instruments[PERP.id] = msgspec.structs.replace(PERP, active=False)
    assert reason(k, order()) == Reason.INSTRUMENT_INACTIVE


def test_new_limits_apply_to_the_next_order() -> None:
    k, _ = make()
    k.gate.limits = dataclasses.replace(k.gate.limits, per_instrument={}, max_order_qty=0.2)
    assert reason(k, order(qty=0.3)) == Reason.MAX_ORDER_QTY  # 0.3 > 0.2
    assert reason(k, order(qty=0.2)) is None
    k.gate.limits = dataclasses.replace(k.gate.limits, max_order_notional_usd=7_000.0)
    assert reason(k, order(qty=0.1, price=60_000.5)) is None  # 0.1 x 60,000.5 = 6,000.05 USD
    d = k.router.submit(order(qty=0.2, price=60_001.0))  # 0.2 x 60,001 = 12,000.2 USD > 7,000
    assert d is not None and d.reason == Reason.MAX_ORDER_NOTIONAL
    assert d.value == pytest.approx(12_000.2) and d.limit == 7_000.0


def test_budget_changes_patch_facts_in_place_and_a_renewal_is_free(built: list[str]) -> None:
    k, _ = make(max_position_qty=100, per_instrument={})
    built.clear()
    assert reason(k, order(qty=0.5)) is None  # 0.5 BTC of delta working (1 BTC per contract)
    k.gate.set_budget("BTC", UnderlyingLimits(max_delta=0.8))
    # 0.5 working + 0.4 = 0.9 > 0.8
    assert reason(k, order(qty=0.4, price=60_001.0)) == Reason.MAX_DELTA
    facts = dict(k.gate._facts)  # (the test looks at the gate's own table: same objects kept)
    k.gate.set_budget("BTC", UnderlyingLimits(max_delta=0.8))  # the aggregator's renewal
    assert k.gate._facts == facts and all(k.gate._facts[i] is f for i, f in facts.items())
    assert reason(k, order(qty=0.4, price=60_002.0)) == Reason.MAX_DELTA
    k.gate.set_budget("BTC", UnderlyingLimits(max_delta=0.95))  # 0.9 <= 0.95
    assert reason(k, order(qty=0.4, price=60_003.0)) is None
    k.gate.set_budget("BTC", None)
    assert reason(k, order(qty=2.0, price=60_004.0)) is None  # 0.9 + 2.0: no delta limit now
    assert built == []  # none of it rebuilt a fact


def test_vega_per_expiry_budget_alone_is_still_checked() -> None:
    """A budget with only a per-expiry vega cap: no other Greek check, the expiry cap holds."""
    k, _ = make(max_position_qty=100)
    for inst in (CALL, CALL2):  # raw vega 100 per 1.00 vol: 1 USD per vol point per contract
        k.portfolio.set_greeks(inst.id, 0.5, 2e-5, 100.0, -36.5)
    k.gate.set_budget("BTC", UnderlyingLimits(max_vega_per_expiry_usd=1.5))
    assert reason(k, order(CALL, qty=1.0, price=1_050.0)) is None  # 1.0 working
    d = k.router.submit(order(CALL, qty=1.0, price=1_051.0))  # 1.0 + 1.0 = 2.0 > 1.5
    assert d is not None and d.reason == Reason.MAX_VEGA_EXPIRY and d.value == pytest.approx(2.0)
    assert reason(k, order(CALL2, qty=1.0, price=1_050.0)) is None  # another expiry


def test_worst_case_delta_takes_the_opposite_working_side() -> None:
    """The worst case of a Greek is the larger in absolute value of (candidate + working of
    each sign): here the short side of the working orders."""
    k, _ = make(underlyings={"BTC": UnderlyingLimits(max_delta=1.0)}, max_position_qty=100)
    assert reason(k, order(side=Side.SELL, qty=0.6, price=60_000.0)) is None  # working -0.6
    assert reason(k, order(side=Side.BUY, qty=0.5, price=60_001.0)) is None   # worst |0.5| (or |-0.1|)
    # a sell of 0.5: candidate -0.5; with the sells working -0.5 - 0.6 = -1.1; with buys 0.0
    d = k.router.submit(order(side=Side.SELL, qty=0.5, price=60_002.0))
    assert d is not None and d.reason == Reason.MAX_DELTA
    assert d.value == pytest.approx(1.1) and d.limit == 1.0
    # a put bought adds -0.5 of delta: the same candidate -0.5, the same worst case 1.1
    k.portfolio.set_greeks(PUT.id, -0.5, 2e-5, 100.0, -36.5)
    assert reason(k, order(PUT, qty=1.0, price=1_050.0)) == Reason.MAX_DELTA


def test_account_rules_are_resolved_when_the_book_is_attached(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[str] = []
    real = accounts_module._Facts

    def counted(inst: Instrument, spec: object) -> object:
        made.append(inst.id)
        return real(inst, spec)  # type: ignore[arg-type]

    monkeypatch.setattr(accounts_module, "_Facts", counted)
    k, _ = make(max_position_qty=100)
    k.gate.accounts = AccountBook(k.portfolio, {"fake": AccountSpec("fake", {"USD": 1e6})}, 10.0,
                                  k.clock.now_ns)
    assert sorted(made) == sorted(i.id for i in ALL)
    made.clear()
    assert reason(k, order(qty=0.5)) is None
    assert reason(k, order(CALL, qty=0.1, price=1_050.0)) is None
    assert made == []
    eth = Instrument(venue="fake", symbol="ETH-PERP", kind=InstrumentKind.PERPETUAL, base="ETH",
                     quote="USD", settle="USD", tick_size=0.05, lot_size=0.01, min_size=0.01)
    k.add_instruments([eth])
    assert made == [eth.id]


@settings(max_examples=150, deadline=None)
@given(limit=st.integers(1, 300), held=st.integers(-200, 200),
       orders=st.lists(st.tuples(st.booleans(), st.integers(1, 150)), min_size=1, max_size=12))
def test_delta_decisions_match_the_worst_case_rule(limit: int, held: int,
                                                   orders: list[tuple[bool, int]]) -> None:
    """Every decision of the delta limit, fast test or not, is the rule worked out here: the
    candidate total with the working orders of either sign, against the limit, unless the
    order lowers |delta| (or reduces the position). Quantities in hundredths, so that
    candidates often land exactly on the limit."""
    lim = limit / 100.0
    k, _ = make(underlyings={"BTC": UnderlyingLimits(max_delta=lim)}, max_position_qty=1e9,
                max_order_notional_usd=1e12, max_order_qty=1e9, duplicate_window_ms=0.0)
    pos = held / 100.0
    if held:
        position(k, PERP, pos, 60_000.0)
    now = pos * 1.0  # the perpetual's delta: its contract size, 1 BTC
    wp = wn = 0.0  # working delta of buys / sells, summed in the gate's order
    buys = sells = 0.0
    for i, (buy, hundredths) in enumerate(orders):
        qty = hundredths / 100.0
        same = buys if buy else sells
        reduces = pos != 0.0 and (pos > 0) != buy and qty + same <= abs(pos) + 1e-12
        cand = now + (1.0 if buy else -1.0) * qty * 1.0
        worst = max(abs(cand + wp), abs(cand + wn))
        expected = (Reason.MAX_DELTA if not reduces and worst > lim and abs(cand) >= abs(now)
                    else None)
        got = reason(k, order(side=Side.BUY if buy else Side.SELL, qty=qty, price=60_000.0 + 0.5 * i))
        assert got == expected, (i, cand, wp, wn, worst, lim)
        if got is None:
            if buy:
                wp += 1.0 * qty
                buys += qty
            else:
                wn += -1.0 * qty
                sells += qty
