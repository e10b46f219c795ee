"""The node's option chains: one ``ChainView`` per (venue, underlying) with listed options.

Theory of operation: the kernel hands over its instruments as they are registered
(``build``); each group of options of one venue and underlying becomes a chain view, rebuilt
in place only when the group grew (the same object: a strategy's reference stays live). Book events mark a chain dirty (the kernel's book handler reaches
the view through ``chain_of``); the chain timer calls ``refresh``, which refits every dirty
chain against its underlying's index, feeds the model Greeks of every option to the
portfolio and then reports the refit (``refitted``: the kernel tells the chain's followers).
An option's venue Greeks (``OptionSummary``) reach the portfolio only until its chain has
model Greeks for it. Nothing here awaits or calls a strategy.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable

from engine.book import OrderBook
from engine.chains import ChainView
from engine.model import Instrument, InstrumentKind, OptionSummary, canonical_asset
from engine.portfolio import Portfolio


class OptionChains:
    """The chain views of one node, the option -> chain table and which options have model
    Greeks; ``refitted(key, chain)`` is told of each refit (``key``: ``"venue:underlying"``)."""

    __slots__ = ("chains", "chain_of", "rate", "_books", "_portfolio", "_refitted", "_model_greeks")

    def __init__(self, portfolio: Portfolio, books: Callable[[str], OrderBook | None],
                 refitted: Callable[[str, ChainView], None]) -> None:
        self.chains: dict[str, ChainView] = {}  # "venue:underlying" -> its chain view
        self.chain_of: dict[str, ChainView] = {}  # option id -> its chain view (the gate's too)
        self.rate = 0.0  # the pricing rate of the chains built from now on
        self._books = books
        self._portfolio = portfolio
        self._refitted = refitted
        self._model_greeks: set[str] = set()  # options whose Greeks come from their chain

    def build(self, instruments: Iterable[Instrument]) -> bool:
        """One chain view per (venue, underlying) with listed options; True when one was built
        (or rebuilt in place: its options grew), so anything derived from the old listing (the
        kernel's option routes) is out of date."""
        groups: dict[str, list[Instrument]] = defaultdict(list)
        for inst in instruments:
            if inst.kind is InstrumentKind.OPTION and inst.expiry_ns > 0:
                groups[f"{inst.venue}:{inst.asset}"].append(inst)
        built = False
        for key, options in groups.items():
            chain = self.chains.get(key)
            if chain is not None and len(chain.ids) == len(options):
                continue
            if chain is None:
                chain = self.chains[key] = ChainView(key.partition(":")[2], options, self.rate)
            else:
                chain.relist(options, self.rate)  # (the same object: held views stay live)
            for iid in chain.ids:
                self.chain_of[iid] = chain
            built = True
        return built

    def refresh(self, now_ns: int) -> None:
        """Refit every chain whose books changed; feed its model Greeks to the portfolio."""
        pf = self._portfolio
        for key, chain in self.chains.items():
            if not chain.dirty:
                continue
            index = pf.underlying_prices.get(chain.underlying, math.nan)
            if not chain.refresh(now_ns, self._books, index):
                continue
            # Model Greeks for every option (the gate prices orders on flat instruments too).
            for n, iid in enumerate(chain.ids):
                d = chain.position_delta(iid)
                if d == d:
                    pf.set_greeks(iid, d, float(chain.gamma[n]), float(chain.vega[n]),
                                  float(chain.theta[n]))
                    self._model_greeks.add(iid)
            pf.resum()
            self._refitted(key, chain)

    def on_option_summary(self, ev: OptionSummary, now_ns: int) -> None:
        """A venue's analytics of one option: its expiry's forward and mark IV for the chain,
        and the venue's Greeks for the portfolio until the chain has model Greeks for it."""
        chain = self.chain_of.get(ev.instrument_id)
        if chain is not None:
            chain.set_expiry_forward(ev.instrument_id, ev.underlying_price)
            chain.set_venue_mark_iv(ev.instrument_id, ev.mark_iv)
        if ev.instrument_id not in self._model_greeks:
            # (the venue's: premium-adjusted delta for coin options)
            self._portfolio.on_option_summary(ev, now_ns)

    def index_usd(self, asset: str) -> float:
        """The latest index price of a canonical coin (``BTC``) from any venue: the portfolio
        keys its prices by ``canonical_asset`` (NaN: unknown)."""
        return self._portfolio.underlying_prices.get(canonical_asset(asset), math.nan)
