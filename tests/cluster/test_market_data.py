"""Gateway -> NATS -> node: books, sequence gaps, snapshot resync, the key-value copy."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from adapters.nats.wire import BookMsg, kv_key, token, untoken
from engine.model import BookStatus, BookStatusChanged
from tests.cluster.conftest import load_config_text, md_venue, wait_for

IID = "gw:BTC-PERP"


@pytest.mark.parametrize("symbol", ["BTC-PERP", "BTC_USDC-PERPETUAL", "ETH.USD/1 x", "Ünï"])
def test_tokens_are_subject_safe_and_reversible(symbol: str) -> None:
    tok = token(symbol)
    assert all(c.isascii() and (c.isalnum() or c in "_-=") for c in tok)
    assert untoken(tok) == symbol


async def test_node_books_follow_the_gateway_and_resync_after_a_gap(nats_server, running) -> None:
    urls = [nats_server.url]
    await running.gateway(urls, tick_ms=20)
    # an option the simulator lists (its expiry depends on the date): the first ATM call
    option = next(i.symbol for i in _gateway_kernel().instruments.values()
                  if i.symbol.endswith("-60000-C"))
    cfg = load_config_text('[deployment]\nname="md"\nmode="paper"\njournal=":memory:"\n'
                           '[logging]\nlevel="warning"\n' + md_venue(urls, ["BTC-PERP", option]))
    node = await running.node(cfg)
    k = node.kernel
    adapter = k.adapters["gw"]
    assert sorted(i.id for i in adapter.instruments()) == sorted([IID, f"gw:{option}"])  # asked for
    await wait_for(lambda: k.books.get(IID) is not None and k.books[IID].status is BookStatus.LIVE,
                   10, "the node's book LIVE from the gateway")
    deltas_before = adapter.counters["messages"]
    await wait_for(lambda: adapter.counters["messages"] > deltas_before + 20, 10, "streamed updates")
    # every kind arrives (books came as snapshots): deltas, trades, the mark, the option summary
    await wait_for(lambda: all(adapter.received[k] > 0 for k in ("delta", "trade", "mark", "summary")),
                   10, "marks and option summaries from the gateway")
    assert k.marks.get(IID) is not None or k.portfolio.position(IID) is None

    # The gateway's book and the node's book are the same book (top 5 levels), once quiet.
    gw_kernel = _gateway_kernel()
    for _ in range(100):
        a, b = gw_kernel.books[IID], k.books[IID]
        if a.seq and a.depth_bids(5) == b.depth_bids(5) and a.depth_asks(5) == b.depth_asks(5):
            break
        await asyncio.sleep(0.005)
    else:
        pytest.fail("node book never matched the gateway's")

    # A lost message: the next delta does not continue the node's book -> STALE, resync, LIVE.
    statuses: list[BookStatusChanged] = []
    k.bus.subscribe(BookStatusChanged, statuses.append)
    snaps = adapter.counters["snapshots"]
    _gateway().skip_sequence(IID)  # fault injection: one book seq never published
    await wait_for(lambda: any(s.status is BookStatus.STALE and s.reason == "gap" for s in statuses),
                   5, "STALE after the gap")
    await wait_for(lambda: adapter.counters["snapshots"] > snaps and k.books[IID].status is BookStatus.LIVE,
                   5, "resync from a gateway snapshot")
    assert k.counters["resync_requests"] >= 1

    # The key-value bucket keeps the latest snapshot (late joiners, gateway down).
    kv = await adapter._nc.jetstream().key_value("volta_md_snapshots")
    for _ in range(60):  # written at most once a second
        try:
            entry = await kv.get(kv_key(IID))
            break
        except Exception:  # noqa: BLE001 - not yet
            await asyncio.sleep(0.1)
    else:
        pytest.fail("no snapshot in the key-value bucket")
    snap = msgspec.msgpack.decode(entry.value, type=BookMsg)
    assert snap.event.instrument_id == IID and snap.event.bids and snap.event.asks


def _gateway():
    from cluster.gateway import Gateway
    return Gateway.last


def _gateway_kernel():
    return _gateway().kernel


async def test_symbols_the_gateway_does_not_list_are_a_start_failure(nats_server, running) -> None:  # type: ignore[no-untyped-def]
    """A typo in params.symbols ("BTC-PREP") left the node running with no market data for the
    venue and one log line; none of the symbols published is a failed start naming them."""
    from adapters.nats.adapter import NatsMarketData, NatsMarketDataParams

    urls = [nats_server.url]
    await running.gateway(urls, tick_ms=50)
    adapter = NatsMarketData(NatsMarketDataParams(venue="gw", servers=tuple(urls), symbols=["BTC-PREP"]))
    try:
        with pytest.raises(ConnectionError, match=r"venue gw: the gateway lists none of BTC-PREP \(it lists "):
            await adapter.start()
    finally:
        await adapter.stop()


async def test_the_node_follows_a_restarted_gateway(nats_server, running) -> None:  # type: ignore[no-untyped-def]
    """A restarted gateway numbers each instrument from 1 again. The node's adapter dropped
    every delta as 'already seen' up to its old high-water mark: its book stayed LIVE but
    frozen. After the restart the book must move again within seconds."""
    from tests.cluster.conftest import _cancel

    urls = [nats_server.url]
    first = await running.gateway(urls, tick_ms=20)
    cfg = load_config_text('[deployment]\nname="md"\nmode="paper"\njournal=":memory:"\n'
                           '[logging]\nlevel="warning"\n' + md_venue(urls, ["BTC-PERP"]))
    node = await running.node(cfg)
    k = node.kernel
    await wait_for(lambda: k.books.get(IID) is not None and k.books[IID].status is BookStatus.LIVE
                   and k.books[IID].seq > 200, 20, "the node's book LIVE, well into the sequence")
    await _cancel(first)  # the gateway stops; a new one starts (its sequence starts over)
    await running.gateway(urls, tick_ms=20)
    await wait_for(lambda: _gateway_kernel().books.get(IID) is not None
                   and _gateway_kernel().books[IID].seq > 5, 10, "the new gateway publishing")
    updates = k.books[IID].updates
    await wait_for(lambda: k.books[IID].updates > updates + 20 and k.books[IID].status is BookStatus.LIVE,
                   5, "the node's book moving again after the gateway restart")


async def test_a_dead_gateways_last_snapshot_does_not_make_the_book_live(nats_server, running) -> None:  # type: ignore[no-untyped-def]
    """The gateway dies: the node's book goes STALE and its resync finds only the bucket's
    copy, which is the book it already has (or older). Applying it made the book LIVE again
    with data as old as the gateway's death, every second, until the gateway came back."""
    from tests.cluster.conftest import _cancel

    urls = [nats_server.url]
    gw = await running.gateway(urls, tick_ms=20)
    cfg = load_config_text('[deployment]\nname="md"\nmode="paper"\njournal=":memory:"\n'
                           '[logging]\nlevel="warning"\n[books]\nstale_after_s = 1.0\n'
                           + md_venue(urls, ["BTC-PERP"]))
    node = await running.node(cfg)
    k = node.kernel
    await wait_for(lambda: k.books.get(IID) is not None and k.books[IID].status is BookStatus.LIVE,
                   20, "the node's book LIVE")
    await asyncio.sleep(1.5)  # the bucket holds a recent copy (written at most once a second)
    await _cancel(gw)
    await wait_for(lambda: k.books[IID].status is not BookStatus.LIVE, 10, "STALE without the gateway")
    statuses: list[BookStatusChanged] = []
    k.bus.subscribe(BookStatusChanged, statuses.append)
    await asyncio.sleep(4.0)  # several staleness checks and resync attempts
    assert k.books[IID].status is not BookStatus.LIVE
    assert not [s for s in statuses if s.status is BookStatus.LIVE], statuses
    await running.gateway(urls, tick_ms=20)  # back: LIVE again with its fresh books
    await wait_for(lambda: k.books[IID].status is BookStatus.LIVE, 10, "LIVE once the gateway is back")
