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


@pytest.mark.parametrize("name, index, key, value, why", [
    ("paper", 0, "size", "0.0", "must be > 0"),
    ("paper", 0, "max_position", "-0.05", "must be > 0"),
    ("delta-hedger", 1, "band", "-0.05", "must be > 0"),
    ("delta-hedger", 1, "max_order_base", "0.0", "must be > 0"),
    ("delta-hedger", 1, "rehedge_to", "1.5", "must be <= 1"),
    ("delta-hedger", 1, "rehedge_to", "-0.5", "must be >= 0"),
    ("basis-arb", 0, "clip_base", "0.0", "must be > 0"),
    ("basis-arb", 0, "max_position_base", "-0.1", "must be > 0"),
])
def test_example_sizes_are_checked_before_anything_runs(name: str, index: int, key: str, value: str,
                                                        why: str, tmp_path: Path) -> None:
    # a size of 0 never traded (the hedger never hedged, the delta ran away), a negative band
    # hedged at every check, a quoter of size 0 collected an INVALID_QUANTITY denial per book
    lines = (ROOT / f"config/{name}.toml").read_text().splitlines()
    lines = [ln for ln in lines if not ln.startswith(f"{key} = ")]
    at = [i for i, ln in enumerate(lines) if ln.strip() == "[strategies.params]"][index]
    lines.insert(at + 1, f"{key} = {value}")
    path = tmp_path / "c.toml"
    path.write_text("\n".join(lines))
    errors = [str(e) for e in resolve_plugins(load_config(path))]
    assert any(f"strategies[{index}].params.{key}: {why}" in e for e in errors), errors
