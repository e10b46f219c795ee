"""A live Derive session on the local fake: market data, login, signed orders, faults."""

from __future__ import annotations

import math

import pytest

from adapters.derive.fake import DeriveFake, smile_vol
from engine.config import ConfigError
from engine.model import (
    InstrumentKind,
    MarkPrice,
    OptionSummary,
    OptionType,
    OrderFilled,
    OrderStatus,
    Quote,
    Side,
    SubmitOrder,
    VenueStatusChanged,
)
from tests.derive_live.conftest import IID, OPT_IID, Live
from tests.live_common import running


async def test_instruments_are_normalised_options_and_perps_in_usdc(live: Live) -> None:
    insts = {i.id: i for i in live.adapter.instruments()}
    perp, opt = insts[IID], insts[OPT_IID]
    assert perp.kind is InstrumentKind.PERPETUAL and perp.settle == "USDC"
    assert opt.kind is InstrumentKind.OPTION and opt.option_type is OptionType.CALL
    assert opt.strike == 3000.0 and opt.settle == "USDC" and not opt.premium_in_coin
    assert opt.underlying == perp.underlying == "ETH"
    assert opt.contract_size == 1.0 and opt.tick_size == 0.1 and opt.lot_size == 0.01
    # 2027-06-25 08:00 UTC, the fake's expiry time: first-principles seconds since the epoch
    assert opt.expiry_ns == 1_813_910_400 * 1_000_000_000


async def test_book_equals_the_venue_and_tickers_carry_mark_index_iv_and_greeks(live: Live) -> None:
    await live.assert_book_matches()
    await live.until(lambda: any(isinstance(e, OptionSummary) and e.instrument_id == OPT_IID
                                 for e in live.events))
    s = next(e for e in live.events if isinstance(e, OptionSummary))
    vol = smile_vol(3000.0, 3000.0)  # at the money: 0.60
    assert s.mark_iv == vol and s.bid_iv == round(vol - 0.02, 4) and s.delta == 0.52
    assert s.theta == -2.4 and s.underlying_price == 3000.0
    m = next(e for e in live.events if isinstance(e, MarkPrice))
    assert m.index_price == 3000.0
    q = next(e for e in live.events if isinstance(e, Quote) and e.instrument_id == IID)
    assert 0 < q.bid_price < q.ask_price


async def test_a_signed_order_is_verified_by_the_venue_accepted_and_filled(live: Live) -> None:
    await live.synced()
    ask = live.book.best_ask()[0]
    live.submit("d-1", Side.BUY, 0.002, ask)
    await live.until(lambda: live.order("d-1").status is OrderStatus.FILLED)
    assert live.fake.signatures_verified == 1
    fill = next(e for e in live.events if isinstance(e, OrderFilled))
    assert fill.fee_currency == "USDC" and fill.price == ask and fill.quantity == 0.002
    # the fake's taker fee: 0.0003 of notional, first principles
    assert fill.fee == pytest.approx(round(ask * 0.002 * 0.0003, 8))


async def test_replace_and_cancel_a_resting_order(live: Live) -> None:
    await live.synced()
    bid = live.book.best_bid()[0]
    live.submit("d-2", Side.BUY, 0.01, round(bid - 5, 1))
    await live.until(lambda: live.order("d-2").status is OrderStatus.ACCEPTED)
    assert live.kernel.router.amend(live.order("d-2"), round(bid - 6, 1), None) is None
    await live.until(lambda: live.order("d-2").price == round(bid - 6, 1))
    assert live.order("d-2").status is OrderStatus.ACCEPTED  # the replaced order's cancel is not ours
    assert len(live.fake.open_orders()) == 1
    assert live.kernel.router.cancel(live.order("d-2"))
    await live.until(lambda: live.order("d-2").status is OrderStatus.CANCELLED)
    assert live.fake.open_orders() == []


async def test_a_lost_ack_is_settled_by_the_venue_never_resent(live: Live) -> None:
    await live.synced()
    live.fake.lose_acks(1)
    live.submit("d-3", Side.BUY, 0.01, round(live.book.best_bid()[0] - 5, 1))
    await live.settle(lambda: live.order("d-3").status is OrderStatus.ACCEPTED)
    assert sum(1 for m, _ in live.fake.requests if m == "private/order") == 1


