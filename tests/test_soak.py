"""Soak: the whole node on every fake venue at once (Binance, Bybit, Deribit, OKX, Derive), random orders and random faults, then
invariants: books equal the fakes' books, no order lost or duplicated, fills and positions agree.

Runs ``SOAK_SECONDS`` (default 120) of accelerated traffic (each fake steps its market every
2 ms) through ``engine.runtime.build_node`` (risk gate, router with its ack timeouts and status
queries, kill switch with reconnect reconciliation, integrity layer). Faults are drawn by a
seeded RNG: abrupt disconnects, silent stalls, refused reconnects, sequence gaps, malformed
frames (between and instead of updates), lost/failed/dropped order acknowledgements, slow
acknowledgements and rate-limit replies. At the end the faults stop, every order still open
is cancelled, and the node's state is compared with the fakes' authoritative state.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from pathlib import Path
from typing import Any

import pytest

from adapters.binance.fake import BinanceFake
from adapters.bybit.fake import BybitFake
from engine.config import load_config_text
from engine.clock import LiveClock
from engine.model import BookStatus, OrderStatus, Side, SubmitOrder
from engine.runtime import build_node

SOAK_SECONDS = float(os.environ.get("SOAK_SECONDS", "120"))
SOAK_SEED = int(os.environ.get("SOAK_SEED", "20261122"))

CONFIG = """
[deployment]
name = "soak"
mode = "paper"
journal = "{journal}"
status_interval_s = 30.0

[logging]
level = "warning"

[venues.binance]
adapter = "adapters.binance.session:BinanceVenue"
[venues.binance.params]
ws_url = "{bn_ws}"
rest_url = "{bn_rest}"
api_key = "fake-key"
api_secret = "fake-secret"
symbols = ["BTCUSDT"]
channels = ["depth", "bookTicker"]
ping_interval_s = 1.0
ping_timeout_s = 1.0
stale_after_s = 0.6
ack_timeout_s = 0.5
recv_window_ms = 1000
backoff_base_s = 0.05
backoff_cap_s = 0.3

[venues.bybit]
adapter = "adapters.bybit.session:BybitVenue"
[venues.bybit.params]
ws_url = "{bb_ws}"
rest_url = "{bb_rest}"
api_key = "fake-key"
api_secret = "fake-secret"
symbols = ["BTCUSDT"]
channels = ["orderbook"]
heartbeat_interval_s = 0.2
stale_after_s = 0.6
ack_timeout_s = 0.5
recv_window_ms = 1000
backoff_base_s = 0.05
backoff_cap_s = 0.3
resubscribe_timeout_s = 1.0

{extra}
[books]
stale_after_s = 2.0

[risk]
max_order_qty = 1.0
max_position_qty = 1000.0
max_order_notional_usd = 1e9
price_band_pct = 50.0
max_open_orders = 500
ack_timeout_s = 1.0
"""

DERIBIT = """
[venues.deribit]
adapter = "adapters.deribit.session:DeribitVenue"
[venues.deribit.params]
ws_url = "{url}"
client_id = "fake-id"
client_secret = "fake-secret"
instruments = ["BTC-PERPETUAL"]
channels = ["book"]
heartbeat_interval_s = 10
stale_after_s = 1.0
ping_interval_s = 1.0
ping_timeout_s = 1.0
ack_timeout_s = 0.5
backoff_base_s = 0.05
backoff_cap_s = 0.3
resubscribe_timeout_s = 1.0

[risk.instruments."deribit:BTC-PERPETUAL"]
max_order_qty = 1000.0
max_position_qty = 1e7
"""

OKX = """
[venues.okx]
adapter = "adapters.okx.session:OkxVenue"
[venues.okx.params]
public_url = "{public}"
private_url = "{private}"
rest_url = "{rest}"
api_key = "fake-key"
api_secret = "fake-secret"
passphrase = "fake-pass"
inst_ids = ["BTC-USD-SWAP"]
channels = ["books"]
heartbeat_interval_s = 0.2
stale_after_s = 0.6
private_stale_after_s = 0.6
ack_timeout_s = 0.5
backoff_base_s = 0.05
backoff_cap_s = 0.3
resubscribe_timeout_s = 1.0

