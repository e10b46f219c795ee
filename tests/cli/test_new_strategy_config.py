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


def test_template_test_run_as_a_script_prints_its_verdict_not_the_log(tmp_path: Path) -> None:
    """`python test_<name>.py` (the printed next step) printed ~60 lines of unconfigured
    structlog output (every status event as key=value dumps) around its one 'ok' line; it now
    shows errors only, then the verdict."""
    import os
    import subprocess

    assert main(["new-strategy", "qa_quiet", "--dir", str(tmp_path)]) == 0
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    ran = subprocess.run([sys.executable, "test_qa_quiet.py"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert ran.stdout.strip() == "ok: test_qa_quiet_trades_in_the_paper_deployment"
    assert ran.stderr == ""
