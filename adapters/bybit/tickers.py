"""Bybit v5 ``tickers.{symbol}``: merge partial ticker deltas into full Quote/MarkPrice/... events.

Theory of operation (https://bybit-exchange.github.io/docs/v5/websocket/public/ticker):
linear and inverse tickers arrive as one ``type: "snapshot"`` followed by ``type: "delta"``
pushes that carry *only the fields that changed* ("If a response param is not found in the
message, then its value has not changed"). A normalized ``Quote`` needs all four of bid/ask
price and size, so ``TickerMerger`` keeps the latest string value of every field per symbol
(a snapshot replaces the record, a delta updates it) and builds events from the merged
record. It emits an event only when the frame touched one of that event's fields and the
merged record holds all the fields it needs, so a delta that only moves ``lastPrice``
produces nothing and a delta that arrives before any snapshot (never documented, but cheap to
survive) produces only what it fully describes. Spot and option tickers are documented as
snapshot-only; they go through the same merge, which is then a plain copy.

Events per category:
* linear/inverse: ``Quote`` (``bid1Price``/``bid1Size``/``ask1Price``/``ask1Size``, ``seq`` = ``cs``),
  ``MarkPrice`` (``markPrice``, ``indexPrice``), ``FundingRate`` (``fundingRate``,
  ``nextFundingTime``; futures send ``""`` for both and get none).
* option: ``Quote`` (websocket ``bidPrice``/``bidSize``/``askPrice``/``askSize``; REST
  ``bid1Price``... names are accepted too), ``MarkPrice`` and ``OptionSummary``. Bybit IVs
  (``bidIv``, ``askIv``, ``markPriceIv``; REST ``bid1Iv``, ``ask1Iv``, ``markIv``) are already
  fractions: the documented example has ``markPriceIv: "0.4896"`` for a BTC option in
  January 2023 (about 49 % vol), so they are passed through unscaled. An IV on a side
  without a price (``bidPrice: "0"``, ``bidIv: "0"``) is reported as NaN, not 0. Greeks are
  Bybit's, per contract of one base coin; ``mark_price`` is in the quote coin (USDC/USDT).
* spot: ``Quote`` when the record has ``bid1Price``... (REST tickers), and ``MarkPrice`` with
  ``mark_price`` NaN and ``index_price`` = ``usdIndexPrice`` when Bybit publishes one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.model import FundingRate, MarkPrice, OptionSummary, Quote

from adapters.bybit.fields import NAN, bad, ms_to_ns, opt_ms_to_ns, opt_num, string

_LINEAR_QUOTE = ("bid1Price", "bid1Size", "ask1Price", "ask1Size")
_WS_OPTION_QUOTE = ("bidPrice", "bidSize", "askPrice", "askSize")
_MARK = ("markPrice", "indexPrice")
_FUNDING = ("fundingRate", "nextFundingTime")
_OPTION_MARKERS = ("markPriceIv", "markIv", "underlyingPrice")


def _touched(row: dict[str, Any], keys: tuple[str, ...]) -> bool:
    for k in keys:
        if k in row:
            return True
    return False


def _has_all(state: dict[str, Any], keys: tuple[str, ...]) -> bool:
    for k in keys:
        if k not in state:
            return False
    return True


def _size(value: Any, name: str) -> float:
    f = opt_num(value, name)
    if f < 0.0:
        raise bad(f"{name}: negative size {value!r}")
    return 0.0 if f != f else f


class TickerMerger:
    """Per-connection record of the latest ticker fields of every symbol."""

    __slots__ = ("_state",)

    def __init__(self) -> None:
        self._state: dict[str, dict[str, Any]] = {}

    def clear(self) -> None:
        """Forget everything (a new connection starts with fresh snapshots)."""
        self._state.clear()

    def on_message(self, msg: dict[str, Any], ts_recv: int, category: str,
                   iid_of: Callable[[str], str]) -> list[Any]:
        """Merge one ``tickers.*`` push and return the events it completes."""
        ts_event = ms_to_ns(msg["ts"], "ts")
        cs = msg.get("cs", 0)
        seq = cs if cs.__class__ is int else 0
        kind = msg.get("type", "snapshot")
        if kind != "snapshot" and kind != "delta":
            raise bad(f"ticker type {kind!r}")
        data = msg["data"]
        rows = data if data.__class__ is list else (data,)
        out: list[Any] = []
        for row in rows:
            if row.__class__ is not dict:
                raise bad("ticker data is not an object")
            sym = string(row["symbol"], "symbol")
            state = self._state.get(sym)
            if kind == "snapshot" or state is None:
                state = dict(row)
                self._state[sym] = state
            else:
                state.update(row)
            emit(state, row, iid_of(sym), category, ts_event, ts_recv, seq, out)
        return out


def emit(state: dict[str, Any], row: dict[str, Any], iid: str, category: str,
         ts_event: int, ts_recv: int, seq: int, out: list[Any]) -> None:
    """Append the events ``row`` (just merged into ``state``) completes to ``out``."""
    if category == "option" or _touched(state, _OPTION_MARKERS):
        _emit_option(state, iid, ts_event, ts_recv, seq, out)
        return
    if _touched(row, _LINEAR_QUOTE) and _has_all(state, _LINEAR_QUOTE):
        out.append(Quote(iid, opt_num(state["bid1Price"], "bid1Price"), _size(state["bid1Size"], "bid1Size"),
                         opt_num(state["ask1Price"], "ask1Price"), _size(state["ask1Size"], "ask1Size"),
                         ts_event, ts_recv, seq))
    if _touched(row, _MARK) and (state.get("markPrice") or state.get("indexPrice")):
        out.append(MarkPrice(iid, opt_num(state.get("markPrice"), "markPrice"),
                             opt_num(state.get("indexPrice"), "indexPrice"), ts_event, ts_recv))
    if _touched(row, _FUNDING) and state.get("fundingRate") and state.get("nextFundingTime"):
        nxt = opt_ms_to_ns(state["nextFundingTime"], "nextFundingTime")
        out.append(FundingRate(iid, opt_num(state["fundingRate"], "fundingRate"),
                               nxt or 0, ts_event, ts_recv))
    if "usdIndexPrice" in row and state["usdIndexPrice"]:
        out.append(MarkPrice(iid, NAN, opt_num(state["usdIndexPrice"], "usdIndexPrice"),
                             ts_event, ts_recv))


def _first(state: dict[str, Any], a: str, b: str) -> Any:
    value = state.get(a)
    return state.get(b) if value is None else value


def _emit_option(state: dict[str, Any], iid: str, ts_event: int, ts_recv: int, seq: int,
                 out: list[Any]) -> None:
    bid = opt_num(_first(state, "bidPrice", "bid1Price"), "bidPrice")
    ask = opt_num(_first(state, "askPrice", "ask1Price"), "askPrice")
    bid_size = _size(_first(state, "bidSize", "bid1Size"), "bidSize")
    ask_size = _size(_first(state, "askSize", "ask1Size"), "askSize")
    if bid == bid or ask == ask:  # at least one side was published
        out.append(Quote(iid, bid, bid_size, ask, ask_size, ts_event, ts_recv, seq))
    mark = opt_num(state.get("markPrice"), "markPrice")
    index = opt_num(state.get("indexPrice"), "indexPrice")
    if mark == mark or index == index:
        out.append(MarkPrice(iid, mark, index, ts_event, ts_recv))
    if mark != mark:
        return
    # A side without a price has IV "0": that is "no quote", not a 0 % volatility.
    bid_iv = opt_num(_first(state, "bidIv", "bid1Iv"), "bidIv") if bid > 0.0 else NAN
    ask_iv = opt_num(_first(state, "askIv", "ask1Iv"), "askIv") if ask > 0.0 else NAN
    out.append(OptionSummary(
        iid,
        mark,
        opt_num(_first(state, "markPriceIv", "markIv"), "markPriceIv"),
        bid_iv,
        ask_iv,
        opt_num(state.get("underlyingPrice"), "underlyingPrice"),
        opt_num(state.get("delta"), "delta"),
        opt_num(state.get("gamma"), "gamma"),
        opt_num(state.get("vega"), "vega"),
        opt_num(state.get("theta"), "theta"),
        opt_num(state.get("openInterest"), "openInterest"),
        ts_event,
        ts_recv,
    ))
