"""Loading strategies by import path and short name; ``volta strategies`` and ``volta new-strategy``."""

from __future__ import annotations

import importlib
import sys
import tomllib
from pathlib import Path

import orjson
import pytest

from engine.config import ConfigError, load_config, load_config_text
from engine.plugins import (
    BUILTIN_STRATEGIES,
    PluginError,
    new_strategy_main,
    resolve_strategy,
    strategies_main,
    strategy_registry,
)
from engine.runtime import build_node, resolve_plugins
from engine.clock import VirtualClock

ROOT = Path(__file__).resolve().parents[2]

PAPER = """
[deployment]
name = "t"
mode = "paper"
journal = ":memory:"

[venues.sim]
adapter = "adapters.sim:SimVenue"

[[strategies]]
id = "s"
class = "{cls}"
venue = "sim"

[strategies.params]
{params}
"""


def test_the_builtin_table_matches_the_pyproject_entry_points() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["entry-points"]["volta.strategies"] == BUILTIN_STRATEGIES


def test_every_builtin_short_name_resolves_to_its_class() -> None:
    from strategies.examples.basis_arb import BasisArb
    from strategies.examples.delta_hedger import DeltaHedger
    from strategies.examples.mm import Quoter
    from strategies.examples.options_mm import OptionsMarketMaker

    expected = {"quoter": Quoter, "options_mm": OptionsMarketMaker, "delta_hedger": DeltaHedger,
                "basis_arb": BasisArb}
    for name, cls in expected.items():
        assert resolve_strategy(name) is cls
    assert resolve_strategy("strategies.examples.mm:Quoter") is Quoter
    assert set(expected) <= set(strategy_registry())


def test_unknown_names_and_non_strategies_are_clear_errors() -> None:
    with pytest.raises(PluginError, match=r"no strategy named 'quoterr'.*did you mean 'quoter'"):
        resolve_strategy("quoterr")
    with pytest.raises(PluginError, match="not a Strategy subclass"):
        resolve_strategy("engine.plugins:PluginError")
    with pytest.raises(PluginError, match="cannot import module"):
        resolve_strategy("no_such_pkg.mod:Thing")


def test_check_config_reports_the_strategy_key_path() -> None:
    cfg = load_config_text(PAPER.format(cls="strategies.examples.mm:Nope", params='instrument = "BTC-PERP"'))
    problems = resolve_plugins(cfg)
    assert [p.path for p in problems] == ["strategies[0].class"]
    cfg = load_config_text(PAPER.format(cls="strategies.examples.mm:Quoter", params='instrumnt = "x"'))
    assert any(p.path.startswith("strategies[0].params") for p in resolve_plugins(cfg))


def test_build_node_resolves_short_names() -> None:
    import msgspec
    from engine.config import VoltaConfig

    raw = tomllib.loads(PAPER.format(cls="options_mm", params='underlying = "BTC"'))
    cfg = msgspec.convert(raw, VoltaConfig)
    node = build_node(cfg, VirtualClock(0))
    assert node.strategy_specs[0][1].__name__ == "OptionsMarketMaker"


def test_the_config_loader_accepts_short_names_and_rejects_malformed_ones() -> None:
    cfg = load_config_text(PAPER.format(cls="options_mm", params=""))
    assert cfg.strategies[0].class_ == "options_mm"
    with pytest.raises(ConfigError) as err:
        load_config_text(PAPER.format(cls="options mm!", params=""))
    assert "strategies[0].class" in str(err.value)


def test_volta_strategies_lists_names_paths_and_config_fields(capsys: pytest.CaptureFixture[str]) -> None:
    assert strategies_main([]) == 0
    out = capsys.readouterr().out
    for name, path in BUILTIN_STRATEGIES.items():
        assert f"{name}  {path}" in out
    assert "band: float (> 0) = 0.05" in out  # delta_hedger's config: type, bounds, default
    assert "instrument: str = (required)" in out  # the quoter's required field
    assert strategies_main(["basis_arb", "--json"]) == 0
    rows = orjson.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == ["basis_arb"]
    fields = {f["name"]: f for f in rows[0]["config"]}
    assert fields["entry_bps"] == {"name": "entry_bps", "type": "float", "default": "4.0"}
    assert strategies_main(["nope"]) == 2


def test_new_strategy_writes_a_template_that_loads_runs_and_passes_its_own_test(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "desk"
    assert new_strategy_main(["my_fader", "--dir", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["my_fader.backtest.toml", "my_fader.paper.toml", "my_fader.py", "test_my_fader.py"]
    assert new_strategy_main(["my_fader", "--dir", str(out)]) == 2, "never overwrites silently"
    assert new_strategy_main(["My-Fader", "--dir", str(out)]) == 2
    assert "would overwrite" in capsys.readouterr().err
    monkeypatch.syspath_prepend(str(out))
    for toml in ("my_fader.paper.toml", "my_fader.backtest.toml"):
        cfg = load_config(out / toml)
        assert resolve_plugins(cfg) == [], toml
    spec = importlib.util.spec_from_file_location("test_my_fader", out / "test_my_fader.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.test_my_fader_trades_in_the_paper_deployment(tmp_path)
    sys.modules.pop("my_fader", None)


def test_a_module_named_without_its_class_gets_a_hint() -> None:
    """class = "strategies.examples.mm" (the module, no ':Class') said only that no strategy
    has that short name; it now says to name the class in the module."""
    from engine.plugins import PluginError, resolve_strategy

    with pytest.raises(PluginError) as err:
        resolve_strategy("strategies.examples.mm")
    assert str(err.value) == ("'strategies.examples.mm' is a module, not a strategy: name the "
                              "class in it, e.g. 'strategies.examples.mm:Quoter'")
