"""The backtest's net delta is in one asset's units, and a delta it does not know is unknown.

The ledger summed every linear position's delta into one 'net delta (BTC)' series, whatever its
asset: long 1 BTC-PERP and long 10 ETH-PERP read delta 11 (BTC). And an option held with no
fitted Greeks counted 0. Now the series is the first traded asset's (``greeks.underlying``),
other assets have their own (``greeks.delta_other_assets``), and a held option with no delta
makes that sample's delta unknown (``unknown_samples``), never 0. A flat position has no
average price (None), not a price of 0."""

from __future__ import annotations

from backtest.metrics import summarize
from engine.model import Instrument, InstrumentKind, Side
from tests.backtest.helpers import LedgerRig
from tests.engine.conftest import CALL

BTC = Instrument(venue="fake", symbol="BTC-PERP", kind=InstrumentKind.PERPETUAL, base="BTC",
                 quote="USD", settle="USD", tick_size=0.5, lot_size=0.001, min_size=0.001)
ETH = Instrument(venue="fake", symbol="ETH-PERP", kind=InstrumentKind.PERPETUAL, base="ETH",
                 quote="USD", settle="USD", tick_size=0.05, lot_size=0.01, min_size=0.01)


def test_deltas_of_two_assets_are_never_summed() -> None:
    rig = LedgerRig([BTC, ETH])
    rig.book(BTC, 60_000.0, 0.5)
    rig.book(ETH, 3_000.0, 0.05)
    rig.fill(BTC, Side.BUY, 1.0, 60_000.5, 0.0)
    rig.fill(ETH, Side.BUY, 10.0, 3_000.05, 0.0)
    rig.sample(1)
    rig.fill(ETH, Side.SELL, 4.0, 2_999.95, 0.0)
    rig.sample(2)
    assert rig.ledger.samples["delta"] == [1.0, 1.0]  # (was [11.0, 7.0])
    g = summarize(rig.ledger, list(rig.k.orders), {})["greeks"]
    assert g["underlying"] == "BTC"
    assert g["delta"]["mean"] == 1.0 and g["delta"]["abs_max"] == 1.0  # 1 BTC, both samples
    assert g["delta_other_assets"]["ETH"]["mean"] == (10.0 + 6.0) / 2


def test_a_held_option_without_greeks_makes_the_delta_unknown_not_0() -> None:
    rig = LedgerRig([BTC, CALL])
    rig.book(CALL, 1_050.0, 50.0)
    rig.fill(CALL, Side.BUY, 1.0, 1_100.0, 0.0)  # no chain: no fitted delta for it
    rig.sample(1)
    g = summarize(rig.ledger, list(rig.k.orders), {})["greeks"]
    assert g["delta"] == {"mean": None, "abs_mean": None, "abs_max": None, "std": None,
                          "unknown_samples": 1}, g["delta"]
    assert g["vega_usd_per_vol_pt"]["unknown_samples"] == 1


def test_a_flat_position_has_no_average_price_not_0() -> None:
    """Bought and sold 1 BTC-PERP: flat, its summary avg_price read 0.0 (a price of 0)."""
    rig = LedgerRig([BTC, ETH])
    rig.book(BTC, 60_000.0, 0.5)
    rig.fill(BTC, Side.BUY, 1.0, 60_000.5, 0.0)
    rig.fill(BTC, Side.SELL, 1.0, 59_999.5, 0.0)
    rig.fill(ETH, Side.BUY, 2.0, 3_000.0, 0.0)
    rig.sample(1)
    inst = summarize(rig.ledger, list(rig.k.orders), {})["instruments"]
    assert inst[BTC.id]["position"] == 0.0 and inst[BTC.id]["avg_price"] is None
    assert inst[BTC.id]["realized"] == -1.0  # 59,999.5 - 60,000.5
    assert inst[ETH.id]["avg_price"] == 3_000.0
