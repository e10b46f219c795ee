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


def test_an_empty_variable_for_a_credential_or_url_is_a_config_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_CLIENT_ID", "")
    monkeypatch.setenv("T_CLIENT_SECRET", "")
    monkeypatch.setenv("T_HOOK", "")
    monkeypatch.setenv("T_JOURNAL_NOTE", "")
    path = tmp_path / "empty.toml"
    path.write_text(LIVE.replace("balances = { USDC = 1000.0 }\n", "") + '''
[venues.sim.params]
client_id = "${T_CLIENT_ID}"
client_secret = "${T_CLIENT_SECRET}"
label = "${T_JOURNAL_NOTE}"

[operator.alerts]
webhook_url = "${T_HOOK}"
''')
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err.splitlines()
    why = "is set but empty, and this key cannot be empty: give it a value"
    assert f"{path}: venues.sim.params.client_id: environment variable 'T_CLIENT_ID' {why}" in err
    assert f"{path}: venues.sim.params.client_secret: environment variable 'T_CLIENT_SECRET' {why}" in err
    assert f"{path}: operator.alerts.webhook_url: environment variable 'T_HOOK' {why}" in err
    assert not [line for line in err if "T_JOURNAL_NOTE" in line]  # "" may be meant there


def test_needs_value_by_key() -> None:
    from engine.config.secrets import needs_value

    for key in ("api_key", "api_secret", "client_id", "client_secret", "passphrase", "password",
                "token", "wallet", "subaccount_id", "webhook_url", "slack_webhook_url",
                "telegram_bot_token", "telegram_chat_id", "user", "ws_url"):
        assert needs_value(key), key
    for key in ("label", "name", "journal", "files", "sigma", "channels", "network"):
        assert not needs_value(key), key


def test_two_spellings_of_one_underlying_are_refused_by_check_config(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "underlyings.toml"
    path.write_text(PAPER.replace("[operator.alerts]\n", "") + '''
[risk.underlyings.BTC]
max_delta = 1.0

[risk.underlyings.XBT]
max_delta = 2.0
''')
    assert main(["check-config", str(path)]) == 2
    assert capsys.readouterr().err == (
        f"{path}: risk.underlyings.XBT: names the same underlying BTC as risk.underlyings.BTC\n")
    assert main(["run", str(path), "--virtual", "--duration", "1"]) == 2
    assert capsys.readouterr().err == (
        f"{path}: risk.underlyings.XBT: names the same underlying BTC as risk.underlyings.BTC\n")


@pytest.mark.parametrize("token", [None, "short"])
def test_an_operator_bind_the_run_refuses_is_refused_by_check_config(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        token: str | None) -> None:
    if token is None:
        monkeypatch.delenv("VOLTA_OPERATOR_TOKEN", raising=False)
    else:
        monkeypatch.setenv("VOLTA_OPERATOR_TOKEN", token)
    path = tmp_path / "operator.toml"
    path.write_text(PAPER.replace("[operator.alerts]\n", '[operator]\nhost = "0.0.0.0"\n'))
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == (f"{path}: operator.host: binding 0.0.0.0 (not loopback) needs a control "
                   "token: set $VOLTA_OPERATOR_TOKEN\n" if token is None else
                   f"{path}: operator: $VOLTA_OPERATOR_TOKEN is too short (at least 16 characters)\n")
    monkeypatch.setenv("VOLTA_OPERATOR_TOKEN", "a-long-enough-token-1234")
    assert main(["check-config", str(path)]) == 0


def test_a_journal_path_the_run_cannot_create_is_refused_by_check_config(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "afile").write_text("")
    journal = tmp_path / "afile" / "j.sqlite"
    path = tmp_path / "journal.toml"
    path.write_text(PAPER.replace('":memory:"', f'"{journal}"'))
    assert main(["check-config", str(path)]) == 2
    said = f"{path}: deployment.journal: journal {journal}: {tmp_path / 'afile'} is a file, not a folder\n"
    assert capsys.readouterr().err == said
    assert main(["run", str(path), "--duration", "1"]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


@pytest.mark.parametrize(("given", "missing"), [
    ('telegram_bot_token = "123456:abcdef"', "telegram_chat_id"),
    ('telegram_chat_id = "-100123"', "telegram_bot_token"),
])
def test_a_telegram_sink_half_configured_is_a_config_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], given: str, missing: str) -> None:
    path = tmp_path / "telegram.toml"
    path.write_text(PAPER + given + "\n")
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{path}: operator.alerts.{missing}: missing: the Telegram sink needs it")
    path.write_text(PAPER + 'telegram_bot_token = "123456:abcdef"\ntelegram_chat_id = "-100123"\n')
    assert main(["check-config", str(path)]) == 0


