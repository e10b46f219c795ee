"""The delta hedger: venue choice net of fees, and delta kept in band in its paper deployment."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from engine.config import StrategyConfig, load_config
from engine import Side, Strategy
from engine.model import Instrument, InstrumentKind, Liquidity, OrderFilled
from engine.runtime import run_virtual
from strategies.examples.delta_hedger import DeltaHedger, DeltaHedgerConfig
from tests.sdk.conftest import RecordingVenue, add_strategy, make_kernel, register_module

ROOT = Path(__file__).resolve().parents[2]


def _perp(venue: str, fee: float) -> Instrument:
    return Instrument(venue=venue, symbol="BTC-PERP", kind=InstrumentKind.PERPETUAL, base="BTC",
                      quote="USD", settle="USD", tick_size=0.5, lot_size=0.001, min_size=0.001,
                      underlying="BTC", taker_fee=fee)


def _long_on(kernel, iid: str, qty: float) -> None:
    """A position from elsewhere (another strategy's fill), straight into the portfolio."""
    kernel.portfolio.on_fill(OrderFilled(
        client_order_id="ext", venue_order_id="x", instrument_id=iid, trade_id=f"t{qty}", side=Side.BUY,
        price=60_000.0, quantity=qty, remaining=0.0, liquidity=Liquidity.TAKER, fee=0.0,
        fee_currency="USD", ts_event=0, ts_recv=0))


@pytest.mark.parametrize("bonus_bps, venue", [(2.0, "cheap"), (20.0, "dear")])
def test_it_hedges_on_the_best_venue_net_of_fees(bonus_bps: float, venue: str) -> None:
    # same book on both venues; "dear" charges 10 bp taker, "cheap" 1 bp: selling nets more on
    # "cheap" unless the bonus for shrinking the existing long on "dear" outweighs the 9 bp
    a, b = RecordingVenue("dear", [_perp("dear", 0.001)]), RecordingVenue("cheap", [_perp("cheap", 0.0001)])
    kernel, _ = make_kernel(venues=[a, b])
    _long_on(kernel, "dear:BTC-PERP", 0.5)
    h = add_strategy(kernel, DeltaHedger, "hedger", "dear",
                     DeltaHedgerConfig(band=0.05, reduce_bonus_bps=bonus_bps))
    kernel.start_strategies()
    kernel.clock.advance_to(kernel.clock.now_ns() + 600_000_000)
    sent = a.sent + b.sent
    assert len(sent) == 1, sent
    order = sent[0]
    assert order.instrument_id == f"{venue}:BTC-PERP"
    assert order.side is Side.SELL and order.quantity == pytest.approx(0.5)
    assert str(order.time_in_force) == "ioc"
    # IOC limit 5 bp through the touch (59,990), on tick, never further
    assert order.price == pytest.approx(59_960.0) and order.price % 0.5 == 0
    assert h.hedges[0].delta_before == pytest.approx(0.5)


def test_inside_the_band_or_while_a_hedge_works_nothing_is_sent() -> None:
    v = RecordingVenue("dear", [_perp("dear", 0.0005)])
    kernel, _ = make_kernel(venues=[v])
    _long_on(kernel, "dear:BTC-PERP", 0.04)
    add_strategy(kernel, DeltaHedger, "hedger", "dear", DeltaHedgerConfig(band=0.05))
    kernel.start_strategies()
    kernel.clock.advance_to(kernel.clock.now_ns() + 2_000_000_000)
    assert v.sent == []
    _long_on(kernel, "dear:BTC-PERP", 0.1)
    kernel.clock.advance_to(kernel.clock.now_ns() + 5_000_000_000)
    assert len(v.sent) == 1, "the IOC has no answer yet: no second hedge on top"


class DeltaProbe(Strategy):
    def on_start(self) -> None:
        self.samples: list[float] = []
        self.ctx.set_timer("sample", 1.0)

    def on_timer(self, name: str, now_ns: int) -> None:
        self.samples.append(self.ctx.delta("BTC"))


register_module("volta_hedger_probe", DeltaProbe=DeltaProbe)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    cfg = load_config(ROOT / "config/delta-hedger.toml")
    cfg = msgspec.structs.replace(cfg, strategies=[
        *cfg.strategies, StrategyConfig(id="probe", class_="volta_hedger_probe:DeltaProbe", venue="sim")])
    return run_virtual(cfg, duration_s=240, journal_path=tmp_path_factory.mktemp("dh") / "j.sqlite")


def test_the_hedger_keeps_delta_in_band_in_the_paper_deployment(run) -> None:
    k = run.kernel
    hedger, probe = k.strategies["hedger"], k.strategies["probe"]
    assert k.strategy_errors.get("hedger", 0) == 0 and k.strategy_errors.get("options-mm", 0) == 0
    assert len(hedger.hedges) >= 5, "the options book made delta to hedge"
    option_fills = sum(1 for o in k.orders if o.strategy_id == "options-mm" and o.filled > 0)
    assert option_fills >= 10
    band = hedger.config.band
    outside = [d for d in probe.samples if abs(d) > band + 1e-9]
    assert len(probe.samples) >= 230
    assert len(outside) <= 0.1 * len(probe.samples), outside
    assert max(abs(d) for d in probe.samples) < 1.0, "never far out even right after an option fill"
    assert abs(k.portfolio.delta("BTC")) <= band + 0.3


def test_the_hedges_went_to_both_venues_as_prices_and_fees_dictated(run) -> None:
    hedger = run.kernel.strategies["hedger"]
    venues = {h.instrument_id.partition(":")[0] for h in hedger.hedges}
    assert venues <= {"sim", "sim2"} and "sim2" in venues  # sim2's lower fee wins at times
    assert sum(run.kernel.gate.denied.values()) == 0


def test_an_incomplete_delta_holds_the_hedge_says_so_once_and_resumes() -> None:
    from structlog.testing import capture_logs

    from tests.risk.helpers import CALL

    v = RecordingVenue("fake", [_perp("fake", 0.0005), CALL])
    kernel, _ = make_kernel(venues=[v])
    _long_on(kernel, "fake:BTC-PERP", 0.3)
    _long_on(kernel, CALL.id, 2.0)  # an option with no chain fit and no venue Greeks yet
    h = add_strategy(kernel, DeltaHedger, "hedger", "fake", DeltaHedgerConfig(band=0.05))
    with capture_logs() as logs:
        kernel.start_strategies()
        kernel.clock.advance_to(kernel.clock.now_ns() + 3_000_000_000)  # 6 checks
        # the known part (0.3) is outside the band, but the call's delta is missing: no hedge
        assert v.sent == [] and h.held_for == (CALL.id,)
        kernel.portfolio.set_greeks(CALL.id, -0.1, 1e-5, 40.0, -36.5)  # 0.3 + 2 x -0.1 = 0.1
        kernel.clock.advance_to(kernel.clock.now_ns() + 600_000_000)
    held = [e for e in logs if e["event"] == "hedge_held"]
    assert len(held) == 1 and held[0]["positions"] == [CALL.id]  # once, not per check
    assert [e["event"] for e in logs if e["event"] in ("hedge_held", "hedge_resumed")] == \
        ["hedge_held", "hedge_resumed"]
    assert len(v.sent) == 1 and v.sent[0].side is Side.SELL
    assert v.sent[0].quantity == pytest.approx(0.1)  # the whole delta, not the perp's 0.3
    assert h.hedges[0].delta_before == pytest.approx(0.1)
