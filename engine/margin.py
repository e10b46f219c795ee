"""Margin models for paper trading and backtests: what a position ties up at its venue.

Each function returns (initial, maintenance) margin of one position in the currency it is
margined in (the instrument's settlement currency). Theory and sources:

* **Deribit standard margin** (coin-settled; per position, no offsets):
  - futures and perpetuals: IM = 2 % + 0.005 % per coin of position size, MM = 1 % + 0.005 %
    per coin, of the position's coin value (contracts x face / mark for the inverse contracts);
  - short call: IM = max(0.15 - OTM/underlying, 0.1) + option mark; MM = 0.075 + option mark;
  - short put: IM = max(max(0.15 - OTM/underlying, 0.1) + option mark, MM);
    MM = max(0.075, 0.075 x option mark) + option mark; (per coin of underlying, marks in coin;
    OTM = out-of-the-money amount in USD);
  - long options: none (the premium is paid up front).
  The same rules serve OKX's coin-margined products and Bybit's options (as a documented
  approximation of their tiered models).
* **Linear (USD-M, USDT/USDC-settled) futures and perpetuals**: IM = notional / leverage,
  MM = notional x maintenance rate (Binance's first tier is 0.4 % for BTCUSDT); notional =
  |qty| x contract size x mark, in the settlement currency. Leverage and rate are configured
  per venue (``[risk.accounts.<venue>]``).
* **Spot**: no margin (the asset is held).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from engine.model import Instrument, InstrumentKind

DERIBIT_FUT_IM = 0.02
DERIBIT_FUT_MM = 0.01
DERIBIT_FUT_STEP = 0.00005  # per coin of position
OPT_IM_BASE = 0.15
OPT_IM_FLOOR = 0.10
OPT_MM = 0.075


@dataclass(frozen=True, slots=True)
class LinearTerms:
    """Linear margin terms of one venue's USD-M products."""

    leverage: float = 20.0
    maintenance_rate: float = 0.004


def position_margin(inst: Instrument, qty: float, mark: float, underlying: float,
                    terms: LinearTerms) -> tuple[float, float]:
    """(IM, MM) of ``qty`` contracts (signed) in the settlement currency; NaN when a price the
    model needs is missing (the caller reports it unpriced, never 0)."""
    return MarginModel(inst, terms).margin(qty, mark, underlying)


