"""A routed option order splits across the fake Deribit (coin premium) and the fake Derive
(USDC premium) venues: best net of fees first, within the gate, tracked as one parent."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest

from adapters.deribit.fake import DeribitFake
from adapters.derive.fake import FAKE_SESSION_KEY, FAKE_SUBACCOUNT, FAKE_WALLET, DeriveFake
from adapters.fakes.market import FakeBook
from engine.clock import LiveClock
from engine.config import load_config_text
from engine.model import OptionType, OrderStatus, Side
from engine.option_routing import OptionKey, option_key
from engine.runtime import build_node

DERIBIT_OPT = "BTC-1JAN00-60000-C"        # the fake Deribit lists every option expiring 2100-01-01
DERIVE_OPT = "BTC-21000101-60000-C"
CONFIG = """
[deployment]
name = "routing"
mode = "paper"
journal = "{journal}"
[venues.deribit]
adapter = "adapters.deribit.session:DeribitVenue"
[venues.deribit.params]
ws_url = "{deribit}"
client_id = "fake-id"
client_secret = "fake-secret"
instruments = ["{dopt}"]
channels = ["book"]
stale_after_s = 5.0
[venues.derive]
adapter = "adapters.derive.session:DeriveVenue"
[venues.derive.params]
ws_url = "{derive}"
wallet = "{wallet}"
subaccount_id = {sub}
instruments = ["{vopt}"]
channels = ["book", "ticker"]
ticker_interval_ms = 100
matching_rate = 100.0
matching_burst = 100.0
non_matching_rate = 100.0
[books]
stale_after_s = 60.0
[risk]
max_order_qty = 100.0
max_position_qty = 100.0
max_order_notional_usd = 1e9
option_price_band_pct = 90.0
max_open_orders = 100
"""


async def test_a_routed_option_buy_splits_across_two_venues_best_net_first(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DERIVE_SESSION_KEY", FAKE_SESSION_KEY)
    async with DeribitFake((DERIBIT_OPT,), seed=5, step_s=0.05) as dr, \
            DeriveFake((DERIVE_OPT,), seed=6, step_s=0.05) as dv:
        dr.paused = True
        # Derive's option a little dearer than Deribit's best ask (0.05 BTC * 60 000 + 1 tick).
        dv.books[DERIVE_OPT] = FakeBook(DERIVE_OPT, dv.rng, mid=3040.0, tick=0.1, lot=0.01)
        text = CONFIG.format(journal=tmp_path / "j.sqlite", deribit=dr.url, derive=dv.url,
                             wallet=FAKE_WALLET, sub=FAKE_SUBACCOUNT, dopt=DERIBIT_OPT,
                             vopt=DERIVE_OPT)
        node = build_node(load_config_text(text), LiveClock(), tmp_path / "j.sqlite")
        await node.start()
        try:
            k = node.kernel
            d_id, v_id = f"deribit:{DERIBIT_OPT}", f"derive:{DERIVE_OPT}"
            async with asyncio.timeout(10):
                while not (k.books[d_id].is_live and k.books[v_id].is_live
                           and k.option_chains.index_usd("BTC") == 60_000.0):
                    await asyncio.sleep(0.02)
            dv.paused = True
            await asyncio.sleep(0.2)
            key = option_key(k.instruments[d_id])
            assert key == option_key(k.instruments[v_id]) == OptionKey(
                "BTC", 4_102_444_800 * 10**9, 60_000.0, OptionType.CALL)
            # First principles: Deribit's best ask in USD per coin = 0.0505 BTC * 60 000 plus its
            # taker fee 0.0003 * 60 000; Derive's = the USDC ask plus 0.0003 * 60 000.
            d_ask, d_size = k.books[d_id].best_ask()
            v_ask, _ = k.books[v_id].best_ask()
            d_net = d_ask * 60_000.0 + 0.0003 * 60_000.0
            v_net = v_ask + 0.0003 * 60_000.0
            assert d_net < v_net  # Deribit's first level is the cheapest
            qty = d_size + 0.5  # more than Deribit's best level holds
            n = iter(range(1, 100))
            parent = k.option_router.route("p-1", "t", key, Side.BUY, qty,
                                           lambda: f"c-{next(n)}",
                                           limit_usd=v_net + 5.0)  # Derive's first level or two
            venues = {k.orders.get(c).instrument_id for c in parent.children}
            assert venues == {d_id, v_id}, (parent.children, parent.denials, parent.excluded)
            assert not parent.ended  # IOC children just sent: none has ended yet
            async with asyncio.timeout(10):
                while parent.state == "working":
                    await asyncio.sleep(0.02)
            assert parent.state in ("filled", "partially_filled")
            assert parent.ended
            assert parent.filled == pytest.approx(sum(f.coins for f in parent.fills))
            by_venue = {f.instrument_id: f for f in parent.fills}
            assert by_venue[d_id].coins == pytest.approx(d_size)
            assert by_venue[d_id].price_usd == pytest.approx(d_ask * 60_000.0)  # coin premium
            assert by_venue[v_id].price_usd == pytest.approx(v_ask, abs=0.2)    # USDC premium
            assert not math.isnan(parent.avg_price_usd)
            for c in parent.children:
                assert k.orders.get(c).status in (OrderStatus.FILLED, OrderStatus.CANCELLED,
                                                  OrderStatus.EXPIRED)
        finally:
            await node.stop()


def test_an_unpriced_coin_premium_venue_is_left_out_not_priced_at_zero() -> None:
    from engine.book import OrderBook  # noqa: F401 - the router reads books only through the kernel
    from engine.model import Instrument, InstrumentKind
    from engine.option_routing import OptionRouter
    inst = Instrument(venue="deribit", symbol="BTC-X", kind=InstrumentKind.OPTION, base="BTC",
                      quote="USD", settle="BTC", tick_size=0.0005, lot_size=0.1,
                      underlying="btc_usd", expiry_ns=10**18, strike=1.0,
                      option_type=OptionType.CALL, premium_in_coin=True)

    class Live:
        from engine.model import BookStatus
        status = BookStatus.LIVE

        def depth_asks(self, n: int) -> list[tuple[float, float]]:
            return [(0.05, 1.0)]

    r = OptionRouter({inst.id: inst}, lambda iid: Live(), lambda cmd: None,  # type: ignore[arg-type,return-value]
                     lambda coid: None, lambda asset: math.nan, lambda: 0)
    p = r.route("p", "t", option_key(inst), Side.BUY, 1.0, lambda: "c")  # type: ignore[arg-type]
    assert p.children == [] and p.unplaced == 1.0 and "unpriced" in p.excluded[inst.id]
    assert p.state == "unfilled" and math.isnan(p.avg_price_usd)
    assert p.ended  # (no child to wait for)
    assert not hasattr(r, "parents")  # the strategy holds its parents; the router keeps none


def test_contract_sizes_and_premium_currencies_are_normalised_per_coin() -> None:
    """OKX-style 0.01-coin contracts with a coin premium against a 1-coin USDC-premium
    listing: the cheaper per coin (net of fees) is taken first, in whole lots of each venue."""
    from engine.model import BookStatus, Instrument, InstrumentKind
    from engine.option_routing import OptionRouter

    def opt(venue: str, coin_premium: bool, size: float, lot: float) -> Instrument:
        return Instrument(venue=venue, symbol="X", kind=InstrumentKind.OPTION, base="BTC",
                          quote="USD", settle="BTC" if coin_premium else "USDC",
                          contract_size=size, tick_size=0.0001, lot_size=lot, min_size=lot,
                          underlying="BTC-USD", expiry_ns=10**18, strike=50_000.0,
                          option_type=OptionType.CALL, premium_in_coin=coin_premium,
                          taker_fee=0.0003)

    okx, dv = opt("okx", True, 0.01, 1.0), opt("derive", False, 1.0, 0.01)

    class Book:
        status = BookStatus.LIVE

        def __init__(self, asks: list[tuple[float, float]]) -> None:
            self.asks = asks

        def depth_asks(self, n: int) -> list[tuple[float, float]]:
            return self.asks

    # OKX: 0.05 BTC per coin = 3000 USD at 60 000, 100 contracts = 1 coin;
    # Derive: 3010 USDC per coin, 5 coins. Fees are equal (0.0003 * 60 000 = 18 USD per coin).
    books = {okx.id: Book([(0.05, 100.0)]), dv.id: Book([(3010.0, 5.0)])}
    sent: list[object] = []
    r = OptionRouter({okx.id: okx, dv.id: dv}, books.get, lambda cmd: sent.append(cmd),  # type: ignore[arg-type,func-returns-value]
                     lambda coid: None, lambda asset: 60_000.0 if asset == "BTC" else math.nan,
                     lambda: 0)
    ids = iter(["c1", "c2"])
    p = r.route("p", "t", option_key(okx), Side.BUY, 1.5, lambda: next(ids))  # type: ignore[arg-type]
    by_iid = {c.instrument_id: c for c in sent}  # type: ignore[attr-defined]
    assert by_iid[okx.id].quantity == 100.0 and by_iid[okx.id].price == 0.05  # all of OKX: 1 coin
    assert by_iid[dv.id].quantity == 0.5 and by_iid[dv.id].price == 3010.0    # the rest: 0.5 coin
    assert p.unplaced == pytest.approx(0.0) and p.children == ["c1", "c2"]