[risk.instruments."okx:BTC-USD-SWAP"]
max_order_qty = 100.0
max_position_qty = 1e6
"""


DERIVE = """
[venues.derive]
adapter = "adapters.derive.session:DeriveVenue"
[venues.derive.params]
ws_url = "{url}"
wallet = "{wallet}"
subaccount_id = {subaccount}
instruments = ["ETH-PERP"]
channels = ["book"]
book_depth = 100
heartbeat_interval_s = 0.3
stale_after_s = 1.0
ping_interval_s = 1.0
ping_timeout_s = 1.0
ack_timeout_s = 0.5
backoff_base_s = 0.05
backoff_cap_s = 0.3
resubscribe_timeout_s = 1.0
matching_rate = 500.0
matching_burst = 1000.0
non_matching_rate = 500.0
"""


class Venue:
    """How the soak trades on one fake venue and reads its authoritative state back.

    Quantities are the venue's own units: BTC on Binance/Bybit (lot 0.001), USD amounts on
    Deribit's inverse perpetual (lot = ``min_trade_amount``, 10 USD), contracts on OKX
    (``ctVal`` 100 USD, lot 1); prices sit on each instrument's tick.
    """

    name = ""
    symbol = ""
    faults: tuple[str, ...] = ("disconnect", "stall", "refuse", "gap", "malformed", "lose_ack",
                               "drop_order", "slow_ack", "rate_limit")

    def __init__(self, fake: Any) -> None:
        self.fake = fake

    @property
    def iid(self) -> str:
        return f"{self.name}:{self.symbol}"

    @property
    def tick(self) -> float:
        """The instrument's tick, as the fake lists it."""
        raise NotImplementedError

    def quantity(self, rng: random.Random) -> float:
        raise NotImplementedError

    def price(self, side: Side, off: float) -> float:
        bids, asks = self.fake.book_levels(self.symbol)
        mid = (bids[0][0] + asks[0][0]) / 2 if bids and asks else (bids or asks)[0][0]
        px = mid - off if side is Side.BUY else mid + off
        return round(round(px / self.tick) * self.tick, 8)

    def fault(self, rng: random.Random, kind: str) -> None:
        fake = self.fake
        if kind == "disconnect":
            asyncio.get_running_loop().create_task(fake.ws.disconnect())
        elif kind == "stall":
            fake.ws.stall(rng.uniform(0.2, 1.2))
        elif kind == "refuse":
            fake.ws.reject_connections(rng.randint(1, 3), status=503)
            asyncio.get_running_loop().create_task(fake.ws.disconnect())
        elif kind == "gap":
            self.gap(rng)
        elif kind == "malformed":
            fake.malformed()
        elif kind == "malformed_replace":
            fake.malformed(replace=True)
        elif kind == "bad_checksum":
            fake.bad_checksum()
        elif kind == "lose_ack":
            fake.lose_acks(1)
        elif kind == "fail_ack":
            fake.fail_acks(1)
        elif kind == "drop_order":
            fake.drop_orders(1)
        elif kind == "slow_ack":
            fake.ack_delay_s = rng.choice([0.0, 0.2, 0.7])
        elif kind == "rate_limit":
            fake.rate_limit(1)
        else:
            raise AssertionError(kind)

    def gap(self, rng: random.Random) -> None:
        self.fake.gap()

    def maker_fill(self, rng: random.Random) -> None:
        """A counterparty trades against one of our resting orders (venues whose market
        never crosses resting orders by itself)."""

    def quiesce(self) -> None:
        fake = self.fake
        fake.ws._reject.clear()
        fake.ack_delay_s = 0.0
        fake._lose = fake._drop = fake._rate_limit = 0

    def synced(self, k: Any) -> bool:
        book = k.books.get(self.iid)
        return book is not None and book.is_live and \
            (book.depth_bids(10_000), book.depth_asks(10_000)) == self.fake.book_levels(self.symbol)

    def orders(self) -> dict[str, tuple[set[str], float, str, bool]]:
        """client order id -> (trade ids, filled, venue state, open) of every order placed."""
        raise NotImplementedError

    def position(self) -> float:
        raise NotImplementedError


