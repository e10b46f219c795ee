"""The options market maker on a halt of its venue, in the paper node (config/options-mm.toml):
every quote pulled at once, nothing sent to the venue while it is halted, and at the resume
(stream back, venue reconciled) the quotes whose cancels were refused are cancelled and the
options quoted afresh."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from engine.config import load_config
from engine.model import CancelOrder, SubmitOrder
from tests.strategies.venue_halt_node import Driver, run_node

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def halted_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    config = load_config(ROOT / "config/options-mm.toml")
    # two options are enough for the behaviour under test (and keep the run short)
    strategies = [msgspec.structs.replace(config.strategies[0], params={
        **config.strategies[0].params, "max_options": 2})]
    config = msgspec.structs.replace(config, strategies=strategies)
    seen: dict = {}

    async def scenario(d: Driver) -> None:
        mm = d.k.strategies["options-mm"]
        await d.run(60, until=lambda: len(mm.ctx.open_orders()) >= 3)
        await d.run(0.5)  # the quotes reach the venue and are accepted
        seen["working_at_halt"] = {o.client_order_id for o in mm.ctx.open_orders()}
        d.wire.refusing.add("sim")
        seen["halt"] = d.wire.mark()
        d.stream("sim", "disconnected", reason="user stream closed")
        seen["after_halt"] = d.wire.mark()
        seen["halted"] = mm.halted
        seen["still_open_after_halt"] = {o.client_order_id for o in mm.ctx.open_orders()}
        seen["last_after_halt"] = dict(mm.last)
        await d.run(10)  # ten refits of the chain while halted
        d.wire.refusing.discard("sim")
        seen["back"] = d.wire.mark()
        d.stream("sim", "connected")
        await d.run(5, until=lambda: d.k.trading.venue_halt("sim") == "")
        seen["resumed"] = d.wire.mark()
        seen["venue_halt_after"] = d.k.trading.venue_halt("sim")
        await d.run(0.5)
        seen["open_after_resume"] = {o.client_order_id for o in mm.ctx.open_orders()}

    d = run_node(config, tmp_path_factory.mktemp("omm-halt") / "journal.sqlite", scenario)
    seen["driver"] = d
    return seen


def test_every_quote_is_pulled_at_the_halt_and_nothing_is_sent_while_halted(halted_run: dict) -> None:
    d: Driver = halted_run["driver"]
    mm = d.k.strategies["options-mm"]
    working = halted_run["working_at_halt"]
    assert len(working) >= 3, "quotes were working before the halt"
    assert "private down" in halted_run["halted"]
    # a cancel for every working quote, in the halt's own dispatch, and nothing else
    at_halt = d.wire.between("sim", halted_run["halt"], halted_run["after_halt"])
    assert all(isinstance(c, CancelOrder) for c in at_halt)
    assert {c.client_order_id for c in at_halt} == working
    assert halted_run["last_after_halt"] == {}
    # the session refused them: the orders are still working, and the strategy knows it
    assert halted_run["still_open_after_halt"] == working
    # nothing at all to the halted venue afterwards, and no denial collected by trying
    assert d.wire.between("sim", halted_run["after_halt"], halted_run["back"]) == []
    assert mm.denials == {} and "TRADING_HALTED" not in d.k.gate.denied


def test_at_the_resume_the_leftovers_are_cancelled_and_the_options_quoted_afresh(halted_run: dict) -> None:
    d: Driver = halted_run["driver"]
    mm = d.k.strategies["options-mm"]
    assert halted_run["venue_halt_after"] == "", "the venue was reconciled and trades again"
    working = halted_run["working_at_halt"]
    # nothing was sent between the stream coming back and the end of reconciliation
    resume = d.wire.between("sim", halted_run["back"])
    first_submit = next(i for i, c in enumerate(resume) if isinstance(c, SubmitOrder))
    # every quote whose cancel was refused is cancelled again, before any fresh quote, unless
    # it filled meanwhile (the simulated venue kept matching it)
    leftovers = {c.client_order_id for c in resume[:first_submit] if isinstance(c, CancelOrder)}
    filled = {c for c in working if str(mm.ctx.order(c).status) == "filled"}
    assert leftovers and working - filled <= leftovers
    fresh = [c for c in resume if isinstance(c, SubmitOrder)]
    assert fresh and all(c.post_only and c.instrument_id in mm.selected for c in fresh)
    assert not (halted_run["open_after_resume"] & working), "no stale quote left working"
    assert mm.halted == "" and mm.last
    assert d.k.strategy_errors.get("options-mm", 0) == 0 and mm.denials == {}
