"""An options market maker quoting around the fitted surface.

Theory of operation: after every refit of the chain (``on_chain``) each selected option gets a
two-sided quote around a *reservation price*:

    fair        = model price at the surface vol (``ChainView.model_price``)
    reservation = fair
                  - vega_skew_vol  * (portfolio vega / vega limit)  * option vega
                  - delta_skew_bps * (portfolio delta / delta limit) * option delta * F
                  - inventory * half spread                       (lean against own position)
    half spread = max(half_spread_vol * vega, min_edge_ticks * tick)
                  * (1 + inventory_widen * |position| / max_position)
                  * (1 + greeks_widen * max(|vega util|, |delta util|)^2)

so a book long vega sells vol (both quotes lower), a book long delta cheapens calls and
richens puts, and quotes widen as the option's inventory or the portfolio's Greeks approach
their limits. At a limit the side that would add to it is not quoted at all. The limits come
from the risk gate (``max_vega_usd``/``max_delta`` of the underlying) when it has them, else
from this strategy's config. The selection is the ``max_options`` out-of-the-money options
nearest the money (standardized moneyness ``|ln(K/F)| / (vol * sqrt(T))`` up to ``max_abs_z``,
vol the option's own surface vol) of expiries at least ``min_days`` away, re-chosen every
``reselect_s``. Quotes are post-only and kept inside the current book so they never take; a
side that is denied by the gate pulls the whole quote (``ctx.quote``) and the option rests for
``denial_backoff_s``.

Venue halts: every quote is on the chain's venue. When that venue halts on its own
(``on_venue_halt``: one of its streams down, reconciliation pending, its start retried) every
quote is pulled at once (quotes left working while the engine is blind to the venue are the
risk; the cancels are sent, a refused one leaves its order working), and nothing is sent there
until ``on_venue_resume``: no refits are quoted meanwhile, so no ``TRADING_HALTED`` denials. At
the resume the strategy does not assume its cancels got out: it cancels whatever of its orders
reconciliation found still working there, forgets its last quotes, and quotes afresh off the
current surface (an option whose book is not LIVE again yet waits for the next refit).
"""

from __future__ import annotations

import math
from typing import Annotated

import msgspec

from engine import (
    BookStatus,
    BookStatusChanged,
    ChainView,
    OrderDenied,
    OrderFilled,
    OrderRejected,
    Strategy,
    TradingState,
)

_NS_PER_DAY = 86_400 * 10**9


class OptionsMMConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    underlying: str = "BTC"
    max_options: Annotated[int, msgspec.Meta(ge=1)] = 12
    """How many options to quote (out of the money, nearest the money first)."""
    min_days: float = 2.0
    """Skip expiries sooner than this (gamma and pin risk)."""
    max_abs_z: float = 1.5
    """Standardized moneyness cut-off |ln(K/F)| / (vol * sqrt(T)), vol the option's model vol."""
    size: Annotated[float, msgspec.Meta(gt=0)] = 0.1
    """Contracts per side."""
    half_spread_vol: float = 0.006
    """Half spread in vol (0.006 = 0.6 vol points), converted to price with the option's vega."""
    min_edge_ticks: float = 1.0
    max_position: Annotated[float, msgspec.Meta(gt=0)] = 1.0
    """Contracts per option, absolute (> 0: the inventory lean is the position over it)."""
    inventory_widen: float = 1.0
    greeks_widen: float = 2.0
    vega_skew_vol: float = 0.01
    """Vol shift of both quotes at full vega utilization (against the portfolio's vega)."""
    delta_skew_bps: float = 10.0
    """Underlying move (bps of F) priced into quotes at full delta utilization."""
    vega_limit_usd: float = 300.0
    """Portfolio vega limit (USD per vol point) when the gate has no ``max_vega_usd``."""
    delta_limit: float = 1.0
    """Portfolio delta limit (underlying units) when the gate has no ``max_delta``."""
    requote_ticks: float = 1.0
    """Leave a quote alone until one of its prices would move by at least this many ticks."""
    max_fit_rmse_vol_pts: float = 2.0
    """Pull every quote while the surface fit is worse than this."""
    reselect_s: float = 600.0
    denial_backoff_s: float = 5.0


