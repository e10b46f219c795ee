"""``volta run --duration``: a number of seconds > 0. NaN and infinity used to end in a
traceback (status 1), and 0 or a negative value started the node and stopped it at once."""

from __future__ import annotations

import pytest

from engine.cli import main


@pytest.mark.parametrize("value", ["nan", "inf", "0", "-5", "ten"])
def test_bad_duration_is_refused_before_anything_starts(
        value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["run", "--virtual", "--duration", value])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"argument --duration: expected a number of seconds > 0, got {value!r}" in err
    assert "Traceback" not in err
