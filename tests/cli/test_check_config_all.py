"""``volta check-config`` lists every problem, even when one section is broken (issue 18, 6)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli import main
from engine.config import default_config_path

GOOD = default_config_path().read_text()


def _problems(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> list[str]:
    path = tmp_path / "deploy.toml"
    path.write_text(text)
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return [line.split(": ", 1)[1] for line in err.splitlines()]


def test_unknown_deployment_key_does_not_hide_param_types(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    bad = GOOD.replace("status_interval_s", "status_intervl_s")  # unknown deployment key
    bad = bad.replace("seed = 7", 'seed = "seven"')  # venue parameter of the wrong type
    bad = bad.replace("half_spread_bps = ", 'half_spread_bps = "x" # ')  # strategy parameter type
    assert bad.count('"seven"') == 1 and bad.count('half_spread_bps = "x"') == 1
    problems = _problems(tmp_path, bad, capsys)
    paths = [p.split(":", 1)[0] for p in problems]
    assert any(p.startswith("deployment.status_intervl_s") for p in paths), problems
    assert "venues.sim.params.seed" in paths, problems
    assert "strategies[0].params.half_spread_bps" in paths, problems
    assert len(paths) == len(set(paths))  # each problem once


def test_strategy_index_kept_when_an_earlier_strategy_is_broken(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = GOOD.replace("[deployment]", "[deployment]\nbogus = 1")
    bad += '\n[[strategies]]\nid = "two"\nclass = "strategies.examples.mm:Quoter"\nvenue = "sim"\n' \
           'params = { half_sprd_bps = 3 }\n'
    problems = _problems(tmp_path, bad, capsys)
    n = GOOD.count("[[strategies]]")
    assert any(p.startswith(f"strategies[{n}].params") and "half_sprd_bps" in p for p in problems), problems


@pytest.mark.parametrize("old,new,path", [
    ('adapter = "adapters.sim:SimVenue"', 'adapter = "sim"', "venues.sim.adapter"),
    ('class = "strategies.examples.mm:Quoter"', 'class = "mm:Quoter:x"', "strategies[0].class"),
])
def test_a_malformed_import_path_is_reported_once(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  old: str, new: str, path: str) -> None:
    assert old in GOOD
    problems = _problems(tmp_path, GOOD.replace(old, new), capsys)
    assert [p for p in problems if p.startswith(path + ":")] == problems and len(problems) == 1, problems


def test_an_unset_variable_is_not_reported_again_as_a_bad_value(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """config/live-derive.toml without its variables: each unset variable once, not also the
    adapter's verdict on the empty string left in its place ("subaccount_id must be a
    non-negative integer, got ''")."""
    for name in ("DERIVE_WALLET", "DERIVE_SUBACCOUNT_ID", "DERIVE_SESSION_KEY"):
        monkeypatch.delenv(name, raising=False)
    path = default_config_path().with_name("live-derive.toml")
    assert main(["check-config", str(path)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines == [f"{path}: venues.derive.params.wallet: environment variable 'DERIVE_WALLET' "
                     "is not set",
                     f"{path}: venues.derive.params.subaccount_id: environment variable "
                     "'DERIVE_SUBACCOUNT_ID' is not set"], lines


@pytest.mark.parametrize("table", ["accounts", "venue_rates"])
def test_a_risk_table_for_a_venue_that_is_not_configured(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], table: str) -> None:
    """[risk.venue_rates.deribt] (a typo) was accepted by check-config and run alike, so the
    rate limit meant for a venue never applied; [risk.accounts.simm] passed check-config and
    failed only at run."""
    text = GOOD + f"\n[risk.{table}.simm]\n" + ("rate = 5.0\n" if table == "venue_rates" else "")
    assert _problems(tmp_path, text, capsys) == [
        f"risk.{table}.simm: unknown venue 'simm' (did you mean 'sim'?)"]
    text = GOOD + f"\n[risk.{table}.deribit]\n" + ("rate = 5.0\n" if table == "venue_rates" else "")
    assert _problems(tmp_path, text, capsys) == [
        f"risk.{table}.deribit: unknown venue 'deribit' (configured: 'sim')"]


def test_the_backtest_section_is_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """check-config said 'ok' for a [backtest] table volta backtest then refused."""
    text = default_config_path().with_name("backtest.toml").read_text()
    assert "duration_s = " in text
    assert _problems(tmp_path, text.replace("duration_s = ", "duraton_s = ", 1), capsys) == [
        "backtest.data.duraton_s: unknown key 'duraton_s' (did you mean 'duration_s'?)"]
