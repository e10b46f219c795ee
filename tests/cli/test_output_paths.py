"""Output paths are checked before the work starts (issue 18, item 3): one line, exit 2."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import backtest.cli as backtest_cli
import engine.runtime as runtime
from engine.cli import main as volta

ROOT = Path(__file__).resolve().parents[2]
BACKTEST = ROOT / "config" / "backtest.toml"


def _never(*_a: Any, **_k: Any) -> Any:
    raise AssertionError("the work started before the output path was checked")


@pytest.fixture
def no_work(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backtest_cli, "load_data", _never)
    monkeypatch.setattr(backtest_cli, "run_backtest", _never)
    monkeypatch.setattr(backtest_cli, "run_sweep", _never)
    monkeypatch.setattr(runtime, "run_live", _never)
    monkeypatch.setattr(runtime, "run_virtual", _never)


def _one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("sweep", [False, True])
def test_backtest_output_under_a_regular_file(tmp_path: Path, no_work: None, sweep: bool,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    args = [str(BACKTEST), "--output", str(blocker / "out"), "--quiet"]
    if sweep:
        args += ["--sweep", "strategies[0].params.half_spread_bps=3,5"]
    assert backtest_cli.main(args) == 2
    line = _one_line(capsys.readouterr().err)
    assert str(blocker) in line and "is a file, not a folder" in line


def test_backtest_output_at_an_existing_file(tmp_path: Path, no_work: None,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "report"
    target.write_text("x")
    assert backtest_cli.main([str(BACKTEST), "--output", str(target), "--quiet"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert str(target) in line and "exists and is a file" in line
    assert target.read_text() == "x"  # nothing lost


@pytest.mark.parametrize("virtual", [False, True])
def test_run_journal_under_a_regular_file(tmp_path: Path, no_work: None, virtual: bool,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    args = ["run", "--journal", str(blocker / "j.sqlite"), "--duration", "5"]
    if virtual:
        args.append("--virtual")
    assert volta(args) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("volta run: --journal") and "is a file, not a folder" in line


def test_run_journal_at_a_folder(tmp_path: Path, no_work: None,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert volta(["run", "--journal", str(tmp_path), "--duration", "5"]) == 2
    assert "is a folder, not a file" in _one_line(capsys.readouterr().err)


def test_writable_paths_pass(tmp_path: Path) -> None:
    from engine.outputs import check_output_dir, check_output_file

    assert check_output_dir(tmp_path / "a" / "b") == tmp_path / "a" / "b"
    assert check_output_file(tmp_path / "a" / "j.sqlite") == tmp_path / "a" / "j.sqlite"
    assert not (tmp_path / "a").exists()  # the check only looks
