"""``volta kill`` / ``volta status`` with a deployment file that does not load print its
problems as ``volta check-config`` does, then what to do, and exit 2."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from engine.control import kill_main
from engine.operator.client import status_main


@pytest.mark.parametrize(("command", "prog"), [(kill_main, "volta kill"),
                                               (status_main, "volta status")])
def test_a_broken_config_is_reported_line_by_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        command: Callable[[list[str]], int], prog: str) -> None:
    path = tmp_path / "half.toml"
    path.write_text('[deployment]\nname = "x"\nmode = "paper"\n[books]\nstale_after_s = -1\n')
    assert command(["--config", str(path)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"{path}: deployment.journal: missing required key",
        f"{path}: books.stale_after_s: must be >= 0.0, got -1",
        f"{path}: venues: no enabled venue: add a [venues.<name>] table",
        f"{prog}: the journal path comes from {path}, which does not load: fix it, or give "
        "--journal PATH",
    ]


CONFIG = Path(__file__).parents[2] / "config"


@pytest.mark.parametrize(("command", "prog", "lead"), [(kill_main, "volta kill", "cannot find the journal"),
                                                       (status_main, "volta status", "cannot find the daemon")])
def test_a_config_with_its_journal_in_memory_says_how_to_reach_the_daemon(
        capsys: pytest.CaptureFixture[str], command: Callable[[list[str]], int],
        prog: str, lead: str) -> None:
    path = CONFIG / "cluster-gateway.toml"
    assert command(["--config", str(path)]) == 2
    assert capsys.readouterr().err == (
        f'{prog}: {lead}: {path} keeps its journal in memory (deployment.journal = ":memory:"), '
        "so no running daemon is found through it; give the running daemon's own journal with "
        "--journal PATH\n")


def test_an_aggregator_config_points_at_its_firm_view(capsys: pytest.CaptureFixture[str]) -> None:
    assert status_main(["--config", str(CONFIG / "cluster-aggregator.toml")]) == 2
    assert capsys.readouterr().err.endswith(
        "it deploys an aggregator, whose firm view is volta status --url http://127.0.0.1:18787\n")


@pytest.mark.parametrize("command", [kill_main, status_main])
def test_a_quoted_tilde_journal_is_under_the_home_folder(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        command: Callable[[list[str]], int]) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert command(["--journal", "~/j.sqlite", "--wait", "0"] if command is kill_main
                   else ["--journal", "~/j.sqlite"]) == 1  # no daemon there
    err = capsys.readouterr().err
    assert str(tmp_path / "j.sqlite") in err and "~" not in err
