"""``volta journal show`` arguments: a record type that does not exist (``--type Fill`` for
``OrderFilled``) used to print nothing with status 0, as if the journal held no such record, and
``--limit -1`` printed one record; both are refused in one line with status 2, and a type with
no record says so on stderr."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli import main
from engine.journal import Journal
from engine.journal_records import RECORD_TYPES
from engine.model import SubmitOrder


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    path = tmp_path / "j.sqlite"
    j = Journal(path)
    for i in range(3):
        j.append(i + 1, "out", SubmitOrder(client_order_id=f"c{i}", strategy_id="s",
                                           instrument_id="sim:BTC-PERP", side="buy",
                                           quantity=1.0, price=1.0, ts=i + 1))
    j.commit()
    j.close()
    return path


def test_unknown_record_type_is_an_error_naming_the_types_present(
        journal: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["journal", "show", str(journal), "--type", "Fill"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (f"volta journal: no record of type 'Fill' in {journal} (did you mean "
                   "'OrderFilled'?); types in it: SubmitOrder\n")


def test_known_type_with_no_record_prints_nothing(journal: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert "OrderFilled" in RECORD_TYPES
    assert main(["journal", "show", str(journal), "--type", "OrderFilled"]) == 0
    out, err = capsys.readouterr()
    assert out == "" and err == (f"volta journal: no record of type 'OrderFilled' in {journal}; "
                                 "types in it: SubmitOrder\n")
    assert main(["journal", "show", str(journal), "--type", "SubmitOrder", "--limit", "2"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2


@pytest.mark.parametrize("option,value", [("--limit", "-1"), ("--limit", "0"), ("--after", "-3"),
                                          ("--until", "-1")])
def test_negative_numbers_are_refused(journal: Path, capsys: pytest.CaptureFixture[str],
                                      option: str, value: str) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["journal", "show", str(journal), option, value])
    assert exit_.value.code == 2
    assert f"argument {option}: " in capsys.readouterr().err


def test_a_folder_is_not_called_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["journal", "ls", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (f"volta journal: {tmp_path}: is a folder, not a journal "
                                       "(give the deployment's journal file, e.g. "
                                       "var/paper.journal.sqlite)\n")
    assert main(["journal", "ls", str(tmp_path / "nope.sqlite")]) == 2
    assert capsys.readouterr().err == f"volta journal: {tmp_path / 'nope.sqlite'}: no such journal\n"


def test_a_quoted_tilde_is_the_home_folder(journal: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """As deployment.journal and run --journal: '~/...' (quoted, the shell left it) is home."""
    monkeypatch.setenv("HOME", str(journal.parent))
    assert main(["journal", "show", f"~/{journal.name}", "--limit", "1"]) == 0
    assert '"seq":1' in capsys.readouterr().out
