"""Options at the replay exchange: expiry, settlement at the delivery price, fees."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest

from backtest.exchange import ReplayExchange
from backtest.ledger import Ledger
from backtest.schema import ExchangeParams, InstrumentSpec, QueueModel, ReportConfig
from engine.clock import NS_PER_S, VirtualClock
from engine.journal import Journal
from engine.kernel import Kernel
from engine.reconcile import rebuild
from engine.risk import RiskLimits
from engine.model import OptionSummary, OrderExpired, PositionSettled, Side
from tests.backtest.helpers import T0, fills, make_exchange, order, snapshot

EXPIRY = T0 + 10 * NS_PER_S


def _option(coin: bool, call: bool = True) -> InstrumentSpec:
    return InstrumentSpec(symbol="BTC-X-60000-" + ("C" if call else "P"), kind="option", base="BTC",
                          quote="BTC" if coin else "USD", settle="BTC" if coin else "USDC",
                          tick_size=0.0001 if coin else 1.0, lot_size=0.1, min_size=0.1,
                          underlying="BTC", expiry_ns=EXPIRY, strike=60_000.0,
                          option_type="call" if call else "put", premium_in_coin=coin)


def _summary(iid: str, und: float, ts: int) -> OptionSummary:
    nan = math.nan
    return OptionSummary(iid, nan, 0.6, nan, nan, und, 0.5, nan, nan, nan, nan, ts, ts)


@pytest.mark.parametrize(("coin", "call", "expected"), [
    (False, True, 1_000.0),            # USDC-settled (Bybit, the simulated venue): intrinsic in USD
    (True, True, 1_000.0 / 61_000.0),  # coin-settled (Deribit, OKX): intrinsic / delivery price
    (False, False, 0.0),               # out of the money put expires worthless
])
def test_position_settles_at_expiry_against_the_delivery_price(coin: bool, call: bool,
                                                                expected: float) -> None:
    ex, clock, out = make_exchange(instruments=[_option(coin, call)])
    iid = ex.instruments()[0].id
    ask = 0.02 if coin else 1_000.0
    ex.on_market(snapshot([(ask / 2, 5.0)], [(ask, 5.0)], T0, iid=iid))
    ex.on_market(_summary(iid, 60_000.0, T0))  # index observations for the settlement TWAP
    ex.submit(order("buy", Side.BUY, 1.0, None, iid=iid))
    ex.submit(order("rest", Side.BUY, 0.5, ask / 2, post_only=False, iid=iid))
    ex.on_market(_summary(iid, 62_000.0, T0 + 5 * NS_PER_S))
    clock.advance_to(EXPIRY + 1)
    (rep,) = [e for e in out if isinstance(e, PositionSettled)]
    assert rep.delivery_price == 61_000.0 and rep.quantity == 1.0
    assert rep.settlement_price == pytest.approx(expected, rel=1e-12)
    assert any(isinstance(e, OrderExpired) and e.client_order_id == "rest" for e in out)
    assert ex.positions[iid] == 0.0
    ex.submit(order("late", Side.BUY, 1.0, ask, iid=iid))
    assert out[-1].reason == "instrument_not_active"


def test_option_fee_is_on_the_underlying_and_capped_by_the_premium() -> None:
    spec = _option(False)
    ex, clock, out = make_exchange(instruments=[spec])
    iid = ex.instruments()[0].id
    ex.on_market(_summary(iid, 60_000.0, T0))
    ex.on_market(snapshot([(4.0, 5.0)], [(5.0, 1.0), (1_000.0, 5.0)], T0, iid=iid))
    ex.submit(order("cheap", Side.BUY, 1.0, 5.0, iid=iid))
    (f,) = fills(out, "cheap")
    assert f.fee == pytest.approx(min(0.001 * 60_000.0, 0.125 * 5.0))  # capped: 0.625
    ex.submit(order("dear", Side.BUY, 1.0, 1_000.0, iid=iid))
    (g,) = fills(out, "dear")
    assert g.fee == pytest.approx(0.001 * 60_000.0)  # 60 USD < 12.5 % of 1000


def test_without_an_index_the_expiring_options_forward_settles_it_not_a_later_expirys() -> None:
    """The replayed option summaries of two expiries carry different forwards (a later expiry's
    basis); the expiring option settles at the time-weighted forward of its own expiry."""
    near = _option(True)
    far = InstrumentSpec(symbol="BTC-Y-60000-C", kind="option", base="BTC", quote="BTC",
                         settle="BTC", tick_size=0.0001, lot_size=0.1, min_size=0.1,
                         underlying="BTC", expiry_ns=EXPIRY + 30 * 86_400 * NS_PER_S,
                         strike=60_000.0, option_type="call", premium_in_coin=True)
    ex, clock, out = make_exchange(instruments=[near, far])
    iid, fid = (i.id for i in ex.instruments())
    ex.on_market(snapshot([(0.01, 5.0)], [(0.02, 5.0)], T0, iid=iid))
    for k in range(10):
        ex.on_market(_summary(iid, 61_000.0, T0 + k * NS_PER_S))
        ex.on_market(_summary(fid, 64_050.0, T0 + k * NS_PER_S + 1))
    ex.submit(order("buy", Side.BUY, 1.0, None, iid=iid))
    clock.advance_to(EXPIRY + 1)
    (rep,) = [e for e in out if isinstance(e, PositionSettled)]
    assert rep.delivery_price == 61_000.0
    assert rep.settlement_price == pytest.approx(1_000.0 / 61_000.0, rel=1e-12)


def test_the_engine_and_the_ledger_close_a_settled_position_alike_and_a_restart_agrees(
        tmp_path: Path) -> None:
    """The exchange publishes its settlement to the engine (the execution core closes the
    position, journaled) and hands it to the report's ledger: both realize the same, and an
    engine rebuilt from the journal too. A USD call bought at 900; the forward stands at
    60,000 for the first 5 s of the (shorter than 30 min) window and 62,000 for the last 5 s:
    delivery price 61,000, the call pays 1,000 USD: realized (1,000 - 900) x 1 = 100 USD."""
    spec = _option(False)
    params = ExchangeParams(venue="x", queue=QueueModel(model="worst"), instruments=[spec],
                            maker_fee=0.0, taker_fee=0.0)
    k = Kernel(VirtualClock(T0), RiskLimits(), journal=Journal(tmp_path / "j.sqlite"))
    ex = ReplayExchange(params)
    k.add_adapter(ex)
    k.add_instruments(ex.instruments())
    asyncio.run(ex.start())
    ledger = Ledger(k, ReportConfig(), ex.book, ex.index_price, ex.fill_meta.get)
    iid = ex.instruments()[0].id
    ex.on_market(snapshot([(800.0, 5.0)], [(900.0, 5.0)], T0, iid=iid))
    ex.on_market(_summary(iid, 60_000.0, T0))
    assert k.router.submit(order("buy", Side.BUY, 1.0, 900.0, iid=iid)) is None
    ex.on_market(_summary(iid, 62_000.0, T0 + 5 * NS_PER_S))
    assert k.portfolio.position(iid).qty == 1.0
    k.clock.advance_to(EXPIRY + 1)  # type: ignore[attr-defined]
    assert ledger.settlements == [{"ts": EXPIRY, "instrument": iid, "quantity": 1.0,
                                   "settlement_price": 1_000.0, "delivery_price": 61_000.0}]
    engine, report = k.portfolio.position(iid), ledger.positions[iid]
    assert engine.qty == report.qty == 0.0
    assert engine.realized == pytest.approx(100.0, rel=1e-12)
    assert report.realized == pytest.approx(100.0, rel=1e-12)
    k.execution.checkpoint()
    asyncio.run(ex.stop())
    k.journal.close()
    k2 = Kernel(VirtualClock(EXPIRY + 1), RiskLimits(), journal=Journal(tmp_path / "j.sqlite"))
    k2.add_instruments(ex.instruments())  # (the expired option stays listed, inactive)
    rebuild(k2, k2.journal, use_snapshot=False)
    again = k2.portfolio.position(iid)
    assert again.qty == 0.0 and again.realized == pytest.approx(100.0, rel=1e-12)
    k2.journal.close()