class GridVenue(Venue):
    symbol = "BTCUSDT"
    faults = (*Venue.faults, "malformed_replace", "fail_ack")

    @property
    def tick(self) -> float:
        return float(self.fake.books[self.symbol].tick)  # 0.1

    def quantity(self, rng: random.Random) -> float:
        return rng.randint(1, 10) / 1000  # lot 0.001 BTC

    def gap(self, rng: random.Random) -> None:
        self.fake.gap(rng.randint(1, 3))

    def quiesce(self) -> None:
        super().quiesce()
        self.fake._fail = 0

    def synced(self, k: Any) -> bool:
        fake = self.fake
        seq = fake.last_u[self.symbol] if self.name == "binance" else fake.u[self.symbol]
        return k.books[self.iid].status is BookStatus.LIVE and k.books[self.iid].seq == seq

    def orders(self) -> dict[str, tuple[set[str], float, str, bool]]:
        return {coid: ({f.trade_id for f in vo.fills}, vo.filled, vo.status, vo.is_open)
                for coid, vo in self.fake.matcher.orders.items()}

    def position(self) -> float:
        return self.fake.matcher.positions[self.symbol]


class BinanceVenue(GridVenue):
    name = "binance"


class BybitVenue(GridVenue):
    name = "bybit"


class DeribitVenue(Venue):
    name = "deribit"
    symbol = "BTC-PERPETUAL"

    @property
    def tick(self) -> float:
        return float(self.fake.specs[self.symbol].tick)  # tick_size 0.5

    @property
    def lot(self) -> float:
        return float(self.fake.specs[self.symbol].min_amount)  # min_trade_amount 10 USD

    def quantity(self, rng: random.Random) -> float:
        return self.lot * rng.randint(1, 10)

    def maker_fill(self, rng: random.Random) -> None:
        open_ = self.fake.open_orders()
        if open_:
            o = rng.choice(open_)
            left = o["amount"] - o["filled_amount"]
            part = self.lot * rng.randint(1, max(1, round(left / self.lot)))
            self.fake.fill_resting(o["order_id"], min(part, left))

    def orders(self) -> dict[str, tuple[set[str], float, str, bool]]:
        out: dict[str, tuple[set[str], float, str, bool]] = {}
        for o in self.fake.orders.values():
            assert o["label"] not in out, f"deribit: label {o['label']} placed twice"
            tids = {t["trade_id"] for t in self.fake.trades if t["order_id"] == o["order_id"]}
            state = o["order_state"]
            out[o["label"]] = (tids, o["filled_amount"], state, state == "open")
        return out

    def position(self) -> float:
        return self.fake.positions.get(self.symbol, [0.0])[0]


class OkxVenue(Venue):
    name = "okx"
    symbol = "BTC-USD-SWAP"
    faults = (*Venue.faults, "bad_checksum")

    @property
    def tick(self) -> float:
        return float(self.fake.specs[self.symbol].row()["tickSz"])  # 0.1

    def quantity(self, rng: random.Random) -> float:
        row = self.fake.specs[self.symbol].row()  # sizes in contracts of ctVal (100 USD)
        return float(row["lotSz"]) * rng.randint(1, 10)

    def maker_fill(self, rng: random.Random) -> None:
        open_ = self.fake.open_orders()
        if open_:
            o = rng.choice(open_)
            left = int(float(o["sz"]) - float(o["accFillSz"]))
            self.fake.fill_resting(o["ordId"], rng.randint(1, left))

    def orders(self) -> dict[str, tuple[set[str], float, str, bool]]:
        from adapters.okx.private import cl_ord_id
        out: dict[str, tuple[set[str], float, str, bool]] = {}
        back = {}
        for o in self.fake.orders.values():
            coid = o["clOrdId"]
            assert coid not in back, f"okx: clOrdId {coid} placed twice"
            back[coid] = o
        for coid, o in back.items():
            tids = {f["tradeId"] for f in self.fake.fills if f["ordId"] == o["ordId"]}
            state = o["state"]
            out[coid] = (tids, float(o["accFillSz"]), "filled" if state == "filled" else state,
                         state in ("live", "partially_filled"))
        assert all(cl_ord_id(c) == c for c in out), "soak ids must be OKX clOrdIds as they are"
        return out

    def position(self) -> float:
        return self.fake.positions.get(self.symbol, [0.0])[0]


