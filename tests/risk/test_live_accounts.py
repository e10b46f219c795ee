"""The account book in live mode (issue 12, point 11, live half): it holds the venues'
reports (``AccountReported``), the gate checks the venue's figures plus the order's added
margin (engine/margin.py), stablecoin accounts of one venue pool in USD, an account not yet
reported is shown as such and not checked here, and live balances are a config error.
Expected figures are written here by hand."""

from __future__ import annotations

import math

import pytest

from engine.accounts import AccountBook, AccountSpec, account_book
from engine.clock import VirtualClock
from engine.config import ConfigError, load_config_text
from engine.kernel import Kernel
from engine.margin import LinearTerms
from engine.model import AccountReported, BookSnapshot, Instrument, InstrumentKind, Side
from engine.risk import Reason, RiskLimits
from tests.risk.venues import add_venue, submit

NOW = 1_700_000_000 * 10**9
USDM = Instrument(venue="binance", symbol="BTCUSDT", kind=InstrumentKind.PERPETUAL, base="BTC",
                  quote="USDT", settle="USDT", tick_size=0.1, lot_size=0.001, underlying="BTC")
PERP = Instrument(venue="deribit", symbol="BTC-PERPETUAL", kind=InstrumentKind.PERPETUAL, base="BTC",
                  quote="USD", settle="BTC", inverse=True, contract_size=1.0, tick_size=0.5,
                  lot_size=10.0, underlying="BTC")
F = 30_000.0


def _report(venue: str, ccy: str, equity: float, im: float, mm: float, balance: float | None = None,
            source: str = "test") -> AccountReported:
    return AccountReported(venue=venue, currency=ccy, balance=equity if balance is None else balance,
                           equity=equity, initial_margin=im, maintenance_margin=mm,
                           unrealized_pnl=0.0, source=source, ts_event=1, ts_recv=1)


def _kernel(buffer: float | None = None) -> Kernel:
    k = Kernel(VirtualClock(NOW), RiskLimits(max_order_qty=1e6, max_position_qty=1e6,
                                             max_order_notional_usd=1e9))
    add_venue(k, "binance", [USDM])
    add_venue(k, "deribit", [PERP])
    k.bus.publish(BookSnapshot(USDM.id, ((29_999.9, 10.0),), ((30_000.1, 10.0),), 1, 0, 0))
    k.bus.publish(BookSnapshot(PERP.id, ((29_999.5, 1e6),), ((30_000.5, 1e6),), 1, 0, 0))
    k.portfolio.set_underlying_price("BTC", F)
    book = AccountBook(k.portfolio, {"binance": AccountSpec("binance", terms=LinearTerms(20.0, 0.004)),
                                     "deribit": AccountSpec("deribit")}, buffer, live=True)
    k.bus.subscribe(AccountReported, book.on_report)
    k.gate.accounts = book
    return k


def test_the_venue_figures_plus_the_orders_margin_against_the_venue_equity() -> None:
    k = _kernel()
    # USDT and USDC accounts of one venue pool in USD: equity 600 + 400, IM 300 + 100
    k.bus.publish(_report("binance", "USDT", 600.0, 300.0, 20.0))
    k.bus.publish(_report("binance", "USDC", 400.0, 100.0, 5.0))
    st = k.gate.accounts.state("binance", "USD")
    assert (st.equity, st.initial_margin, st.maintenance_margin) == (1000.0, 400.0, 25.0)
    # 0.4 BTC at 30,000 at 20x = 600 more: 1,000 > 1,000? no -> passes; 0.41 -> 1,015 > 1,000
    assert submit(k, USDM, Side.BUY, 0.4, 30_000.0) is None
    assert submit(k, USDM, Side.BUY, 0.41, 30_000.0) == Reason.INSUFFICIENT_MARGIN
    # a new report (the venue took margin elsewhere) is what the next check uses
    k.bus.publish(_report("binance", "USDT", 600.0, 500.0, 20.0))
    assert submit(k, USDM, Side.BUY, 0.4, 30_000.0) == Reason.INSUFFICIENT_MARGIN  # 600 + 600 > 1,000
    assert submit(k, USDM, Side.BUY, 0.13, 30_000.0) is None  # 600 + 195 <= 1,000


def test_near_maintenance_uses_the_venue_maintenance_margin() -> None:
    k = _kernel(buffer=100.0)
    k.bus.publish(_report("deribit", "BTC", 0.1, 0.0, 0.049))
    # 3,000 USD of the inverse perp = 0.1 BTC: MM + 0.1 x (1 % + 0.005 % x 0.1) = 0.050005..
    # equity 0.1 < 2 x 0.0500 -> within 100 % of maintenance
    assert submit(k, PERP, Side.BUY, 3_000.0, F) == Reason.NEAR_MAINTENANCE
    assert submit(k, PERP, Side.BUY, 10.0, F) is None  # 0.049 + 0.0000033 -> 2 x = 0.098 < 0.1


def test_unreported_accounts_show_as_such_and_are_not_checked_here() -> None:
    k = _kernel()
    assert submit(k, PERP, Side.BUY, 100_000.0, F) is None  # no Deribit report yet: Deribit checks
    k.bus.publish(_report("binance", "USDT", 100.0, 0.0, 0.0, balance=90.0, source="/fapi/v2/account"))
    k.bus.publish(_report("okx", "BTC", 1.0, 0.0, 0.0))  # a venue this deployment does not trade
    summary = k.gate.accounts.summary()
    assert set(summary) == {"binance", "deribit"}
    assert summary["binance"]["accounts"]["USD"]["source"] == "/fapi/v2/account"
    assert summary["binance"]["exposure"] == {"USD": 100.0} and summary["binance"]["exposure_usd"] == 100.0
    st = k.gate.accounts.state("deribit", "BTC")
    assert st.source == "not reported" and math.isnan(st.equity) and math.isnan(st.initial_margin)
    assert summary["deribit"]["accounts"] == {} and summary["deribit"]["exposure_usd"] is None
    assert summary["deribit"]["source"] == "not reported"
    # once it holds a position there, the account is listed, still without figures
    assert submit(k, PERP, Side.BUY, 10.0, F, fill=True) is None
    deribit = k.gate.accounts.summary()["deribit"]
    acc = deribit["accounts"]["BTC"]
    assert acc["equity"] is None and acc["initial_margin"] is None and acc["source"] == "not reported"
    assert deribit["unpriced"] == ["BTC"] and deribit["exposure"] == {"BTC": None}


LIVE = '''
[deployment]
name = "t"
mode = "live"
journal = ":memory:"
[venues.sim]
adapter = "adapters.sim:SimVenue"
[risk]
margin_buffer_pct = 10.0
'''


def test_live_config_builds_a_live_book_over_every_venue_and_refuses_balances() -> None:
    book = account_book(load_config_text(LIVE), Kernel(VirtualClock(NOW), RiskLimits()).portfolio)
    assert book is not None and book.live and set(book.specs) == {"sim"}
    assert book.margin_buffer_pct == 10.0 and book.balances == {}
    with_terms = LIVE + "[risk.accounts.sim]\nleverage = 5.0\n"
    book = account_book(load_config_text(with_terms), Kernel(VirtualClock(NOW), RiskLimits()).portfolio)
    assert book is not None and book.specs["sim"].terms.leverage == 5.0
    with pytest.raises(ConfigError, match="live balances come from the venue"):
        account_book(load_config_text(with_terms + "balances = { USDC = 1.0 }\n"),
                     Kernel(VirtualClock(NOW), RiskLimits()).portfolio)
