"""``volta run`` on an invalid deployment prints what ``volta check-config`` prints: one line
per problem, ``FILE: key.path: reason``, status 2. It used to add a line of its own and, for
one problem, name the file twice across two lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli import main
from engine.config import default_config_path

GOOD = default_config_path().read_text()


@pytest.mark.parametrize("edits", [
    [("status_interval_s", "status_intervl_s")],
    [("status_interval_s", "status_intervl_s"), ("max_order_qty = 1.0", "max_order_qty = -1.0")],
])
def test_run_reports_each_problem_on_one_line_like_check_config(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        edits: list[tuple[str, str]]) -> None:
    text = GOOD
    for old, new in edits:
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / "bad.toml"
    path.write_text(text)
    assert main(["check-config", str(path)]) == 2
    expected = capsys.readouterr().err
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == expected
    assert len(err.splitlines()) == len(edits)
    assert all(line.startswith(f"{path}: ") for line in err.splitlines())
