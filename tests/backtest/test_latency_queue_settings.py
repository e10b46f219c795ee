"""Latency and queue settings a model would not read are refused, naming the key.

``order_latency = { kind = "uniform", ms = 5.0 }`` ran the backtest with no latency at all
(uniform reads low_ms and high_ms, both 0), ``low_ms`` above ``high_ms`` was swapped in
silence, and ``queue = { model = "worst", exponent = 3.0 }`` ignored the exponent: each result
looked like the one the user asked for. Now each is a config error (exit 2, one line per
problem, nothing run or written)."""

from __future__ import annotations

from pathlib import Path

import pytest

from backtest.cli import main
from tests.backtest.test_backtest_run import _short

LINE = 'order_latency = { kind = "lognormal", ms = 20.0, sigma = 0.4 }'


@pytest.mark.parametrize(("setting", "problem"), [
    ('order_latency = { kind = "uniform", ms = 5.0 }',
     "venues.sim.params.order_latency: kind 'uniform' reads low_ms and high_ms only: "
     "ms = 5.0 would be ignored"),
    ('order_latency = { kind = "uniform", low_ms = 9.0, high_ms = 2.0 }',
     "venues.sim.params.order_latency: low_ms 9.0 is above high_ms 2.0"),
    ('order_latency = { kind = "constant", ms = 1.0, tail_ms = 30.0 }',
     "venues.sim.params.order_latency: kind 'constant' reads ms only: tail_ms = 30.0 would be "
     "ignored"),
    ('order_latency = { kind = "lognormal", ms = 20.0, sigma = 0.4 }\n'
     'queue = { model = "worst", exponent = 3.0 }',
     "venues.sim.params.queue: exponent = 3.0 is read by model 'power' only, not 'worst'"),
])
def test_a_setting_the_model_would_ignore_is_a_config_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], setting: str, problem: str) -> None:
    cfg = _short(tmp_path, 20.0)
    text = cfg.read_text()
    assert LINE in text
    text = text.replace(LINE, setting)
    if "queue = { model = \"worst\"" in setting:
        text = text.replace('queue = { model = "proportional" }', "")
    cfg.write_text(text)
    out = tmp_path / "out"
    assert main([str(cfg), "--output", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"volta backtest: {cfg}: {problem}", err
    assert not out.exists()


def test_the_settings_each_model_reads_are_accepted(tmp_path: Path) -> None:
    from adapters.sim.latency import LatencyModel
    from adapters.sim.queue_model import QueueModel

    LatencyModel(kind="uniform", low_ms=1.0, high_ms=3.0)
    LatencyModel(kind="exponential", ms=1.0, tail_ms=4.0)
    LatencyModel(kind="lognormal", ms=8.0, sigma=0.2)
    QueueModel(model="power", exponent=3.0)


def test_an_option_listed_without_expiry_strike_or_type_is_a_config_error() -> None:
    """[[venues.<v>.params.instruments]] kind = "option" without expiry_ns (0) was listed as an
    option that never expires nor settles and has no model price or Greeks (the ledger left its
    position out of the delta): a config error now, at the list item's key path."""
    from backtest.schema import ExchangeParams
    from engine.config import ConfigError, decode_params

    item = {"symbol": "BTC-X-60000-C", "kind": "option", "tick_size": 1.0, "lot_size": 0.1,
            "strike": 60_000.0}
    with pytest.raises(ConfigError) as err:
        decode_params({"instruments": [item]}, ExchangeParams, "venues.x.params")
    assert str(err.value) == ("venues.x.params.instruments[0]: option 'BTC-X-60000-C' needs "
                              "expiry_ns, option_type"), str(err.value)
    ok = decode_params({"instruments": [{**item, "expiry_ns": 1, "option_type": "call"}]},
                       ExchangeParams, "venues.x.params")
    assert ok.instruments[0].expiry_ns == 1
