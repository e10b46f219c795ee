"""``volta new-strategy`` refuses, in one line with status 2, what could never work: a folder
it cannot write (it used to raise a traceback) and a name another module already has (Volta's
own packages, the standard library, an installed package): the deployment's folder is searched
after them, so ``class = "json:Json"`` would import the standard library's ``json``."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli import main


@pytest.mark.parametrize("name", ["engine", "strategies", "json", "sys", "msgspec"])
def test_a_name_taken_by_another_module_is_refused(
        name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["new-strategy", name, "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"volta new-strategy: a module named {name!r} already exists (")
    assert err.endswith("): your module would never be imported under that name; pick another")
    assert list(tmp_path.iterdir()) == []


def test_a_folder_that_cannot_be_written_is_refused(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["new-strategy", "my_dipper", "--dir", str(blocker / "sub")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"volta new-strategy: --dir {blocker / 'sub'}: {blocker} is a file, not a folder"


def test_rewriting_ones_own_strategy_with_force_is_allowed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)  # (python -m engine puts the working folder on sys.path)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["new-strategy", "qa_mine"]) == 0
    assert main(["new-strategy", "qa_mine", "--force"]) == 0
    assert (tmp_path / "qa_mine.py").is_file()
