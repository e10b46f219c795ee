"""Shared by the live-account tests (``tests/<venue>_live/test_*_accounts.py``): a whole live
node (``engine.runtime.build_node``, mode = "live") on a fake venue, an order through it, and the
steps every venue's account test takes (the first account read, a margin denial, waiting for the
venue's next account report). Each venue's test keeps its own expected margin, computed there
from the venue's documented rule: that is the first-principles check."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from engine.clock import LiveClock
from engine.config import load_config_text
from engine.model import OrderStatus, Side, SubmitOrder
from engine.runtime import Node, build_node

RISK = """
[risk]
max_order_qty = 100000.0
max_position_qty = 500000.0
max_order_notional_usd = 10000000.0
price_band_pct = 50.0
"""


def live_config(venue: str, adapter: str, params: str, extra: str = "") -> str:
    """A live deployment of one venue (``params``: the body of its params table)."""
    return (f'[deployment]\nname = "{venue}-accounts"\nmode = "live"\njournal = "unused.sqlite"\n'
            f'[venues.{venue}]\nadapter = "{adapter}"\n[venues.{venue}.params]\n{params}\n'
            f"{RISK}{extra}")


@asynccontextmanager
async def live_node(tmp_path: Path, config: str, iid: str) -> AsyncIterator[Node]:
    """The node, started, with the book of ``iid`` live; stopped on exit."""
    node = build_node(load_config_text(config), LiveClock(), tmp_path / "j.sqlite")
    await node.start()
    try:
        async with asyncio.timeout(5):
            while not (iid in node.kernel.books and node.kernel.books[iid].is_live):
                await asyncio.sleep(0.01)
        yield node
    finally:
        await node.stop()


def submit(node: Node, iid: str, coid: str, side: Side, qty: float, price: float) -> Any:
    """Through the router (risk gate included): the denial, or None."""
    return node.kernel.router.submit(SubmitOrder(
        client_order_id=coid, strategy_id="t", instrument_id=iid, side=side, quantity=qty,
        price=price))


async def until_status(node: Node, coid: str, status: OrderStatus, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while node.kernel.orders.get(coid).status is not status:
            await asyncio.sleep(0.01)


def account(node: Node, venue: str, ccy: str) -> dict[str, Any]:
    """One account as the status event shows it."""
    from engine.status import status_fields
    return dict(status_fields(node.kernel)["accounts"][venue]["accounts"][ccy])


def assert_first_read(node: Node, venue: str, ccy: str, source: str, deposit: float) -> None:
    """The account read at start: from ``source``, holding ``deposit`` and no margin in use."""
    acc = account(node, venue, ccy)
    assert acc["source"] == source
    assert (acc["balance"], acc["equity"], acc["initial_margin"]) == (deposit, deposit, 0.0)


def assert_margin_denied(node: Node, iid: str, coid: str, side: Side, qty: float, price: float,
                         *, margin: float, limit: float, rel: float = 1e-12) -> Any:
    """The order is denied INSUFFICIENT_MARGIN by the gate, needing ``margin`` against
    ``limit`` (the caller's hand-computed figures); the denial."""
    denial = submit(node, iid, coid, side, qty, price)
    assert denial is not None and denial.reason == "INSUFFICIENT_MARGIN", denial
    assert denial.value == pytest.approx(margin, rel=rel) and denial.limit == limit
    return denial


async def until_account(node: Node, venue: str, ccy: str, ready: Callable[[dict[str, Any]], bool],
                        timeout: float = 5.0) -> dict[str, Any]:
    """Wait until the account (as ``account`` shows it) is ``ready``; the account."""
    async with asyncio.timeout(timeout):
        while not ready(acc := account(node, venue, ccy)):
            await asyncio.sleep(0.02)
    return acc
