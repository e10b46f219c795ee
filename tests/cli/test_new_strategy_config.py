"""The ``volta new-strategy`` template's parameters carry their constraints: a negative size or
a zero EMA time is a config error naming the key (it used to pass ``volta check-config`` and
then deny every quote, or raise ZeroDivisionError in every ``on_book``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from engine.cli import main


def test_template_parameters_are_checked_when_decoded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))  # check-config appends the folder
    assert main(["new-strategy", "qa_tmpl_dipper", "--dir", str(tmp_path)]) == 0
    paper = tmp_path / "qa_tmpl_dipper.paper.toml"
    assert main(["check-config", str(paper)]) == 0
    text = paper.read_text()
    for old, new in [("size = 0.01", "size = -0.01"), ("ema_s = 30.0", "ema_s = 0.0"),
                     ("edge_bps = 2.0", "edge_bps = -1.0"), ("max_position = 0.05", "max_position = 0")]:
        assert old in text
        text = text.replace(old, new)
    paper.write_text(text)
    capsys.readouterr()
    assert main(["check-config", str(paper)]) == 2
    assert sorted(capsys.readouterr().err.splitlines()) == sorted(f"{paper}: {line}" for line in [
        "strategies[0].params.size: must be > 0.0, got -0.01",
        "strategies[0].params.ema_s: must be > 0.0, got 0.0",
        "strategies[0].params.edge_bps: must be >= 0.0, got -1.0",
        "strategies[0].params.max_position: must be > 0.0, got 0",
    ])
