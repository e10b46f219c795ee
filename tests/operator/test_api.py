"""The operator JSON API, stream and control against a running paper node on 127.0.0.1."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import aiohttp
import pytest

from engine.config import ConfigError, load_config_text
from engine.journal import Journal
from engine.logging import configure_logging
from engine.operator import operator_settings
from tests.operator.conftest import TOKEN, paper_config_text, running_node


async def test_views_follow_the_running_node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with running_node(tmp_path, monkeypatch=monkeypatch) as r:
        k = r.node.kernel
        await r.wait_for(lambda: k.counters.get("fills", 0) >= 2, 20, "two fills")
        await r.wait_for(lambda: any(c.surface is not None for c in k.chains.values()), 10, "a fitted chain")
        state = await r.get("api/state")
        assert state["state"] == "active" and state["kill_level"] == 0 and state["mode"] == "paper"
        snap = await r.get("api/snapshot")  # one consistent cut of the node's state
        perp = next(p for p in snap["positions"] if p["instrument_id"] == "sim:BTC-PERP")
        # first principles: the position is the signed sum of the fills the API lists
        fills = snap["fills"]
        signed = sum(f["quantity"] * (1 if f["side"] == "buy" else -1) for f in fills
                     if f["instrument_id"] == "sim:BTC-PERP")
        assert perp["qty"] == pytest.approx(signed, abs=1e-12)
        fees = sum(f["fee"] for f in fills)
        assert perp["fees"] == pytest.approx(fees, rel=1e-9)
        # linear USD perp: unrealized = qty x (mark - average price)
        if perp["qty"]:
            assert perp["unrealized"] == pytest.approx(perp["qty"] * (perp["mark"] - perp["avg_price"]), abs=1e-9)
        else:  # flat: no entry price, nothing unrealized
            assert perp["avg_price"] is None and perp["unrealized"] == 0.0
        greeks = snap["greeks"]
        assert greeks["BTC"]["delta"] == pytest.approx(perp["qty"], abs=1e-12)  # contract size 1 BTC
        assert greeks["BTC"]["limits"]["delta"]["limit"] == 0.5
        assert greeks["BTC"]["limits"]["delta"]["used_pct"] == pytest.approx(
            round(100 * abs(perp["qty"]) / 0.5, 1))
        orders = await r.get("api/orders")
        assert {o["status"] for o in orders["open"]} <= {"submitted", "accepted", "partially_filled",
                                                         "pending_cancel", "pending_amend"}
        assert orders["recent"], "recent orders include the filled ones"
        surface = await r.get("api/surface")
        chain = surface["sim:BTC"]
        e0 = chain["expiries"][0]
        assert e0["svi"] is not None and e0["fit_rmse_vol_pts"] is not None
        assert all(e["svi"] is not None for e in chain["expiries"])  # every live expiry has its slice
        n = len(e0["strike"])
        assert n > 4 and all(len(e0[key]) == n for key in ("bid_iv", "ask_iv", "mid_iv", "model_iv"))
        for b, a, m in zip(e0["bid_iv"], e0["ask_iv"], e0["mid_iv"]):
            if None not in (b, a, m):
                assert b <= m + 1e-6 <= a + 2e-6  # vol points: bid <= mid <= ask
        assert 5.0 < e0["atm_vol_pts"] < 300.0  # vol points, not fractions
        books = await r.get("api/books?top=3&instrument=sim:BTC-PERP")
        book = books["sim:BTC-PERP"]
        assert book["status"] == "live" and len(book["bids"]) <= 3
        assert book["bids"][0][0] < book["asks"][0][0]
        venues = await r.get("api/venues")
        assert venues["sim"]["books"]["live"] == venues["sim"]["instruments"]
        risk = await r.get("api/risk")
        by_name = {row["limit"]: row for row in risk["limits"]}
        assert by_name["open_orders"]["max"] == 50
        assert by_name["open_orders"]["used_pct"] == pytest.approx(100 * by_name["open_orders"]["used"] / 50, abs=0.1)
        strategies = await r.get("api/strategies")
        assert strategies["mm-1"]["state"] == "running"
        assert strategies["mm-1"]["callbacks"]["calls"] > 0
        async with r.session.get(r.url + "api/books?top=x") as resp:
            assert resp.status == 400 and "top" in (await resp.json())["error"]
        # a typo in the instrument is a 404 naming it, not an empty answer that looks like no book
        async with r.session.get(r.url + "api/books?instrument=BTC-PERP") as resp:
            assert resp.status == 404
            assert (await resp.json())["error"] == "no book 'BTC-PERP' (ids are venue:symbol, e.g. sim:BTC-PERP)"
        async with r.session.get(r.url + "api/nothing") as resp:
            assert resp.status == 404


async def test_control_needs_the_token_and_is_journaled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    logs = io.StringIO()
    configure_logging("info", "json", logs)
    async with running_node(tmp_path, monkeypatch=monkeypatch) as r:
        k = r.node.kernel
        status, body = await r.post("api/control/kill", {"level": 1}, token=None)
        assert status == 401 and k.killswitch.level == 0
        async with r.session.post(r.url + "api/control/kill", json={"level": 1}) as resp:
            assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        status, body = await r.post("api/control/kill", {"level": 1}, token="not-the-token-at-all")
        assert status == 403 and k.killswitch.level == 0
        status, body = await r.post("api/control/kill", {"level": 7})
        assert status == 400 and "level" in body["error"]
        for bad in (1.9, 2.5, True, "3.0", None):  # not a level: refused, not truncated to one
            status, body = await r.post("api/control/kill", {"level": bad})
            assert (status, k.killswitch.level) == (400, 0), bad
        status, body = await r.post("api/control/kill", {"level": 1, "reason": "drill"})
        assert status == 200 and body["kill_level"] == 1 and body["state"] == "halted"
        assert (await r.get("api/state"))["state"] == "halted"
        status, body = await r.post("api/control/clear", {})
        assert status == 200 and body["kill_level"] == 0 and body["state"] == "active"
        # cancel one order, then all
        await r.wait_for(lambda: len(k.orders.open_orders()) >= 1, 10, "an open order")
        coid = k.orders.open_orders()[0].client_order_id
        status, body = await r.post("api/control/cancel", {"client_order_id": coid})
        assert status == 200 and body["cancel_sent"] is True
        status, body = await r.post("api/control/cancel", {"client_order_id": "nope"})
        assert status == 404
        status, body = await r.post("api/control/disable_strategy", {"strategy_id": "mm-1"})
        assert status == 200 and "mm-1" in body["disabled_strategies"]
        await r.wait_for(lambda: not k.orders.open_orders(strategy_id="mm-1"), 5, "mm-1 cancelled")
        await asyncio.sleep(0.5)
        assert not [o for o in k.orders.open_orders(strategy_id="mm-1")], "a disabled strategy sends nothing"
        assert (await r.get("api/strategies"))["mm-1"]["state"] == "disabled"
        status, body = await r.post("api/control/enable_strategy", {"strategy_id": "mm-1"})
        assert status == 200 and body["enabled"] is True
        status, body = await r.post("api/control/enable_strategy", {"strategy_id": "mm-1"})
        assert status == 409
        status, body = await r.post("api/control/cancel_all", {})
        assert status == 200 and body["cancels_sent"] >= 0
        # a typo in the filter is refused, not an 'ok, 0 cancels sent' that looks done
        status, body = await r.post("api/control/cancel_all", {"instrument_id": "BTC-PERP"})
        assert status == 404 and body["error"].startswith("no instrument 'BTC-PERP'"), body
        status, body = await r.post("api/control/cancel_all", {"strategy_id": "mm-2"})
        assert status == 404 and body["error"] == "no strategy 'mm-2' (running: mm-1)", body
        status, body = await r.post("api/control/reboot", {})
        assert status == 404
        async with r.session.post(r.url + "api/control/kill", data=b"[1",
                                  headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
            assert resp.status == 400
        actions = await r.get("api/actions")
        assert [a["action"] for a in actions][:3] == ["cancel_all", "enable_strategy", "disable_strategy"]
        # every response of every view: no token anywhere
        for name in ("state", "positions", "orders", "fills", "greeks", "surface", "venues", "risk",
                     "strategies", "alerts", "pnl", "actions", "snapshot"):
            async with r.session.get(r.url + "api/" + name) as resp:
                assert TOKEN not in await resp.text()
        async with r.session.get(r.url + "metrics") as resp:
            assert TOKEN not in await resp.text()
        journal = r.node.journal_path
    j = Journal(journal)
    recs = [(ts, obj) for _s, ts, _d, t, obj in j.records() if t == "OperatorAction"]
    j.close()
    names = [obj["action"] for _ts, obj in recs]
    assert names == ["kill", "clear", "cancel", "disable_strategy", "enable_strategy", "cancel_all"]
    assert all(ts > 0 and obj["origin"].startswith("127.0.0.1") for ts, obj in recs)
    assert all(TOKEN not in json.dumps(obj) for _ts, obj in recs)
    text = logs.getvalue()
    assert "operator_action" in text and TOKEN not in text


async def test_stream_carries_orders_fills_state_and_ticks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with running_node(tmp_path, monkeypatch=monkeypatch) as r:
        seen: dict[str, list[dict]] = {}
        async with r.session.get(r.url + "api/stream") as resp:
            assert resp.headers["Content-Type"].startswith("text/event-stream")

            async def read() -> None:
                event = ""
                async for raw in resp.content:
                    line = raw.decode().rstrip("\n")
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: "):
                        seen.setdefault(event, []).append(json.loads(line[6:]))
                    if ({"order", "tick", "surface", "action"} <= set(seen)
                            and any(m.get("event") == "OrderFilled" for m in seen["order"])
                            and any(m["state"] == "halted" for m in seen.get("state", []))):
                        return

            reader = asyncio.get_running_loop().create_task(read())
            await asyncio.sleep(1.5)
            status, _ = await r.post("api/control/kill", {"level": 1})
            assert status == 200
            await asyncio.wait_for(reader, 20)
        assert any(m["state"] == "halted" for m in seen.get("state", []))
        tick = seen["tick"][-1]
        assert {"pnl", "state", "positions", "greeks", "venues", "strategies", "orders"} <= set(tick)
        await r.wait_for(lambda: not r.op.tape.clients, 5, "the closed stream to be forgotten")


async def test_host_header_and_config_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VOLTA_OPERATOR_TOKEN", raising=False)
    cfg = load_config_text(paper_config_text(tmp_path / "j.sqlite", 'host = "0.0.0.0"\n'))
    with pytest.raises(ConfigError, match=r"operator.host: binding 0.0.0.0 \(not loopback\) needs a control token"):
        operator_settings(cfg, env={})
    s = operator_settings(cfg, env={"VOLTA_OPERATOR_TOKEN": TOKEN})
    assert s is not None and s.token == TOKEN and not s.loopback
    with pytest.raises(ConfigError, match="too short"):
        operator_settings(cfg, env={"VOLTA_OPERATOR_TOKEN": "abc"})
    # paper without a token: one is generated; live: off by default, control disabled when on
    paper = load_config_text(paper_config_text(tmp_path / "j.sqlite"))
    gen = operator_settings(paper, env={})
    assert gen is not None and gen.token_generated and len(gen.token) >= 24
    live_text = paper_config_text(tmp_path / "j.sqlite").replace('mode = "paper"', 'mode = "live"')
    assert operator_settings(load_config_text(live_text), env={}) is None
    live_on = load_config_text(live_text + "enabled = true\n")
    s = operator_settings(live_on, env={})
    assert s is not None and s.token == "" and s.check("anything") == 503
    async with running_node(tmp_path, token=None, monkeypatch=monkeypatch) as r:
        async with r.session.get(r.url + "api/state", headers={"Host": "evil.example:80"}) as resp:
            assert resp.status == 421
        async with r.session.get(r.url) as resp:
            assert resp.status == 200 and "default-src 'self'" in resp.headers["Content-Security-Policy"]
        # the generated token is in a 0600 file next to the journal, for a local `volta kill`
        tok = Path(f"{r.node.journal_path}.operator-token")
        assert tok.stat().st_mode & 0o777 == 0o600
        disc = json.loads(Path(f"{r.node.journal_path}.operator.json").read_text())
        assert disc["url"] == r.url and "token" not in disc
    assert not tok.exists()


async def test_non_loopback_bind_needs_the_token_for_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with running_node(tmp_path, extra='host = "0.0.0.0"\n', monkeypatch=monkeypatch) as r:
        base = f"http://127.0.0.1:{r.op.port}/"
        # unsafe: keep cookies of an IP-address host, as a browser does
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
            async with s.get(base + "api/state") as resp:
                assert resp.status == 401
            async with s.get(base + "metrics", headers={"Authorization": "Bearer wrong-token-xxxxxxxx"}) as resp:
                assert resp.status == 403
            async with s.get(base + "api/state", headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
                assert resp.status == 200
            async with s.get(base) as resp:  # the page itself loads; it asks for the token
                assert resp.status == 200
            async with s.post(base + "api/session", headers={"Authorization": "Bearer wrong-token-xxxxxxxx"}) as resp:
                assert resp.status == 403 and "volta_session" not in resp.cookies
            async with s.post(base + "api/session", headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
                assert resp.status == 200
                cookie = resp.cookies["volta_session"]
                assert cookie["httponly"] and cookie["samesite"] == "Strict" and TOKEN not in cookie.value
            # the browser session reads (the stream too) but cannot act: control needs the token
            async with s.get(base + "api/state") as resp:
                assert resp.status == 200
            async with s.get(base + "api/stream") as resp:
                assert resp.status == 200
                assert (await resp.content.readline()).startswith(b"retry:")
            async with s.post(base + "api/control/kill", json={"level": 1}) as resp:
                assert resp.status == 401
            assert r.node.kernel.killswitch.level == 0



def test_surface_view_matches_slices_and_arbitrage_flags_to_their_expiry() -> None:
    from types import SimpleNamespace

    import numpy as np

    from engine.model import NS_PER_YEAR
    from engine.operator.views import surface_view
    from engine.pricing import SviParams, VolSurface
    from engine.pricing.surface import ArbitrageReport, ButterflyViolation

    refit = 1_767_225_600 * 10**9
    exp_ns = np.array([refit + 7 * 86_400 * 10**9, refit + 30 * 86_400 * 10**9], dtype=np.int64)
    T = (exp_ns - refit) / NS_PER_YEAR
    p1, p2 = SviParams(0.001, 0.01, -0.3, 0.0, 0.1), SviParams(0.004, 0.02, -0.2, 0.0, 0.2)
    surf = VolSurface(T, [60000.0, 60100.0], [p1, p2])
    arb = ArbitrageReport(butterfly=[ButterflyViolation(expiry=float(T[1]), k=np.array([0.1]), worst_k=0.1,
                                                        min_g=-0.01)])
    n = 4
    nan = np.full(n, np.nan)
    chain = SimpleNamespace(surface=surf, arbitrage=arb, expiries_ns=exp_ns, expiry_start=np.array([0, 2, 4]),
                            forward=np.array([60000.0, 60000.0, 60100.0, 60100.0]),
                            strike=np.array([59000.0, 61000.0, 59000.0, 61000.0]),
                            is_call=np.array([False, True, False, True]), bid_iv=nan, ask_iv=nan, mid_iv=nan,
                            venue_mark_iv=nan, model_vol=nan, rmse_vol=np.array([0.1, np.nan]),
                            refreshes=3, last_refresh_ns=refit, underlying="BTC")
    # a minute after the refit: the slices are still found by the fit's own times to expiry
    k = SimpleNamespace(chains={"sim:BTC": chain}, clock=SimpleNamespace(now_ns=lambda: refit + 60 * 10**9))
    view = surface_view(k)["sim:BTC"]
    e1, e2 = view["expiries"]
    assert e1["svi"]["a"] == 0.001 and e2["svi"]["sigma"] == 0.2
    assert e1["arbitrage"]["butterfly"] == 0 and e2["arbitrage"]["butterfly"] == 1
    assert view["arbitrage"] == {"butterfly": 1, "calendar": 0}
    # ATM vol from the SVI slice at k = 0: sqrt(w(0) / T), in vol points
    w0 = p1.a + p1.b * (p1.rho * -p1.m + (p1.m ** 2 + p1.sigma ** 2) ** 0.5)
    assert e1["atm_vol_pts"] == pytest.approx(100 * (w0 / float(T[0])) ** 0.5, abs=1e-3)
    assert e1["fit_rmse_vol_pts"] == 0.1 and e2["fit_rmse_vol_pts"] is None  # unknown, not 0
    assert e1["bid_iv"] == [None, None]


def test_greeks_view_names_positions_left_out_of_the_totals() -> None:
    """An option without Greeks yet (no fit, no venue summary) adds nothing to the portfolio's
    totals: the view must say which positions the figures leave out, never show them as 0."""
    from engine.model import Liquidity, OrderFilled, Side
    from engine.operator.views import greeks_view
    from engine.risk import RiskLimits, UnderlyingLimits
    from tests.engine.conftest import CALL, PERP, make_kernel

    k, _venue = make_kernel(RiskLimits(underlyings={"BTC": UnderlyingLimits(2.0, 0.01, 500.0, 100.0)}))
    pf = k.portfolio
    pf.set_underlying_price("BTC", 60000.0)
    for iid, side, qty, tid in ((PERP.id, Side.SELL, 0.3, "t1"), (CALL.id, Side.BUY, 2.0, "t2")):
        pf.on_fill(OrderFilled(client_order_id=tid, venue_order_id="v", instrument_id=iid, trade_id=tid,
                               side=side, price=1500.0, quantity=qty, remaining=0.0,
                               liquidity=Liquidity.MAKER, fee=0.0, fee_currency="USD", ts_event=0, ts_recv=0))
    g = greeks_view(k)["BTC"]
    assert g["delta"] == pytest.approx(-0.3)  # the perpetual only
    assert g["unpriced_positions"] == [CALL.id]
    pf.set_greeks(CALL.id, 0.5, 2e-5, 60.0, -30.0, raw=False)
    g = greeks_view(k)["BTC"]
    assert g["unpriced_positions"] == [] and g["delta"] == pytest.approx(0.7)


def test_greeks_view_by_expiry_and_strike_from_first_principles() -> None:
    from engine.model import Liquidity, OrderFilled, Side
    from engine.operator.views import greeks_view, risk_view
    from engine.risk import RiskLimits, UnderlyingLimits
    from tests.engine.conftest import CALL, PERP, make_kernel

    k, _venue = make_kernel(RiskLimits(underlyings={"BTC": UnderlyingLimits(2.0, 0.01, 500.0, 100.0)}))
    pf = k.portfolio

    def fill(iid: str, side: Side, qty: float, price: float, tid: str) -> None:
        pf.on_fill(OrderFilled(client_order_id=tid, venue_order_id="v", instrument_id=iid, trade_id=tid,
                               side=side, price=price, quantity=qty, remaining=0.0, liquidity=Liquidity.MAKER,
                               fee=0.0, fee_currency="USD", ts_event=0, ts_recv=0))

    pf.set_underlying_price("BTC", 60000.0)
    fill(PERP.id, Side.SELL, 0.3, 60000.0, "t1")
    fill(CALL.id, Side.BUY, 2.0, 1500.0, "t2")
    # per contract (contract size 1 BTC): delta 0.5, gamma 2e-5 /USD, vega 60 USD/vol pt, theta -30 USD/day
    pf.set_greeks(CALL.id, 0.5, 2e-5, 60.0, -30.0, raw=False)
    g = greeks_view(k)["BTC"]
    assert g["delta"] == pytest.approx(2.0 * 0.5 - 0.3)
    assert g["delta_usd"] == pytest.approx((2.0 * 0.5 - 0.3) * 60000.0)
    assert g["vega_usd"] == pytest.approx(120.0) and g["theta_usd_day"] == pytest.approx(-60.0)
    assert g["limits"]["vega_usd"]["used_pct"] == pytest.approx(100 * 120.0 / 500.0)
    assert g["by_expiry"]["perpetual"]["delta"] == pytest.approx(-0.3)
    (strike_row,) = g["by_strike"]
    assert strike_row["strike"] == 60000.0 and strike_row["qty"] == 2.0
    assert strike_row["gamma"] == pytest.approx(4e-5) and strike_row["vega_usd"] == pytest.approx(120.0)
    (opt_expiry,) = [e for e in g["by_expiry"] if e != "perpetual"]
    assert g["by_expiry"][opt_expiry]["delta"] == pytest.approx(1.0)
    rows = {r["limit"]: r for r in risk_view(k)["limits"]}
    assert rows["BTC.vega"]["used"] == pytest.approx(120.0)
    per_expiry = [r for name, r in rows.items() if name.startswith("BTC.vega[")]
    assert per_expiry and per_expiry[0]["used_pct"] == pytest.approx(100 * 120.0 / 100.0)


async def test_a_taken_port_falls_back_for_paper_and_is_a_config_error_live(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from engine.operator import make_operator
    from tests.engine.conftest import make_kernel

    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    port = blocker.getsockname()[1]
    try:
        monkeypatch.setenv("VOLTA_OPERATOR_TOKEN", TOKEN)
        text = paper_config_text(tmp_path / "j.sqlite").replace("port = 0", f"port = {port}")
        k, _ = make_kernel()
        op = make_operator(k, load_config_text(text))
        assert op is not None
        url = await op.start()
        assert op.port != port and url == f"http://127.0.0.1:{op.port}/"
        await op.stop()
        live = text.replace('mode = "paper"', 'mode = "live"') + "enabled = true\n"
        op = make_operator(k, load_config_text(live))
        assert op is not None
        with pytest.raises(ConfigError, match=rf"operator.port: cannot listen on 127.0.0.1:{port}: "):
            await op.start()
        # an address this machine does not have (or a typo) is no taken port: no fallback,
        # the host is named (a paper daemon too)
        for host in ("192.0.2.1", "no-such-host.invalid"):
            odd = text.replace(f"port = {port}", f'port = {port}\nhost = "{host}"')
            op = make_operator(k, load_config_text(odd))
            assert op is not None
            with pytest.raises(ConfigError, match=rf"operator.host: cannot listen on {host}:{port}: "):
                await op.start()
    finally:
        blocker.close()


def test_greeks_view_and_volta_status_name_a_position_without_a_delta() -> None:
    from engine.model import Liquidity, OrderFilled, Side
    from engine.operator import views
    from engine.operator.client import render_status
    from tests.engine.conftest import CALL, PERP, make_kernel

    k, _venue = make_kernel()
    pf = k.portfolio
    for iid, qty, price, tid in ((PERP.id, 0.3, 60000.0, "t1"), (CALL.id, 2.0, 1500.0, "t2")):
        pf.on_fill(OrderFilled(client_order_id=tid, venue_order_id="v", instrument_id=iid, trade_id=tid,
                               side=Side.BUY, price=price, quantity=qty, remaining=0.0,
                               liquidity=Liquidity.MAKER, fee=0.0, fee_currency="USD", ts_event=0, ts_recv=0))
    g = views.greeks_view(k)["BTC"]  # the call has no Greeks yet: left out, and named
    assert g["delta"] == pytest.approx(0.3) and g["delta_incomplete"] == [CALL.id] == g["vega_incomplete"]
    snap = {"state": views.state_view(k), "positions": views.positions_view(k), "orders": {"open": []},
            "risk": views.risk_view(k), "surface": {}, "venues": {}, "strategies": {},
            "greeks": views.greeks_view(k)}
    assert f"BTC delta 0.3000 BTC leaves out 1 position(s) without a delta: {CALL.id}" in render_status(snap)
    pf.set_greeks(CALL.id, 0.5, 2e-5, 60.0, -30.0, raw=False)  # 0.3 + 2 x 0.5
    g = views.greeks_view(k)["BTC"]
    assert g["delta"] == pytest.approx(1.3) and not any(key.endswith("_incomplete") for key in g)
    snap["greeks"] = views.greeks_view(k)
    assert "without a delta" not in render_status(snap)
