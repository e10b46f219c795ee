"""``engine.settlement.ExpirySettlement`` on its own: positions, delivery price, settlement
reports (first-principles figures), and no guessed price without an index."""

from __future__ import annotations

import pytest

from engine.settlement import ExpirySettlement
from engine.clock import NS_PER_S
from engine.model import Instrument, InstrumentKind, OptionType, PositionSettled

EXPIRY = 1_800_000_000 * NS_PER_S
MIN = 60 * NS_PER_S


def _inst(kind: InstrumentKind, **kw: object) -> Instrument:
    base = dict(venue="deribit", symbol="BTC-X", kind=kind, base="BTC", quote="USD",
                settle="BTC", contract_size=1.0, tick_size=0.0001, lot_size=0.1, min_size=0.1,
                underlying="BTC", expiry_ns=EXPIRY)
    base.update(kw)
    return Instrument(**base)  # type: ignore[arg-type]


def _observed(s: ExpirySettlement) -> None:
    """Index 60,000 from 40 min before expiry, 62,000 from 15 min before: the 30-minute
    window (Deribit) holds 15 min of each, so the delivery price is 61,000."""
    s.observe("BTC", 60_000.0, EXPIRY - 40 * MIN)
    s.observe("BTC", 62_000.0, EXPIRY - 15 * MIN)
    s.observe("BTC", float("nan"), EXPIRY - 5 * MIN)  # not a price: ignored
    s.observe("BTC", -1.0, EXPIRY - 4 * MIN)


def test_a_short_coin_put_pays_its_intrinsic_value_in_coin() -> None:
    s = ExpirySettlement("deribit")
    _observed(s)
    put = _inst(InstrumentKind.OPTION, symbol="BTC-X-64000-P", strike=64_000.0,
                option_type=OptionType.PUT, premium_in_coin=True)
    s.on_fill(put.id, -2.0)
    s.on_fill(put.id, 0.5)
    assert s.delivery_price("BTC", EXPIRY, EXPIRY) == pytest.approx(61_000.0, rel=1e-12)
    rep = s.settle(put, EXPIRY)
    assert isinstance(rep, PositionSettled)
    assert rep.delivery_price == pytest.approx(61_000.0, rel=1e-12)
    # short 1.5 puts settled at (64,000 - 61,000) / 61,000 BTC each
    assert (rep.venue, rep.instrument_id, rep.quantity, rep.ts_event) == ("deribit", put.id, -1.5, EXPIRY)
    assert rep.settlement_price == pytest.approx(3_000.0 / 61_000.0, rel=1e-12)
    assert s.positions[put.id] == 0.0
    assert s.settle(put, EXPIRY) is None  # flat now: nothing more to settle


def test_a_future_delivers_at_the_delivery_price() -> None:
    s = ExpirySettlement("deribit")
    _observed(s)
    fut = _inst(InstrumentKind.FUTURE, inverse=True, contract_size=10.0)
    s.on_fill(fut.id, 30.0)
    rep = s.settle(fut, EXPIRY)
    assert rep is not None and rep.quantity == 30.0
    assert rep.settlement_price == pytest.approx(61_000.0, rel=1e-12)


def test_no_index_seen_means_no_settlement_price_not_a_guess() -> None:
    s = ExpirySettlement("deribit")
    fut = _inst(InstrumentKind.FUTURE)
    s.on_fill(fut.id, 1.0)
    assert s.settle(fut, EXPIRY) is None
    assert s.positions[fut.id] == 1.0  # still open: the report shows it unsettled
    assert s.index_price("BTC") != s.index_price("BTC")  # NaN: unknown


def test_an_option_settles_at_its_own_expiry_forward_not_the_other_expiries() -> None:
    """Without index prices (Tardis options_chain has none) the delivery price comes from the
    forwards the option summaries carry: those of the expiring option's own expiry, which
    converge to the index, never mixed with a later expiry's forward (its basis, here 5 %)."""
    s = ExpirySettlement("deribit")
    near = _inst(InstrumentKind.OPTION, symbol="BTC-N-60000-C", strike=60_000.0,
                 option_type=OptionType.CALL, premium_in_coin=True)
    far = _inst(InstrumentKind.OPTION, symbol="BTC-F-60000-C", strike=60_000.0,
                option_type=OptionType.CALL, premium_in_coin=True, expiry_ns=EXPIRY + 30 * 1440 * MIN)
    for k in range(40):  # every minute: the near forward at 61,000, the far one at 64,050
        t = EXPIRY - (40 - k) * MIN
        s.observe_forward(near, 61_000.0, t)
        s.observe_forward(far, 64_050.0, t + 1)
    s.on_fill(near.id, 1.0)
    rep = s.settle(near, EXPIRY)
    assert rep is not None and rep.delivery_price == 61_000.0
    assert rep.settlement_price == pytest.approx(1_000.0 / 61_000.0, rel=1e-12)
    # an index, when the data has one, is the venue's rule and wins over forwards
    s.observe("BTC", 60_500.0, EXPIRY - 40 * MIN)
    s.on_fill(near.id, 1.0)
    rep = s.settle(near, EXPIRY)
    assert rep is not None and rep.delivery_price == 60_500.0


def test_without_an_index_the_coin_price_is_the_nearest_live_expirys_forward() -> None:
    """The USD price of the coin (conversions, equity) without index data: the forward of the
    nearest expiry not yet expired (the smallest basis), not whichever expiry's summary came
    last (which made the USD equity jump by the basis between expiries row by row)."""
    s = ExpirySettlement("deribit")
    near = _inst(InstrumentKind.OPTION, symbol="BTC-N-60000-C", strike=60_000.0,
                 option_type=OptionType.CALL, premium_in_coin=True)
    far = _inst(InstrumentKind.OPTION, symbol="BTC-F-60000-C", strike=60_000.0,
                option_type=OptionType.CALL, premium_in_coin=True, expiry_ns=EXPIRY + 30 * 1440 * MIN)
    s.observe_forward(near, 61_000.0, EXPIRY - 2 * MIN)
    s.observe_forward(far, 64_050.0, EXPIRY - MIN)
    assert s.index_price("BTC") == 61_000.0
    s.observe_forward(far, 64_100.0, EXPIRY + MIN)  # the near expiry is over
    assert s.index_price("BTC") == 64_100.0
