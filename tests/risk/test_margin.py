"""Accounts and margin in paper trading: balances, equity, IM/MM and the gate's margin denials
(issue 12, point 11). Expected margins are written here from the documented rules."""

from __future__ import annotations

import pytest

from engine.accounts import AccountBook, AccountSpec, account_book
from engine.clock import VirtualClock
from engine.config import ConfigError, load_config_text
from engine.kernel import Kernel
from engine.margin import LinearTerms, position_margin
from engine.model import (
    BookSnapshot,
    Instrument,
    InstrumentKind,
    OptionType,
    Side,
)
from engine.risk import Reason, RiskLimits
from tests.risk.venues import add_venue, submit

NOW = 1_700_000_000 * 10**9
PUT = Instrument(venue="deribit", symbol="BTC-X-28000-P", kind=InstrumentKind.OPTION, base="BTC",
                 quote="USD", settle="BTC", inverse=True, premium_in_coin=True, tick_size=0.0005,
                 lot_size=0.1, min_size=0.1, underlying="BTC", strike=28_000.0,
                 option_type=OptionType.PUT, expiry_ns=NOW + 30 * 86_400 * 10**9)
PERP = Instrument(venue="deribit", symbol="BTC-PERPETUAL", kind=InstrumentKind.PERPETUAL, base="BTC",
                  quote="USD", settle="BTC", inverse=True, contract_size=1.0, tick_size=0.5,
                  lot_size=10.0, underlying="BTC")
USDM = Instrument(venue="binance-usdm", symbol="BTCUSDT", kind=InstrumentKind.PERPETUAL, base="BTC",
                  quote="USDT", settle="USDT", tick_size=0.1, lot_size=0.001, underlying="BTC")
F = 30_000.0


def test_documented_margin_rules_by_hand() -> None:
    # short 2 puts 2,000 USD out of the money, mark 0.02 BTC
    im, mm = position_margin(PUT, -2.0, 0.02, F, LinearTerms())
    mm1 = max(0.075, 0.075 * 0.02) + 0.02
    assert mm == pytest.approx(2 * mm1)
    assert im == pytest.approx(2 * max(max(0.15 - 2_000 / F, 0.1) + 0.02, mm1))
    assert position_margin(PUT, +2.0, 0.02, F, LinearTerms()) == (0.0, 0.0)
    # Deribit inverse perpetual: 30,000 USD at 30,000 = 1 BTC; 2 % + 0.005 % per BTC
    im, mm = position_margin(PERP, -30_000, F, F, LinearTerms())
    assert im == pytest.approx(1.0 * (0.02 + 0.00005)) and mm == pytest.approx(1.0 * (0.01 + 0.00005))
    # USD-M linear at 20x, 0.4 % maintenance
    im, mm = position_margin(USDM, 0.5, F, F, LinearTerms(20.0, 0.004))
    assert im == pytest.approx(0.5 * F / 20) and mm == pytest.approx(0.5 * F * 0.004)


def _kernel(buffer: float | None = None) -> Kernel:
    k = Kernel(VirtualClock(NOW), RiskLimits(max_order_qty=1e6, max_position_qty=1e6,
                                             max_order_notional_usd=1e9))
    for name, insts in (("deribit", [PUT, PERP]), ("binance-usdm", [USDM])):
        add_venue(k, name, insts)
    k.bus.publish(BookSnapshot(PUT.id, ((0.019, 10.0),), ((0.021, 10.0),), 1, 0, 0))
    k.bus.publish(BookSnapshot(PERP.id, ((29_999.5, 1e6),), ((30_000.5, 1e6),), 1, 0, 0))
    k.bus.publish(BookSnapshot(USDM.id, ((29_999.9, 10.0),), ((30_000.1, 10.0),), 1, 0, 0))
    k.portfolio.set_underlying_price("BTC", F)
    k.gate.accounts = AccountBook(k.portfolio, {
        "deribit": AccountSpec("deribit", {"BTC": 0.1}),
        "binance-usdm": AccountSpec("binance-usdm", {"USDT": 1_000.0}, LinearTerms(20.0, 0.004))}, buffer)
    return k


