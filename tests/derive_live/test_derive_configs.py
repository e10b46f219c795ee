"""The shipped Derive deployment files, and where the signing key may (not) come from."""

from __future__ import annotations

import pytest

from adapters.derive.fake import FAKE_SESSION_KEY, FAKE_SUBACCOUNT, FAKE_WALLET
from engine.config import load_config
from engine.config.loader import check_config
from engine.runtime import resolve_plugins
from tests.live_common import ROOT

LIVE = ROOT / "config" / "live-derive.toml"
FAKE = ROOT / "config" / "fake-derive.toml"


def test_live_config_is_testnet_halted_and_reads_every_credential_from_the_environment(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DERIVE_WALLET", FAKE_WALLET)
    monkeypatch.setenv("DERIVE_SUBACCOUNT_ID", str(FAKE_SUBACCOUNT))
    monkeypatch.setenv("DERIVE_SESSION_KEY", FAKE_SESSION_KEY)
    assert check_config(LIVE, resolve_plugins) == 0
    cfg = load_config(LIVE)
    assert cfg.risk.kill_switch  # starts HALTED
    assert cfg.venues["derive"].params.get("network") == "testnet"
    assert FAKE_SESSION_KEY not in LIVE.read_text() and FAKE_SESSION_KEY not in capsys.readouterr().out


def test_fake_config_checks_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DERIVE_SESSION_KEY", FAKE_SESSION_KEY)
    assert check_config(FAKE, resolve_plugins) == 0


def test_missing_key_and_a_key_in_the_file_are_one_line_config_errors(
        tmp_path: object, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("DERIVE_SESSION_KEY", raising=False)
    assert check_config(FAKE, resolve_plugins) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "export DERIVE_SESSION_KEY" in err[0]
    monkeypatch.setenv("DERIVE_SESSION_KEY", FAKE_SESSION_KEY)
    bad = tmp_path / "bad.toml"  # type: ignore[operator]
    bad.write_text(FAKE.read_text().replace(
        'signer_env = "DERIVE_SESSION_KEY"', f'signing_key = "{FAKE_SESSION_KEY}"'))
    assert check_config(bad, resolve_plugins) == 2
    err = capsys.readouterr().err
    assert "signing_key must not be in a config file" in err and FAKE_SESSION_KEY not in err
