"""Packaging (issue 18, item 15): `make run`'s editable install gives no setuptools warning,
and a user's own top-level `config` package never breaks `volta` / `python -m engine`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_editable_install_is_quiet(tmp_path: Path) -> None:
    """The same command as the Makefile (pip install --quiet -e .), into a scratch venv (pip
    --python: never this environment, whose own install must stay)."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
         "--quiet", "--no-deps", "-e", str(ROOT)],
        capture_output=True, text=True, timeout=600)
    if done.returncode != 0 and "Could not find a version" in done.stderr:
        pytest.skip("no package index reachable for the build requirements")
    assert done.returncode == 0, done.stderr
    output = "\n".join(ln for ln in (done.stdout + done.stderr).splitlines()
                       if "Location 'file" not in ln)  # this machine's pip index notes
    assert "Please be careful with folders" not in output and "Warning" not in output, output
    (pth,) = venv.rglob("__editable__*.pth")
    assert pth.read_text().strip() == str(ROOT)  # a plain path entry, no meta-path finder


def test_users_own_config_package_does_not_break_volta(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "__init__.py").write_text("raise ImportError('the user config')\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-m", "engine", "check-config",
                           str(ROOT / "config" / "paper.toml")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok: ")
