"""Fuzzed private-stream decoders (issue 18): mutations of the venues' real order and
execution messages (the shared samples) raise only ``VenueProtocolError``, and whatever is
accepted carries no impossible number: a fill's price and quantity are finite and positive.

Same mutations and budget (``VOLTA_FUZZ_EXAMPLES``) as ``test_codec_fuzz``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.model import OrderFilled, VenueProtocolError
from tests.fuzz.test_codec_fuzz import FUZZ, _data_dir, mutated


def _binance(text: str | bytes) -> list[Any]:
    from adapters.binance.private import UserStreamDecoder

    return UserStreamDecoder("binance-usdm", lambda s: f"binance-usdm:{s}").decode(text, 1)


def _bybit(text: str | bytes) -> list[Any]:
    from adapters.bybit.private import PrivateDecoder

    return PrivateDecoder("bybit", lambda s: f"bybit:{s}", lambda s: "USDT").decode(text, 1)


def _loads(text: str | bytes) -> Any:
    """What a session does first with a frame (its own protocol error for bad JSON)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise VenueProtocolError(f"not JSON: {exc}") from exc


def _deribit(text: str | bytes) -> list[Any]:
    from adapters.deribit.private import parse_order, parse_trade

    msg = _loads(text)
    result = msg.get("result") if isinstance(msg, dict) else None
    out: list[Any] = []
    if isinstance(result, dict):
        if "order" in result:
            out.append(parse_order(result["order"]))
        trades = result.get("trades")
        for trade in trades if isinstance(trades, list) else []:  # the session's shape check
            out.append(parse_trade(trade))
    return out


def _okx(text: str | bytes) -> list[Any]:
    from adapters.okx.private import parse_fill, parse_order

    msg = _loads(text)
    rows = msg.get("data") if isinstance(msg, dict) else None
    out: list[Any] = []
    for row in rows if isinstance(rows, list) else []:
        out.append(parse_order(row))
        if isinstance(row, dict) and row.get("fillSz") not in (None, "", "0"):
            out.append(parse_fill(row))
    return out


# venue -> (decoder, sample files under samples/<folder>/)
DECODERS: dict[str, tuple[Callable[[str | bytes], list[Any]], str, str]] = {
    "binance-usdm": (_binance, "binance-usdm", "ws_futures_order_update_*.json"),
    "bybit": (_bybit, "bybit", "ws_account_*.json"),
    "deribit": (_deribit, "deribit", "ws_order_*.json"),
    "okx": (_okx, "okx", "ws_orders*.json"),
}


def _samples(venue: str) -> list[str]:
    _, folder, pattern = DECODERS[venue]
    base = _data_dir() / "samples" / folder
    if not base.is_dir():
        pytest.skip(f"samples not found at {base} (set VOLTA_MARKETDATA)")
    docs = [json.loads(Path(f).read_text()) for f in sorted(base.glob(pattern))]
    if venue == "okx":  # the "orders" channel (algo orders have their own channel and states)
        docs = [d for d in docs if d.get("arg", {}).get("channel") == "orders"]
    assert docs, f"no {pattern} in {base}"
    return [json.dumps(d) for d in docs]


def _check(result: list[Any]) -> None:
    for item in result:
        if isinstance(item, OrderFilled):
            assert math.isfinite(item.price) and item.price > 0, item
            assert math.isfinite(item.quantity) and item.quantity > 0, item
        for name in ("price", "quantity", "amount", "filled", "fill_px", "fill_sz", "px", "sz"):
            value = getattr(item, name, None)
            if isinstance(value, float):
                assert not math.isnan(value), f"{type(item).__name__}.{name} is NaN: {item}"


@pytest.mark.parametrize("venue", sorted(DECODERS))
def test_genuine_samples_decode(venue: str) -> None:
    decode = DECODERS[venue][0]
    decoded = [decode(text) for text in _samples(venue)]
    assert any(decoded), f"{venue}: the samples decoded to nothing"
    for result in decoded:
        _check(result)


@pytest.mark.parametrize("venue", sorted(DECODERS))
@FUZZ
@given(data=st.data())
def test_mutated_private_messages_raise_only_protocol_errors(venue: str, data: st.DataObject) -> None:
    samples = _samples(venue)
    text = samples[data.draw(st.integers(0, len(samples) - 1), label="sample")]
    frame = data.draw(mutated(text), label="mutation")
    try:
        result = DECODERS[venue][0](frame)
    except VenueProtocolError:
        return
    _check(result)


@pytest.mark.parametrize("venue, path", [
    ("binance-usdm", ("o", "n")),          # the fill's commission
    ("bybit", (0, "execFee")),             # an execution's fee
])
@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e400", True])
def test_a_fee_that_is_not_a_number_is_malformed(venue: str, path: tuple[Any, ...],
                                                 value: Any) -> None:
    """A fill's fee of "NaN" or "Infinity" (or a JSON true, which float() reads as 1.0) is a
    malformed message, never a fill whose fee would make every PnL figure NaN."""
    decode = DECODERS[venue][0]
    for text in _samples(venue):
        doc = json.loads(text)
        node = doc.get("data")
        try:
            for key in path[:-1]:
                node = node[key]
        except (KeyError, IndexError, TypeError):
            continue
        if not isinstance(node, dict) or path[-1] not in node:
            continue
        genuine = decode(json.dumps(doc))
        if not any(isinstance(e, OrderFilled) for e in genuine):
            continue
        node[path[-1]] = value
        with pytest.raises(VenueProtocolError):
            decode(json.dumps(doc))
        return
    pytest.skip(f"no {venue} sample with a fill")


@pytest.mark.parametrize("field", ["price", "qty", "cumExecQty", "avgPrice"])
@pytest.mark.parametrize("value", ["NaN", "Infinity", True])
def test_an_order_row_number_that_is_not_a_number_is_malformed(field: str, value: Any) -> None:
    """An order report (status queries, reconciliation) with a price or quantity that is not
    a finite number is malformed, never an order of NaN contracts at an infinite price."""
    from adapters.bybit.private import order_report

    row = {"orderId": "1", "orderLinkId": "c1", "symbol": "BTCUSDT", "side": "Buy",
           "orderStatus": "New", "price": "60000", "qty": "0.01", "cumExecQty": "0",
           "avgPrice": "", "updatedTime": "1700000000000"}
    order_report(dict(row), lambda s: f"bybit:{s}", 1, "bybit")
    row[field] = value
    with pytest.raises(VenueProtocolError):
        order_report(row, lambda s: f"bybit:{s}", 1, "bybit")