class MarginModel:
    """The margin rule of one instrument under one venue's terms, resolved once.

    ``margin(qty, mark, underlying)`` is ``position_margin`` without re-deciding, on every
    call, which rule applies and where its constants live: the account book keeps one per
    instrument, so the pre-trade check pays only the arithmetic (the same operations in the
    same order as the documented rules above, so both give identical floats)."""

    __slots__ = ("margin", "change", "contract_size", "leverage", "maintenance_rate", "strike",
                 "is_call", "premium_in_coin")

    def __init__(self, inst: Instrument, terms: LinearTerms) -> None:
        self.contract_size = inst.contract_size
        self.leverage = terms.leverage
        self.maintenance_rate = terms.maintenance_rate
        self.strike = inst.strike
        self.is_call = inst.is_call
        self.premium_in_coin = inst.premium_in_coin
        self.margin: Callable[[float, float, float], tuple[float, float]]
        # ``change(q0, q1, mark, underlying)``: (IM, MM) at q0 and at q1 in one call, the
        # same floats as two ``margin`` calls (what a pre-trade check asks)
        self.change: Callable[[float, float, float, float], tuple[float, float, float, float]]
        if inst.kind is InstrumentKind.SPOT:
            self.margin = _none
            self.change = _none_pair
        elif inst.kind is InstrumentKind.OPTION:
            self.margin = self._option
            self.change = self._option_pair
        elif inst.inverse:
            self.margin = self._inverse
            self.change = self._inverse_pair
        else:
            self.margin = self._linear
            self.change = self._linear_pair

    def _linear_pair(self, q0: float, q1: float, mark: float, und: float) -> tuple[float, float, float, float]:
        cs, lev, rate = self.contract_size, self.leverage, self.maintenance_rate
        im0 = mm0 = im1 = mm1 = 0.0
        if q0 != 0.0:
            n = abs(q0) * cs * mark
            im0, mm0 = n / lev, n * rate
        if q1 != 0.0:
            n = abs(q1) * cs * mark
            im1, mm1 = n / lev, n * rate
        return im0, mm0, im1, mm1

    def _inverse_pair(self, q0: float, q1: float, mark: float, und: float) -> tuple[float, float, float, float]:
        cs = self.contract_size
        im0 = mm0 = im1 = mm1 = 0.0
        if q0 != 0.0:
            c = abs(q0) * cs / mark
            step = DERIBIT_FUT_STEP * c
            im0, mm0 = c * (DERIBIT_FUT_IM + step), c * (DERIBIT_FUT_MM + step)
        if q1 != 0.0:
            c = abs(q1) * cs / mark
            step = DERIBIT_FUT_STEP * c
            im1, mm1 = c * (DERIBIT_FUT_IM + step), c * (DERIBIT_FUT_MM + step)
        return im0, mm0, im1, mm1

    def _linear(self, qty: float, mark: float, underlying: float) -> tuple[float, float]:
        if qty == 0.0:
            return _ZEROS
        notional = abs(qty) * self.contract_size * mark
        return notional / self.leverage, notional * self.maintenance_rate

    def _inverse(self, qty: float, mark: float, underlying: float) -> tuple[float, float]:
        if qty == 0.0:
            return _ZEROS
        coins = abs(qty) * self.contract_size / mark  # USD face -> coin at the contract's mark
        step = DERIBIT_FUT_STEP * coins
        return coins * (DERIBIT_FUT_IM + step), coins * (DERIBIT_FUT_MM + step)

    def _option(self, qty: float, mark: float, und: float) -> tuple[float, float]:
        if qty >= 0.0:
            return _ZEROS  # long options: none (the premium is paid up front)
        im, mm = self._option_per_coin(mark, und)
        size = -qty * self.contract_size  # coins of underlying
        scale = size if self.premium_in_coin else size * und  # coin-settled in coin, else in USD
        return im * scale, mm * scale

    def _option_pair(self, q0: float, q1: float, mark: float, und: float) -> tuple[float, float, float, float]:
        if q0 >= 0.0 and q1 >= 0.0:
            return _ZEROS4  # long before and after: none
        im, mm = self._option_per_coin(mark, und)  # (the same for both sizes: worked out once)
        cs, coin = self.contract_size, self.premium_in_coin
        im0 = mm0 = im1 = mm1 = 0.0
        if q0 < 0.0:
            size = -q0 * cs
            scale = size if coin else size * und
            im0, mm0 = im * scale, mm * scale
        if q1 < 0.0:
            size = -q1 * cs
            scale = size if coin else size * und
            im1, mm1 = im * scale, mm * scale
        return im0, mm0, im1, mm1

    def _option_per_coin(self, mark: float, und: float) -> tuple[float, float]:
        """(IM, MM) of a short option per coin of underlying (Deribit's rule, module docstring)."""
        k = self.strike
        otm = max(k - und, 0.0) if self.is_call else max(und - k, 0.0)
        # option mark in coin per coin for coin-premium options, else convert the USD mark
        m_coin = mark if self.premium_in_coin else mark / und
        base = max(OPT_IM_BASE - otm / und, OPT_IM_FLOOR)
        if self.is_call:
            mm = OPT_MM + m_coin
            im = base + m_coin
        else:
            mm = max(OPT_MM, OPT_MM * m_coin) + m_coin
            im = max(base + m_coin, mm)
        return im, mm


_ZEROS = (0.0, 0.0)
_ZEROS4 = (0.0, 0.0, 0.0, 0.0)


def _none_pair(q0: float, q1: float, mark: float, und: float) -> tuple[float, float, float, float]:
    return _ZEROS4


def _none(qty: float, mark: float, underlying: float) -> tuple[float, float]:
    return _ZEROS
