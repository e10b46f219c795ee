"""Expiry settlement at the replay exchange: the venue's index history, the client's open
positions, and the settlement fill of each position when its option or future expires.

Theory of operation: the exchange feeds every index (``MarkPrice.index_price``) it replays into
``observe``, every forward (``OptionSummary.underlying_price``) into ``observe_forward`` (per
expiry), and every client fill into
``on_fill``. When a listed option or future expires, ``settle`` closes the open position at the
venue's delivery price (its time-weighted index average over the settlement window before
expiry, ``engine.settlement``): futures at that price (inverse contracts: the coin PnL follows
from it), coin-premium options (Deribit, OKX) pay their intrinsic value in coin
(intrinsic / delivery price), USD/USDC-premium options (Bybit, the simulated venue) in USD. The
result is one synthetic ``OrderFilled`` (no fee, trade id ``<venue>-settle-<symbol>``) and the
delivery price. Without index prices in the data (Tardis options_chain has none) the forward of
the expiring instrument's own expiry stands in for the index (never another expiry's, whose
basis differs); with neither there is no price to settle at, which is logged, never guessed. Funding of perpetuals is not the venue's: ``engine.funding`` applies it from the
replayed funding rates, as in paper trading.
"""

from __future__ import annotations

import math

import structlog

from engine.model import Instrument, InstrumentKind, Liquidity, OrderFilled, Side, canonical_asset
from engine.settlement import IndexHistory, settlement_rule

log = structlog.get_logger("volta.backtest.settlement")
_EPS = 1e-12


class ExpirySettlement:
    """One venue's index history and open client positions, settled at expiry."""

    def __init__(self, venue: str) -> None:
        self.venue = venue
        self.rule = settlement_rule(venue)
        self.positions: dict[str, float] = {}
        """Net client position per instrument, contracts (+ long)."""
        self._index: dict[str, IndexHistory] = {}
        self._forward: dict[tuple[str, int], IndexHistory] = {}
        """Forwards per (asset, expiry) from option summaries: each expiry its own (basis)."""
        self._seen_until: dict[str, int] = {}
        """Latest forward observation time per asset (which expiries are over)."""

    def observe(self, asset: str, price: float, ts: int) -> None:
        """An index or forward price of ``asset`` seen at ``ts`` (not a positive number: ignored)."""
        if not (price == price and price > 0):
            return
        hist = self._index.get(asset)
        if hist is None:
            hist = self._index[asset] = IndexHistory()
        hist.add(ts, price)

    def observe_forward(self, inst: Instrument, price: float, ts: int) -> None:
        """The forward of ``inst``'s expiry (an option summary's underlying price) at ``ts``:
        it converges to the index at that expiry, so it stands in for the index of that
        expiry's settlement when the data has no index (Tardis options_chain)."""
        if not (price == price and price > 0):
            return
        key = (inst.asset, inst.expiry_ns)
        hist = self._forward.get(key)
        if hist is None:
            hist = self._forward[key] = IndexHistory()
        hist.add(ts, price)
        if ts > self._seen_until.get(inst.asset, 0):
            self._seen_until[inst.asset] = ts

    def observe_instrument(self, inst: Instrument | None, instrument_id: str, price: float,
                           ts: int) -> None:
        """``observe`` for the asset of an instrument (an unlisted id names its index)."""
        asset = inst.asset if inst is not None else canonical_asset(instrument_id.partition(":")[2])
        self.observe(asset, price, ts)

    def on_fill(self, instrument_id: str, signed_qty: float) -> None:
        """A client fill of ``signed_qty`` contracts (+ bought)."""
        self.positions[instrument_id] = self.positions.get(instrument_id, 0.0) + signed_qty

    def index_price(self, asset: str) -> float:
        """Latest index price seen for ``asset``, else the latest forward of its nearest expiry
        not yet over (the smallest basis), else NaN."""
        hist = self._index.get(asset)
        if hist is not None:
            return hist.latest()
        until = self._seen_until.get(asset)
        if until is None:
            return math.nan
        live = [e for a, e in self._forward if a == asset and e > until]
        key = (asset, min(live) if live else max(e for a, e in self._forward if a == asset))
        return self._forward[key].latest()

    def delivery_price(self, asset: str, expiry_ns: int, now_ns: int) -> float:
        """The venue's delivery price: time-weighted index over its settlement window before
        ``expiry_ns``; without an index, the time-weighted forward of that very expiry (NaN if
        neither was seen)."""
        hist = self._index.get(asset) or self._forward.get((asset, expiry_ns))
        if hist is None:
            return math.nan
        return hist.delivery_price(self.rule, expiry_ns, now_ns)

    def settle(self, inst: Instrument, now_ns: int) -> tuple[OrderFilled, float] | None:
        """Close the position in the expired ``inst``: (settlement fill, delivery price), or
        None when there is no position (or no index to settle it at: logged)."""
        pos = self.positions.get(inst.id, 0.0)
        if abs(pos) <= _EPS:
            return None
        s = self.delivery_price(inst.asset, inst.expiry_ns, now_ns)
        if not s == s:
            log.error("settlement_without_index", instrument=inst.id, position=pos)
            return None
        if inst.kind is InstrumentKind.FUTURE:
            price = s  # a future delivers at the delivery price (inverse: coin PnL follows)
        else:
            intrinsic = max(s - inst.strike, 0.0) if inst.is_call else max(inst.strike - s, 0.0)
            price = intrinsic / s if inst.premium_in_coin else intrinsic
        self.positions[inst.id] = 0.0
        fill = OrderFilled(client_order_id="", venue_order_id="", instrument_id=inst.id,
                           trade_id=f"{self.venue}-settle-{inst.symbol}",
                           side=Side.SELL if pos > 0 else Side.BUY, price=price,
                           quantity=round(abs(pos), 12), remaining=0.0, liquidity=Liquidity.TAKER,
                           fee=0.0, fee_currency=inst.settle, ts_event=now_ns, ts_recv=now_ns)
        return fill, s