async def test_cancel_on_disconnect_cancels_at_the_venue_and_login_comes_back(live: Live) -> None:
    await live.synced()
    live.fake.paused = False
    live.submit("d-4", Side.BUY, 0.01, round(live.book.best_bid()[0] - 5, 1))
    await live.until(lambda: live.order("d-4").status is OrderStatus.ACCEPTED)
    await live.until(lambda: any(m == "private/set_cancel_on_disconnect"
                                 for m, _ in live.fake.requests))
    await live.fake.ws.disconnect()
    await live.until(lambda: live.fake.cod_fired == 1 and live.adapter.logged_in)
    await live.settle(lambda: live.order("d-4").status is OrderStatus.CANCELLED)
    assert any(isinstance(e, VenueStatusChanged) and e.status == "disconnected"
               for e in live.events)


async def test_stale_and_malformed_book_messages_are_dropped_and_counted(live: Live) -> None:
    await live.synced()
    live.fake.paused = False
    live.fake.stale(2)
    live.fake.malformed()
    await live.until(lambda: live.adapter.stats["stale_books"] >= 1
                     and live.adapter.stats["malformed"] >= 1)
    await live.assert_book_matches()


async def test_reconcile_reports_orders_fills_positions_and_margin(live: Live) -> None:
    await live.synced()
    live.submit("d-5", Side.BUY, 0.003, live.book.best_ask()[0])
    await live.until(lambda: live.order("d-5").status is OrderStatus.FILLED)
    rec = await live.adapter.reconcile(0)
    assert [f.client_order_id for f in rec.fills] == ["d-5"]
    assert rec.positions[0].quantity == pytest.approx(0.003)
    margin = live.adapter.margin
    assert margin is not None and margin.margin_type == "PM"
    # Derive's margins are headroom: value - requirement (the fake's IM: 10 % of the position)
    need = margin.subaccount_value - margin.initial_margin
    assert need == pytest.approx(0.003 * live.fake.matcher.entry[live.SYMBOL] / 10.0, rel=0.01)


async def test_a_market_order_without_a_worst_price_is_refused_before_signing(live: Live) -> None:
    await live.synced()
    live.adapter.submit(SubmitOrder(
        client_order_id="d-6", strategy_id="t", instrument_id=IID, side=Side.BUY,
        quantity=0.01))
    assert "worst price" in next(e.reason for e in live.events if hasattr(e, "reason")
                                 and e.client_order_id == "d-6")


async def test_a_key_the_venue_does_not_know_is_refused_at_login(fake: DeriveFake) -> None:
    other = "0x" + "11" * 32
    with pytest.raises(RuntimeError, match="login refused"):
        async with running(Live(fake, Live.make_adapter(fake, env={"DERIVE_SESSION_KEY": other}))):
            pass


def test_a_wallet_without_a_key_in_the_environment_is_a_clear_error(fake: DeriveFake) -> None:
    with pytest.raises(ConfigError, match="export DERIVE_SESSION_KEY"):
        Live.make_adapter(fake, env={})
    with pytest.raises(ConfigError, match="not a valid secp256k1") as info:
        Live.make_adapter(fake, env={"DERIVE_SESSION_KEY": "0xnot-a-key"})
    assert "0xnot-a-key" not in str(info.value)


def test_nan_fields_stay_unknown() -> None:
    from adapters.derive.codec import DeriveCodec
    ev = DeriveCodec().decode(b'{"method":"subscription","params":{"channel":'
                              b'"ticker_slim.ETH-X.100","data":{"instrument_ticker":{"b":"1",'
                              b'"B":"2","a":"3","A":"4","t":5,"option_pricing":{"i":"0.5"}}}}}', 0)
    summary = next(e for e in ev if isinstance(e, OptionSummary))
    assert summary.mark_iv == 0.5 and math.isnan(summary.delta) and math.isnan(summary.mark_price)



def test_the_codec_is_registered_for_record_and_replay() -> None:
    from adapters import registry
    codec = registry.create_codec("derive")
    frame = (b'{"method":"subscription","params":{"channel":"orderbook.ETH-PERP.1.20","data":'
             b'{"instrument_name":"ETH-PERP","publish_id":7,"timestamp":1,'
             b'"bids":[["3000.1","2"]],"asks":[["3000.2","1.5"]]}}}')
    (snap,) = codec.decode(frame, 5)
    assert (snap.instrument_id, snap.seq, snap.bids, snap.asks) == (
        "derive:ETH-PERP", 7, ((3000.1, 2.0),), ((3000.2, 1.5),))
    assert codec.decode(frame, 6) == [] and codec.stale == 1  # the same publish_id again
