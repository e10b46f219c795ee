"""The sans-IO private layer on real Deribit samples and the documented signature scheme."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from adapters.deribit import private as pv
from adapters.deribit.codec import PRIVATE_ID_BASE, DeribitCodec
from engine.model import OrderType, Side, SubmitOrder, TimeInForce, VenueProtocolError
from tests.live_common import needs_samples as needs_samples_at, samples_dir


SAMPLES = samples_dir("deribit")
needs_samples = needs_samples_at(SAMPLES)


def _load(name: str) -> dict:
    return json.loads((SAMPLES / name).read_text())


@needs_samples
def test_buy_response_sample_parses_to_an_open_order_with_our_label() -> None:
    info = pv.parse_order(_load("ws_order_buy_response.json")["result"]["order"])
    assert info.client_order_id == "O-19700101-000000-001-001-1"
    assert info.venue_order_id == "USDC-104819327443"
    assert info.instrument_id == "deribit:ETH_USDC-PERPETUAL"
    assert (info.side, info.state, info.price, info.amount, info.filled) == (
        Side.BUY, "open", 2973.55, 0.001, 0.0)
    assert info.ts_event == 1767978363493 * 1_000_000
    assert pv.report(info, 5).status == "accepted"


@needs_samples
def test_edit_and_cancel_samples() -> None:
    edit = pv.parse_order(_load("ws_order_edit_response.json")["result"]["order"])
    assert edit.replaced and edit.price == 3067.2
    cancel = pv.parse_order(_load("ws_order_cancel_response.json")["result"])
    assert (cancel.state, cancel.cancel_reason) == ("cancelled", "user_request")
    assert pv.report(cancel, 0).status == "cancelled"


@needs_samples
def test_sell_and_stop_samples_parse() -> None:
    sell = pv.parse_order(_load("ws_order_sell_response.json")["result"]["order"])
    assert sell.side is Side.SELL
    stop = pv.parse_order(_load("ws_order_stop_market_response.json")["result"]["order"])
    assert stop.state in ("untriggered", "open", "triggered")


@needs_samples
def test_private_responses_and_user_channels_pass_through_the_market_codec() -> None:
    codec = DeribitCodec()
    msg = _load("ws_order_buy_response.json")
    msg["id"] = PRIVATE_ID_BASE + 3
    assert codec.decode(json.dumps(msg), 1) == []
    assert codec.foreign is not None and codec.foreign["result"]["order"]["order_id"]
    codec.foreign = None
    assert codec.decode((SAMPLES / "ws_portfolio.json").read_text(), 1) == []
    assert codec.foreign is not None and codec.foreign["params"]["channel"] == "user.portfolio.any"
    err = _load("ws_error.json")  # a market-data request's error stays with the codec
    assert codec.decode(json.dumps(err), 1) == [] and codec.last_error.code == 10028


def test_trade_object_becomes_a_fill_record() -> None:
    tr = pv.parse_trade({"trade_id": "ETH-1", "order_id": "ETH-9", "label": "c1",
                         "instrument_name": "ETH-PERPETUAL", "direction": "sell", "price": 3000.5,
                         "amount": 10.0, "fee": 1.5e-6, "fee_currency": "ETH", "liquidity": "M",
                         "state": "open", "timestamp": 1700000000000})
    assert (tr.client_order_id, tr.trade_id, tr.side, tr.amount, tr.fee) == (
        "c1", "ETH-1", Side.SELL, 10.0, 1.5e-6)
    with pytest.raises(VenueProtocolError):
        pv.parse_trade({"trade_id": "x", "direction": "up"})
    with pytest.raises(VenueProtocolError):
        pv.parse_order({"direction": "buy", "order_state": "weird"})


def test_client_signature_is_the_documented_hmac() -> None:
    want = hmac.new(b"s3cret", b"1700000000000\nabcd\n", hashlib.sha256).hexdigest()
    assert pv.sign("s3cret", 1700000000000, "abcd") == want
    p = pv.auth_params("id", "s3cret", "client_signature", 1700000000000, "abcd")
    assert p == {"grant_type": "client_signature", "client_id": "id", "timestamp": 1700000000000,
                 "nonce": "abcd", "data": "", "signature": want}
    assert "client_secret" not in p


def test_order_request_maps_every_field() -> None:
    cmd = SubmitOrder(client_order_id="c-1", strategy_id="s", instrument_id="deribit:BTC-PERPETUAL",
                      side=Side.SELL, quantity=20.0, price=60000.5, time_in_force=TimeInForce.IOC,
                      reduce_only=True)
    assert pv.order_request(cmd, "BTC-PERPETUAL") == ("private/sell", {
        "instrument_name": "BTC-PERPETUAL", "amount": 20.0, "label": "c-1",
        "time_in_force": "immediate_or_cancel", "type": "limit", "price": 60000.5,
        "reduce_only": True})
    mkt = SubmitOrder(client_order_id="c-2", strategy_id="s", instrument_id="deribit:BTC-PERPETUAL",
                      side=Side.BUY, quantity=10.0, order_type=OrderType.MARKET)
    method, params = pv.order_request(mkt, "BTC-PERPETUAL")
    assert method == "private/buy" and params["type"] == "market" and "price" not in params
    with pytest.raises(ValueError):
        pv.order_request(SubmitOrder(client_order_id="x" * 65, strategy_id="s",
                                     instrument_id="deribit:BTC-PERPETUAL", side=Side.BUY,
                                     quantity=10.0, price=1.0), "BTC-PERPETUAL")
