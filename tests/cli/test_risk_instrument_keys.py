"""``[risk.instruments."sim:BTC-PRP"]`` (a misspelt symbol) was accepted and applied to no
instrument, leaving the one meant unlimited by it; like an unknown ``[risk.underlyings]`` key,
it is now an error once the venues have listed their instruments, with a did-you-mean."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli import main
from engine.config import default_config_path


def test_override_for_an_instrument_no_venue_lists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "deploy.toml"
    path.write_text(default_config_path().read_text()
                    + '\n[risk.instruments."sim:BTC-PRP"]\nmax_order_qty = 0.001\n')
    assert main(["run", str(path), "--virtual", "--duration", "2", "--log-format", "json"]) == 2
    err = [x for x in capsys.readouterr().err.splitlines() if not x.startswith("{")]
    assert err == [f'{path}: risk.instruments."sim:BTC-PRP": no instrument BTC-PRP at venue sim '
                   "(did you mean 'BTC-PERP'?)"]


def test_override_for_a_listed_instrument_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "deploy.toml"
    path.write_text(default_config_path().read_text()
                    + '\n[risk.instruments."sim:BTC-PERP"]\nmax_order_qty = 0.5\n')
    assert main(["run", str(path), "--virtual", "--duration", "2", "--log-format", "json"]) == 0
