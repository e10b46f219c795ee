"""The example quoter through a real session when its venue halts: the fake Bybit venue's
private stream drops; the quoter hears ``on_venue_halt`` from the session's own status event,
pulls its quotes at the venue and sends nothing more while the market moves; after the stream
is back and the venue reconciled (the real REST reconciliation) it quotes again, and the venue
holds exactly its two fresh quotes (nothing left over from before the halt)."""

from __future__ import annotations

import asyncio

from engine.reconcile import reconcile
from engine.strategy import StrategyContext
from strategies.examples.mm import Quoter, QuoterConfig
from tests.bybit_live.conftest import Live
from tests.live_rest_cases import ready


def _quoter_orders(live: Live) -> list[str]:
    return sorted(cid for cid in live.fake.matcher.orders if cid.startswith("mm-"))


def _open_at_venue(live: Live) -> list[str]:
    return sorted(o.client_id for o in live.fake.matcher.open_orders() if o.client_id.startswith("mm-"))


async def test_quoter_pulls_at_its_venues_halt_and_quotes_again_after_reconciliation(live: Live) -> None:
    await ready(live)
    k = live.kernel
    q = Quoter(StrategyContext(k.strategy_ports(), "mm", "bybit"),
               # wide and never moved by the market (1000 bps): the quotes rest, nothing is in flight
               QuoterConfig(instrument="BTCUSDT", size=0.01, half_spread_bps=50.0,
                            requote_bps=1000.0, max_position=1.0))
    k.add_strategy("mm", q)
    k.start_strategies()
    # quoting: a bid and an ask working at the venue
    await live.until(lambda: q.bid_id is not None and q.ask_id is not None
                     and {q.bid_id, q.ask_id} <= set(_open_at_venue(live)))

    live.fake.ws.reject_connections(10_000, status=503)
    for conn in list(live.fake._private.values()):
        conn.abort()
    before = [q.bid_id, q.ask_id]
    cancels = live.fake.requests.count(("POST", "/v5/order/cancel"))
    await live.until(lambda: q.halted != "")
    assert "private down" in q.halted and k.trading.venue_halt("bybit") == q.halted
    # the quoter pulls its quotes at the venue (order entry is REST, still up)
    await live.until(lambda: _open_at_venue(live) == [])
    assert live.fake.requests.count(("POST", "/v5/order/cancel")) == cancels + 2
    sent = _quoter_orders(live)
    await asyncio.sleep(0.5)  # the market keeps moving (a tick every 5 ms): nothing new is sent
    assert live.book.is_live
    assert _quoter_orders(live) == sent and q.denials == {}

    live.fake.ws._reject.clear()
    await live.until(lambda: k.reconcile_requests == ["bybit"], timeout=8)
    assert q.halted != ""  # waiting for reconciliation
    await reconcile(k, live.adapter)
    assert q.halted == "" and k.trading.halted_venues() == {}
    await live.until(lambda: q.bid_id is not None and q.ask_id is not None
                     and {q.bid_id, q.ask_id} <= set(_open_at_venue(live)))
    await asyncio.sleep(0.2)
    # exactly its two fresh quotes work at the venue, nothing from before the halt
    assert _open_at_venue(live) == sorted([q.bid_id, q.ask_id])
    assert not set(_open_at_venue(live)) & set(before)
    assert len(_quoter_orders(live)) == len(sent) + 2
    assert q.denials == {} and k.strategy_errors == {}
    k.stop_strategies()
