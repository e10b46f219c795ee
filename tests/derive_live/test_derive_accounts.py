"""Live accounts from Derive (issue 12, point 11, live half): ``private/get_subaccount``'s
collateral and margin (signed headroom, turned into requirements) as one USDC account, read
at login and on every ``balances`` push; a live node on the fake whose subaccount holds little
collateral has its perpetual order denied INSUFFICIENT_MARGIN. The expected margin is written
here from the documented linear rule (notional / 20)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from adapters.derive import private as pv
from adapters.derive.fake import FAKE_SESSION_KEY, FAKE_SUBACCOUNT, FAKE_WALLET, DeriveFake
from engine.model import OrderStatus, Side, VenueProtocolError
from tests.live_accounts import assert_first_read, assert_margin_denied, until_account
from tests.live_accounts import live_config, live_node, submit, until_status

PERP = "ETH-PERP"
IID = f"derive:{PERP}"


def test_subaccount_headroom_becomes_requirements() -> None:
    m = pv.parse_subaccount({"margin_type": "SM", "subaccount_value": "10500.5",
                             "collaterals_value": "10000", "initial_margin": "8000.5",
                             "maintenance_margin": "9500.25", "is_under_liquidation": False})
    ev = pv.account_report(m, "derive", "private/get_subaccount", 5)
    assert (ev.currency, ev.balance, ev.equity, ev.unrealized_pnl) == ("USDC", 10000.0, 10500.5, 500.5)
    assert (ev.initial_margin, ev.maintenance_margin) == (2500.0, 1000.25)  # value - headroom
    assert ev.equity - ev.initial_margin == 8000.5  # Derive's own headroom is what is available


@pytest.mark.parametrize("d", [{}, {"subaccount_value": "1", "collaterals_value": "1",
                                    "initial_margin": "x", "maintenance_margin": "1"}])
def test_missing_or_malformed_subaccount_figures_are_protocol_errors(d: dict[str, str]) -> None:
    with pytest.raises(VenueProtocolError, match="derive: "):
        pv.account_report(pv.parse_subaccount(d), "derive", "private/get_subaccount", 0)


async def test_small_collateral_denies_the_order_then_a_fill_re_reads_the_subaccount(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DERIVE_SESSION_KEY", FAKE_SESSION_KEY)
    async with DeriveFake((PERP,), seed=4, step_s=0.02) as fake:
        fake.account.deposit = 100.0
        cfg = live_config("derive", "adapters.derive.session:DeriveVenue", f"""
ws_url = "{fake.url}"
wallet = "{FAKE_WALLET}"
subaccount_id = {FAKE_SUBACCOUNT}
signer_env = "DERIVE_SESSION_KEY"
instruments = ["{PERP}"]
channels = ["book", "trades", "ticker"]""")
        async with live_node(tmp_path, cfg, IID) as node:
            assert_first_read(node, "derive", "USD", "private/get_subaccount", 100.0)
            book = fake.books[PERP]
            price = round((book.best_ask() + 20) * book.tick, 1)
            assert_margin_denied(node, IID, "big-1", Side.BUY, 1.0, price,  # ~3,000 USDC: 150 IM
                                 margin=price / 20.0, limit=100.0)
            assert not fake.matcher.orders
            assert submit(node, IID, "take-1", Side.BUY, 0.1, price) is None  # 15 USDC fits
            await until_status(node, "take-1", OrderStatus.FILLED)
            fee = sum(f.fee for f in fake.matcher.orders["take-1"].fills)
            # balances push -> private/get_subaccount again
            acc = await until_account(node, "derive", "USD", lambda a: math.isclose(
                a["balance"], 100.0 - fee, abs_tol=1e-6))
            # the fake's 10 % IM on the position, as a requirement (Derive sends the headroom)
            assert acc["initial_margin"] == pytest.approx(0.1 * fake.matcher.entry[PERP] / 10.0, rel=0.01)
