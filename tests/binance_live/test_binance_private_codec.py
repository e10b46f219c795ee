"""The sans-IO private layer on Binance's own examples and real user-stream samples."""

from __future__ import annotations


import pytest

from adapters.binance import private as pv
from adapters.live.tracker import OrderTracker
from engine.model import (
    Liquidity, OrderAccepted, OrderFilled, OrderType, PositionReport, Side, SubmitOrder, TimeInForce,
    VenueProtocolError,
)
from tests.live_common import needs_samples as needs_samples_at, samples_dir


SAMPLES = samples_dir("binance-usdm")
needs_samples = needs_samples_at(SAMPLES)
dec = pv.UserStreamDecoder("binance", lambda s: f"binance:{s}")


def test_signature_matches_binance_documented_example() -> None:
    # developers.binance.com "SIGNED Endpoint Examples for POST /api/v3/order" (HMAC-SHA256).
    secret = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
    query = ("symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1"
             "&recvWindow=5000&timestamp=1499827319559")
    assert pv.sign_query(query, secret) == \
        "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"


def test_signed_query_verifies_and_tampering_fails() -> None:
    q = pv.signed_query({"symbol": "BTCUSDT", "side": "BUY"}, "s3cret", 1_700_000_000_000, 5000)
    assert "timestamp=1700000000000&recvWindow=5000&signature=" in q
    assert pv.verify_query(q, "s3cret")
    assert not pv.verify_query(q.replace("BUY", "SELL"), "s3cret")
    assert not pv.verify_query(q, "other")


def test_new_order_params_map_post_only_reduce_only_and_clean_numbers() -> None:
    cmd = SubmitOrder(client_order_id="c-1", strategy_id="s", instrument_id="binance:BTCUSDT",
                      side=Side.SELL, quantity=0.1 + 0.2, price=60_000.1, post_only=True,
                      reduce_only=True)
    p = pv.new_order_params(cmd, "BTCUSDT")
    assert p == {"symbol": "BTCUSDT", "side": "SELL", "newClientOrderId": "c-1", "quantity": "0.3",
                 "newOrderRespType": "RESULT", "type": "LIMIT", "price": "60000.1",
                 "timeInForce": "GTX", "reduceOnly": "true"}
    mkt = SubmitOrder(client_order_id="c-2", strategy_id="s", instrument_id="binance:BTCUSDT",
                      side=Side.BUY, quantity=1.0, order_type=OrderType.MARKET,
                      time_in_force=TimeInForce.IOC)
    assert pv.new_order_params(mkt, "BTCUSDT")["type"] == "MARKET"


@needs_samples
def test_real_order_update_new_is_an_acceptance() -> None:
    (ev,) = dec.decode((SAMPLES / "ws_futures_order_update_new_price_match.json").read_bytes(), 7)
    assert ev == OrderAccepted(client_order_id="O-12345-test-price-match", venue_order_id="8765432100",
                               instrument_id="binance:ETHUSDT", ts_event=1759347763200 * 1_000_000,
                               ts_recv=7)


@needs_samples
def test_real_trade_update_is_a_fill_with_trade_id_and_fee() -> None:
    (ev,) = dec.decode((SAMPLES / "ws_futures_order_update_trade_reduce_only_qty.json").read_bytes(), 7)
    assert isinstance(ev, OrderFilled)
    assert (ev.client_order_id, ev.trade_id, ev.side, ev.price, ev.quantity, ev.remaining) == \
        ("O-12345-test-reduce-only-trade", "9988776655", Side.SELL, 2500.0, 1.0, 0.0)
    assert (ev.fee, ev.fee_currency, ev.liquidity) == (0.5, "USDT", Liquidity.TAKER)


def test_account_update_gives_positions_and_balances() -> None:
    frame = (b'{"e":"ACCOUNT_UPDATE","E":1,"T":2,"a":{"m":"ORDER","B":[{"a":"USDT","wb":"100.5","cw":"1"}],'
             b'"P":[{"s":"BTCUSDT","pa":"-0.25","ep":"60000.0","ps":"BOTH"},{"s":"BTCUSDT","pa":"1","ep":"1","ps":"LONG"}]}}')
    (pos,) = dec.decode(frame, 3)
    assert pos == PositionReport(instrument_id="binance:BTCUSDT", quantity=-0.25, avg_price=60000.0,
                                 ts_event=2_000_000, ts_recv=3)
    assert dec.balances["USDT"] == 100.5


@pytest.mark.parametrize("frame", [b"", b"{", b"[]", b'{"e":"ORDER_TRADE_UPDATE"}',
                                   b'{"e":"ORDER_TRADE_UPDATE","E":1,"o":{"x":"TRADE","c":"x"}}',
                                   b'{"e":"ACCOUNT_UPDATE","a":{"P":[{"s":"X"}]},"E":1}'])
def test_malformed_user_frames_raise_the_protocol_error_only(frame: bytes) -> None:
    with pytest.raises(VenueProtocolError):
        dec.decode(frame, 0)


def test_tracker_swallows_duplicates_but_never_a_new_fill() -> None:
    tr = OrderTracker()
    cmd = SubmitOrder(client_order_id="c", strategy_id="s", instrument_id="binance:X", side=Side.BUY,
                      quantity=2.0, price=1.0)
    tr.add(cmd, "X")
    acc = OrderAccepted(client_order_id="c", venue_order_id="1", instrument_id="binance:X", ts_event=0, ts_recv=0)
    assert tr.admit(acc) and not tr.admit(acc)
    fill = OrderFilled(client_order_id="c", venue_order_id="1", instrument_id="binance:X", trade_id="t1",
                       side=Side.BUY, price=1.0, quantity=1.0, remaining=1.0, liquidity=Liquidity.MAKER,
                       fee=0.0, fee_currency="USDT", ts_event=0, ts_recv=0)
    assert tr.admit(fill) and not tr.admit(fill)
    assert tr.admit(fill.__class__(**{**{f: getattr(fill, f) for f in fill.__struct_fields__},
                                     "trade_id": "t2", "remaining": 0.0}))
    assert tr.get("c").state == "done" and tr.get("c").filled == 2.0
    assert not tr.mark_lost("c")  # a done order can never become unknown


def test_not_found_proves_never_placed_only_after_the_request_ended_and_its_window_passed() -> None:
    tr = OrderTracker()
    cmd = SubmitOrder(client_order_id="u", strategy_id="s", instrument_id="binance:X", side=Side.BUY,
                      quantity=1.0, price=1.0)
    t = tr.add(cmd, "X")
    assert not tr.never_placed("u", 10**12, 5)      # still waiting for the rate limiter
    t.sent_ns = 100
    assert not tr.never_placed("u", 10**12, 5)      # the request is still in flight
    assert tr.mark_lost("u")
    assert not tr.never_placed("u", 104, 5)         # the venue may still execute it
    assert tr.never_placed("u", 105, 5)
