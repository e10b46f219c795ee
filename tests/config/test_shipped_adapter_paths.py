"""Every adapter and strategy import path written in the shipped configs resolves, including
those of disabled venues (check-config resolves only what a run would start): a user who
enables one must not meet a wrong path (config/example.toml named
``adapters.deribit:DeribitVenue``, which does not exist). And the simulated venue refuses a
negative seed with the config's error, not a numpy traceback at start."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine.config import ConfigError, decode_params
from engine.plugins import load_object

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "config").glob("*.toml"))
PATHS = sorted({m for f in CONFIGS for m in re.findall(
    r'^\s*#?\s*(?:adapter|class)\s*=\s*"([A-Za-z_][\w.]*:[A-Za-z_]\w*)"', f.read_text(), re.M)})


def test_there_are_paths_to_check() -> None:
    assert "adapters.sim:SimVenue" in PATHS and len(PATHS) >= 8


@pytest.mark.parametrize("path", PATHS)
def test_every_shipped_import_path_resolves(path: str) -> None:
    assert load_object(path) is not None


def test_the_simulated_venue_refuses_a_negative_seed() -> None:
    from adapters.sim.params import SimVenueParams

    with pytest.raises(ConfigError) as err:
        decode_params({"seed": -1}, SimVenueParams, "venues.sim.params")
    assert [str(p) for p in err.value.problems] == ["venues.sim.params.seed: must be >= 0, got -1"]
    assert decode_params({"seed": 0}, SimVenueParams, "venues.sim.params").seed == 0


@pytest.mark.parametrize(("key", "value", "said"), [
    ("tick_ms", 0, "tick_ms: must be >= 1, got 0"),
    ("spot", 0.0, "spot: must be > 0.0, got 0.0"),
    ("svi_rho", -1.0, "svi_rho: must be > -1.0"),
    ("expiries_days", [1.0, -2.0], "expiries_days[1]: expected 'float' > 0.0"),
    ("perp_trade_rate", -1.0, "perp_trade_rate: must be >= 0.0, got -1.0"),
])
def test_the_simulated_venue_refuses_a_parameter_out_of_its_range(key: str, value: object,
                                                                   said: str) -> None:
    """``tick_ms = 0`` passed check-config; ``volta run`` then halted the venue at start
    ('timer interval must be positive'), retried for ever and exited 0."""
    from adapters.sim.params import SimVenueParams

    with pytest.raises(ConfigError) as err:
        decode_params({key: value}, SimVenueParams, "venues.sim.params")
    problems = [str(p) for p in err.value.problems]
    assert len(problems) == 1 and problems[0].startswith(f"venues.sim.params.{said}"), problems
