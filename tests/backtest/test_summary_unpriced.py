"""A backtest whose every amount is in a coin with no USD price in the run: the summary said
realized 0, fees 0, turnover 0, max drawdown 0 USD and 'the PnL never varied' (the USD figures
summed only the priced currencies, of which there were none). Each figure is now unknown in
USD (null, 'unpriced') with its amounts in the coin, in summary.json, the result line and the
report, and the drawdown and Sharpe are those of the coin's own PnL series.

Fixture (every number below is worked out here, by hand): ETH/BTC, a linear pair quoted and
settled in BTC; no BTC/USD source (no index, no USD-quoted contract on BTC), so BTC has no USD
price. Fills: buy 2 @ 0.05 (fee 0.0001 BTC), sell 1 @ 0.055 (fee 0.000055 BTC). Mids at the four
samples: 0.05, 0.048, 0.055, 0.06.

    realized   = 1 x (0.055 - 0.05)            = 0.005 BTC
    unrealized = 1 x (0.06 - 0.05)             = 0.01 BTC  (at the last mid)
    fees       = 0.0001 + 0.000055             = 0.000155 BTC
    net        = 0.005 + 0.01 - 0.000155       = 0.014845 BTC
    turnover   = 2 x 0.05 + 1 x 0.055          = 0.155 BTC
    PnL per sample: -0.0001, 2 x (0.048 - 0.05) - 0.0001 = -0.0041, 0.009845, 0.014845 BTC
    max drawdown = -0.0001 - (-0.0041)         = 0.004 BTC, over 1 s

(The replay's risk gate refuses an order whose notional has no USD price, so the fills are
booked here straight into the ledger of a real kernel, as the replay exchange reports them.)
"""

from __future__ import annotations

import math
import re
import statistics

import pytest

from backtest.cli import result_lines
from backtest.html import render
from backtest.ledger import Ledger
from backtest.metrics import summarize
from engine.model import Instrument, InstrumentKind, Side
from tests.backtest.helpers import T0, LedgerRig

ETHBTC = Instrument(venue="x", symbol="ETHBTC", kind=InstrumentKind.SPOT, base="ETH", quote="BTC",
                    settle="BTC", tick_size=0.00001, lot_size=0.001, min_size=0.001)


def _run() -> tuple[dict, Ledger]:  # type: ignore[type-arg]
    rig = LedgerRig([ETHBTC])
    rig.book(ETHBTC, 0.05, 0.0001)
    rig.fill(ETHBTC, Side.BUY, 2.0, 0.05, 0.0001)
    rig.sample(1)
    rig.book(ETHBTC, 0.048, 0.0001)
    rig.sample(2)
    rig.book(ETHBTC, 0.055, 0.0001)
    rig.fill(ETHBTC, Side.SELL, 1.0, 0.055, 0.000055)
    rig.sample(3)
    rig.book(ETHBTC, 0.06, 0.0001)
    rig.sample(4)
    extra = {"events": 4, "span": {"simulated_s": 4.0, "start_ns": T0}}
    return summarize(rig.ledger, list(rig.k.orders), extra), rig.ledger


def test_an_all_unpriced_run_says_unpriced_with_the_coin_amounts_never_0_usd() -> None:
    s, ledger = _run()
    pnl = s["pnl"]
    assert [f["fee_currency"] for f in ledger.fills] == ["BTC", "BTC"]
    for fig in ("total_usd", "realized_usd", "unrealized_usd", "fees_usd"):
        assert pnl[fig] is None, (fig, pnl)
    assert pnl["funding_usd"] == 0.0  # nothing to price: a known zero
    assert pnl["unpriced"] == {"BTC": pytest.approx(0.014845, abs=1e-12)}
    parts = pnl["unpriced_parts"]
    assert parts.keys() == {"realized", "unrealized", "fees"}, parts
    assert parts["realized"] == {"BTC": pytest.approx(0.005, abs=1e-12)}
    assert parts["unrealized"] == {"BTC": pytest.approx(0.01, abs=1e-12)}
    assert parts["fees"] == {"BTC": pytest.approx(0.000155, abs=1e-12)}
    assert s["turnover_usd"] is None and s["turnover_priced_usd"] == 0.0
    assert s["turnover_unpriced"] == {"BTC": pytest.approx(0.155, abs=1e-12)}


