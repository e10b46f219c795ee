"""Ctrl-C while a command is still importing or reading its config: one line, no traceback.

``volta run`` handles SIGINT once the node runs (clean stop, exit 0); before that (imports take
about half a second) the KeyboardInterrupt used to escape as a traceback with exit status -2.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import engine.config
from engine import cli


def _interrupt(*_args: object, **_kw: object) -> None:
    raise KeyboardInterrupt


def test_ctrl_c_while_run_loads_its_config(monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(engine.config, "load_config", _interrupt)
    # the documented exit status of a run stopped by Ctrl-C is 0, whenever it comes
    assert cli.main(["run", str(Path(__file__).parents[2] / "config" / "paper.toml")]) == 0
    err = capsys.readouterr().err
    assert err.strip() == "volta run: interrupted before the node started (nothing was sent)"


def test_ctrl_c_in_another_command(monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(engine.config, "check_config", _interrupt)
    assert cli.main(["check-config", "x.toml"]) == 130
    assert capsys.readouterr().err.strip() == "volta check-config: interrupted"


def test_ctrl_c_in_an_external_command(monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    import engine.journal_cli

    monkeypatch.setattr(engine.journal_cli, "main", _interrupt)
    assert cli.main(["journal", "ls", "x.sqlite"]) == 130
    assert capsys.readouterr().err.strip() == "volta journal: interrupted"
