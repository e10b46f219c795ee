"""The example strategies' parameters carry their constraints (users copy these configs): a
negative size used to pass ``volta check-config`` and then have every order denied
(INVALID_QUANTITY, 181 denials in 10 simulated seconds of the paper deployment), and
``options_mm`` with ``max_position = 0`` divided by zero in its quoting."""

from __future__ import annotations

import pytest

from engine.config import ConfigError, decode_params
from engine.plugins import resolve_strategy

CASES = [
    ("quoter", {"instrument": "BTC-PERP", "size": -0.01}, "size", "must be > 0.0, got -0.01"),
    ("quoter", {"instrument": "BTC-PERP", "max_position": 0.0}, "max_position",
     "must be > 0.0, got 0.0"),
    ("quoter", {"instrument": "BTC-PERP", "half_spread_bps": -1.0}, "half_spread_bps",
     "must be >= 0.0, got -1.0"),
    ("options_mm", {"max_position": 0.0}, "max_position", "must be > 0.0, got 0.0"),
    ("options_mm", {"size": -0.1}, "size", "must be > 0.0, got -0.1"),
    ("options_mm", {"max_options": 0}, "max_options", "must be >= 1, got 0"),
    ("delta_hedger", {"band": 0.0}, "band", "must be > 0.0, got 0.0"),
    ("delta_hedger", {"max_order_base": -1.0}, "max_order_base", "must be > 0.0, got -1.0"),
    ("delta_hedger", {"check_interval_s": 0.0}, "check_interval_s", "must be > 0.0, got 0.0"),
    ("basis_arb", {"clip_base": -0.02}, "clip_base", "must be > 0.0, got -0.02"),
    ("basis_arb", {"max_position_base": 0.0}, "max_position_base", "must be > 0.0, got 0.0"),
]


@pytest.mark.parametrize("name,params,key,message", CASES)
def test_impossible_values_are_config_errors(name: str, params: dict[str, object], key: str,
                                             message: str) -> None:
    config = resolve_strategy(name).Config
    with pytest.raises(ConfigError) as err:
        decode_params(params, config, "strategies[0].params")
    assert [str(p) for p in err.value.problems] == [f"strategies[0].params.{key}: {message}"]


@pytest.mark.parametrize("name", ["quoter", "options_mm", "delta_hedger", "basis_arb"])
def test_defaults_still_decode(name: str) -> None:
    params = {"instrument": "BTC-PERP"} if name == "quoter" else {}
    decode_params(params, resolve_strategy(name).Config, "strategies[0].params")


def test_volta_strategies_shows_the_constraints_in_words(capsys: pytest.CaptureFixture[str]) -> None:
    from engine.cli import main

    assert main(["strategies", "quoter"]) == 0
    out = capsys.readouterr().out
    assert "    size: float (> 0) = 0.01\n" in out and "    half_spread_bps: float (>= 0) = 1.0\n" in out
    assert main(["strategies", "delta_hedger"]) == 0
    assert "    rehedge_to: float (>= 0, <= 1) = 0.0\n" in capsys.readouterr().out