def test_drawdown_and_sharpe_of_an_unpriced_run_are_the_coins_never_0_usd() -> None:
    s, _ledger = _run()
    risk = s["risk"]
    assert risk["max_drawdown_usd"] is None and risk["sharpe_per_interval"] is None
    assert "BTC" in risk["unpriced_note"]
    btc = risk["by_currency"]["BTC"]
    series = [-0.0001, -0.0041, 0.009845, 0.014845]
    assert btc["max_drawdown"] == pytest.approx(0.004, abs=1e-9)
    assert btc["max_drawdown_duration_s"] == 1.0
    d = [b - a for a, b in zip(series, series[1:])]
    assert btc["sharpe_per_interval"] == pytest.approx(statistics.mean(d) / statistics.stdev(d),
                                                       abs=1e-6)


def test_result_line_and_report_show_the_coin_amounts() -> None:
    s, ledger = _run()
    line = result_lines(s)[0]
    assert "0.0 USD" not in line and "None" not in line, line
    assert line.startswith("PnL unknown: +0.014845 BTC without a USD price; "
                           "realized unpriced (+0.005 BTC), fees unpriced (+0.000155 BTC), "
                           "fills 2, BTC: Sharpe "), line
    assert line.endswith("max drawdown 0.004 BTC"), line
    text = render("unpriced", s, ledger, max_points=200)
    cells = dict(re.findall(r"<tr><td>([^<]*)</td><td>([^<]*)</td></tr>", text))
    assert cells["realized (USD, priced currencies only)"] == "unpriced: +0.005 BTC"
    assert cells["unrealized (USD, priced currencies only)"] == "unpriced: +0.01 BTC"
    assert cells["fees (USD, priced currencies only)"] == "unpriced: +0.000155 BTC"
    assert cells["turnover (USD)"] == "unknown: +0.155 BTC unpriced"
    assert cells["max drawdown (USD, priced currencies only)"].startswith("n/a (no USD price for BTC")
    assert cells["max drawdown (BTC)"] == "0.004"
    assert "Equity (BTC)" in text and "Equity (USD, priced currencies only)" in text


def test_a_markout_with_no_usd_price_is_unpriced_in_the_coin_never_0_usd() -> None:
    """Buy 2 ETH/BTC at 0.05; 1 s later the mid is 0.052: the markout is 2 x 0.002 = 0.004 BTC
    (400 bps), with no USD price. It read total 0.0 USD (the sum of no priced markout)."""
    rig = LedgerRig([ETHBTC], markout_s=[1.0])
    rig.book(ETHBTC, 0.05, 0.0001)
    rig.fill(ETHBTC, Side.BUY, 2.0, 0.05, 0.0)
    rig.book(ETHBTC, 0.052, 0.0001)
    rig.sample(1)
    m = summarize(rig.ledger, list(rig.k.orders), {})["adverse_selection"]["1s"]
    assert m["fills_measured"] == 1 and m["total_usd"] is None and m["mean_usd_per_fill"] is None
    assert m["unpriced"] == {"BTC": pytest.approx(0.004, abs=1e-12)}
    assert m["mean_bps"] == pytest.approx(400.0, abs=1e-6)


def test_orders_csv_gives_each_orders_fees_their_currency() -> None:
    """orders.csv had a fees column without a unit (here BTC, a coin-quoted pair's fees)."""
    import csv
    import io
    from types import SimpleNamespace

    from backtest.report import orders_csv

    rig = LedgerRig([ETHBTC])
    rig.book(ETHBTC, 0.05, 0.0001)
    rig.fill(ETHBTC, Side.BUY, 2.0, 0.05, 0.0001)
    rows = list(csv.DictReader(io.StringIO(orders_csv(
        SimpleNamespace(node=SimpleNamespace(kernel=rig.k), ledger=rig.ledger)))))  # type: ignore[arg-type]
    assert [(r["fees"], r["fee_currency"]) for r in rows] == [("0.0001", "BTC")], rows
