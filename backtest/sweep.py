"""Config overrides by key path and parameter sweeps over a grid, in parallel processes.

Theory of operation: an override ``strategies[0].params.half_spread_bps=2.5`` is applied to the
*parsed TOML document* (not to the decoded config), which is then rendered back to TOML and
loaded by the normal loader, so an override is validated exactly like a hand-edited file and
every error names its key path. A sweep is the cartesian product of the ``--sweep`` flags; the
market data is decoded (or generated) once in the parent, stored as an event store, and each
grid point runs in its own process (``ProcessPoolExecutor``, at most ``os.cpu_count()``
workers) with its own result folder; the parent writes one comparison table.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import multiprocessing
import os
import re
import sys
import time
import tomllib
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from backtest.datapaths import resolve_data_paths
from backtest.schema import check_backtest
from engine.config import ConfigError, ConfigProblem, VoltaConfig, load_config_text
from engine.runtime import resolve_plugins

_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
SWEEP_COLUMNS = ("pnl.total_usd", "pnl.fees_usd", "risk.sharpe", "risk.sortino",
                 "risk.sharpe_per_interval", "risk.sortino_per_interval",  # (runs under a day)
                 "risk.max_drawdown_usd", "turnover_usd", "fills.count", "orders.fill_ratio_qty",
                 "queue.avg_wait_s", "adverse_selection.1s.total_usd",
                 "adverse_selection.10s.total_usd", "greeks.delta.abs_mean")


class OverrideError(ValueError):
    """A malformed ``key=value`` or a key path that does not fit the document."""


def parse_path(path: str) -> list[str | int]:
    """``strategies[0].params.x`` -> ``["strategies", 0, "params", "x"]``."""
    out: list[str | int] = []
    pos = 0
    for m in _TOKEN.finditer(path):
        gap = path[pos:m.start()]
        if gap not in ("", "."):
            raise OverrideError(f"bad key path {path!r}")
        out.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
        pos = m.end()
    if not out or pos != len(path):
        raise OverrideError(f"bad key path {path!r}")
    return out


def parse_value(text: str) -> Any:
    """A TOML value (``2.5``, ``true``, ``"x"``, ``[1, 2]``); a bare word is a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def set_path(doc: dict[str, Any], path: str, value: Any) -> None:
    """Set ``path`` in ``doc``, creating tables on the way (not list items)."""
    keys = parse_path(path)
    node: Any = doc
    for i, key in enumerate(keys[:-1]):
        nxt = keys[i + 1]
        if isinstance(key, int):
            if not isinstance(node, list) or key >= len(node):
                raise OverrideError(f"{path}: no item [{key}]")
            node = node[key]
        else:
            if not isinstance(node, dict):
                raise OverrideError(f"{path}: {key!r} is not inside a table")
            if key not in node:
                node[key] = [] if isinstance(nxt, int) else {}
            node = node[key]
    last = keys[-1]
    if isinstance(last, int):
        if not isinstance(node, list) or last >= len(node):
            raise OverrideError(f"{path}: no item [{last}]")
        node[last] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise OverrideError(f"{path}: {last!r} is not inside a table")


def _toml(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {_toml(x)}" for k, x in v.items()) + " }"
    if isinstance(v, list):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    if hasattr(v, "isoformat"):
        return v.isoformat()
    raise OverrideError(f"cannot write {type(v).__name__} back to TOML")


def dump_toml(doc: dict[str, Any]) -> str:
    """A TOML text for ``doc`` (one line per top-level key, inline tables below)."""
    return "".join(f"{json.dumps(k)} = {_toml(v)}\n" for k, v in doc.items())


