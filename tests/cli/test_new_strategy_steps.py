"""``volta new-strategy`` prints next steps that work exactly as printed (issue 18, item 2):
without pytest installed, without PYTHONPATH, from another directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

VOLTA = Path(sys.executable).parent / "volta"


@pytest.mark.slow
def test_printed_next_steps_run_as_printed(tmp_path: Path) -> None:
    if not VOLTA.is_file():
        pytest.skip(f"no volta console script next to {sys.executable}")
    blocker = tmp_path / "no_pytest"
    blocker.mkdir()
    (blocker / "pytest.py").write_text("raise ImportError('pytest is not installed here')\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PYTHONPATH"] = str(blocker)  # as after `make run`: no pytest importable
    env["PATH"] = "/usr/bin:/bin"  # the venv is not activated
    work = tmp_path / "work"
    work.mkdir()
    made = subprocess.run([str(VOLTA), "new-strategy", "my_dipper", "--dir", "strats"], cwd=work,
                          env=env, capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    (step,) = [ln for ln in made.stdout.splitlines() if ln.startswith("next: ")]
    command = step[len("next: "):]
    ran = subprocess.run(command, shell=True, cwd=work, env=env, capture_output=True, text=True,
                         timeout=300)
    assert ran.returncode == 0, f"{command}\n{ran.stdout[-2000:]}\n{ran.stderr[-3000:]}"
    assert "ok: test_my_dipper_trades_in_the_paper_deployment" in ran.stdout
    assert "Traceback" not in ran.stderr


def test_strategy_next_to_the_config_imports_from_anywhere(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    from engine.cli import main
    from engine.plugins import new_strategy_main

    assert new_strategy_main(["my_lifter", "--dir", str(tmp_path / "s")]) == 0
    capsys.readouterr()
    assert "my_lifter" not in sys.modules
    assert main(["check-config", str(tmp_path / "s" / "my_lifter.paper.toml")]) == 0, \
        capsys.readouterr().err
