"""Whole backtests: the report, determinism, agreement with paper trading, sweeps, the CLI."""

from __future__ import annotations

import csv
import json
import math
from html.parser import HTMLParser
from pathlib import Path

import pytest

from backtest.cli import main
from backtest.runner import run_backtest
from backtest.sweep import load_with_overrides
from engine.runtime import run_virtual

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config" / "backtest.toml"
FILES = ("summary.json", "fills.csv", "orders.csv", "report.html")


def _short(tmp_path: Path, seconds: float = 120.0, extra: str = "") -> Path:
    """config/backtest.toml with a shorter synthetic session."""
    text = CONFIG.read_text().replace("duration_s = 900.0", f"duration_s = {seconds}")
    assert text != CONFIG.read_text()
    path = tmp_path / "bt.toml"
    path.write_text(text + extra)
    return path


class _Report(HTMLParser):
    """Chart titles (``data-title``), script tags (and whether they load anything) and text."""

    def __init__(self) -> None:
        super().__init__()
        self.titles: list[str] = []
        self.tags: list[str] = []
        self.sources: list[str] = []
        self.fill_rows = 0
        self._in_fills = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        self.tags.append(tag)
        if "data-title" in a:
            self.titles.append(a["data-title"])
        for key in ("src", "href"):
            if a.get(key):
                self.sources.append(a[key])
        if tag == "table" and a.get("class") == "fills":
            self._in_fills = True
        elif tag == "tr" and self._in_fills:
            self.fill_rows += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._in_fills = False


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("bt")
    out = tmp / "out"
    assert main([str(_short(tmp)), "--output", str(out), "--seed", "3", "--quiet"]) == 0
    return out


def test_backtest_of_the_example_market_makers_gives_a_sane_report(report: Path) -> None:
    s = json.loads((report / "summary.json").read_text())
    assert s["events"] > 10_000 and s["span"]["simulated_s"] == pytest.approx(120.0, abs=1.0)
    assert s["fills"]["count"] > 0 and s["fills"]["maker"] > 0
    pnl = s["pnl"]
    assert pnl["fees_usd"] > 0
    assert pnl["total_usd"] == pytest.approx(pnl["realized_usd"] + pnl["unrealized_usd"]
                                             - pnl["fees_usd"], abs=1e-3)
    assert s["risk"]["max_drawdown_usd"] >= 0 and s["risk"]["sharpe_per_interval"] is not None
    # 120 s of data: not annualised, and the summary says why
    assert s["risk"]["sharpe"] is None and s["risk"]["annualised"] is False
    assert "less than one day" in s["risk"]["annualisation_note"]
    assert 0 < s["orders"]["fill_ratio_qty"] <= 1
    assert s["queue"]["avg_wait_s"] > 0
    assert s["adverse_selection"]["1s"]["fills_measured"] > 0
    assert s["greeks"]["vega_usd_per_vol_pt"]["abs_max"] > 0  # the option quoter holds options
    assert s["engine"]["strategy_errors"] == {}
    fills = list(csv.DictReader((report / "fills.csv").open()))
    orders = list(csv.DictReader((report / "orders.csv").open()))
    assert len(fills) == s["fills"]["count"] and len(orders) == s["orders"]["orders"]
    assert {f["instrument"] for f in fills} <= {o["instrument"] for o in orders}
    assert all(float(f["quantity"]) > 0 and not math.isnan(float(f["price"])) for f in fills)


def test_html_report_is_self_contained_and_has_the_charts(report: Path) -> None:
    text = (report / "report.html").read_text()
    parser = _Report()
    parser.feed(text)
    parser.close()
    titles = parser.titles
    for wanted in ("Equity", "Drawdown", "Position and delta", "Fills on the price", "Greeks: gamma",
                   "Greeks: vega"):
        assert any(t.startswith(wanted) for t in titles), (wanted, titles)
    # one offline file: inline scripts only (uPlot inlined), nothing loaded from anywhere
    assert parser.tags.count("script") == 3 and parser.sources == []
    assert "uPlot" in text and "<link" not in text
    s = json.loads((report / "summary.json").read_text())
    assert parser.fill_rows == 1 + min(s["fills"]["count"], 1000)  # header + one row per fill
    assert "Per strategy" in text