class OptionsMarketMaker(Strategy[OptionsMMConfig]):
    """Quotes options around the fitted surface, skewed and widened by inventory and Greeks."""

    def on_start(self) -> None:
        self.chain_view: ChainView | None = self.ctx.subscribe_chain(self.config.underlying)
        if self.chain_view is None:
            raise ValueError(f"no option chain for {self.config.underlying} on {self.ctx.venue}")
        self.selected: list[str] = []
        self.selected_at = -1
        self.last: dict[str, tuple[float, float, float, float]] = {}
        self.backoff: dict[str, int] = {}
        self.denials: dict[str, int] = {}
        self.fills = 0
        self.venue = self.ctx.venue  # the chain's venue: every quote goes there
        self.halted = self.ctx.venue_halted(self.venue)  # the hooks report changes only

    # -- market data ------------------------------------------------------------------------
    def on_chain(self, chain: ChainView) -> None:
        if self.halted or self.ctx.trading_state is not TradingState.ACTIVE:
            return
        if chain.surface is None or not chain.fit_error() <= self.config.max_fit_rmse_vol_pts:
            self._pull_all()
            return
        now = self.ctx.now_ns()
        if self.selected_at < 0 or now - self.selected_at >= self.config.reselect_s * 1e9:
            self._select(chain, now)
        self._requote(chain)

    def on_book_status(self, event: BookStatusChanged) -> None:
        if event.status is not BookStatus.LIVE:
            self.ctx.cancel_quote(event.instrument_id)
            self.last.pop(event.instrument_id, None)

    # -- orders -----------------------------------------------------------------------------
    def on_fill(self, event: OrderFilled) -> None:
        self.fills += 1
        self.ctx.log.info("option_fill", instrument=event.instrument_id, side=str(event.side),
                          qty=event.quantity, price=event.price)
        self.last.clear()  # inventory and Greeks changed: every quote is re-priced now
        if (not self.halted and self.ctx.trading_state is TradingState.ACTIVE
                and self.chain_view is not None and self.chain_view.surface is not None):
            self._requote(self.chain_view)

    def on_order_denied(self, event: OrderDenied) -> None:
        self.denials[event.reason] = self.denials.get(event.reason, 0) + 1
        self.backoff[event.instrument_id] = self.ctx.now_ns() + int(self.config.denial_backoff_s * 1e9)
        self.last.pop(event.instrument_id, None)
        self.ctx.log.warning("quote_denied", instrument=event.instrument_id, reason=event.reason,
                             detail=event.detail)

    def on_order_rejected(self, event: OrderRejected) -> None:
        self.last.pop(event.instrument_id, None)  # the context pulled the quote; re-quote next refit

    def on_halt(self, state: TradingState, reason: str) -> None:
        self._pull_all()

    def on_resume(self, reason: str) -> None:
        self.last.clear()

    def on_venue_halt(self, venue: str, reason: str) -> None:
        if venue != self.venue:
            return
        self.halted = reason
        self._pull_all()
        self.ctx.log.warning("quotes_pulled_venue_halted", venue=venue, reason=reason)

    def on_venue_resume(self, venue: str, reason: str) -> None:
        if venue != self.venue:
            return
        self.halted = ""
        # A cancel the venue could not take while it was down (refused NOT_CONNECTED) left its
        # order working at a stale price, out of the quote slots: cancel what is left first.
        for order in self.ctx.open_orders():
            self.ctx.cancel(order.client_order_id)
        self.last.clear()
        chain = self.chain_view
        if (self.ctx.trading_state is TradingState.ACTIVE and chain is not None
                and chain.surface is not None and chain.fit_error() <= self.config.max_fit_rmse_vol_pts):
            if self.selected_at < 0:
                self._select(chain, self.ctx.now_ns())
            self._requote(chain)

    # -- quoting ----------------------------------------------------------------------------
    def _select(self, chain: ChainView, now: int) -> None:
        cfg = self.config
        ranked: list[tuple[float, str]] = []
        for n, iid in enumerate(chain.ids):
            T, F, vol = chain.T[n], chain.forward[n], chain.model_vol[n]
            if not (T * 365.0 >= cfg.min_days and F > 0 and vol > 0):
                continue
            k = math.log(chain.strike[n] / F)
            if (k >= 0) != bool(chain.is_call[n]):
                continue  # in the money: quote the out-of-the-money twin instead
            z = abs(k) / (vol * math.sqrt(T))
            if z <= cfg.max_abs_z:
                ranked.append((z, iid))
        chosen = [iid for _, iid in sorted(ranked)[:cfg.max_options]]
        for iid in self.selected:
            if iid not in chosen:
                self.ctx.cancel_quote(iid)
                self.last.pop(iid, None)
        self.selected = chosen
        self.selected_at = now
        self.ctx.log.info("options_selected", count=len(chosen), instruments=chosen)

    def _requote(self, chain: ChainView) -> None:
        cfg, ctx = self.config, self.ctx
        und = cfg.underlying
        g = ctx.greeks(und)
        vega_lim = ctx.limit("max_vega_usd", key=und, default=cfg.vega_limit_usd)
        delta_lim = ctx.limit("max_delta", key=und, default=cfg.delta_limit)
        uv = g.vega / vega_lim if vega_lim > 0 else 0.0
        ud = g.delta / delta_lim if delta_lim > 0 else 0.0
        widen_g = 1.0 + cfg.greeks_widen * max(abs(uv), abs(ud)) ** 2
        now = ctx.now_ns()
        for iid in self.selected:
            if self.backoff.get(iid, 0) > now:
                continue
            n = chain.index[iid]
            inst = ctx.instrument(iid)
            book = ctx.book(iid)
            fair, vega, delta, F = (float(chain.model_price[n]), float(chain.vega[n]),
                                    float(chain.delta[n]), float(chain.forward[n]))
            if inst is None or book is None or book.status is not BookStatus.LIVE or not (
                    fair > 0 and vega > 0 and F > 0):
                ctx.cancel_quote(iid)
                self.last.pop(iid, None)
                continue
            scale = 1.0 / F if inst.premium_in_coin else 1.0  # USD model -> the option's currency
            tick = inst.tick_size
            pos = ctx.position_qty(iid)
            inv = pos / cfg.max_position
            half = max(cfg.half_spread_vol * vega * scale, cfg.min_edge_ticks * tick)
            half *= (1.0 + cfg.inventory_widen * abs(inv)) * widen_g
            reservation = (fair - cfg.vega_skew_vol * uv * vega
                           - cfg.delta_skew_bps / 1e4 * F * ud * delta) * scale - inv * half
            bid = math.floor((reservation - half) / tick + 1e-9) * tick
            ask = math.ceil((reservation + half) / tick - 1e-9) * tick
            best_bid, best_ask = book.best_bid_price(), book.best_ask_price()
            if best_ask == best_ask:
                bid = min(bid, best_ask - tick)  # post-only: never cross the book
            if best_bid == best_bid:
                ask = max(ask, best_bid + tick)
            bid, ask = inst.round_price(bid), inst.round_price(ask)
            buy_ok = (pos + cfg.size <= cfg.max_position + 1e-12 and uv < 1.0 and bid >= tick
                      and not (ud >= 1.0 and delta > 0) and not (ud <= -1.0 and delta < 0))
            sell_ok = (pos - cfg.size >= -cfg.max_position - 1e-12 and uv > -1.0
                       and not (ud >= 1.0 and delta < 0) and not (ud <= -1.0 and delta > 0))
            quote = (bid, cfg.size if buy_ok else 0.0, ask, cfg.size if sell_ok else 0.0)
            if not self._moved(iid, quote, tick):
                continue
            ids = ctx.quote(iid, *quote)
            if ids.bid is None and ids.ask is None:
                self.last.pop(iid, None)
            else:
                self.last[iid] = quote

    def _moved(self, iid: str, quote: tuple[float, float, float, float], tick: float) -> bool:
        prev = self.last.get(iid)
        if prev is None or prev[1] != quote[1] or prev[3] != quote[3]:
            return True
        ids = self.ctx.quote_ids(iid)
        if (quote[1] > 0 and ids.bid is None) or (quote[3] > 0 and ids.ask is None):
            return True  # a side filled or was cancelled: put it back
        step = self.config.requote_ticks * tick - 1e-9
        return abs(prev[0] - quote[0]) >= step or abs(prev[2] - quote[2]) >= step

    def _pull_all(self) -> None:
        for iid in self.selected:
            self.ctx.cancel_quote(iid)
        self.last.clear()
