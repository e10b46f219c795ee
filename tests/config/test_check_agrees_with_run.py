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


PAPER = '''
[deployment]
name = "t"
mode = "paper"
journal = ":memory:"

[venues.sim]
adapter = "adapters.sim:SimVenue"

[operator.alerts]
'''


@pytest.mark.parametrize("key", ["webhook_url", "slack_webhook_url", "telegram_api"])
@pytest.mark.parametrize("url", ["not a url", "hooks.slack.com/services/T0/B0/s3cr3tpath",
                                 "ftp://example.com/x", "https://", "https://example.com:99999/x",
                                 "http://exa mple.com/s3cr3tpath"])
def test_an_alert_url_that_is_not_http_is_a_config_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str, url: str) -> None:
    path = tmp_path / "alerts.toml"
    path.write_text(PAPER + f'{key} = "{url}"\n')
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == f"{path}: operator.alerts.{key}: not an http:// or https:// URL with a host\n"
    assert "s3cr3t" not in err


def test_http_alert_urls_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "alerts.toml"
    path.write_text(PAPER + 'webhook_url = "http://127.0.0.1:9/hook"\n'
                    'slack_webhook_url = "https://hooks.slack.com/services/T0/B0/x"\n'
                    'telegram_api = "https://api.telegram.org"\n')
    assert main(["check-config", str(path)]) == 0, capsys.readouterr().err
