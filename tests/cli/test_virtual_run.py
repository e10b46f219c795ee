"""``volta run --virtual``: simulated time in the logs, never the deployment's journal
(issue 18, item 12)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.cli import main


def test_virtual_run_logs_simulated_time_and_keeps_the_journal_apart(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)  # the paper deployment's journal is var/paper.journal.sqlite
    assert main(["run", "--virtual", "--duration", "20", "--log-format", "json"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().err.splitlines() if x.startswith("{")]
    stamps = sorted({ln["timestamp"] for ln in lines})
    # runtime.run_virtual starts its clock at 2026-01-01T00:00:00Z (1_767_225_600 s)
    assert stamps[0].startswith("2026-01-01T00:00:") and stamps[-1] == "2026-01-01T00:00:20.000000Z"
    assert not (tmp_path / "var").exists()  # nothing written to the paper journal


def test_virtual_run_with_an_explicit_journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--virtual", "--duration", "5", "--journal", "sim.sqlite",
                 "--log-format", "json"]) == 0
    assert (tmp_path / "sim.sqlite").is_file() and not (tmp_path / "var").exists()


def test_virtual_run_refuses_the_deployments_own_journal(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """--journal naming the deployment's journal used to append simulated orders (stamped
    2026-01-01 by the virtual clock) to the real history; the README and --help say never."""
    monkeypatch.chdir(tmp_path)
    for given in ("var/paper.journal.sqlite", str(tmp_path / "var" / "x" / ".." / "paper.journal.sqlite")):
        assert main(["run", "--virtual", "--duration", "5", "--journal", given]) == 2
        assert capsys.readouterr().err == (
            f"volta run: --journal {given} is the deployment's own journal (deployment.journal); "
            "a virtual run's simulated orders must not join its history: give another path, or "
            "none to keep the journal in memory\n")
    assert not (tmp_path / "var").exists()


def test_virtual_run_lets_kernel_threads_sleep(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A virtual run's results do not depend on wall-clock latency, but OpenMP's default (its
    workers spin after each pricing-kernel call) made 300 simulated seconds of the paper
    deployment cost 26 s of wall time and 13.5 s of CPU on a busy 2-core host, against 4.3 s
    and 2.6 s with the workers sleeping. --virtual picks OMP_WAIT_POLICY=PASSIVE unless the
    user chose a policy (read when the first parallel kernel starts the pool)."""
    import os

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    assert main(["run", "--virtual", "--duration", "1", "--log-format", "json"]) == 0
    assert os.environ.get("OMP_WAIT_POLICY") == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    assert main(["run", "--virtual", "--duration", "1", "--log-format", "json"]) == 0
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"


def test_a_quoted_tilde_journal_is_the_home_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    assert main(["run", "--virtual", "--duration", "1", "--journal", "~/j.sqlite",
                 "--log-format", "json"]) == 0
    assert (home / "j.sqlite").is_file() and not (work / "~").exists()
