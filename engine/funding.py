"""Funding of perpetual positions, applied at each venue's funding times (paper and backtest).

Theory of operation: venues publish a funding rate per perpetual (``FundingRate`` events from
Binance ``markPrice``, OKX ``funding-rate``, Bybit ``tickers``, Deribit perpetual ``ticker``, and
the simulated venue). At each funding time a long position pays ``rate x notional`` to the
shorts (receives it when the rate is negative):

* linear (USD-M, USDT/USDC-settled): payment = -qty x contract_size x mark x rate, in the
  settlement currency;
* inverse (coin-margined, USD face): payment = -qty x face / mark x rate, in the coin.

When: venues that announce the next funding time (``next_funding_ns`` > 0: Binance, OKX,
Bybit, the simulated venue) are settled at that time with the last rate received before it and
the mark at that moment. Deribit funds continuously (its ``funding_8h`` is the rate over eight
hours): each rate update settles the interval since the previous one at the previous rate,
pro rata of eight hours, so a position pays exactly for the time it was open to within one
update interval. A perpetual that never receives a rate (a capture recorded without its
funding stream) gets no funding; ``summary()`` lists the ones holding a position as
``unfunded`` (its ``funding_usd`` of 0 is then unknown, not zero). Payments go to the portfolio
(``Portfolio.apply_funding``) and are published as ``FundingApplied`` events (the backtest
ledger books them too).

This engine runs only where the venue is simulated (``paper``/backtest): ``live`` deployments
do not build it and book no funding on positions; the venue's own account figures include it
(its equity, ``AccountReported``). There ``unbooked`` names the perpetual positions whose
funding the engine's PnL leaves out, so that a ``funding_usd`` of 0 is never read as paid none.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import msgspec

from engine.bus import MessageBus
from engine.clock import Clock
from engine.model import FundingRate, Instrument, InstrumentKind, MarkPrice
from engine.portfolio import Portfolio

NS_PER_HOUR = 3_600_000_000_000
CONTINUOUS_PERIOD_NS = 8 * NS_PER_HOUR


class FundingApplied(msgspec.Struct, frozen=True, gc=False):
    """A funding payment booked on a position (``amount`` in ``currency``; + received)."""

    instrument_id: str
    position: float
    rate: float
    mark: float
    amount: float
    currency: str
    ts_event: int


def funding_payment(inst: Instrument, qty: float, mark: float, rate: float) -> float:
    """Funding received (+) or paid (-) by ``qty`` contracts at ``mark`` and ``rate``."""
    if qty == 0.0 or rate == 0.0:
        return 0.0
    if inst.inverse:
        return -qty * inst.contract_size / mark * rate
    return -qty * inst.contract_size * mark * rate


class FundingEngine:
    """Applies funding to the portfolio's perpetual positions (module docstring)."""

    def __init__(self, bus: MessageBus, portfolio: Portfolio, clock: Clock,
                 instrument: Callable[[str], Instrument | None]) -> None:
        self.bus = bus
        self.portfolio = portfolio
        self.clock = clock
        self.instrument = instrument
        self.rates: dict[str, float] = {}
        self.marks: dict[str, float] = {}
        self._scheduled: dict[str, int] = {}
        self._continuous_since: dict[str, int] = {}
        self.applied: dict[str, float] = {}  # instrument -> total funding (settlement ccy)
        self.payments = 0
        self.missed_no_mark = 0
        bus.subscribe(FundingRate, self._on_rate)
        bus.subscribe(MarkPrice, self._on_mark)

    def _on_mark(self, ev: MarkPrice) -> None:
        if ev.mark_price == ev.mark_price and ev.mark_price > 0:
            self.marks[ev.instrument_id] = ev.mark_price

    def _on_rate(self, ev: FundingRate) -> None:
        inst = self.instrument(ev.instrument_id)
        if inst is None or inst.kind is not InstrumentKind.PERPETUAL or ev.rate != ev.rate:
            return
        iid = ev.instrument_id
        now = self.clock.now_ns()
        if ev.next_funding_ns > 0:
            self.rates[iid] = ev.rate
            if self._scheduled.get(iid) != ev.next_funding_ns and ev.next_funding_ns >= now:
                self._scheduled[iid] = ev.next_funding_ns
                self.clock.call_at(ev.next_funding_ns,
                                   lambda t, i=iid, due=ev.next_funding_ns: self._settle(i, due, t))
            return
        # continuous (Deribit): settle the time since the last update at the previous rate
        since = self._continuous_since.get(iid)
        prev = self.rates.get(iid)
        if since is not None and prev is not None and now > since:
            self._pay(iid, prev * (now - since) / CONTINUOUS_PERIOD_NS, now)
        self._continuous_since[iid] = now
        self.rates[iid] = ev.rate

    def _settle(self, iid: str, due: int, now: int) -> None:
        if self._scheduled.get(iid) == due:
            del self._scheduled[iid]
        rate = self.rates.get(iid)
        if rate is not None:
            self._pay(iid, rate, now)

    def _mark(self, iid: str) -> float:
        px = self.marks.get(iid, math.nan)
        if px != px:
            pos = self.portfolio.position(iid)
            px = pos.mark if pos is not None else math.nan
        return px

    def _pay(self, iid: str, rate: float, now: int) -> None:
        pos = self.portfolio.position(iid)
        if pos is None or pos.qty == 0.0:
            return
        mark = self._mark(iid)
        if not (mark == mark and mark > 0):
            self.missed_no_mark += 1
            return
        inst = pos.instrument
        amount = funding_payment(inst, pos.qty, mark, rate)
        self.portfolio.apply_funding(iid, amount)
        self.applied[iid] = self.applied.get(iid, 0.0) + amount
        self.payments += 1
        self.bus.publish(FundingApplied(iid, pos.qty, rate, mark, amount, inst.settle, now))

    def unfunded(self) -> list[str]:
        """Perpetuals holding a position that no funding rate has reached: their funding is
        unknown (the venue's stream is missing), not zero."""
        return [iid for iid in open_perpetuals(self.portfolio) if iid not in self.rates]

    def summary(self) -> dict[str, object]:
        """Funding so far per instrument (settlement currency), payment count, payments missed
        for want of a mark, and the ``unfunded`` perpetuals."""
        return {"payments": self.payments, "by_instrument": dict(sorted(self.applied.items())),
                "missed_no_mark": self.missed_no_mark, "unfunded": self.unfunded()}


def open_perpetuals(portfolio: Portfolio) -> list[str]:
    """Instrument ids (sorted) of the perpetuals the portfolio holds a position in."""
    return sorted(p.instrument.id for p in portfolio.positions()
                  if p.qty != 0.0 and p.instrument.kind is InstrumentKind.PERPETUAL)


def unbooked(portfolio: Portfolio) -> dict[str, object]:
    """The funding summary of a live node, which books no funding (module docstring): the
    perpetual positions whose funding the PnL leaves out (``unfunded``), ``booked`` False."""
    return {"booked": False, "unfunded": open_perpetuals(portfolio)}
