"""orders.csv writes numbers at the instrument's precision and the denial reason code
(issue 18, item 14)."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import pytest

from backtest.cli import main
from backtest.report import step_decimals

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config" / "backtest.toml"


def test_step_decimals() -> None:
    assert [step_decimals(s) for s in (0.5, 0.0001, 1e-8, 10.0, 1.0, 0.25)] == [1, 4, 8, 0, 0, 2]
    assert step_decimals(0.0) is None and step_decimals(float("nan")) is None


@pytest.mark.slow
def test_orders_csv_precision_and_denial_reasons(tmp_path: Path) -> None:
    text = CONFIG.read_text().replace("duration_s = 900.0", "duration_s = 60.0")
    # a position limit below what the quoters want: the gate denies some of their orders
    text = text.replace("max_position_qty = 10.0", "max_position_qty = 0.015")
    cfg = tmp_path / "bt.toml"
    cfg.write_text(text)
    out = tmp_path / "out"
    assert main([str(cfg), "--output", str(out), "--quiet", "--seed", "3"]) == 0
    with open(out / "orders.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows
    denied = [r for r in rows if r["status"] == "denied"]
    assert denied, "the tightened limit should deny orders"
    assert all(r["reject_reason"] for r in denied)
    assert "MAX_POSITION" in {r["reject_reason"] for r in denied}
    # the simulated venue's defaults (adapters/sim/params.py): perpetual tick 0.5 and lot
    # 0.001, options tick 1 and lot 0.01 -> 1/3 and 0/2 decimal places
    places = {True: (1, 3), False: (0, 2)}
    for r in rows:
        px, qty = places[r["instrument"] == "sim:BTC-PERP"]
        for col, want in (("price", px), ("quantity", qty), ("filled", qty)):
            cell = r[col]
            got = len(cell.split(".")[1]) if "." in cell else 0
            assert got == want, (col, cell, r["instrument"])
        price = Decimal(r["price"])
        tick = Decimal("0.5") if px else Decimal(1)
        assert price % tick == 0, r["price"]  # on the tick grid, exactly
        if float(r["filled"] or 0) == 0:
            assert r["avg_fill_price"] == ""  # unpriced, never 0
