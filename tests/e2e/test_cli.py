"""``volta check-config``: exit 0 on a good file, 2 with the key path on a bad one."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import default_config_path
from engine.cli import main

GOOD = default_config_path().read_text()


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "deploy.toml"
    path.write_text(text)
    return str(path)


def test_packaged_config_is_valid(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(default_config_path())]) == 0
    assert "ok:" in capsys.readouterr().out


def test_misspelt_key_names_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = GOOD.replace("status_interval_s", "status_intervl_s")
    assert main(["check-config", _write(tmp_path, bad)]) == 2
    err = capsys.readouterr().err
    assert "deployment" in err and "status_intervl_s" in err


def test_wrong_type_names_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = GOOD.replace("seed = 7", 'seed = "seven"')
    assert main(["check-config", _write(tmp_path, bad)]) == 2
    err = capsys.readouterr().err
    assert "venues.sim.params.seed" in err


def test_bad_strategy_parameter_names_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = GOOD.replace("half_spread_bps", "half_sprd_bps")
    assert main(["check-config", _write(tmp_path, bad)]) == 2
    assert "strategies[0].params" in capsys.readouterr().err


def test_unresolvable_import_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = GOOD.replace("strategies.examples.mm:Quoter", "strategies.examples.mm:Nope")
    assert main(["check-config", _write(tmp_path, bad)]) == 2
    assert "strategies[0].class" in capsys.readouterr().err