def test_an_unset_telegram_token_is_reported_once(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("T_UNSET_TOKEN", raising=False)
    path = tmp_path / "telegram.toml"
    path.write_text(PAPER + 'telegram_bot_token = "${T_UNSET_TOKEN}"\ntelegram_chat_id = "-1"\n')
    assert main(["check-config", str(path)]) == 2
    assert capsys.readouterr().err == (f"{path}: operator.alerts.telegram_bot_token: environment "
                                       "variable 'T_UNSET_TOKEN' is not set\n")


def test_a_blank_variable_for_a_secret_is_a_config_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_BLANK_HOOK", "  \n")
    path = tmp_path / "blank.toml"
    path.write_text(PAPER + 'webhook_url = "${T_BLANK_HOOK}"\n')
    assert main(["check-config", str(path)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"{path}: operator.alerts.webhook_url: environment variable 'T_BLANK_HOOK' is set but "
        "blank (white space only), and this key cannot be empty: give it a value"]


def test_an_empty_variable_in_a_disabled_venue_is_accepted(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing of a disabled venue runs: "" may stand in for its keys (unset is still an error,
    config/example.toml)."""
    monkeypatch.setenv("T_OFF_KEY", "")
    monkeypatch.delenv("T_OFF_UNSET", raising=False)
    path = tmp_path / "off.toml"
    off = '''
[venues.off]
adapter = "adapters.sim:SimVenue"
enabled = false

[venues.off.params]
api_key = "${T_OFF_KEY}"
'''
    path.write_text(PAPER.replace("[operator.alerts]\n", "") + off)
    assert main(["check-config", str(path)]) == 0, capsys.readouterr().err
    path.write_text(PAPER.replace("[operator.alerts]\n", "") + off + 'api_secret = "${T_OFF_UNSET}"\n')
    assert main(["check-config", str(path)]) == 2
    assert capsys.readouterr().err == (f"{path}: venues.off.params.api_secret: environment "
                                       "variable 'T_OFF_UNSET' is not set\n")


def test_nan_is_no_number_anywhere(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """TOML allows nan; a limit, a balance or a rate of nan would pass every check
    (every comparison with it is false) and make every figure from it nan."""
    path = tmp_path / "nan.toml"
    path.write_text(PAPER.replace("[operator.alerts]\n", "") + '''
[pricing]
rate = nan

[risk]
margin_buffer_pct = nan

[risk.accounts.sim]
balances = { USDC = nan, BTC = 1.0 }

[[strategies]]
id = "mm"
class = "strategies.examples.mm:Quoter"
venue = "sim"
[strategies.params]
instrument = "BTC-PERP"
size = 0.01
half_spread_bps = nan
''')
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err.splitlines()
    for key in ("pricing.rate", "risk.margin_buffer_pct", "risk.accounts.sim.balances.USDC",
                "strategies[0].params.half_spread_bps"):
        assert any(line.startswith(f"{path}: {key}: ") and "nan" in line for line in err), (key, err)


def test_check_config_refuses_the_missing_data_volta_backtest_refuses(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`volta check-config config/backtest-deribit-options-mm.toml` said "ok" in a fresh clone,
    then `volta backtest` of the same file exited 2: its catalog is not imported yet. The
    data paths are relative to the file, not to where the command runs."""
    from backtest import cli as backtest_cli

    root = Path(__file__).resolve().parents[2]
    path = tmp_path / "config" / "bt.toml"
    path.parent.mkdir()
    path.write_text((root / "config" / "backtest-deribit-options-mm.toml").read_text())
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert backtest_cli.main([str(path), "--quiet", "--output", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err == f"volta backtest: {err}"  # the same line
    assert err.startswith(f"{path}: backtest.data.catalog: no such catalog folder: "
                          f"{tmp_path / 'var' / 'catalog'} (needs: a Tardis.dev day")
    (tmp_path / "var" / "catalog").mkdir(parents=True)
    assert main(["check-config", str(path)]) == 0