def test_same_input_and_seed_give_byte_identical_results(report: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    assert main([str(_short(tmp_path)), "--output", str(again), "--seed", "3", "--quiet"]) == 0
    for name in FILES:
        assert (again / name).read_bytes() == (report / name).read_bytes(), name
    other = tmp_path / "other"
    assert main([str(_short(tmp_path)), "--output", str(other), "--seed", "4", "--quiet"]) == 0
    assert (other / "fills.csv").read_bytes() != (report / "fills.csv").read_bytes()


def test_backtest_and_paper_deployment_agree_on_fills(tmp_path: Path) -> None:
    """The paper config run by run_virtual and by the backtester (source = venue)."""
    paper = ROOT / "config" / "paper.toml"
    config, _ = load_with_overrides(paper, [("backtest.data.source", "venue"),
                                            ("backtest.data.duration_s", 120.0)])
    node = run_virtual(config, 120.0, journal_path=tmp_path / "j.sqlite")
    live = sorted((o.client_order_id, str(o.status), o.filled, o.avg_fill_price)
                  for o in node.kernel.orders)
    result = run_backtest(config)
    bt = sorted((o.client_order_id, str(o.status), o.filled, o.avg_fill_price)
                for o in result.node.kernel.orders)
    assert sum(1 for o in live if o[2] > 0) > 0
    assert bt == live
    assert result.summary["fills"]["count"] == node.kernel.counters["fills"]


def test_bad_backtest_section_names_the_key_path(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    path = _short(tmp_path)
    path.write_text(path.read_text().replace('source = "synthetic"', 'source = "nope"'))
    assert main([str(path), "--output", str(tmp_path / "o")]) == 2
    assert "backtest.data.source" in capsys.readouterr().err
    assert main([str(path), "--sweep", "strategies[0]params=1"]) == 2


@pytest.mark.slow
def test_sweep_runs_the_grid_in_processes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sweep"
    code = main([str(_short(tmp_path, 60.0)), "--output", str(out), "--quiet",
                 "--sweep", "strategies[0].params.half_spread_bps=1.5,6.0", "--workers", "2"])
    assert code == 0
    rows = list(csv.DictReader((out / "sweep.csv").open()))
    assert [r["strategies[0].params.half_spread_bps"] for r in rows] == ["1.5", "6.0"]
    assert (out / "run-000" / "report.html").is_file() and (out / "run-001" / "summary.json").is_file()
    assert rows[0]["fills.count"] != rows[1]["fills.count"]
    assert "half_spread_bps" in capsys.readouterr().out
    # a run shorter than a day has no annualised ratio: the table still ranks by the
    # per-interval ones (a column of '-' for every run compares nothing)
    for r, n in zip(rows, ("000", "001"), strict=True):
        risk = json.loads((out / f"run-{n}" / "summary.json").read_text())["risk"]
        assert r["risk.sharpe"] == "" and float(r["risk.sharpe_per_interval"]) == risk["sharpe_per_interval"]
        assert float(r["risk.sortino_per_interval"]) == risk["sortino_per_interval"]


def test_sweep_values_are_validated_before_anything_runs(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    code = main([str(_short(tmp_path, 30.0)), "--output", str(tmp_path / "o"), "--quiet",
                 "--sweep", "venues.sim.params.queue.model=worst,fifo"])
    assert code == 2
    err = capsys.readouterr().err
    assert "venues.sim.params.queue.model" in err and not (tmp_path / "o").exists()
    # the point is named as it was written on the command line, not as a Python list repr
    assert "[venues.sim.params.queue.model='fifo']: venues.sim.params.queue.model" in err, err


def _raising_quoter(tmp_path: Path, module: str, on_start: str) -> Path:
    """A short config whose first strategy is the quoter with ``on_start`` replaced (next to
    the config, where the CLI finds strategies)."""
    (tmp_path / f"{module}.py").write_text(
        "from strategies.examples.mm import Quoter\n\n\n"
        "class Boom(Quoter):\n"
        "    def on_start(self) -> None:\n" + on_start)
    cfg = _short(tmp_path, 20.0)
    cfg.write_text(cfg.read_text().replace('class = "strategies.examples.mm:Quoter"',
                                           f'class = "{module}:Boom"', 1))
    return cfg


def test_a_strategy_that_raises_is_said_and_the_exit_code_is_1(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A backtest whose strategy raised is not a clean result: the results are written, the
    last lines name the strategy and how often it raised, and the exit code is 1 (0 would let
    a script or CI take a crashed strategy's flat PnL for its performance)."""
    cfg = _raising_quoter(tmp_path, "boom_strategy", "        raise RuntimeError('boom')\n")
    out = tmp_path / "out"
    assert main([str(cfg), "--output", str(out), "--quiet"]) == 1
    io = capsys.readouterr()
    assert json.loads((out / "summary.json").read_text())["engine"]["strategy_errors"] == {"perp-mm": 1}
    assert (out / "report.html").is_file()
    assert "volta backtest: strategy perp-mm raised 1 time" in io.err, io.err
    # its log line is stamped with the simulated time it happened at, not the wall clock
    failed = json.loads(next(line for line in io.err.splitlines()
                             if "strategy_callback_failed" in line))
    start_ns = json.loads((out / "summary.json").read_text())["span"]["start_ns"]
    import datetime as dt

    assert failed["timestamp"] == dt.datetime.fromtimestamp(
        start_ns / 1e9, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), failed
    assert "strategy errors: perp-mm 1" in (out / "report.html").read_text()


def test_result_lines_say_unknown_never_none() -> None:
    """An unpriced PnL (total_usd null: a currency without a USD price) and a Sharpe that
    cannot be computed (a flat PnL) are said in words, not printed as 'None USD'."""
    from backtest.cli import result_lines

    s = {"events": 10, "span": {"simulated_s": 30.0},
         "pnl": {"total_usd": None, "priced_total_usd": -1.25, "fees_usd": 0.5,
                 "unpriced": {"LRC": 12.5, "BTC": -0.0001}},
         "fills": {"count": 3},
         "risk": {"sharpe": None, "sharpe_per_interval": None, "interval_s": 1.0,
                  "annualisation_note": "", "max_drawdown_usd": None}}
    line = result_lines(s)[0]
    assert "None" not in line, line
    assert line.startswith("PnL unknown: +12.5 LRC, -0.0001 BTC without a USD price "
                           "(priced part -1.25 USD); fees 0.5 USD, fills 3, Sharpe n/a"), line
    assert "max drawdown n/a" in line, line


def test_a_sweep_point_whose_strategy_raised_is_said_and_the_exit_code_is_1(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _raising_quoter(tmp_path, "boom_sweep_strategy",  # (a module name of its own)
                          "        if self.config.half_spread_bps > 5.0:\n"
                          "            raise RuntimeError('boom')\n"
                          "        super().on_start()\n")
    out = tmp_path / "sweep"
    code = main([str(cfg), "--output", str(out), "--quiet", "--workers", "1",
                 "--sweep", "strategies[0].params.half_spread_bps=1.5,6.0"])
    io = capsys.readouterr()
    rows = list(csv.DictReader((out / "sweep.csv").open()))
    assert [r["strategy_errors"] for r in rows] == ["0", "1"]
    assert code == 1 and "volta backtest: run-001: strategy perp-mm raised 1 time" in io.err, io.err


def test_ctrl_c_during_a_backtest_is_one_line_and_exit_130(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from backtest import cli

    def interrupted(*_a: object, **_k: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "run_backtest", interrupted)
    out = tmp_path / "out"
    assert main([str(_short(tmp_path, 20.0)), "--output", str(out), "--quiet"]) == 130
    err = capsys.readouterr().err
    assert err.strip() == f"volta backtest: interrupted: nothing written to {out}", err
    assert not out.exists()


def test_ctrl_c_stops_the_replay_loop_at_once(tmp_path: Path) -> None:
    """The replay is one synchronous call inside the event loop, where asyncio's own Ctrl-C
    handler only cancels the task at its next await: the whole run went on to its end before
    the interrupt (and its results were then discarded). It stops at the next event now."""
    import signal

    config, _ = load_with_overrides(_short(tmp_path, 120.0), [])
    calls: list[int] = []

    def ctrl_c_once(events: int, sim_ns: int, wall_s: float) -> None:
        calls.append(events)
        if len(calls) == 1:
            signal.raise_signal(signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        run_backtest(config, progress=ctrl_c_once, progress_every_s=0.0)
    assert len(calls) == 1, calls  # no progress after the interrupt: the loop stopped there
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_log_lines_never_share_a_line_with_the_progress_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The progress line is rewritten in place (no newline); a log line written meanwhile
    (here the shutdown's trading_state warning) starts on a line of its own."""
    assert main([str(_short(tmp_path, 20.0)), "--output", str(tmp_path / "out")]) == 0
    lines = capsys.readouterr().err.split("\n")
    glued = [line for line in lines if "backtest:" in line and "{" in line]
    assert not glued, glued
    assert any('"trading_state"' in line for line in lines)


def test_report_shows_an_unpriced_fee_or_notional_as_unpriced_never_as_0() -> None:
    """A fill whose fee or notional has no USD price (NaN in the ledger) makes its strategy's
    total unpriced in the report, instead of being left out of the sum (which showed the
    other fills' total, or 0, as if it were the whole)."""
    from types import SimpleNamespace

    from backtest.html import strategy_breakdown

    order = SimpleNamespace(strategy_id="alt-mm")
    ledger = SimpleNamespace(k=SimpleNamespace(orders={"o1": order, "o2": order}), fills=[
        {"client_order_id": "o1", "liquidity": "maker", "quantity": 1.0, "notional_usd": 10.0,
         "fee_usd": 0.01, "instrument": "x:LRCBTC"},
        {"client_order_id": "o2", "liquidity": "taker", "quantity": 1.0,
         "notional_usd": math.nan, "fee_usd": math.nan, "instrument": "x:LRCBTC"}])
    row = strategy_breakdown(ledger, [])[0]
    assert row[:4] == ["alt-mm", 2, 1, 1] and row[5] == "unpriced" and row[6] == "unpriced", row


@pytest.mark.parametrize("nth, key", [
    (0, "venues.sim.params.seed"), (1, "backtest.seed"), (2, "backtest.data.synthetic.seed"),
    (None, "--seed"),
])
def test_a_negative_seed_is_a_config_error_not_a_traceback(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], nth: int | None, key: str) -> None:
    """config/backtest.toml's three seeds, in file order, and the --seed option."""
    cfg = _short(tmp_path, 20.0)
    parts = cfg.read_text().split("\nseed = 11\n")
    assert len(parts) == 4
    if nth is not None:
        cfg.write_text("".join(p + ("" if n == 3 else "\nseed = -1\n" if n == nth else "\nseed = 11\n")
                               for n, p in enumerate(parts)))
    args = ["--seed", "-1"] if nth is None else []
    assert main([str(cfg), "--output", str(tmp_path / "o"), "--quiet", *args]) == 2
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]  # (argparse shows its usage lines above its error)
    assert key in last and "-1" in last and "Traceback" not in err, err
    assert nth is None or len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "o").exists()


def test_report_labels_usd_parts_as_priced_only_when_some_pnl_is_unpriced() -> None:
    """With an unpriced currency the total is 'unknown', and the USD parts (realized,
    unrealized, fees, funding, drawdown) cover only the priced currencies: the report says so
    instead of showing them as the run's figures."""
    import re

    from backtest.html import render
    from tests.operator.test_report_html import SUMMARY, _fake_ledger

    unpriced = {**SUMMARY, "pnl": {**SUMMARY["pnl"], "total_usd": None, "unpriced": {"LRC": 12.5}}}
    text = render("unpriced", unpriced, _fake_ledger(), max_points=200)
    labels = re.findall(r"<tr><td>([^<]*)</td><td>", text)
    assert "total PnL (USD)" in labels and "unknown: +12.5 LRC unpriced" in text
    for part in ("realized", "unrealized", "fees", "max drawdown"):
        assert f"{part} (USD, priced currencies only)" in labels, labels
    priced = render("priced", SUMMARY, _fake_ledger(), max_points=200)
    assert "priced currencies only" not in priced and "realized (USD)" in priced
