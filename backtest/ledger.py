"""What a backtest records while it runs: fills, markouts, and equity/position/Greeks samples.

Theory of operation: the ledger listens on the kernel's bus (every ``OrderFilled`` and
``OrderAccepted`` that reaches the engine) and keeps its own positions (``engine.portfolio``
accounting: average price, realized PnL, fees). Settlements at expiry (``PositionSettled``,
from the replay exchange or the simulated venue) close the ledger's position at the
settlement price; the ledger hears them on the bus, as the engine's execution core does. On a fixed virtual-time grid it samples equity in USD, the position of each traded
instrument, the net delta and the option Greeks. Marks are the true book mid at that time
(the exchange's view), else the fitted surface's model price (``kernel.chains``) when an
option's book is empty or one-sided, else the engine's last mark. For each fill, timers read the
mid ``markout_s`` later: the adverse-selection measure.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from backtest.schema import ReportConfig
from engine.book import OrderBook
from engine.clock import NS_PER_S
from engine.funding import FundingApplied
from engine.kernel import Kernel
from engine.model import (
    InstrumentKind,
    OrderAccepted,
    OrderFilled,
    PositionSettled,
    canonical_asset,
    is_usd,
)
from engine.pnl import FIGURES, pnl_usd
from engine.pnl import pnl_parts as parts_of
from engine.portfolio import Position

_NAN = math.nan


class Ledger:
    """Fills, settlements and time series of one backtest run."""

    def __init__(self, kernel: Kernel, cfg: ReportConfig,
                 true_book: Callable[[str], OrderBook | None],
                 index_price: Callable[[str], float],
                 fill_meta: Callable[[str], tuple[float, float] | None]) -> None:
        self.k = kernel
        self.cfg = cfg
        self.true_book = true_book
        self.index_price = index_price
        self.fill_meta = fill_meta
        self.positions: dict[str, Position] = {}
        self.fills: list[dict[str, Any]] = []
        self.settlements: list[dict[str, Any]] = []
        self.traded: dict[str, None] = {}  # insertion-ordered set of instruments with orders
        self.samples: dict[str, list[float]] = {k: [] for k in (
            "ts", "equity", "realized", "unrealized", "fees", "funding", "delta", "gamma_1pct", "vega",
            "theta_day", "underlying")}
        self.mids: dict[str, list[float]] = {}
        self.pos_series: dict[str, list[float]] = {}
        self.underlying = ""
        """The first traded instrument's asset: the delta and Greek series are in its units."""
        self.delta_other: dict[str, list[float]] = {}
        """Net delta of every other asset traded, in that asset's units (aligned with ``ts``)."""
        self.pnl: dict[str, Any] = pnl_usd((), self.price_usd)
        """``engine.pnl.pnl_usd`` of the positions at the last sample."""
        self.unpriced: dict[str, float] = {}
        """Currencies with an amount but no USD price at the last sample (net, native amounts)."""
        self.unpriced_parts: dict[str, dict[str, float]] = {f: {} for f in FIGURES}
        """The same amounts per figure (realized, unrealized, fees, funding): currency -> amount."""
        self.native: dict[str, float] = {}
        """Net PnL per currency (realized + unrealized - fees + funding) at the last sample."""
        self.native_series: dict[str, list[float]] = {}
        """``native`` at every sample (aligned with ``samples["ts"]``)."""
        self.complete = True
        """Every sample's PnL had a USD price for all of its amounts (none unpriced or unmarked):
        only then are the USD equity series' drawdown and ratios the run's own."""
        self.markout_ns = [int(h * NS_PER_S) for h in cfg.markout_s]
        self.funding: list[dict[str, Any]] = []
        kernel.bus.subscribe(FundingApplied, self._on_funding)
        kernel.bus.subscribe(OrderFilled, self._on_fill)
        kernel.bus.subscribe(PositionSettled, self.on_settlement)
        kernel.bus.subscribe(OrderAccepted, self._on_accepted)

    # -- events ---------------------------------------------------------------------------
    def _on_funding(self, ev: FundingApplied) -> None:
        pos = self.positions.get(ev.instrument_id)
        if pos is not None:
            pos.funding += ev.amount
        self.funding.append({"ts": ev.ts_event, "instrument": ev.instrument_id,
                             "position": ev.position, "rate": ev.rate, "mark": ev.mark,
                             "amount": ev.amount, "currency": ev.currency,
                             "amount_usd": self._usd(ev.amount, ev.currency)})

    def _on_accepted(self, ev: OrderAccepted) -> None:
        if ev.instrument_id not in self.traded:
            self._track(ev.instrument_id)

    def _track(self, iid: str) -> None:
        self.traded[iid] = None
        n = len(self.samples["ts"])
        self.mids[iid] = [_NAN] * n
        self.pos_series[iid] = [0.0] * n
        if not self.underlying:
            inst = self.k.instruments.get(iid)
            if inst is not None:
                self.underlying = inst.asset

    def _position(self, iid: str) -> Position | None:
        pos = self.positions.get(iid)
        if pos is None:
            inst = self.k.instruments.get(iid)
            if inst is None:
                return None
            pos = self.positions[iid] = Position(inst)
        return pos

    def _on_fill(self, ev: OrderFilled) -> None:
        if self.k.orders.get(ev.client_order_id) is None:
            return  # the kernel counts and logs fills for unknown orders; not ours to book
        pos = self._position(ev.instrument_id)
        if pos is None:
            return
        if ev.instrument_id not in self.traded:
            self._track(ev.instrument_id)
        pos.apply_fill(ev.side.sign, ev.quantity, ev.price, ev.fee)
        inst = pos.instrument
        meta = self.fill_meta(ev.trade_id)
        notional = self._notional(inst, ev.quantity, ev.price)
        row: dict[str, Any] = {
            "ts_event": ev.ts_event, "ts_recv": ev.ts_recv, "instrument": ev.instrument_id,
            "client_order_id": ev.client_order_id, "trade_id": ev.trade_id,
            "side": str(ev.side), "price": ev.price, "quantity": ev.quantity,
            "liquidity": str(ev.liquidity), "fee": ev.fee, "fee_currency": ev.fee_currency,
            "fee_usd": self._usd(ev.fee, ev.fee_currency),
            "notional_usd": self._usd(*notional),
            "notional": notional[0], "notional_currency": notional[1],
            "queue_wait_s": meta[0] if meta else _NAN,
            "ahead_at_entry": meta[1] if meta else _NAN,
        }
        for h in self.cfg.markout_s:
            row[f"markout_{h:g}s_usd"] = _NAN
            row[f"markout_{h:g}s_native"] = _NAN  # (in pnl_currency; NaN: not measured)
        row["pnl_currency"] = self._pnl_ccy(inst)
        self.fills.append(row)
        for h, ns in zip(self.cfg.markout_s, self.markout_ns, strict=True):
            self.k.clock.call_at(ev.ts_event + ns, lambda _t, r=row, h=h: self._markout(r, h))

    def _markout(self, row: dict[str, Any], h: float) -> None:
        mid = self._mid(row["instrument"])
        if mid != mid:
            return
        inst = self.k.instruments[row["instrument"]]
        sign = 1.0 if row["side"] == "buy" else -1.0
        q = sign * row["quantity"] * inst.contract_size
        if inst.inverse and inst.kind is not InstrumentKind.OPTION:
            move = q * (1.0 / row["price"] - 1.0 / mid)  # coin PnL of an inverse contract
        else:
            move = q * (mid - row["price"])
        row[f"markout_{h:g}s_native"] = move
        row[f"markout_{h:g}s_usd"] = self._usd(move, row["pnl_currency"])
        row[f"markout_{h:g}s_bps"] = sign * (mid - row["price"]) / row["price"] * 1e4

    def on_settlement(self, rep: PositionSettled) -> None:
        """A position settled at expiry (a venue's report): closed at the settlement price, no fee."""
        pos = self._position(rep.instrument_id)
        if pos is not None and pos.qty == 0.0:
            return  # (the same report again: the engine absorbs it too)
        if pos is not None:
            pos.apply_fill(-1 if rep.quantity > 0 else 1, abs(rep.quantity), rep.settlement_price,
                           0.0)
            pos.mark = rep.settlement_price
        self.settlements.append({"ts": rep.ts_event, "instrument": rep.instrument_id,
                                 "quantity": rep.quantity,
                                 "settlement_price": rep.settlement_price,
                                 "delivery_price": rep.delivery_price})

    # -- marks, Greeks and samples --------------------------------------------------------
    @staticmethod
    def _pnl_ccy(inst: Any) -> str:
        if (inst.inverse and inst.kind is not InstrumentKind.OPTION) or inst.premium_in_coin:
            return inst.settle
        return inst.quote

    def price_usd(self, ccy: str) -> float:
        """USD per unit of ``ccy`` (docs/backtesting.md, "Currency conversion"): 1 for USD
        and stablecoins; else the venue index of the coin; else the engine's price for it
        (index or mark events, see ``Portfolio.price_usd``); else the mid of a traded
        USD-priced contract on the coin (an inverse future's price is USD per coin). NaN
        when none exists: the amount is reported *unpriced*, never as 0."""
        if is_usd(ccy):
            return 1.0
        asset = canonical_asset(ccy)
        px = self.index_price(asset)
        if px == px:
            return px
        px = self.k.portfolio.price_usd(asset)
        if px == px:
            return px
        for iid in self.traded:
            inst = self.k.instruments.get(iid)
            if inst is not None and inst.asset == asset and inst.kind is not InstrumentKind.OPTION \
                    and is_usd(inst.quote):
                mid = self._mid(iid)
                if mid == mid and mid > 0:
                    return mid
        return _NAN

    def _usd(self, amount: float, ccy: str) -> float:
        if amount == 0.0 or amount != amount:
            return amount
        return amount * self.price_usd(ccy)

    def _notional(self, inst: Any, qty: float, price: float) -> tuple[float, str]:
        """(amount, currency) of a fill's notional: inverse futures/perps: contracts x face in
        the quote (USD); options: the premium paid; else contracts x size x price in the quote."""
        if inst.inverse and inst.kind is not InstrumentKind.OPTION:
            return abs(qty) * inst.contract_size, inst.quote
        ccy = self._pnl_ccy(inst) if inst.kind is InstrumentKind.OPTION else inst.quote
        return abs(qty) * inst.contract_size * price, ccy

    def _und_px(self, und: str) -> float:
        px = self.index_price(und)
        if px == px:
            return px
        return self.k.portfolio.price_usd(und)

    def _chain_slot(self, iid: str) -> tuple[Any, int] | None:
        for chain in self.k.chains.values():
            n = chain.index.get(iid)
            if n is not None:
                return chain, n
        return None

    def _mid(self, iid: str) -> float:
        book = self.true_book(iid)
        if book is not None and book.bids and book.asks:
            return book.mid()
        slot = self._chain_slot(iid)
        if slot is not None:
            chain, n = slot
            px = float(chain.model_price[n])
            if px == px and chain.coin_premium[n]:
                px /= float(chain.forward[n])
            if px == px:
                return px
        pos = self.k.portfolio.position(iid)
        return pos.mark if pos is not None else _NAN

    def sample(self, now: int) -> None:
        """One point of every time series (called on the virtual-time grid)."""
        s = self.samples
        gamma = vega = theta = 0.0
        deltas: dict[str, float] = {}  # per asset, in its units (BTC and ETH never summed)
        und = self.underlying
        und_px = self._und_px(und) if und else _NAN
        mids: dict[str, float] = {}  # (read once per sample: the series below use them too)
        for iid, pos in self.positions.items():
            inst = pos.instrument
            mark = mids[iid] = self._mid(iid)
            if mark == mark:
                pos.mark = mark
            if pos.qty == 0.0:
                continue
            asset = inst.asset
            if inst.kind is not InstrumentKind.OPTION:
                px = und_px if asset == und else self._und_px(asset)
                deltas[asset] = deltas.get(asset, 0.0) + pos.delta_base(px)  # (NaN: unknown)
                continue
            if not inst.active or now >= inst.expiry_ns:
                continue  # expired: settled, no Greeks
            q = pos.qty * inst.contract_size
            slot = self._chain_slot(iid)
            d = _NAN if slot is None else slot[0].position_delta(iid)
            if d != d:  # no fit (yet) for a held option: its Greeks are unknown, not 0
                deltas[asset] = vega = theta = _NAN
                gamma = _NAN if asset == und else gamma
                continue
            chain, n_ = slot  # type: ignore[misc]
            deltas[asset] = deltas.get(asset, 0.0) + q * d
            if asset == und:  # (gamma is in the underlying's units; vega and theta in USD)
                gamma += q * float(chain.gamma[n_]) * float(chain.forward[n_]) * 0.01
            vega += q * float(chain.vega[n_]) * 0.01
            theta += q * float(chain.theta[n_]) / 365.0
        delta = deltas.pop(und, 0.0)
        for asset, v in deltas.items():
            series = self.delta_other.get(asset)
            if series is None:
                series = self.delta_other[asset] = [0.0] * len(s["ts"])
            series.append(v)
        for asset, series in self.delta_other.items():
            if asset not in deltas:
                series.append(0.0)
        # PnL by the engine's rule (engine.pnl): a figure none of whose amounts has a USD
        # price is NaN (unknown), never 0; the coin amounts left out are kept per figure
        parts = parts_of(self.positions.values())
        prices = {c: self.price_usd(c) for c in parts}
        usd = pnl_usd(self.positions.values(), prices.__getitem__)
        self.pnl = usd
        self.unpriced = usd["unpriced"]
        self.unpriced_parts = {fig: {c: p[fig] for c, p in sorted(parts.items())
                                     if prices[c] != prices[c] and p[fig] != 0.0}
                               for fig in FIGURES}
        self.native = {c: (p["realized"] + p["unrealized"] - p["fees"] + p["funding"])
                       for c, p in parts.items()}
        self.complete = self.complete and not usd["unpriced"] and not usd["unmarked"]
        for c, v in self.native.items():
            series = self.native_series.get(c)
            if series is None:  # (no position in it before: its PnL was 0)
                series = self.native_series[c] = [0.0] * len(s["ts"])
            series.append(v)
        realized, unrealized, fees, funding = (usd[f] for f in FIGURES)
        s["funding"].append(funding)
        s["ts"].append(now)
        s["equity"].append(usd["priced_total"])
        s["realized"].append(realized)
        s["unrealized"].append(unrealized)
        s["fees"].append(fees)
        s["delta"].append(delta)
        s["gamma_1pct"].append(gamma)
        s["vega"].append(vega)
        s["theta_day"].append(theta)
        s["underlying"].append(und_px)
        for iid in self.traded:
            mid = mids.get(iid)
            self.mids[iid].append(self._mid(iid) if mid is None else mid)
            pos = self.positions.get(iid)
            self.pos_series[iid].append(pos.qty if pos is not None else 0.0)
