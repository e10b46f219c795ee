"""The chain a strategy subscribed to stays the live chain when the venue lists new options
(Deribit lists expiries daily): the view is rebuilt in place, not replaced by a new object
that the strategy's reference would never see refitted."""

from __future__ import annotations

from engine import ChainView, Strategy
from engine.model import NS_PER_YEAR, BookSnapshot, Instrument, InstrumentKind, OptionType

from .conftest import PERP, RecordingVenue, add_strategy, make_kernel

NOW = 1_000_000_000  # the SDK kernel's clock start


def _option(K: float, days: float, cp: OptionType) -> Instrument:
    return Instrument(venue="fake", symbol=f"BTC-{days:g}D-{int(K)}-{cp.value[0].upper()}",
                      kind=InstrumentKind.OPTION, base="BTC", quote="USD", settle="USDC",
                      tick_size=1.0, lot_size=0.01, min_size=0.01, underlying="BTC", strike=K,
                      option_type=cp, expiry_ns=NOW + int(days / 365 * NS_PER_YEAR))


class Follower(Strategy):
    def on_start(self) -> None:
        self.chain = self.ctx.subscribe_chain("BTC")
        self.seen: list[ChainView] = []

    def on_chain(self, chain: ChainView) -> None:
        self.seen.append(chain)


def test_the_subscribed_chain_is_the_one_refitted_after_new_listings() -> None:
    first = [_option(K, 30, cp) for K in (55_000.0, 60_000.0, 65_000.0)
             for cp in (OptionType.CALL, OptionType.PUT)]
    kernel, _ = make_kernel(venues=[RecordingVenue("fake", [PERP, *first])])
    s = add_strategy(kernel, Follower)
    kernel.start_strategies()
    held = s.chain
    assert held is not None and len(held.ids) == 6
    listed = _option(70_000.0, 30, OptionType.CALL)
    kernel.add_instruments([listed])
    assert s.ctx.chain("BTC") is held  # the same object, not a stale copy
    assert listed.id in held.index and len(held.ids) == 7
    kernel.portfolio.set_underlying_price("BTC", 60_000.0)
    kernel.bus.publish(BookSnapshot(listed.id, ((100.0, 1.0),), ((110.0, 1.0),), 1, 0, 0))
    kernel.refresh_chains(kernel.clock.now_ns())
    assert s.seen and all(c is held for c in s.seen)
    assert held.refreshes >= 1
