"""``volta backtest CONFIG [--output DIR] [--sweep key=v1,v2,...]... [--seed N]``.

One run writes ``summary.json``, ``fills.csv``, ``orders.csv``, ``report.html`` (and ``perf.json``)
to the output folder (default ``var/backtest/<deployment name>``) and shows progress on stderr.
With ``--sweep`` the grid runs in parallel processes, one sub-folder per point, and a comparison
table is printed and written to ``sweep.csv``. Exit codes: 0 done, 1 a strategy raised (the results
are written; the exceptions are in the log), 2 config or data problems, 130 Ctrl-C.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from backtest import store as stores
from backtest.metrics import coins
from backtest.report import write_outputs
from backtest.runner import load_data, run_backtest
from backtest.schema import backtest_spec, check_backtest, missing_data
from backtest.store import StoreError
from backtest.sweep import (
    OverrideError,
    load_with_overrides,
    parse_sweeps,
    prepare,
    run_sweep,
    table_csv,
    table_text,
)
from engine.config import ConfigError, ConfigProblem
from engine.outputs import OutputPathError, check_output_dir
from engine.runtime import resolve_plugins


_open_line = [False]
"""A progress line is on stderr without its newline (it is rewritten in place)."""


def _end_line() -> None:
    """End the progress line, if one is open, so the next text starts a line of its own."""
    if _open_line[0]:
        _open_line[0] = False
        sys.stderr.write("\n")


class _Stderr:
    """Whatever ``sys.stderr`` is at each write (a test harness may swap and close it); a log
    line never continues the progress line."""

    def write(self, text: str) -> int:
        if text:
            _end_line()
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


def _seed(text: str) -> int:
    """A non-negative integer (argparse names the option in its error)."""
    try:
        v = int(text)
    except ValueError:
        v = -1
    if v < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a non-negative integer")
    return v


def _positive(text: str) -> int:
    """An integer >= 1 (argparse names the option in its error)."""
    try:
        v = int(text)
    except ValueError:
        v = 0
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return v


def _progress(events: int, sim_ns: int, wall_s: float) -> None:
    t = dt.datetime.fromtimestamp(sim_ns / 1e9, tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    rate = events / wall_s if wall_s > 0 else 0.0
    print(f"\rbacktest: {events:>10,} events  sim {t}  {rate:>9,.0f} events/s  {wall_s:7.1f} s",
          end="", file=sys.stderr, flush=True)
    _open_line[0] = True


def missing_data_of(path: str) -> list[ConfigProblem]:
    """The data the backtest config at ``path`` names that is not there, in the words
    ``volta backtest`` refuses it with (``volta check-config`` reports them too)."""
    try:
        config, _ = load_with_overrides(path, [])
        return missing_data(backtest_spec(config))
    except ConfigError as exc:
        return exc.problems


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``volta backtest``; returns the exit code."""
    ap = argparse.ArgumentParser(
        prog="volta backtest",
        description="Backtest a deployment on recorded, imported or synthetic data: summary.json, fills.csv, orders.csv and report.html in the output folder; with --sweep a grid of runs in parallel processes and one comparison table (sweep.csv).",
        epilog="exit status: 0 done, 1 a strategy raised (the results are written), 2 a config or data problem, 130 Ctrl-C")
    ap.add_argument("config", help="deployment TOML with a [backtest] section")
    ap.add_argument("--output", "-o", metavar="DIR", help="result folder (default var/backtest/<name>)")
    ap.add_argument("--sweep", action="append", default=[], metavar="KEY=V1,V2",
                    help="sweep a config key path over values (repeatable: a grid)")
    ap.add_argument("--seed", type=_seed, metavar="N", help="override every seed (data generator, latency, "
                    "queue; a non-negative integer)")
    ap.add_argument("--workers", type=_positive, metavar="N", help="sweep processes (default: CPU count)")
    ap.add_argument("--quiet", action="store_true", help="no progress line")
    try:
        args = ap.parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exc:
        return 0 if exc.code == 0 else 2
    from engine.plugins import add_module_folder

    add_module_folder(Path(args.config).parent)  # strategies next to the deployment file
    out: Path | None = None
    writing = False  # (what an interrupt leaves: nothing, or an incomplete result folder)
    try:
        sweeps = parse_sweeps(args.sweep)
        config, _ = load_with_overrides(args.config, [], args.seed)
        problems = check_backtest(config) + resolve_plugins(config)
        if not problems:  # the data must exist before any work starts
            problems = missing_data(backtest_spec(config))
        if problems:
            raise ConfigError(problems, args.config)
        spec = backtest_spec(config)
        out = check_output_dir(args.output or Path("var/backtest") / config.deployment.name,
                               "--output" if args.output else "output folder")
        from engine.logging import configure_logging

        configure_logging(config.logging.level, config.logging.format, stream=_Stderr())  # type: ignore[arg-type]
        if sweeps:
            writing = True
            return _sweep(args, config, spec, sweeps, out)
        data = load_data(config, spec)
        result = run_backtest(config, data=data, spec=spec,
                              progress=None if args.quiet else _progress)
        _end_line()
        writing = True
        write_outputs(result, out, f"Backtest: {config.deployment.name}")
    except (ConfigError, OverrideError, StoreError, OutputPathError) as exc:
        _end_line()
        print(f"volta backtest: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        left = ("nothing written" if out is None else
                f"the results in {out} are incomplete" if writing and out.exists() else
                f"nothing written to {out}")
        _end_line()
        print(f"volta backtest: interrupted: {left}", file=sys.stderr)
        return 130
    s = result.summary
    print(f"events {result.events:,} in {result.wall_s:.1f} s ({result.events_per_s:,.0f} events/s), "
          f"simulated {s['span']['simulated_s']:,.0f} s")
    for line in result_lines(s):
        print(line)
    print(f"report: {out / 'report.html'}")
    for line in gap_lines(s):
        print(f"volta backtest: warning: {line}", file=sys.stderr)
    return _strategy_errors(s, "")