def test_gate_denies_initial_margin_above_equity_per_account() -> None:
    k = _kernel()
    # short 1 put: IM = 0.15 - 2000/30000 -> 0.1 floor ... = max(0.0833, 0.1) + 0.02 = 0.12 BTC > 0.1
    assert submit(k, PUT, Side.SELL, 1.0, 0.02) == Reason.INSUFFICIENT_MARGIN
    assert submit(k, PUT, Side.SELL, 0.5, 0.02, fill=True) is None  # 0.06 BTC
    # the BTC account is now mostly used; the USDT account is separate: 20x on 1,000 USDT
    assert submit(k, USDM, Side.BUY, 0.7, 30_000.0) == Reason.INSUFFICIENT_MARGIN  # 1,050 > 1,000
    assert submit(k, USDM, Side.BUY, 0.6, 30_000.0, fill=True) is None
    # a reducing order always passes
    assert submit(k, PUT, Side.BUY, 0.5, 0.02) is None
    acc = k.gate.accounts.summary()
    btc = acc["deribit"]["accounts"]["BTC"]
    assert btc["initial_margin"] == pytest.approx(0.5 * (max(0.15 - 2_000 / F, 0.1) + 0.02))
    assert acc["binance-usdm"]["accounts"]["USD"]["initial_margin"] == pytest.approx(0.6 * 30_000 / 20)
    # firm exposure per venue: collateral + PnL held there, in USD
    assert acc["deribit"]["exposure_usd"] == pytest.approx(btc["equity"] * F, rel=1e-9)


def test_gate_denies_within_the_maintenance_buffer() -> None:
    k = _kernel(buffer=150.0)
    # short 0.5 put: MM = 0.5 x (0.075 + 0.02) = 0.0475; equity 0.1 < 0.0475 x 2.5 = 0.11875
    assert submit(k, PUT, Side.SELL, 0.5, 0.02) == Reason.NEAR_MAINTENANCE
    assert submit(k, PUT, Side.SELL, 0.4, 0.02) is None  # 0.038 x 2.5 = 0.095 < 0.1


def test_accounts_come_from_the_config() -> None:
    text = '''
[deployment]
name = "t"
mode = "paper"
journal = ":memory:"
[venues.sim]
adapter = "adapters.sim:SimVenue"
[risk]
margin_buffer_pct = 25.0
[risk.accounts.sim]
balances = { USDC = 5000.0 }
leverage = 10.0
'''
    cfg = load_config_text(text)
    book = account_book(cfg, Kernel(VirtualClock(NOW), RiskLimits()).portfolio)
    assert book is not None and book.margin_buffer_pct == 25.0
    assert book.specs["sim"].terms.leverage == 10.0 and book.balances == {("sim", "USD"): 5000.0}
    with pytest.raises(ConfigError, match="risk.accounts.deribit"):
        account_book(load_config_text(text.replace("[risk.accounts.sim]", "[risk.accounts.deribit]")),
                     Kernel(VirtualClock(NOW), RiskLimits()).portfolio)


def test_margin_denials_in_a_paper_run(tmp_path) -> None:
    """The shipped paper deployment with a 10 USDC account: the quoter's orders need more."""
    from engine.config import default_config_path
    from engine.runtime import run_virtual

    text = default_config_path().read_text().replace("balances = { USDC = 25000.0 }",
                                                     "balances = { USDC = 10.0 }")
    assert "USDC = 10.0" in text
    node = run_virtual(load_config_text(text), duration_s=20, journal_path=tmp_path / "j.sqlite")
    k = node.kernel
    assert k.gate.denied.get(Reason.INSUFFICIENT_MARGIN, 0) > 0
    assert k.counters.get("fills", 0) == 0
    acc = node.status_log[-1]["accounts"]["sim"]["accounts"]["USD"]
    assert acc["balance"] == 10.0 and acc["initial_margin"] == 0.0