class DeriveVenue(Venue):
    """Derive: whole-book messages by ``publish_id`` (a gap loses nothing), signed orders."""

    name = "derive"
    symbol = "ETH-PERP"

    @property
    def tick(self) -> float:
        return float(self.fake.books[self.symbol].tick)  # 0.1 USDC

    def quantity(self, rng: random.Random) -> float:
        return rng.randint(1, 10) / 1000  # amount_step 0.001 ETH

    def gap(self, rng: random.Random) -> None:
        if rng.random() < 0.5:
            self.fake.gap(rng.randint(1, 3))  # missed whole books: the next one replaces them
        else:
            self.fake.stale(1)  # an old publish_id again: dropped by the codec

    def maker_fill(self, rng: random.Random) -> None:
        open_ = self.fake.open_orders()
        if open_:
            self.fake.fill_resting(rng.choice(open_).client_id)

    def synced(self, k: Any) -> bool:
        book = k.books.get(self.iid)
        return book is not None and book.is_live and book.seq == self.fake.publish_id

    def orders(self) -> dict[str, tuple[set[str], float, str, bool]]:
        out: dict[str, tuple[set[str], float, str, bool]] = {}
        for o in self.fake.matcher.by_id.values():
            label = self.fake.labels[o.order_id]
            assert label not in out, f"derive: label {label} placed twice"
            out[label] = ({f.trade_id for f in o.fills}, o.filled, o.status.partition(":")[0],
                          o.is_open)
        return out

    def position(self) -> float:
        return self.fake.matcher.positions[self.symbol]