def gap_lines(summary: dict[str, Any]) -> list[str]:
    """The catalog days of the run with no data for an instrument (``data.missing_days``)."""
    out = []
    for iid, days in summary.get("data", {}).get("missing_days", {}).items():
        shown = ", ".join(days[:5]) + (f" and {len(days) - 5} more" if len(days) > 5 else "")
        out.append(f"no data for {iid} on {shown}: the replay jumps that gap (its book stays "
                   "as it was)")
    return out


def _strategy_errors(summary: dict[str, Any], run: str) -> int:
    """Each strategy that raised, on stderr; 1 if any did (the results are not its own)."""
    errors = {sid: n for sid, n in summary["engine"].get("strategy_errors", {}).items() if n}
    for sid, n in errors.items():
        print(f"volta backtest: {run}strategy {sid} raised {n} time{'s' if n > 1 else ''} (the "
              "exceptions are in the log above): these results are not the strategy's own",
              file=sys.stderr)
    return 1 if errors else 0


def _sweep_progress(done: int, total: int, label: str, wall_s: float) -> None:
    print(f"sweep: {done}/{total} runs done ({label})  {wall_s:7.1f} s", file=sys.stderr, flush=True)


def _sweep(args: argparse.Namespace, config: object, spec: object, sweeps: list, out: Path) -> int:
    data_spec = spec.data  # type: ignore[attr-defined]
    points = prepare(args.config, sweeps, args.seed)  # every point valid before any work
    with tempfile.TemporaryDirectory(prefix="volta-sweep-") as tmp:
        store_dir = ""
        if data_spec.source != "venue":
            # decode or generate once; every worker loads the same columnar store
            store_dir = data_spec.store or str(Path(tmp) / "store")
            data = load_data(config, spec)  # (a [backtest.data] store: reused only if it holds
            if not data_spec.store:         # this data, else rebuilt there)
                stores.save(data, store_dir)  # type: ignore[arg-type]
        rows = run_sweep(points, out, store_dir, args.workers,
                         progress=None if args.quiet else _sweep_progress)
    out.mkdir(parents=True, exist_ok=True)
    (out / "sweep.csv").write_text(table_csv(rows), encoding="utf-8")
    print(table_text(rows))
    print(f"sweep: {len(rows)} runs, table {out / 'sweep.csv'}")
    code = 0
    for row in rows:
        if row["strategy_errors"]:
            summary = json.loads((out / row["run"] / "summary.json").read_text(encoding="utf-8"))
            code = max(code, _strategy_errors(summary, f"{row['run']}: "))
    return code


if __name__ == "__main__":
    sys.exit(main())


def _sharpe(risk: dict[str, Any]) -> str:
    if risk.get("sharpe") is not None:
        return f"{risk['sharpe']} (annualised)"
    if risk.get("sharpe_per_interval") is None:  # fewer than 3 samples, or a flat PnL
        few = risk.get("max_drawdown_usd") is None
        return f"n/a ({risk.get('annualisation_note') if few else 'the PnL never varied'})"
    return f"{risk.get('sharpe_per_interval')} per {risk.get('interval_s')} s interval (not annualised)"


def _usd_part(pnl: dict[str, Any], figure: str) -> str:
    """One PnL figure: USD, with the amounts no USD price converted beside it (never 0 USD)."""
    usd = pnl.get(f"{figure}_usd")
    left_out = pnl.get("unpriced_parts", {}).get(figure)
    if not left_out:
        return f"{usd} USD"
    return (f"unpriced ({coins(left_out)})" if usd is None
            else f"{usd} USD + {coins(left_out)} unpriced")


def result_lines(s: dict[str, Any]) -> list[str]:
    """The summary's headline: an unpriced PnL or an undefined ratio in words, never 'None'."""
    pnl, risk = s["pnl"], s["risk"]
    if pnl["total_usd"] is None:
        left_out = ([f"{coins(pnl['unpriced'])} without a USD price"] if pnl.get("unpriced") else [])
        left_out += [f"no mark for {', '.join(pnl['unmarked'])}"] if pnl.get("unmarked") else []
        priced = pnl.get("priced_total_usd")  # (nothing priced: no 'priced part 0.0 USD')
        total = f"PnL unknown: {', '.join(left_out)}" + (
            f" (priced part {priced} USD);" if priced else ";")
        parts = ", ".join(f"{fig} {_usd_part(pnl, fig)}" for fig in ("realized", "fees")
                          if fig == "fees" or pnl.get("unpriced_parts", {}).get(fig))
    else:
        total = f"PnL {pnl['total_usd']} USD"
        parts = f"(fees {pnl['fees_usd']})"
    line = f"{total} {parts}, fills {s['fills']['count']}, "
    by_ccy = risk.get("by_currency")
    if by_ccy is not None:  # (the USD equity leaves amounts out: each currency's own figures)
        return [line + "; ".join(f"{c}: {_risk_text(r, 'max_drawdown', c)}"
                                 for c, r in by_ccy.items())]
    return [f"{line}{_risk_text(risk, 'max_drawdown_usd', 'USD')}"]


def _risk_text(risk: dict[str, Any], dd_key: str, unit: str) -> str:
    dd = risk.get(dd_key)
    return (f"Sharpe {_sharpe({**risk, 'max_drawdown_usd': dd})}, max drawdown "
            f"{'n/a' if dd is None else f'{dd} {unit}'}")
