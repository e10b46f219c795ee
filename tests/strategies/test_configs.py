"""The example deployments: paper and backtest configs load, resolve and run."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import load_config
from engine.runtime import resolve_plugins, run_virtual

ROOT = Path(__file__).resolve().parents[2]
NAMES = ("options-mm", "delta-hedger", "basis-arb")


@pytest.mark.parametrize("name", NAMES)
def test_paper_and_backtest_configs_are_valid(name: str) -> None:
    for path in (ROOT / f"config/{name}.toml", ROOT / f"config/backtest-{name}.toml"):
        cfg = load_config(path)
        assert resolve_plugins(cfg) == [], path
        assert cfg.deployment.mode == "paper"


@pytest.mark.parametrize("name", NAMES)
def test_backtest_tables_are_valid_for_the_backtest_package(name: str) -> None:
    try:
        from backtest import schema
    except Exception as exc:  # noqa: BLE001 - the backtest package is being built alongside
        pytest.skip(f"backtest.schema is not importable yet: {exc!r}")
    cfg = load_config(ROOT / f"config/backtest-{name}.toml")
    assert schema.check_backtest(cfg) == []
    assert schema.backtest_spec(cfg).data.source == "venue"


@pytest.mark.parametrize("name", NAMES)
def test_the_backtest_deployment_runs_on_virtual_time(name: str, tmp_path: Path) -> None:
    # the basis needs a few minutes to open wider than two taker fees
    duration = 600 if name == "basis-arb" else 60
    node = run_virtual(load_config(ROOT / f"config/backtest-{name}.toml"), duration_s=duration,
                       journal_path=tmp_path / "j.sqlite")
    k = node.kernel
    assert k.strategies and not any(k.strategy_errors.values())
    assert k.router.sent > 0


@pytest.mark.parametrize("key, value", [("max_position", "0.0"), ("size", "0.0"), ("size", "-0.1")])
def test_options_mm_sizes_must_be_positive_before_anything_runs(key: str, value: str,
                                                                 tmp_path: Path) -> None:
    # max_position 0 passed check-config and then raised "float division by zero" on every
    # refit (the inventory lean is position / max_position); a size of 0 never quoted
    text = (ROOT / "config/options-mm.toml").read_text()
    line = next(ln for ln in text.splitlines() if ln.startswith(f"{key} = "))
    path = tmp_path / "omm.toml"
    path.write_text(text.replace(line, f"{key} = {value}"))
    errors = resolve_plugins(load_config(path))
    assert any(f"strategies[0].params.{key}: must be > 0" in str(e) for e in errors), errors
