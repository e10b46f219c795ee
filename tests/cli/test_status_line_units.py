"""The 5-second status line says the unit of every figure and never hides an unpriced amount:
PnL used to read 'PnL -1.23 USD' while part of it had no USD price (listed only in the JSON
log's ``unpriced``), an average price gave no currency (USD for the perpetual, the coin for an
inverse option's premium) and 'sim:BTC ATM 57.3' no unit."""

from __future__ import annotations

from pathlib import Path

from engine.status import status_line


def _fields(**extra: object) -> dict[str, object]:
    return {"state": "active", "pnl_usd": -1.23, "positions": "flat", "working": 0, "fills": 0,
            "denied": 0, "books_live": "1/1", **extra}


def test_unpriced_amounts_are_on_the_line() -> None:
    line = status_line(_fields(unpriced={"BTC": "+0.0012 BTC", "ETH": "-0.5 ETH"}))
    assert "PnL -1.23 USD partial (unpriced: +0.0012 BTC, -0.5 ETH) |" in line
    assert "unpriced" not in status_line(_fields())


def test_atm_vol_has_its_unit() -> None:
    line = status_line(_fields(**{"chain_sim:BTC": {"atm_vol_pts": 57.34}}))
    assert line.endswith("| sim:BTC ATM vol 57.3%")


def test_positions_carry_the_price_currency(tmp_path: Path) -> None:
    from engine.config import load_config_text
    from engine.runtime import run_virtual
    from tests.operator.conftest import paper_config_text

    node = run_virtual(load_config_text(paper_config_text(tmp_path / "j.sqlite")), 30.0)
    positions = [f["positions"] for f in node.status_log if f["positions"] != "flat"]
    assert positions, "the quoter should have held a position at some status line"
    for text in positions:
        for one in text.split(", "):
            assert one.startswith("BTC-PERP ") and one.endswith(" USD"), text


def test_strategy_errors_show_on_the_line() -> None:
    """docs/strategies.md: a callback that raises is 'counted (errors in the status line)'; the
    count was only in the JSON event, so a strategy failing on every book looked healthy."""
    ok = {"calls": 10, "errors": 0}
    line = status_line(_fields(strategies={"mm-1": {"calls": 10, "errors": 7}, "mm-2": ok}))
    assert "| strategy errors: mm-1 7 |" in line or line.endswith("| strategy errors: mm-1 7")
    assert "errors" not in status_line(_fields(strategies={"mm-2": ok}))


def test_perps_without_a_funding_rate_are_on_the_line() -> None:
    """funding_usd leaves out the perpetuals no funding rate reached: the line says so."""
    line = status_line(_fields(funding={"payments": 0, "unfunded": ["sim:BTC-PERP"]}))
    assert "| funding unknown for 1 perp (no funding rate)" in line
    assert "funding" not in status_line(_fields(funding={"payments": 3, "unfunded": []}))


def test_the_status_event_carries_the_funding_summary(tmp_path: Path) -> None:
    from engine.config import load_config_text
    from engine.runtime import run_virtual
    from tests.operator.conftest import paper_config_text

    node = run_virtual(load_config_text(paper_config_text(tmp_path / "j.sqlite")), 10.0)
    assert node.status_log and all(f["funding"]["unfunded"] == [] for f in node.status_log)
    assert all("payments" in f["funding"] for f in node.status_log)


def test_a_long_position_list_says_how_many_it_leaves_out() -> None:
    """The positions part was cut at 45 characters with '...': a desk with 12 option positions
    saw one and a half of them and no count."""
    held = ", ".join(f"BTC-31JAN26-{k}-P -0.1@1,799.00 USD" for k in range(50_000, 62_000, 1_000))
    line = status_line(_fields(positions=held))
    assert "| BTC-31JAN26-50000-P -0.1@1,799.00 USD (+11 more) |" in line, line
    assert "| BTC-PERP +0.5@60,000.00 USD |" in status_line(_fields(positions="BTC-PERP +0.5@60,000.00 USD"))
