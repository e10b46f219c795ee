"""The sans-IO private layer on Bybit's real private-stream samples and signing rules."""

from __future__ import annotations


import orjson
import pytest

from adapters.bybit import private as pv
from engine.model import (
    AmendOrder, Liquidity, OrderFilled, OrderStatusReport, Side, SubmitOrder, VenueProtocolError,
)
from tests.live_common import needs_samples as needs_samples_at, samples_dir


SAMPLES = samples_dir("bybit")
needs_samples = needs_samples_at(SAMPLES)
dec = pv.PrivateDecoder("bybit", lambda s: f"bybit:{s}", lambda s: "USDT")


def test_rest_signature_is_hmac_of_timestamp_key_window_payload() -> None:
    import hashlib
    import hmac
    payload = '{"category":"linear","symbol":"BTCUSDT"}'
    want = hmac.new(b"sec", f"1700000000000key5000{payload}".encode(), hashlib.sha256).hexdigest()
    assert pv.rest_signature("sec", 1_700_000_000_000, "key", 5000, payload) == want
    h = pv.rest_headers("key", "sec", 1_700_000_000_000, 5000, payload)
    assert h["X-BAPI-SIGN"] == want and h["X-BAPI-API-KEY"] == "key"


def test_ws_auth_frame_round_trips_through_the_venue_check() -> None:
    frame = orjson.loads(pv.ws_auth_frame("key", "sec", 2_000))
    assert frame["op"] == "auth" and frame["args"][:2] == ["key", 2_000]
    assert pv.verify_ws_auth(frame["args"], "key", "sec", now_ms=1_000)
    assert not pv.verify_ws_auth(frame["args"], "key", "sec", now_ms=3_000)   # expired
    assert not pv.verify_ws_auth(frame["args"], "key", "other", now_ms=1_000)


def test_order_bodies() -> None:
    cmd = SubmitOrder(client_order_id="c-1", strategy_id="s", instrument_id="bybit:BTCUSDT",
                      side=Side.BUY, quantity=0.001, price=60_000.5, post_only=True)
    assert pv.create_body(cmd, "linear", "BTCUSDT") == {
        "category": "linear", "symbol": "BTCUSDT", "side": "Buy", "qty": "0.001",
        "orderLinkId": "c-1", "orderType": "Limit", "price": "60000.5", "timeInForce": "PostOnly"}
    am = AmendOrder(client_order_id="c-1", strategy_id="s", instrument_id="bybit:BTCUSDT", price=1.5)
    assert pv.amend_body(am, "linear", "BTCUSDT") == {"category": "linear", "symbol": "BTCUSDT",
                                                      "orderLinkId": "c-1", "price": "1.5"}


@needs_samples
def test_real_execution_is_a_fill_with_exec_id_and_fee() -> None:
    (f,) = dec.decode((SAMPLES / "ws_account_execution.json").read_bytes(), 5)
    assert isinstance(f, OrderFilled)
    assert (f.client_order_id, f.trade_id, f.side, f.price, f.quantity, f.remaining) == (
        "test-order-link-001", "0ab1bdf7-4219-438b-b30a-32ec863018f7", Side.SELL, 95900.1, 0.5, 0.0)
    assert (f.fee, f.fee_currency, f.liquidity) == (26.3725275, "USDT", Liquidity.TAKER)


@needs_samples
@pytest.mark.parametrize("name,status,filled", [
    ("ws_account_order_filled.json", "filled", 0.1),
    ("ws_account_order_partially_filled_rejected.json", "rejected", 50.0),
    ("ws_account_order_stop_market.json", "accepted", 0.0),
])
def test_real_order_rows_become_status_reports(name: str, status: str, filled: float) -> None:
    (r,) = dec.decode((SAMPLES / name).read_bytes(), 5)
    assert isinstance(r, OrderStatusReport)
    assert (r.status, r.filled) == (status, filled)


@needs_samples
def test_real_realtime_query_rows() -> None:
    body = orjson.loads((SAMPLES / "http_get_orders_realtime.json").read_bytes())
    reps = [pv.order_report(r, lambda s: f"bybit:{s}", 1, "bybit") for r in body["result"]["list"]]
    assert [(r.client_order_id, r.side, r.price, r.status) for r in reps] == [
        ("client-open-1", Side.BUY, 3930.41, "accepted"), ("client-open-2", Side.SELL, 3940.42, "accepted")]


def test_auth_answer_and_positions() -> None:
    assert dec.decode(b'{"success":false,"ret_msg":"Params Error","op":"auth","conn_id":"x"}', 1) == []
    assert dec.auth_ok is False and dec.auth_error == "Params Error"
    (p,) = dec.decode(b'{"topic":"position","data":[{"symbol":"BTCUSDT","side":"Sell","size":"0.3",'
                      b'"avgPrice":"60000","updatedTime":"5"}]}', 1)
    assert (p.quantity, p.avg_price) == (-0.3, 60000.0)


@pytest.mark.parametrize("frame", [b"", b"[1]", b'{"topic":"order","data":[{"orderStatus":"New"}]}',
                                   b'{"topic":"execution","data":[{"symbol":"X"}]}',
                                   b'{"topic":"order","data":[{"orderStatus":"Weird","symbol":"X"}]}'])
def test_malformed_private_frames_raise_the_protocol_error_only(frame: bytes) -> None:
    with pytest.raises(VenueProtocolError):
        dec.decode(frame, 0)
