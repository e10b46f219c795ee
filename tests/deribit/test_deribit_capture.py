"""Deribit codec on the real 2021-07-22 options recording and the single-message samples."""

from __future__ import annotations

import json
import math
from collections import Counter
from typing import Any

import pytest

from adapters.deribit.codec import DeribitCodec
from engine.book import OrderBook
from engine.model import (
    BookDelta,
    BookSnapshot,
    FundingRate,
    Instrument,
    InstrumentKind,
    MarkPrice,
    OptionSummary,
    OptionType,
    Quote,
    Side,
    Trade,
)
from tests.marketdata import marketdata_dir, read_jsonl_gz, read_sample

MS = 1_000_000
CAPTURE = marketdata_dir() / "deribit" / "deribit-options-2021-07-22.jsonl.gz"
SAMPLES = marketdata_dir() / "samples" / "deribit"


def _replay(records: list[dict[str, Any]]) -> tuple[DeribitCodec, list[Any]]:
    codec = DeribitCodec()
    events: list[Any] = []
    for r in records:
        kind = r["kind"]
        if kind == "rest":
            events.extend(codec.decode_rest(r["url"], r["data"], r["ts"]))
        elif kind == "ws-open":
            events.extend(codec.on_open(r["url"]))
        elif kind == "ws":
            events.extend(codec.decode(r["data"], r["ts"], r["url"]))
    return codec, events


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    return read_jsonl_gz(CAPTURE)


@pytest.fixture(scope="module")
def replay(records: list[dict[str, Any]]) -> tuple[DeribitCodec, list[Any]]:
    return _replay(records)


