"""SDK hooks inside a whole paper deployment on virtual time: chains, state across restarts,
greeks, the consolidated book and per-strategy timing in the status line."""

from __future__ import annotations

import math

import msgspec
import pytest

from engine.config import load_config_text
from engine import ChainView, OrderBook, Strategy
from engine.runtime import run_virtual

from .conftest import register_module

CONFIG = """
[deployment]
name = "hooks"
mode = "paper"
journal = "unused.sqlite"
status_interval_s = 5.0

[venues.sim]
adapter = "adapters.sim:SimVenue"

[venues.sim2]
adapter = "adapters.sim:SimVenue"

[venues.sim2.params]
expiries_days = []

[[strategies]]
id = "probe"
class = "volta_sdk_probe:Probe"
venue = "sim"
"""


class ProbeState(msgspec.Struct):
    starts: int = 0
    chains_seen: int = 0


class Probe(Strategy):
    def on_start(self) -> None:
        self.state = self.ctx.load_state(ProbeState) or ProbeState()
        self.state.starts += 1
        self.chain = self.ctx.subscribe_chain("BTC")
        self.chain_calls: list[tuple[int, float]] = []
        self.cb = self.ctx.consolidated("BTC")
        self.best: list[tuple[str, str]] = []
        self.ctx.subscribe_book("sim:BTC-PERP")

    def on_chain(self, chain: ChainView) -> None:
        self.state.chains_seen += 1
        assert chain is self.chain and chain.surface is not None
        self.chain_calls.append((self.ctx.now_ns(), chain.atm_vol()))

    def on_book(self, book: OrderBook) -> None:
        bid, ask = self.cb.best_bid(), self.cb.best_ask()
        if bid is not None and ask is not None:
            self.best.append((bid.instrument_id, ask.instrument_id))

    def on_stop(self) -> None:
        self.ctx.save_state(self.state)


register_module("volta_sdk_probe", Probe=Probe)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory):
    journal = tmp_path_factory.mktemp("hooks") / "journal.sqlite"
    cfg = load_config_text(CONFIG)
    first = run_virtual(cfg, duration_s=20, journal_path=journal)
    second = run_virtual(cfg, duration_s=10, journal_path=journal)
    return first, second


def test_on_chain_follows_each_refit_with_the_live_view(runs) -> None:
    first, _ = runs
    probe = first.kernel.strategies["probe"]
    assert len(probe.chain_calls) >= 15, "one refit per second while option books change"
    assert all(0.2 < vol < 1.5 for _, vol in probe.chain_calls)
    assert first.kernel.counters["chain_refreshes"] == len(probe.chain_calls)


def test_state_saved_in_the_journal_resumes_after_a_restart(runs) -> None:
    first, second = runs
    a, b = first.kernel.strategies["probe"], second.kernel.strategies["probe"]
    assert a.state.starts == 1 and b.state.starts == 2
    assert b.state.chains_seen == a.state.chains_seen + len(b.chain_calls)


def test_the_consolidated_view_spans_both_venues(runs) -> None:
    first, _ = runs
    probe = first.kernel.strategies["probe"]
    assert sorted(probe.cb.instrument_ids) == ["sim2:BTC-PERP", "sim:BTC-PERP"]
    assert probe.best, "both books were live"


def test_the_status_line_has_per_strategy_timing(runs) -> None:
    first, _ = runs
    timing = first.status_log[-1]["strategies"]["probe"]
    assert timing["calls"] > 100 and timing["errors"] == 0
    assert timing["avg_us"] > 0 and timing["max_ms"] >= timing["avg_us"] / 1000
    assert set(timing) == {"calls", "total_ms", "avg_us", "max_ms", "slow", "errors"}
    assert not math.isnan(timing["total_ms"])
