"""A strategy module next to the deployment that does not import (a syntax error, an exception
at import time) is one line naming the module, the cause and where, exit status 2 - for
``volta check-config`` and ``volta run`` alike; it used to be a traceback with status 1."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from engine.cli import main

DEPLOY = """
[deployment]
name = "t"
mode = "paper"
journal = "var/t.sqlite"

[venues.sim]
adapter = "adapters.sim:SimVenue"

[venues.sim.params]
expiries_days = []

[[strategies]]
id = "s"
class = "{module}:Mine"
venue = "sim"
"""


@pytest.fixture(autouse=True)
def _forget_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))  # main() appends the deployment's folder


def _write(tmp_path: Path, module: str, source: str) -> Path:
    (tmp_path / f"{module}.py").write_text(source)
    path = tmp_path / f"{module}.toml"
    path.write_text(DEPLOY.format(module=module))
    return path


CASES = [  # module name, source, what the line must say (after "... (from ...): ")
    ("qa_syntax_mod", "x = 1\ndef broken(:\n    pass\n", "invalid syntax ({py}, line 2)"),
    ("qa_raising_mod", "import math\n\nLIMIT = math.sqrt(-1)\n",
     "ValueError: math domain error ({py}, line 3)"),
]


@pytest.mark.parametrize("module,source,expected", CASES)
@pytest.mark.parametrize("command", [["check-config"], ["run", "--virtual", "--duration", "1"]])
def test_module_that_does_not_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str], command: list[str],
                                     module: str, source: str, expected: str) -> None:
    monkeypatch.chdir(tmp_path)
    path = _write(tmp_path, module, source)
    assert main([command[0], str(path), *command[1:]]) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert err == (f"{path}: strategies[0].class: cannot import module {module!r} "
                   f"(from '{module}:Mine'): " + expected.format(py=tmp_path / f"{module}.py"))