def _raw_instruments(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for r in records:
        if r["kind"] == "rest":
            for d in json.loads(r["data"])["result"]:
                out[d["instrument_name"]] = d
    return out


def test_capture_decodes_fully(replay: tuple[DeribitCodec, list[Any]]) -> None:
    codec, events = replay
    counts = Counter(type(e).__name__ for e in events)
    # venues.md [verified]: 10 snapshots + 36 changes; 89 option tickers; 4 instrument lists.
    assert counts["BookSnapshot"] == 10
    assert counts["BookDelta"] == 36
    assert counts["Quote"] == counts["MarkPrice"] == counts["OptionSummary"] == 89
    assert counts["Instrument"] == 398 + 426 + 177 + 16
    assert codec.error_count == 0 and not codec.pending_test_request


def test_books_are_continuous_and_never_cross(replay: tuple[DeribitCodec, list[Any]]) -> None:
    _, events = replay
    books: dict[str, OrderBook] = {}
    gaps = applied = 0
    for e in events:
        if isinstance(e, BookSnapshot):
            book = books[e.instrument_id] = OrderBook(e.instrument_id)
            book.apply_snapshot(e)
        elif isinstance(e, BookDelta):
            book = books[e.instrument_id]  # a delta never precedes its snapshot
            assert e.first_seq == e.seq
            if e.prev_seq != book.seq:
                gaps += 1
                continue
            book.apply_delta(e)
            applied += 1
        else:
            continue
        assert not book.is_crossed(), book
    assert gaps == 0
    assert applied == 36
    assert len(books) == 10
    # BTC-24SEP21-8000-P: its 0.001 ask appears and disappears again and again; the last
    # change deletes it, so the best ask is back to 0.0015 from the snapshot.
    b = books["deribit:BTC-24SEP21-8000-P"]
    assert b.best_ask() == (0.0015, 94.7)
    assert b.best_bid() == (0.0005, 153.1)
    assert b.seq == 33195898166


def test_delete_levels_carry_size_zero(replay: tuple[DeribitCodec, list[Any]]) -> None:
    _, events = replay
    deletes = [lv for e in events if isinstance(e, BookDelta) for lv in e.asks if lv[1] == 0.0]
    assert deletes and all(p > 0.0 for p, _ in deletes)


def test_option_tickers(replay: tuple[DeribitCodec, list[Any]]) -> None:
    _, events = replay
    first = next(e for e in events if isinstance(e, OptionSummary))
    # raw: mark_iv 120.74, bid_iv 115.62, ask_iv 125.63, greeks delta 0.03127 ...
    assert first.instrument_id == "deribit:ETH-30JUL21-2800-C"
    assert first.mark_iv == pytest.approx(1.2074)
    assert first.bid_iv == pytest.approx(1.1562)
    assert first.ask_iv == pytest.approx(1.2563)
    assert (first.delta, first.gamma, first.vega, first.theta) == (0.03127, 0.0002, 0.20072,
                                                                  -1.64029)
    assert first.underlying_price == 2003.61
    assert first.open_interest == 12685.0
    assert first.mark_price == 0.001972
    assert first.ts_event == 1626993723632 * MS
    for e in events:
        if isinstance(e, OptionSummary):
            assert 0.05 < e.mark_iv < 5.0  # fractions, not percent
            assert math.isnan(e.bid_iv) or 0.0 < e.bid_iv < 10.0
    quote = next(e for e in events if isinstance(e, Quote))
    assert (quote.bid_price, quote.bid_size, quote.ask_price, quote.ask_size) == (
        0.0015, 4714.0, 0.0025, 873.0)
    mark = next(e for e in events if isinstance(e, MarkPrice))
    assert (mark.mark_price, mark.index_price) == (0.001972, 2006.72)
    assert not any(isinstance(e, FundingRate) for e in events)  # options only


def test_instruments_match_raw_json(records: list[dict[str, Any]],
                                    replay: tuple[DeribitCodec, list[Any]]) -> None:
    _, events = replay
    raw = _raw_instruments(records)
    insts = {e.symbol: e for e in events if isinstance(e, Instrument)}
    assert set(insts) == set(raw)
    for sym, inst in insts.items():
        d = raw[sym]
        assert inst.id == f"deribit:{sym}"
        assert inst.tick_size == d["tick_size"]
        assert inst.lot_size == inst.min_size == d["min_trade_amount"]
        # quantities are the venue's amount: 1 USD per unit for inverse futures/perpetuals
        unit = 1.0 if inst.inverse and not inst.is_option else d["contract_size"]
        assert inst.contract_size == unit
        assert inst.base == d["base_currency"]
        assert (inst.maker_fee, inst.taker_fee) == (d["maker_commission"], d["taker_commission"])
        if d["kind"] == "option":
            assert inst.kind is InstrumentKind.OPTION
            assert inst.strike == d["strike"]
            assert inst.option_type is OptionType(d["option_type"])
            assert inst.expiry_ns == d["expiration_timestamp"] * MS
        elif d["settlement_period"] == "perpetual":
            assert inst.kind is InstrumentKind.PERPETUAL and inst.expiry_ns == 0
        else:
            assert inst.kind is InstrumentKind.FUTURE
            assert inst.expiry_ns == d["expiration_timestamp"] * MS


def test_known_instruments_by_hand(replay: tuple[DeribitCodec, list[Any]]) -> None:
    _, events = replay
    insts = {e.symbol: e for e in events if isinstance(e, Instrument)}
    # {"tick_size":0.0005,"taker_commission":0.0003,"strike":40000.0,"settlement_period":"month",
    #  "quote_currency":"BTC","option_type":"put","min_trade_amount":0.1,"maker_commission":0.0003,
    #  "kind":"option","is_active":true,"instrument_name":"BTC-24SEP21-40000-P",
    #  "expiration_timestamp":1632470400000,"contract_size":1.0,"base_currency":"BTC"}
    put = insts["BTC-24SEP21-40000-P"]
    assert put.kind is InstrumentKind.OPTION and put.option_type is OptionType.PUT
    assert put.strike == 40000.0 and put.tick_size == 0.0005 and put.lot_size == 0.1
    assert put.expiry_ns == 1632470400000 * MS  # 2021-09-24 08:00 UTC
    assert (put.base, put.quote, put.settle) == ("BTC", "USD", "BTC")
    assert put.inverse and put.premium_in_coin and put.contract_size == 1.0
    assert put.maker_fee == put.taker_fee == 0.0003 and put.active
    # old response without instrument_type/settlement_currency: quote USD => inverse
    fut = insts["BTC-25MAR22"]
    assert fut.kind is InstrumentKind.FUTURE and fut.inverse and not fut.premium_in_coin
    assert (fut.base, fut.quote, fut.settle) == ("BTC", "USD", "BTC")
    assert fut.contract_size == 1.0 and fut.tick_size == 0.5 and fut.lot_size == 10.0
    assert fut.expiry_ns == 1648195200000 * MS
    assert insts["BTC-PERPETUAL"].kind is InstrumentKind.PERPETUAL
    assert insts["ETH-23JUL21"].maker_fee == -0.0001  # maker rebate
    # "future_type":"reversed","settlement_currency":"SOL","counter_currency":"USD"
    sol = insts["SOL-24JUN22"]
    assert sol.inverse and (sol.base, sol.quote, sol.settle) == ("SOL", "USD", "SOL")
    assert sol.underlying == "SOL" and sol.venue_underlying == "sol_usd"
    # linear USDC perpetual: "future_type":"linear","settlement_currency":"USDC"
    uni = insts["UNI_USDC-PERPETUAL"]
    assert uni.kind is InstrumentKind.PERPETUAL and not uni.inverse
    assert (uni.base, uni.quote, uni.settle) == ("UNI", "USDC", "USDC")
    assert uni.tick_size == 0.001 and uni.lot_size == 1.0 and uni.contract_size == 1.0
    sol_put = insts["SOL-10JUN22-28-P"]
    assert sol_put.premium_in_coin and sol_put.strike == 28.0 and sol_put.maker_fee == 0.0


# -- single-message samples ----------------------------------------------------------------
def _sample(name: str) -> str:
    return read_sample(SAMPLES / name)


def test_sample_ticker_perpetual() -> None:
    c = DeribitCodec()
    ev = c.decode(_sample("ws_ticker.json"), 7)
    assert [type(e) for e in ev] == [Quote, MarkPrice, FundingRate]
    q, m, f = ev
    assert q.instrument_id == "deribit:BTC-PERPETUAL"
    assert (q.bid_price, q.bid_size, q.ask_price, q.ask_size) == (92283.5, 117660.0, 92284.0,
                                                                  186520.0)
    assert (m.mark_price, m.index_price) == (92281.78, 92263.55)
    assert f.rate == 0.00001742 and f.next_funding_ns == 0
    assert q.ts_event == 1765541474086 * MS and q.ts_recv == 7
    assert c.last_channel == "ticker"


def test_sample_trades() -> None:
    c = DeribitCodec()
    ev = c.decode(_sample("ws_trades.json"), 1)
    assert ev == [
        Trade("deribit:BTC-PERPETUAL", 92294.5, 10.0, Side.SELL, "403691824",
              1765531356452 * MS, 1),
        Trade("deribit:BTC-PERPETUAL", 92288.5, 750.0, Side.SELL, "403691825",
              1765531356452 * MS, 1),
    ]
    assert c.last_channel == "trades"
    combo = c.decode(_sample("ws_trades_option_combo.json"), 1)
    assert len(combo) == 1 and combo[0].instrument_id == "deribit:BTC-CS-19MAY26-70000_75000"
    assert combo[0].trade_id == "244365193" and combo[0].aggressor is Side.SELL


def test_sample_error_is_recorded_not_raised() -> None:
    c = DeribitCodec()
    assert c.decode(_sample("ws_error.json"), 1) == []
    assert c.error_count == 1 and c.last_error is not None
    assert (c.last_error.code, c.last_error.message) == (10028, "too_many_requests")
    assert c.last_channel == "error"


def test_sample_rest_bodies() -> None:
    c = DeribitCodec()
    insts = c.decode_rest("https://www.deribit.com/api/v2/public/get_instruments?currency=BTC",
                          _sample("http_get_instruments.json"), 1)
    by = {i.symbol: i for i in insts}
    assert set(by) == {"BTC-PERPETUAL", "BTC-27DEC24", "BTC-27DEC24-100000-C"}  # combo skipped
    perp = by["BTC-PERPETUAL"]
    assert perp.kind is InstrumentKind.PERPETUAL and perp.inverse and perp.contract_size == 1.0 and perp.lot_size == 10.0
    assert perp.underlying == "BTC" and perp.venue_underlying == "btc_usd" and perp.taker_fee == 0.0005
    call = by["BTC-27DEC24-100000-C"]
    assert call.option_type is OptionType.CALL and call.premium_in_coin
    assert call.expiry_ns == 1735300800000 * MS
    one = c.decode_rest("https://www.deribit.com/api/v2/public/get_instrument",
                        _sample("http_get_instrument_option.json"), 1)
    assert one == [call]
    (snap,) = c.decode_rest("https://www.deribit.com/api/v2/public/get_order_book",
                            _sample("http_get_order_book.json"), 5)
    assert isinstance(snap, BookSnapshot)
    assert snap.instrument_id == "deribit:BTC-PERPETUAL" and snap.seq == 133112427566
    assert snap.bids[0] == (87002.5, 199190.0) and snap.asks[0] == (87003.0, 125090.0)
    assert len(snap.bids) == len(snap.asks) == 20


@pytest.mark.parametrize("name", [
    "ws_portfolio.json", "ws_order_buy_response.json", "ws_order_cancel_response.json",
    "ws_order_edit_response.json", "ws_order_sell_response.json",
    "ws_order_stop_market_no_filled_amount.json", "ws_order_stop_market_response.json",
])
def test_private_samples_are_valid_frames(name: str) -> None:
    # private order flow is not market data: valid frames, no events
    assert DeribitCodec().decode(_sample(name), 1) == []
