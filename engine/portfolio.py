"""Positions, PnL and delta per instrument and per underlying.

Theory of operation: a fill changes one ``Position``. Increasing a position moves its average
price; reducing it realizes PnL against that average. Linear products (and options whose
premium is a price in one currency, USD or coin) realize ``qty * contract_size * (exit -
entry)`` in their price currency; inverse futures and perpetuals (Deribit, OKX coin-margined)
realize ``qty * contract_size * (1/entry - 1/exit)`` in coin. Everything is also reported in
USD at the latest underlying price, so positions on several venues add up. Marks come from
the book mid, else the venue's mark price. Option delta uses the latest Greeks available
(model Greeks from the chain view when wired, otherwise the venue's published delta).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from engine.model import Instrument, InstrumentKind, OrderFilled


class Position:
    __slots__ = ("instrument", "qty", "avg_price", "realized", "fees", "traded_qty", "fills",
                 "mark", "delta_per_contract")

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self.qty = 0.0
        self.avg_price = 0.0
        self.realized = 0.0  # in pnl_currency
        self.fees = 0.0  # in the fee currency of the fills (quote or settle)
        self.traded_qty = 0.0
        self.fills = 0
        self.mark = math.nan
        self.delta_per_contract = math.nan  # option delta from Greeks, per contract

    @property
    def is_inverse_linear_priced(self) -> bool:
        """True for inverse futures/perps, whose PnL is in coin and nonlinear in price."""
        i = self.instrument
        return i.inverse and i.kind is not InstrumentKind.OPTION

    @property
    def pnl_currency(self) -> str:
        i = self.instrument
        if self.is_inverse_linear_priced or i.premium_in_coin:
            return i.settle
        return i.quote

    def apply_fill(self, side_sign: int, qty: float, price: float, fee: float) -> float:
        """Apply a fill; returns the PnL it realized (pnl_currency)."""
        cs = self.instrument.contract_size
        signed = side_sign * qty
        realized = 0.0
        self.fills += 1
        self.traded_qty += qty
        self.fees += fee
        if self.qty == 0.0 or (self.qty > 0) == (signed > 0):
            new_qty = self.qty + signed
            if self.is_inverse_linear_priced:
                # Average entry of inverse contracts is the harmonic mean of fill prices.
                inv = (abs(self.qty) / self.avg_price if self.qty else 0.0) + qty / price
                self.avg_price = abs(new_qty) / inv
            else:
                self.avg_price = (abs(self.qty) * self.avg_price + qty * price) / abs(new_qty)
            self.qty = new_qty
            return 0.0
        closing = min(qty, abs(self.qty))
        direction = 1.0 if self.qty > 0 else -1.0
        if self.is_inverse_linear_priced:
            realized = direction * closing * cs * (1.0 / self.avg_price - 1.0 / price)
        else:
            realized = direction * closing * cs * (price - self.avg_price)
        self.realized += realized
        self.qty += signed
        if abs(self.qty) < 1e-12:
            self.qty = 0.0
            self.avg_price = 0.0
        elif (self.qty > 0) != (direction > 0):
            self.avg_price = price  # flipped: the remainder opened at this price
        return realized

    def unrealized(self) -> float:
        if self.qty == 0.0 or math.isnan(self.mark):
            return 0.0
        cs = self.instrument.contract_size
        if self.is_inverse_linear_priced:
            return self.qty * cs * (1.0 / self.avg_price - 1.0 / self.mark)
        return self.qty * cs * (self.mark - self.avg_price)

    def delta_base(self, underlying_price: float) -> float:
        """Delta in units of the underlying (e.g. BTC)."""
        i = self.instrument
        if self.qty == 0.0:
            return 0.0
        if i.kind is InstrumentKind.OPTION:
            d = self.delta_per_contract
            return 0.0 if math.isnan(d) else self.qty * i.contract_size * d
        if i.inverse:
            px = self.mark if not math.isnan(self.mark) else underlying_price
            return self.qty * i.contract_size / px if px > 0 else 0.0
        return self.qty * i.contract_size


class Portfolio:
    """All positions of this process, with totals in USD per underlying."""

    def __init__(self, instruments: Iterable[Instrument] = ()) -> None:
        self._positions: dict[str, Position] = {}
        self._instruments: dict[str, Instrument] = {i.id: i for i in instruments}
        self.underlying_prices: dict[str, float] = {}
        self.fills = 0
        self.duplicate_fills = 0
        self._seen_trades: set[tuple[str, str]] = set()

    def add_instrument(self, instrument: Instrument) -> None:
        self._instruments[instrument.id] = instrument

    def position(self, instrument_id: str) -> Position | None:
        return self._positions.get(instrument_id)

    def positions(self) -> list[Position]:
        return list(self._positions.values())

    def _get(self, instrument_id: str) -> Position:
        pos = self._positions.get(instrument_id)
        if pos is None:
            instrument = self._instruments.get(instrument_id)
            if instrument is None:
                raise KeyError(f"fill for unknown instrument {instrument_id}")
            pos = self._positions[instrument_id] = Position(instrument)
        return pos

    def on_fill(self, fill: OrderFilled) -> bool:
        """Apply a fill once; a fill seen before (same venue trade id) is ignored."""
        key = (fill.instrument_id, fill.trade_id)
        if key in self._seen_trades:
            self.duplicate_fills += 1
            return False
        self._seen_trades.add(key)
        pos = self._get(fill.instrument_id)
        pos.apply_fill(fill.side.sign, fill.quantity, fill.price, fill.fee)
        if math.isnan(pos.mark):
            pos.mark = fill.price
        self.fills += 1
        return True

    def set_mark(self, instrument_id: str, price: float) -> None:
        pos = self._positions.get(instrument_id)
        if pos is not None and price == price:
            pos.mark = price

    def set_option_delta(self, instrument_id: str, delta: float) -> None:
        pos = self._positions.get(instrument_id)
        if pos is not None:
            pos.delta_per_contract = delta

    def set_underlying_price(self, underlying: str, price: float) -> None:
        if price == price and price > 0:
            self.underlying_prices[underlying] = price

    # -- aggregates -------------------------------------------------------------------------
    def _to_usd(self, amount: float, currency: str, underlying: str) -> float:
        if currency in ("USD", "USDT", "USDC"):
            return amount
        px = self.underlying_prices.get(underlying, math.nan)
        return amount * px if px == px else 0.0

    def _underlying_of(self, pos: Position) -> str:
        return pos.instrument.underlying or pos.instrument.base

    def pnl_usd(self) -> dict[str, float]:
        """Realized, unrealized, fees and total PnL in USD across all positions."""
        realized = unrealized = fees = 0.0
        for pos in self._positions.values():
            und = self._underlying_of(pos)
            ccy = pos.pnl_currency
            realized += self._to_usd(pos.realized, ccy, und)
            unrealized += self._to_usd(pos.unrealized(), ccy, und)
            fee_ccy = pos.instrument.settle if pos.instrument.inverse else pos.instrument.quote
            fees += self._to_usd(pos.fees, fee_ccy, und)
        return {"realized": realized, "unrealized": unrealized, "fees": fees,
                "total": realized + unrealized - fees}

    def delta(self, underlying: str) -> float:
        """Net delta of every position on ``underlying``, in underlying units."""
        px = self.underlying_prices.get(underlying, math.nan)
        return sum(p.delta_base(px) for p in self._positions.values()
                   if self._underlying_of(p) == underlying)

    def underlyings(self) -> list[str]:
        return sorted({self._underlying_of(p) for p in self._positions.values()})