def load_with_overrides(path: str | Path, overrides: list[tuple[str, Any]],
                        seed: int | None = None) -> tuple[VoltaConfig, str]:
    """Load ``path`` with key-path overrides (and ``--seed``); returns (config, TOML text)."""
    source = os.fspath(path)
    try:
        doc = tomllib.loads(Path(source).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([ConfigProblem("", f"cannot read file: {exc.strerror or exc}")], source) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([ConfigProblem("", str(exc))], source) from None
    if seed is not None:
        apply_seed(doc, seed)
    for key, value in overrides:
        try:
            set_path(doc, key, value)
        except OverrideError as exc:
            raise ConfigError([ConfigProblem(key, str(exc))], source) from None
    problems = resolve_data_paths(doc, source)  # relative to the config file, not the cwd
    if problems:
        raise ConfigError(problems, source)
    text = dump_toml(doc)
    label = source + (" [" + ", ".join(f"{k}={v!r}" for k, v in overrides) + "]" if overrides else "")
    return load_config_text(text, source=label), text


def apply_seed(doc: dict[str, Any], seed: int) -> None:
    """``--seed N``: the backtest seed, every venue's ``seed`` and the synthetic generator's."""
    bt = doc.setdefault("backtest", {})
    bt["seed"] = seed
    data = bt.get("data")
    if isinstance(data, dict) and isinstance(data.get("synthetic"), dict):
        data["synthetic"]["seed"] = seed
    for venue in (doc.get("venues") or {}).values():
        if isinstance(venue, dict):
            venue.setdefault("params", {})["seed"] = seed


def parse_sweeps(flags: list[str]) -> list[tuple[str, list[Any]]]:
    """``["a.b=1,2", "c=x,y"]`` -> ``[("a.b", [1, 2]), ("c", ["x", "y"])]``."""
    out = []
    for flag in flags:
        key, sep, values = flag.partition("=")
        if not sep or not key.strip() or not values.strip():
            raise OverrideError(f"--sweep {flag!r}: expected key=v1,v2,...")
        parse_path(key.strip())
        out.append((key.strip(), [parse_value(v.strip()) for v in values.split(",")]))
    return out


def grid(sweeps: list[tuple[str, list[Any]]]) -> list[list[tuple[str, Any]]]:
    keys = [k for k, _ in sweeps]
    return [list(zip(keys, combo, strict=True)) for combo in itertools.product(*[v for _, v in sweeps])]


def _get(summary: dict[str, Any], dotted: str) -> Any:
    node: Any = summary
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _run_point(config_text: str, label: str, out_dir: str, store_dir: str) -> dict[str, Any]:
    """One grid point in a worker process (module level: picklable)."""
    from backtest import store as stores
    from backtest.report import write_outputs
    from backtest.runner import run_backtest

    from engine.logging import configure_logging

    config = load_config_text(config_text, source=label)
    # a spawned worker starts with structlog's defaults (everything, to stdout): the
    # deployment's [logging] applies here as in the parent
    configure_logging(config.logging.level, config.logging.format, stream=sys.stderr)
    data = stores.load(store_dir) if store_dir else None
    result = run_backtest(config, data=data, progress_every_s=0.0)
    write_outputs(result, out_dir, f"{config.deployment.name} {label}")
    return result.summary


def prepare(path: str | Path, sweeps: list[tuple[str, list[Any]]], seed: int | None
            ) -> list[tuple[str, str, list[tuple[str, Any]]]]:
    """Every grid point as (TOML text, label, overrides), all validated before anything runs."""
    points = []
    for overrides in grid(sweeps):
        label = ", ".join(f"{k}={v!r}" for k, v in overrides)
        config, text = load_with_overrides(path, overrides, seed)
        problems = resolve_plugins(config) + check_backtest(config)
        if problems:
            raise ConfigError(problems, f"{path} [{label}]")
        points.append((text, label, overrides))
    return points


def run_sweep(points: list[tuple[str, str, list[tuple[str, Any]]]], out: Path, store_dir: str,
              workers: int | None = None,
              progress: Callable[[int, int, str, float], None] | None = None) -> list[dict[str, Any]]:
    """Run prepared grid points; returns one row per point (overrides + headline metrics).
    ``progress(done, total, label, wall_s)`` is called as each point finishes."""
    jobs = [(text, label, str(out / f"run-{n:03d}"), store_dir, overrides)
            for n, (text, label, overrides) in enumerate(points)]
    max_workers = max(1, min(workers or os.cpu_count() or 1, os.cpu_count() or 1, len(jobs)))
    rows = []
    # spawn, not fork: the parent's Numba/OpenMP thread pool must not be forked
    ctx = multiprocessing.get_context("spawn")
    t0 = time.monotonic()
    with ProcessPoolExecutor(max_workers=max_workers, mp_context=ctx) as pool:
        futures = [pool.submit(_run_point, t, lab, o, s) for t, lab, o, s, _ in jobs]
        if progress is not None:
            labels = {fut: lab for fut, (_, lab, _, _, _) in zip(futures, jobs, strict=True)}
            for done, fut in enumerate(as_completed(futures), 1):
                progress(done, len(futures), labels[fut], time.monotonic() - t0)
        for (_, _, o, _, overrides), fut in zip(jobs, futures, strict=True):
            summary = fut.result()
            row: dict[str, Any] = {"run": Path(o).name}
            row.update({k: v for k, v in overrides})
            row.update({c: _get(summary, c) for c in SWEEP_COLUMNS})
            row["strategy_errors"] = sum(summary["engine"].get("strategy_errors", {}).values())
            rows.append(row)
    return rows


def table_csv(rows: list[dict[str, Any]]) -> str:
    cols = list(rows[0]) if rows else []
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for r in rows:
        w.writerow(["" if r[c] is None else r[c] for c in cols])
    return buf.getvalue()


def table_text(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "(no runs)"
    cols = list(rows[0])
    cells = [[c for c in cols]] + [["-" if r[c] is None else f"{r[c]:.6g}" if isinstance(r[c], float)
                                    else str(r[c]) for c in cols] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cols))]
    return "\n".join("  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)) for row in cells)
