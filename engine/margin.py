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
    if qty == 0.0 or inst.kind is InstrumentKind.SPOT:
        return 0.0, 0.0
    q = abs(qty)
    if inst.kind is InstrumentKind.OPTION:
        if qty > 0:
            return 0.0, 0.0
        return _short_option(inst, q, mark, underlying)
    if inst.inverse:
        coins = q * inst.contract_size / mark  # USD face -> coin at the contract's mark
        step = DERIBIT_FUT_STEP * coins
        return coins * (DERIBIT_FUT_IM + step), coins * (DERIBIT_FUT_MM + step)
    notional = q * inst.contract_size * mark
    return notional / terms.leverage, notional * terms.maintenance_rate


def _short_option(inst: Instrument, q: float, mark: float, und: float) -> tuple[float, float]:
    size = q * inst.contract_size  # coins of underlying
    otm = max(inst.strike - und, 0.0) if inst.is_call else max(und - inst.strike, 0.0)
    # option mark in coin per coin for coin-premium options, else convert the USD mark
    m_coin = mark if inst.premium_in_coin else mark / und
    base = max(OPT_IM_BASE - otm / und, OPT_IM_FLOOR)
    if inst.is_call:
        mm = OPT_MM + m_coin
        im = base + m_coin
    else:
        mm = max(OPT_MM, OPT_MM * m_coin) + m_coin
        im = max(base + m_coin, mm)
    scale = size if inst.premium_in_coin else size * und  # coin-settled in coin, else in USD
    return im * scale, mm * scale
