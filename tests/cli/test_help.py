"""Every argument a newcomer meets has help text (issue 18, item 13)."""

from __future__ import annotations

import pytest

from engine.cli import main


def _help(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--help"])
    assert exc.value.code == 0
    return " ".join(capsys.readouterr().out.split())


def test_check_config_argument(capsys: pytest.CaptureFixture[str]) -> None:
    assert "CONFIG the deployment TOML file to check" in _help(capsys, "check-config")


def test_run_options(capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(capsys, "run")
    assert "--log-format {auto,json,console} override [logging] format" in text
    assert "--fail-fast exit with status 3" in text
    assert "--journal PATH" in text


def test_kill_level_and_reason(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["kill", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--level {1,2,3} 1 halt new orders" in text
    assert "--reason TEXT why, in words" in text


@pytest.mark.parametrize("argv", [["strategies"], ["new-strategy"], ["journal"]])
def test_descriptions_are_plain_text(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    """Help printed reST markup of docstrings ("``volta strategies [NAME] [--json]``: ...")."""
    text = _help(capsys, *argv)
    assert "``" not in text, text


def test_new_strategy_says_which_names_work(capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(capsys, "new-strategy")
    assert "name module name in snake_case, not the name of another module" in text


def test_exit_statuses_are_listed(capsys: pytest.CaptureFixture[str]) -> None:
    """The top-level help listed 0, 2 and 3 only; 1 and 130 are returned too."""
    text = _help(capsys)
    for status in ("0 done", "1 nothing to talk to", "2 bad configuration", "3 a venue",
                   "130 another command interrupted"):
        assert status in text, status
