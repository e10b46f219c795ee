"""The cross-venue basis strategy: entry/exit/repair rules, and its paper deployment."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import load_config
from engine import Side
from engine.journal import Journal
from engine.model import (BookSnapshot, Instrument, InstrumentKind, Liquidity, OrderFilled,
                          SubmitOrder)
from engine.runtime import run_virtual
from strategies.examples.basis_arb import BasisArb, BasisArbConfig
from tests.sdk.conftest import RecordingVenue, add_strategy, make_kernel

ROOT = Path(__file__).resolve().parents[2]
FEE = 0.0005


def _perp(venue: str) -> Instrument:
    return Instrument(venue=venue, symbol="BTC-PERP", kind=InstrumentKind.PERPETUAL, base="BTC",
                      quote="USD", settle="USD", tick_size=0.5, lot_size=0.001, min_size=0.001,
                      underlying="BTC", taker_fee=FEE)


def _setup(positions: dict[str, float], books: dict[str, tuple[float, float]], **cfg):
    a, b = RecordingVenue("a", [_perp("a")]), RecordingVenue("b", [_perp("b")])
    kernel, _ = make_kernel(venues=[a, b])
    for n, (iid, qty) in enumerate(positions.items()):
        kernel.portfolio.on_fill(OrderFilled(
            client_order_id="ext", venue_order_id="x", instrument_id=iid, trade_id=f"t{n}",
            side=Side.BUY if qty > 0 else Side.SELL, price=60_000.0, quantity=abs(qty), remaining=0.0,
            liquidity=Liquidity.TAKER, fee=0.0, fee_currency="USD", ts_event=0, ts_recv=0))
    for seq, (iid, (bid, ask)) in enumerate(books.items(), start=2):
        kernel.bus.publish(BookSnapshot(iid, ((bid, 1.0),), ((ask, 1.0),), seq, 0, 0))
    s = add_strategy(kernel, BasisArb, "arb", "a", BasisArbConfig(**cfg))
    kernel.start_strategies()
    # one more update of the last book, with both books already in the state under test
    iid, (bid, ask) = list(books.items())[-1]
    kernel.bus.publish(BookSnapshot(iid, ((bid, 1.0),), ((ask, 1.0),), 10, 0, 0))
    return kernel, s, a.sent + b.sent


def test_a_basis_wider_than_fees_plus_entry_opens_one_clip_on_both_legs() -> None:
    # a is cheap (ask 60,000), b rich (bid 60,120): 20 bp gross, 10 bp fees -> ~10 bp net
    kernel, s, sent = _setup({}, {"a:BTC-PERP": (59_999.0, 60_000.0), "b:BTC-PERP": (60_120.0, 60_121.0)},
                             entry_bps=4.0, clip_base=0.02)
    buy, sell = sent
    assert (buy.instrument_id, buy.side, buy.price, buy.quantity) == ("a:BTC-PERP", Side.BUY, 60_000.0, 0.02)
    assert (sell.instrument_id, sell.side, sell.price, sell.quantity) == ("b:BTC-PERP", Side.SELL, 60_120.0, 0.02)
    assert str(buy.time_in_force) == "ioc" and s.edges[0] == pytest.approx(10.0, abs=0.1)


def test_a_basis_inside_fees_does_nothing() -> None:
    _, s, sent = _setup({}, {"a:BTC-PERP": (59_999.0, 60_000.0), "b:BTC-PERP": (60_070.0, 60_071.0)},
                        entry_bps=4.0)
    assert sent == [] and s.spreads == 0


def test_a_held_spread_is_closed_when_the_basis_comes_back() -> None:
    # long a / short b from an earlier entry; now b is cheaper: selling a, buying b costs
    # about 1 bp net of fees, inside exit_bps -> close one clip; entry would need 4 bp
    kernel, s, sent = _setup({"a:BTC-PERP": 0.02, "b:BTC-PERP": -0.02},
                             {"a:BTC-PERP": (60_030.0, 60_031.0), "b:BTC-PERP": (59_963.0, 59_964.0)},
                             entry_bps=4.0, exit_bps=2.0, clip_base=0.05)
    assert {(o.instrument_id, o.side, o.quantity) for o in sent} == {
        ("b:BTC-PERP", Side.BUY, 0.02), ("a:BTC-PERP", Side.SELL, 0.02)}


def test_a_leg_mismatch_is_repaired_before_anything_else() -> None:
    kernel, s, sent = _setup({"a:BTC-PERP": 0.02, "b:BTC-PERP": -0.015},
                             {"a:BTC-PERP": (59_999.0, 60_000.0), "b:BTC-PERP": (60_120.0, 60_121.0)})
    assert len(sent) == 1 and s.repairs == 1
    fix = sent[0]
    # long 0.005 net: sell it where the bid is best net of fees (b)
    assert (fix.instrument_id, fix.side, fix.quantity) == ("b:BTC-PERP", Side.SELL, 0.005)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    journal = tmp_path_factory.mktemp("arb") / "journal.sqlite"
    node = run_virtual(load_config(ROOT / "config/basis-arb.toml"), duration_s=900, journal_path=journal)
    return node, [obj for *_, obj in Journal(journal).records()]


def test_in_the_paper_deployment_it_trades_spreads_and_stays_hedged(run) -> None:
    node, records = run
    k = node.kernel
    arb = k.strategies["basis-arb"]
    assert k.strategy_errors.get("basis-arb", 0) == 0
    assert arb.spreads >= 3 and k.counters["fills"] >= 6
    assert all(e >= arb.config.entry_bps - 1e-9 or e >= -arb.config.exit_bps for e in arb.edges)
    subs = [r for r in records if isinstance(r, SubmitOrder)]
    assert {s.instrument_id for s in subs} == {"sim:BTC-PERP", "sim2:BTC-PERP"}
    assert abs(arb.imbalance()) < 0.001, "flat in the underlying across the legs"
    for iid in ("sim:BTC-PERP", "sim2:BTC-PERP"):
        pos = k.portfolio.position(iid)
        assert pos is None or abs(pos.qty) <= arb.config.max_position_base + 1e-9
    assert sum(k.gate.denied.values()) == 0
