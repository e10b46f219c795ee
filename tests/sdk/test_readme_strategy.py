"""The strategy of README.md's "Writing a strategy", exactly as written there (the code block is
read from the README, so the page cannot drift from what runs), next to a deployment file as
the README says: checked, run on the paper deployment's virtual clock and backtested. The
README named it `class = "my_dipper:MyDipper"`, a class its code does not define."""

from __future__ import annotations

import csv
import json
import re
import sys
from pathlib import Path

import pytest

from engine.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _section() -> str:
    text = (ROOT / "README.md").read_text()
    return text[text.index("\n## Writing a strategy\n"):]


def readme_strategy() -> tuple[str, str, str]:
    """The code, the module name the README saves it as, and the class path it gives."""
    code = re.search(r"```python\n(.*?)```", _section(), re.S).group(1)
    saved = re.search(r"this code saved as\s+`(\w+)\.py`", _section()).group(1)
    path = re.search(r'`class =\s+"(\w+:\w+)"`\) wherever', _section()).group(1)
    return code, saved, path


def _deployment(base: str, params: str) -> str:
    """``config/<base>`` with its strategies replaced by the README's Dipper."""
    text = (ROOT / "config" / base).read_text()
    start = text.index("\n[[strategies]]")
    end = text.find("\n[backtest]\n", start)
    strategies = (f'\n[[strategies]]\nid = "dip"\nclass = "{readme_strategy()[2]}"\nvenue = "sim"\n\n'
                  f"[strategies.params]\n{params}\n")
    return text[:start] + strategies + (text[end:] if end > 0 else "")


@pytest.fixture
def desk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    code, module, _ = readme_strategy()
    (tmp_path / f"{module}.py").write_text(code)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))  # (the CLI adds the file's folder)
    yield tmp_path
    sys.modules.pop(module, None)


def test_the_readme_strategy_runs_on_the_paper_deployment(
        desk: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (desk / "dipper.toml").write_text(_deployment("paper.toml", 'instrument = "BTC-PERP"\nsize = 0.01'))
    assert main(["check-config", "dipper.toml"]) == 0
    assert main(["run", "dipper.toml", "--virtual", "--duration", "30", "--log-format", "json"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().err.splitlines() if x.startswith("{")]
    status = [ln for ln in lines if ln["event"] == "status" and ln["state"] == "active"]
    assert status, "no status line while trading"
    # one resting post-only buy below the mid (or filled since), no error, no denial
    assert all(s["working"] + s["fills"] >= 1 and s["denied"] == 0 for s in status), status
    assert all(s["strategies"]["dip"]["errors"] == 0 for s in status)


GUIDE = (ROOT / "docs" / "strategies.md").read_text()


@pytest.mark.parametrize("params, quoted", [
    ("size = 0.0", r"`(strategies\[0\]\.params\.size: must be > 0\.0, got 0\.0)`"),
    ("sise = 0.01", r"\(`(strategies\[0\]\.params\.sise: unknown key .*?)`\)"),
])
def test_config_mistakes_read_as_the_guide_quotes_them(
        desk: Path, capsys: pytest.CaptureFixture[str], params: str, quoted: str) -> None:
    """docs/strategies.md, section 2: a typo or a bound is a config error naming the key path
    before anything runs (the guide quoted the typo's message without its hint)."""
    (desk / "dipper.toml").write_text(_deployment("paper.toml", params))
    assert main(["check-config", "dipper.toml"]) == 2
    message = re.search(quoted, " ".join(GUIDE.split())).group(1)
    assert capsys.readouterr().err == f"dipper.toml: {message}\n"


def test_check_config_reports_an_unknown_short_name(
        desk: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """docs/strategies.md said an unknown short name is reported "when the deployment is
    built"; volta check-config reports it, with the installed names."""
    assert "`volta check-config` accepts either form and reports an unknown short name" in \
        " ".join(GUIDE.split())
    text = _deployment("paper.toml", "size = 0.01").replace(readme_strategy()[2], "dipperx")
    (desk / "dipper.toml").write_text(text)
    assert main(["check-config", "dipper.toml"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dipper.toml: strategies[0].class: no strategy named 'dipperx'; "
                          "installed: ") and "quoter" in err


def test_the_readme_strategy_backtests(desk: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = _deployment("backtest.toml", "size = 0.01").replace("duration_s = 900.0", "duration_s = 60.0")
    (desk / "dipper.backtest.toml").write_text(text)
    assert main(["backtest", "dipper.backtest.toml", "--quiet", "--output", "out"]) == 0
    rows = list(csv.DictReader((desk / "out" / "orders.csv").open()))
    assert rows, "no order in the backtest"
    first = rows[0]
    assert (first["strategy_id"], first["side"], first["post_only"]) == ("dip", "buy", "True")
    # a bid 0.1 % under the mid of the generator's market, which starts at 60,000 USD
    # (60,000 x 0.999 = 59,940), on the perpetual's 0.5 USD tick
    price = float(first["price"])
    assert abs(price - 59_940.0) < 60.0 and price % 0.5 == 0.0, price


def test_a_misspelt_instrument_stops_the_node(desk: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The README's strategy subscribed to whatever id its config spelt: with "BTC-PERPX" the
    paper run went on for good with no order, no error and no word why. As written now it
    raises in on_start, which the README says stops the node with exit code 4."""
    (desk / "dipper.toml").write_text(_deployment("paper.toml", 'instrument = "BTC-PERPX"'))
    assert main(["run", "dipper.toml", "--virtual", "--duration", "10", "--log-format", "json"]) == 4
    err = capsys.readouterr().err
    assert "volta run: strategy dip failed to start: ValueError: unknown instrument sim:BTC-PERPX" in err
