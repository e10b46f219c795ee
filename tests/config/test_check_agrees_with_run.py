"""``volta check-config`` refuses what ``volta run`` would refuse, in the same words."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli import main

LIVE = '''
[deployment]
name = "t"
mode = "live"
journal = ":memory:"

[venues.sim]
adapter = "adapters.sim:SimVenue"

[risk.accounts.sim]
leverage = 5.0
balances = { USDC = 1000.0 }
'''


def test_live_balances_are_refused_by_check_config(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "live.toml"
    path.write_text(LIVE)
    assert main(["check-config", str(path)]) == 2
    assert capsys.readouterr().err == (
        f"{path}: risk.accounts.sim.balances: live balances come from the venue's private API; "
        "remove them\n")
    path.write_text(LIVE.replace("balances = { USDC = 1000.0 }\n", ""))
    assert main(["check-config", str(path)]) == 0


def test_an_account_for_a_disabled_venue_is_refused_by_check_config(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "paper.toml"
    path.write_text(LIVE.replace('"live"', '"paper"') + '''
[venues.other]
adapter = "adapters.sim:SimVenue"
enabled = false

[risk.accounts.other]
balances = { USDC = 1.0 }
''')
    assert main(["check-config", str(path)]) == 2
    assert capsys.readouterr().err == f"{path}: risk.accounts.other: no venue 'other'; venues: sim\n"