async def _until(pred: Any, timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while not pred():
            await asyncio.sleep(0.01)


@pytest.mark.slow
async def test_soak_all_five_fakes_under_random_faults(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from adapters.deribit.fake import DeribitFake
    from adapters.derive.fake import FAKE_SESSION_KEY, DeriveFake
    from adapters.okx.fake import OkxFake
    monkeypatch.setenv("DERIVE_SESSION_KEY", FAKE_SESSION_KEY)  # the fake's public test key
    rng = random.Random(SOAK_SEED)
    life = SOAK_SECONDS + 120
    async with BinanceFake(("BTCUSDT",), seed=1, step_s=0.002, max_lifetime_s=life) as bn, \
            BybitFake(("BTCUSDT",), seed=2, step_s=0.002, max_lifetime_s=life) as bb, \
            DeribitFake(("BTC-PERPETUAL",), seed=3, step_s=0.002, max_lifetime_s=life) as dr, \
            OkxFake(("BTC-USD-SWAP",), seed=4, step_s=0.002, max_lifetime_s=life) as ok, \
            DeriveFake(("ETH-PERP",), seed=5, step_s=0.002, max_lifetime_s=life) as dv:
        venues = {v.name: v for v in (BinanceVenue(bn), BybitVenue(bb), DeribitVenue(dr),
                                      OkxVenue(ok), DeriveVenue(dv))}
        extra = DERIBIT.format(url=dr.url) + OKX.format(public=ok.public_url,
                                                        private=ok.private_url, rest=ok.rest_url)
        extra += DERIVE.format(url=dv.url, wallet=dv.wallet, subaccount=dv.subaccount_id)
        await _run_soak(tmp_path, rng, venues, extra)


async def _run_soak(tmp_path: Path, rng: random.Random, venues: dict[str, Venue],
                    extra: str) -> None:
        bn, bb = venues["binance"].fake, venues["bybit"].fake
        text = CONFIG.format(journal=tmp_path / "soak.sqlite", bn_ws=bn.ws_url, bn_rest=bn.rest_url,
                             bb_ws=bb.ws_url, bb_rest=bb.rest_url, extra=extra)
        node = build_node(load_config_text(text), LiveClock(), tmp_path / "soak.sqlite")
        await node.start()
        k = node.kernel
        faults: dict[str, int] = {}
        n = 0
        try:
            end = time.monotonic() + SOAK_SECONDS
            next_fault = time.monotonic() + 0.5
            while time.monotonic() < end:
                await asyncio.sleep(0.02)
                v = venues[rng.choice(list(venues))]
                r = rng.random()
                if r < 0.6:
                    n += 1
                    side = rng.choice([Side.BUY, Side.SELL])
                    off = rng.uniform(-3.0, 8.0)  # mostly resting, sometimes marketable
                    k.router.submit(SubmitOrder(client_order_id=f"soak{n}", strategy_id="soak",
                                                instrument_id=v.iid, side=side,
                                                quantity=v.quantity(rng), price=v.price(side, off)))
                elif r < 0.65:
                    v.maker_fill(rng)
                elif k.orders.open_orders():
                    k.router.cancel(rng.choice(k.orders.open_orders()))
                if time.monotonic() >= next_fault:
                    kind = rng.choice(v.faults)
                    v.fault(rng, kind)
                    key = f"{v.name}:{kind}"
                    faults[key] = faults.get(key, 0) + 1
                    next_fault = time.monotonic() + rng.uniform(0.3, 1.5)
            # -- quiesce: faults off, every open order cancelled, everything settled ------------
            for v in venues.values():
                v.quiesce()
            await asyncio.sleep(2.0)
            await _until(lambda: not k.gate.hold_reasons or set(k.gate.hold_reasons) <= {"loss"}, 30)
            for _ in range(3):
                k.router.cancel_all()
                await asyncio.sleep(1.5)
            await _until(lambda: not k.orders.open_orders(), 30)
            for v in venues.values():
                v.fake.paused = True
            for v in venues.values():
                await _until(lambda v=v: v.synced(k), 15)
            _check_invariants(k, venues)
        finally:
            await node.stop()
        assert sum(faults.values()) >= SOAK_SECONDS / 2, faults
        for name in venues:
            assert sum(c for f, c in faults.items() if f.startswith(f"{name}:")) > 0, (name, faults)
        assert n > 100


def _check_invariants(k: Any, venues: dict[str, Venue]) -> None:
    for name, v in venues.items():
        iid = v.iid
        bids, asks = v.fake.book_levels(v.symbol)
        assert k.books[iid].depth_bids(10_000) == bids, f"{name} bids differ"
        assert k.books[iid].depth_asks(10_000) == asks, f"{name} asks differ"
        venue_orders = v.orders()
        fills = 0
        for coid, (trade_ids, filled, state, is_open) in venue_orders.items():
            mine = k.orders.get(coid)
            assert mine is not None, f"{name}: order {coid} at the venue is unknown to the engine"
            assert mine.instrument_id == iid, (name, coid, mine.instrument_id)
            assert mine.trade_ids == trade_ids, (name, coid, "fills differ", mine.status,
                                                 mine.reject_reason, state)
            assert mine.filled == pytest.approx(filled, abs=1e-9), (name, coid)
            assert not is_open, f"{name}: {coid} still open at the venue"
            if state == "filled":
                assert mine.status is OrderStatus.FILLED, (name, coid, mine.status)
            else:
                assert mine.status in (OrderStatus.CANCELLED, OrderStatus.EXPIRED), \
                    (name, coid, mine.status, mine.reject_reason, state, filled)
            fills += len(trade_ids)
        for order in k.orders:
            if order.instrument_id == iid and order.client_order_id not in venue_orders:
                # Never at the venue: denied, rejected (never sent / never placed), or cancelled
                # by reconciliation while its request was held back; never open, never filled.
                assert order.status in (OrderStatus.DENIED, OrderStatus.REJECTED,
                                        OrderStatus.CANCELLED), \
                    f"{order.client_order_id} never reached {name} but is {order.status}"
                assert order.filled == 0.0 and not order.trade_ids, order.client_order_id
        pos = k.portfolio.position(iid)
        assert (pos.qty if pos else 0.0) == pytest.approx(v.position(), abs=1e-9), name
        assert fills > 0, f"no fills on {name}: the soak exercised nothing"


@pytest.mark.parametrize("venue", ["binance", "bybit", "deribit", "okx", "derive"])
def test_soak_trades_on_every_venue_fake(venue: str) -> None:
    venues = {c.name: c for c in (BinanceVenue, BybitVenue, DeribitVenue, OkxVenue, DeriveVenue)}
    assert venue in venues  # the soak sends random orders and order-path faults to each
    assert {"lose_ack", "drop_order", "slow_ack", "rate_limit"} <= set(venues[venue].faults)
