"""Every option of ``volta kill`` and ``volta status`` says what it does in ``--help``."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from engine.control import kill_main
from engine.operator.client import status_main

# "  --name METAVAR   help..." (help on the line) or "  --long-name METAVAR" (help below)
_OPTION = re.compile(r"^  (-\S+(?: [^ ]+)?(?:, -\S+(?: [^ ]+)?)*)(?:\s{2,}(\S.*))?$")


def _options_without_help(text: str) -> list[str]:
    lines = text.split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("options:"))
    silent = []
    for i in range(start + 1, len(lines)):
        m = _OPTION.match(lines[i])
        if m is None:
            continue
        below = lines[i + 1] if i + 1 < len(lines) else ""
        if m.group(2) is None and not re.match(r"^\s{6,}\S", below):
            silent.append(m.group(1))
    return silent


@pytest.mark.parametrize("command", [kill_main, status_main])
def test_every_option_has_help(capsys: pytest.CaptureFixture[str],
                               command: Callable[[list[str]], int]) -> None:
    with pytest.raises(SystemExit) as exc:
        command(["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert len(re.findall(r"^  --", text, re.M)) > 3
    assert _options_without_help(text) == []


def test_the_check_sees_an_option_without_help() -> None:
    text = ("options:\n  -h, --help            show this help message and exit\n"
            "  --enable-strategy ID\n  --status              only report\n"
            "  --signal              send SIGUSR1 (level 1) / SIGUSR2 (level 2) to the\n"
            "                        daemon's pid instead\n")
    assert _options_without_help(text) == ["--enable-strategy ID"]


def test_enable_strategy_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        kill_main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--enable-strategy ID let strategy ID" in text
