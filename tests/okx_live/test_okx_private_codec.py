"""The sans-IO OKX private layer on real samples and OKX's documented signatures."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import orjson
import pytest

from adapters.okx import private as pv
from engine.model import Liquidity, OrderType, Side, SubmitOrder, TimeInForce, VenueProtocolError
from tests.live_common import needs_samples as needs_samples_at, samples_dir


SAMPLES = samples_dir("okx")
needs_samples = needs_samples_at(SAMPLES)


def _row(name: str) -> dict:
    return json.loads((SAMPLES / name).read_text())["data"][0]


@needs_samples
def test_orders_push_sample_is_a_filled_order_with_its_fill() -> None:
    o = pv.parse_order(_row("ws_orders.json"))
    assert (o.cl_ord_id, o.venue_order_id, o.instrument_id) == (
        "001BTCUSDT20250106001", "2497956918703120384", "okx:BTC-USDT-SWAP")
    assert (o.side, o.state, o.size, o.filled, o.avg_price) == (Side.BUY, "filled", 0.03, 0.03,
                                                                 103698.9)
    assert (o.trade_id, o.fill_size, o.fill_price) == ("1518905529", 0.03, 103698.9)
    assert o.fee == pytest.approx(0.021776769) and o.fee_currency == "USDT"  # OKX: -x = paid
    assert o.liquidity is Liquidity.MAKER and o.price is None  # a market order: px ""
    assert pv.report(o, "c1", 5).status == "filled"


@needs_samples
@pytest.mark.parametrize("name", ["ws_orders_ioc.json", "ws_orders_fok.json",
                                  "ws_orders_option.json", "ws_orders_adl.json",
                                  "ws_orders_liquidation.json", "ws_orders_optimal_limit_ioc.json"])
def test_every_orders_sample_parses(name: str) -> None:
    o = pv.parse_order(_row(name))
    assert o.venue_order_id and o.instrument_id.startswith("okx:")
    assert o.filled <= o.size or o.size == 0


@needs_samples
def test_ioc_sample_is_partially_filled() -> None:
    o = pv.parse_order(_row("ws_orders_ioc.json"))
    assert (o.state, o.fill_size, o.size, o.liquidity) == ("partially_filled", 0.02, 0.05,
                                                          Liquidity.TAKER)
    assert pv.report(o, "", 0).status == "partially_filled"


@needs_samples
def test_rest_order_history_rows_parse() -> None:
    rows = json.loads((SAMPLES / "http_get_orders_history.json").read_text())["data"]
    assert all(pv.parse_order(r).venue_order_id for r in rows)


def test_login_signature_is_the_documented_hmac() -> None:
    frame = orjson.loads(pv.login_frame("key", "sec", "pass", 1538054050))
    want = base64.b64encode(hmac.new(b"sec", b"1538054050GET/users/self/verify",
                                     hashlib.sha256).digest()).decode()
    assert frame == {"op": "login", "args": [{"apiKey": "key", "passphrase": "pass",
                                              "timestamp": "1538054050", "sign": want}]}


def test_rest_headers_sign_timestamp_method_path_and_body() -> None:
    h = pv.rest_headers("k", "s", "p", 1607418537715, "POST", "/api/v5/trade/order", '{"a":1}',
                        simulated=True)
    assert h["OK-ACCESS-TIMESTAMP"] == "2020-12-08T09:08:57.715Z"
    want = base64.b64encode(hmac.new(b"s", b'2020-12-08T09:08:57.715ZPOST/api/v5/trade/order{"a":1}',
                                     hashlib.sha256).digest()).decode()
    assert h["OK-ACCESS-SIGN"] == want and h["x-simulated-trading"] == "1"


def test_order_args_and_client_ids() -> None:
    cmd = SubmitOrder(client_order_id="abc123", strategy_id="s", instrument_id="okx:BTC-USD-SWAP",
                      side=Side.SELL, quantity=3.0, price=60000.1, time_in_force=TimeInForce.IOC,
                      reduce_only=True)
    assert pv.order_args(cmd, "BTC-USD-SWAP", "cross") == {
        "instId": "BTC-USD-SWAP", "tdMode": "cross", "side": "sell", "ordType": "ioc", "sz": "3",
        "clOrdId": "abc123", "px": "60000.1", "reduceOnly": True}
    mkt = SubmitOrder(client_order_id="m-1", strategy_id="s", instrument_id="okx:BTC-USD-SWAP",
                      side=Side.BUY, quantity=1.0, order_type=OrderType.MARKET)
    args = pv.order_args(mkt, "BTC-USD-SWAP", "cross")
    assert args["ordType"] == "market" and "px" not in args
    cl = args["clOrdId"]
    assert cl.isalnum() and len(cl) <= 32 and cl == pv.cl_ord_id("m-1")  # deterministic


def test_op_replies_and_malformed_rows() -> None:
    rows = pv.parse_op_reply({"id": "o1", "op": "order", "code": "1", "msg": "",
                              "data": [{"ordId": "", "clOrdId": "c", "sCode": "51008",
                                        "sMsg": "Insufficient balance"}]})
    assert rows == [pv.OpReply("o1", "order", "51008", "Insufficient balance", "", "c")]
    assert pv.parse_op_reply({"id": "o2", "op": "order", "code": "50011",
                              "msg": "Too Many Requests", "data": []})[0].code == "50011"
    with pytest.raises(VenueProtocolError):
        pv.parse_order({"side": "buy", "state": "weird"})
    with pytest.raises(VenueProtocolError):
        pv.parse_fill({"side": "buy"})
