"""Every `volta` command's --help is plain text and explains every argument.

A newcomer reads `volta <command> --help` before the docs: `volta backtest --help` and
`volta data --help` printed their module docstrings' reST (``volta backtest CONFIG ...``),
`volta journal ls|show --help` listed PATH with no word on what it is.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine.cli import EXTERNAL_COMMANDS, main

NESTED = {"data": ("import", "ls"), "journal": ("ls", "show")}
COMMANDS = [["run"], ["check-config"]] + [[c] for c in EXTERNAL_COMMANDS] + [
    [c, s] for c, subs in NESTED.items() for s in subs]


def _help(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exc:
        status = main([*argv, "--help"])  # (the external commands return, argparse exits)
        raise SystemExit(status)
    assert exc.value.code in (0, None)
    return capsys.readouterr().out


def _entries_without_help(text: str) -> list[str]:
    """Argument lines of the help's sections with no help text on the line or below it."""
    lines = text.splitlines()
    missing = []
    in_section = False
    for i, line in enumerate(lines):
        if line and not line.startswith(" "):
            in_section = line.endswith(":") and not line.startswith("usage:")
            continue
        if not in_section or not re.match(r"  \S", line):
            continue
        own = re.match(r"  (\S.*?)(\s{2,}\S.*)?$", line)
        below = i + 1 < len(lines) and re.match(r"\s{4,}\S", lines[i + 1])
        if own and not own.group(2) and not below:
            missing.append(own.group(1))
    return missing


def test_the_command_list_is_complete(capsys: pytest.CaptureFixture[str]) -> None:
    listed = re.search(r"\{([a-z,-]+)\}", _help(capsys, [])).group(1).split(",")
    assert sorted(listed) == sorted(c[0] for c in COMMANDS if len(c) == 1)


@pytest.mark.parametrize("argv", COMMANDS, ids=" ".join)
def test_help_is_plain_text_and_covers_every_argument(
        capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    text = _help(capsys, argv)
    assert "``" not in text, text
    assert _entries_without_help(text) == [], text


def test_the_check_finds_an_argument_without_help() -> None:
    text = "usage: x\n\npositional arguments:\n  PATH\n  NAME        its help\n\noptions:\n" \
           "  --venue {a,b}\n                        wrapped help\n"
    assert _entries_without_help(text) == ["PATH"]


@pytest.mark.parametrize("argv", [["record", "config/paper.toml", "--duration", "-5"],
                                  ["record", "config/paper.toml", "--duration", "nan"],
                                  ["backtest", "config/backtest.toml", "--workers", "0"]])
def test_bad_numbers_are_refused_before_any_work(
        capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    """`volta record --duration -5` recorded nothing and exited 0; `--duration nan` never
    stopped; `volta backtest --workers 0` was taken as the default and -3 as 1."""
    with pytest.raises(SystemExit) as exc:
        raise SystemExit(main(argv))
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {argv[2]}: expected" in err and "Traceback" not in err


def test_the_cluster_demo_help_is_plain_text(capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m cluster.demo --help` (what `make cluster-demo` runs) printed its module
    docstring's reST, under a usage line of options that make does not take."""
    from cluster.demo import main as demo_main

    with pytest.raises(SystemExit) as exc:
        demo_main(["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert "``" not in text and _entries_without_help(text) == []
    assert 'make cluster-demo DEMO_ARGS="--duration 60"' in text


def readme_usage() -> dict[str, str]:
    """README's "The `volta` command" block: each command's lines (continuations included)."""
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    start = text.index("## The `volta` command")
    block = re.search(r"```\n(.*?)```", text[start:], re.S).group(1)
    usage: dict[str, str] = {}
    command = ""
    for line in block.splitlines():
        if line.startswith("volta "):
            command = line.split()[1]
        usage[command] = usage.get(command, "") + " " + line.split("#")[0]
    return usage


@pytest.mark.parametrize("argv", COMMANDS, ids=" ".join)
def test_the_readme_lists_every_option(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    """README's command list left out options a newcomer needs (volta kill --config/--journal/
    --wait, volta journal show's filters, volta data import's --venue and --instruments,
    volta strategies --json, volta new-strategy --force)."""
    options = re.findall(r"^\s+(?:-\w, )?(--[a-z][a-z-]*)", _help(capsys, argv), re.M)
    line = readme_usage()[argv[0]]
    assert [o for o in options if o != "--help" and o not in line] == []
