"""The backtest summary lists the perpetuals no funding rate reached (``funding.unfunded``):
without it a run on data with no funding-rate messages read 'funding 0.00 USD', a known zero,
where the funding is unknown. Held during the run counts, not only at its end."""

from __future__ import annotations

import json
from pathlib import Path

from backtest.cli import main
from tests.backtest.test_backtest_run import _short


def _summary(tmp_path: Path, synthetic: str = "") -> dict:  # type: ignore[type-arg]
    out, config = tmp_path / "out", _short(tmp_path, 60.0)
    text = config.read_text()
    config.write_text(text.replace("[backtest.data.synthetic]", "[backtest.data.synthetic]\n" + synthetic, 1))
    assert main([str(config), "--output", str(out), "--seed", "3", "--quiet"]) == 0
    return json.loads((out / "summary.json").read_text())


def test_a_perp_no_funding_rate_reached_is_listed_unfunded(tmp_path: Path) -> None:
    s = _summary(tmp_path, "funding_interval_h = 0.0  # the generator publishes no funding rate\n")
    assert s["instruments"]["sim:BTC-PERP"]["fills"] > 0
    assert s["funding"]["unfunded"] == ["sim:BTC-PERP"]
    assert s["funding"]["payments"] == 0


def test_a_perp_with_its_funding_rate_is_not_unfunded(tmp_path: Path) -> None:
    s = _summary(tmp_path)
    assert s["instruments"]["sim:BTC-PERP"]["fills"] > 0
    assert s["funding"]["unfunded"] == []
