"""The options market maker in its paper deployment (config/options-mm.toml) on virtual time."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import load_config
from engine.journal import Journal
from engine.model import InstrumentKind, OrderFilled, SubmitOrder
from engine.runtime import run_virtual

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    journal = tmp_path_factory.mktemp("omm") / "journal.sqlite"
    node = run_virtual(load_config(ROOT / "config/options-mm.toml"), duration_s=240, journal_path=journal)
    records = [obj for *_, obj in Journal(journal).records()]
    return node, records


def test_it_quotes_options_and_gets_filled(run) -> None:
    node, records = run
    k = node.kernel
    mm = k.strategies["options-mm"]
    assert k.strategy_errors.get("options-mm", 0) == 0
    assert len(mm.selected) == 12
    insts = [k.instruments[i] for i in mm.selected]
    assert all(i.kind is InstrumentKind.OPTION for i in insts)
    fills = [r for r in records if isinstance(r, OrderFilled)]
    assert len(fills) >= 20
    assert sum(k.gate.denied.values()) == 0, k.gate.denied


def test_every_order_is_a_post_only_quote_on_a_selected_out_of_the_money_option(run) -> None:
    node, records = run
    k = node.kernel
    subs = [r for r in records if isinstance(r, SubmitOrder)]
    assert subs and all(s.post_only and s.price and s.price > 0 for s in subs)
    mm = k.strategies["options-mm"]
    assert {s.instrument_id for s in subs} <= set(mm.selected)  # one selection in 240 s
    F = float(k.chains["sim:BTC"].forward[k.chains["sim:BTC"].index[mm.selected[0]]])
    for iid in mm.selected:
        inst = k.instruments[iid]
        # out of the money when selected; the index moves well under 5 % in four minutes
        assert (inst.strike >= 0.95 * F) if inst.is_call else (inst.strike <= 1.05 * F)
    assert all(s.quantity == pytest.approx(0.1) for s in subs)


def test_quotes_straddle_the_model_price_and_never_cross(run) -> None:
    node, records = run
    k = node.kernel
    mm = k.strategies["options-mm"]
    # the last quote of each option: bid below ask, both within a few vol points of fair
    chain = k.chains["sim:BTC"]
    assert mm.last, "quotes were working at the end"
    for iid, (bid, bq, ask, aq) in mm.last.items():
        assert bid < ask
        n = chain.index[iid]
        width_vol = (ask - bid) / (chain.vega[n])
        assert 0 < width_vol < 0.10, (iid, bid, ask)


def test_inventory_and_greeks_stay_within_the_strategy_limits(run) -> None:
    node, records = run
    k = node.kernel
    mm = k.strategies["options-mm"]
    cfg = mm.config
    for iid in mm.selected:
        pos = k.portfolio.position(iid)
        assert pos is None or abs(pos.qty) <= cfg.max_position + 1e-9
    g = mm.ctx.greeks("BTC")
    # a quote adds at most one clip's vega beyond the limit before that side is pulled
    max_clip_vega = max(float(k.chains["sim:BTC"].vega[k.chains["sim:BTC"].index[i]]) for i in mm.selected) / 100 * cfg.size
    assert abs(g.vega) <= cfg.vega_limit_usd + len(mm.selected) * max_clip_vega


def test_a_long_vega_book_lowers_quotes_and_a_long_position_leans_against_itself(run) -> None:
    """The pricing rule itself, on the finished run's chain: skew signs and widening."""
    from engine import Greeks

    node, _ = run
    k = node.kernel
    mm = k.strategies["options-mm"]
    chain = k.chains["sim:BTC"]
    iid = mm.selected[0]
    quotes: dict[str, tuple] = {}
    captured: list[tuple] = []

    class FakeCtx:
        """Only what _requote reads, with the Greeks and position under test."""

        def __init__(self, vega: float, pos: float) -> None:
            self.g, self.pos = Greeks(0.0, 0.0, vega, 0.0), pos
            self.now_ns = mm.ctx.now_ns
            self.instrument, self.book = mm.ctx.instrument, mm.ctx.book

        def greeks(self, und): return self.g
        def limit(self, name, key=None, default=0.0): return default
        def position_qty(self, i): return self.pos if i == iid else 0.0
        def quote_ids(self, i): return (None, None)
        def cancel_quote(self, i): pass

        def quote(self, i, *q):
            captured.append((i, q))
            from engine.strategy import QuoteIds
            return QuoteIds("b", "a")

    real_ctx, real_selected = mm.ctx, mm.selected
    try:
        mm.selected = [iid]
        for label, vega, pos in (("flat", 0.0, 0.0), ("long_vega", 200.0, 0.0), ("long_pos", 0.0, 0.5)):
            mm.ctx, mm.last = FakeCtx(vega, pos), {}
            mm.backoff.clear()
            captured.clear()
            mm._requote(chain)
            quotes[label] = captured[0][1]
    finally:
        mm.ctx, mm.selected = real_ctx, real_selected
    flat, lv, lp = quotes["flat"], quotes["long_vega"], quotes["long_pos"]
    mid = lambda q: (q[0] + q[2]) / 2  # noqa: E731
    assert mid(lv) < mid(flat), "long vega: sell vol"
    assert mid(lp) < mid(flat), "long the option: lean to sell it"
    assert (lp[2] - lp[0]) > (flat[2] - flat[0]), "inventory widens the spread"
