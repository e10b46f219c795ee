"""Render the figures of ``benchmarks/results/*.json`` as the README's Markdown tables.

``python -m benchmarks.tables`` prints them; ``--update README.md`` replaces the block between
``<!-- bench:start -->`` and ``<!-- bench:end -->`` so the README only ever shows measured
numbers (the JSON of the last ``make bench``), never hand-copied ones.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

RESULTS = Path(__file__).resolve().parent / "results"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return orjson.loads(path.read_bytes()) if path.exists() else None


def _n(x: float | None, digits: int = 0) -> str:
    if x is None:
        return "–"
    return f"{x:,.{digits}f}"


def _rate(per_s: float | None) -> str:
    if per_s is None:
        return "–"
    if per_s >= 1e6:
        return f"{per_s / 1e6:.2f} M/s"
    return f"{per_s / 1e3:,.0f} k/s"


def _met(flag: object) -> str:
    return "met" if flag else "**not met**"


def pricing(d: dict[str, Any]) -> list[str]:
    out = ["**Pricing** (`bench_pricing`: options per second, one array call; same run)", "",
           "| kernel | throughput |", "| --- | --- |"]
    for row in d.get("throughput", []):
        value = _rate(row.get("per_s")) if row.get("per_s") else f"not measured ({row.get('note', '')})"
        out.append(f"| {row['name']} | {value} |")
    out += ["", f"200-option chain, implied vols + Greeks + SVI fit per expiry: "
            f"{_n(d.get('chain_200_warm_refit_ms'), 2)} ms warm refit, "
            f"{_n(d.get('chain_200_cold_fit_ms'), 2)} ms cold fit (target < 1 ms). "
            f"First call in a new process: {_n(d.get('first_call', {}).get('warm_cache_s'), 1)} s "
            f"with the Numba cache, {_n(d.get('first_call', {}).get('cold_cache_s'), 1)} s without."]
    kt = d.get("kernel_threads") or {}
    omp, passive = kt.get("openmp_default") or {}, kt.get("passive") or {}
    if "call_p50_us" in omp and "call_p50_us" in passive:
        out += ["", f"Kernel threads between calls (a 40-option implied-vol call every 2 ms; two "
                f"fresh processes, same run): OpenMP's default (the node's) {omp['call_p50_us']:.0f} µs "
                f"per call (p99 {omp['call_p99_us']:.0f}), {omp['other_threads_cpu_s']:.2f} s CPU "
                f"spinning in the workers; `OMP_WAIT_POLICY=PASSIVE` {passive['call_p50_us']:.0f} µs "
                f"(p99 {passive['call_p99_us']:.0f}), {passive['other_threads_cpu_s']:.2f} s."]
    x = d.get("greeks_1thr_x_numpy_scipy_same_outputs")
    if x is not None:
        iv = d.get("iv_1thr_per_s") or 0.0
        out += ["", f"Greeks on one thread vs numpy+scipy with the same 8 outputs: {x:.2f}× "
                f"(target ≥ 1.0×: {_met(x >= 1.0)}); implied vol on one thread {_rate(iv)} "
                f"(target ≥ 2 M/s: {_met(iv >= 2e6)})."]
    return out


def books(d: dict[str, Any]) -> list[str]:
    out = ["**Books** (`bench_books`: raw frame → codec → integrity → book, real captures, one core)",
           "", "| capture | messages | msgs/s | µs/msg |", "| --- | ---: | ---: | ---: |"]
    for name, f in d.get("files", {}).items():
        out.append(f"| {name} | {_n(f['messages'])} | {_n(f['msgs_per_s'])} | {f['us_per_msg']:.2f} |")
    usdm = d.get("files", {}).get("binance-usdm/binance-usdm-btcusdt-2024-08-08.jsonl.gz")
    if usdm:
        out += ["", "Binance USD-M BTCUSDT by channel: " + ", ".join(
            f"{ch.split(':', 1)[1]} {c['us_per_msg']:.2f} µs" for ch, c in usdm["by_channel"].items()
            if not ch.split(":", 1)[1].startswith("rest"))]
    lv = d.get("levels", {})
    t = d.get("targets", {})
    if lv:
        out += ["", "| per level update (same run) | ns/level | × C `order-book` |", "| --- | ---: | ---: |",
                f"| C `order-book` (cryptofeed's book), baseline | {lv['c_order_book']['ns_per_level']:.0f} | 1.00 |"]
        for key, label in (("volta_apply_delta", "Volta `OrderBook.apply_delta`"),
                           ("volta_apply_delta_columnar", "Volta `OrderBook.apply_delta`, diffs from the event store (compiled core)"),
                           ("volta_keeper", "Volta `BookKeeper` (with integrity checks)"),
                           ("volta_codec_and_keeper", "Volta codec + keeper (incl. JSON parse)")):
            if key in lv:
                out.append(f"| {label} | {lv[key]['ns_per_level']:.0f} | {lv[key]['x_c_library']:.2f} |")
    if t:
        out += ["", f"Targets: USD-M BTCUSDT capture ≥ {_n(t['usdm_btcusdt_target'])} msgs/s: "
                f"{_n(t['usdm_btcusdt_msgs_per_s'])} ({_met(t['usdm_btcusdt_met'])}); level update ≤ "
                f"{t['level_target_x']:g}× C: {t['level_x_c_library']:.2f}× ({_met(t['level_met'])})."]
    rp = d.get("replay_process")
    if rp:
        out += ["", f"`volta replay` of the USD-M BTCUSDT capture as a whole process: "
                f"{rp['volta_replay']['cpu_s']:.2f} s CPU against {rp['lean_baseline']['cpu_s']:.2f} s "
                f"for the lean baseline process (orjson + the C book, Binance sync, no integrity "
                f"checks; same books: {'yes' if rp['same_result'] else 'NO'}): "
                f"{rp['x_lean_baseline']:.2f}× (target ≥ 1.0×: {_met(rp['x_lean_baseline'] >= 1.0)})."]
    return out


def backtest(d: dict[str, Any]) -> list[str]:
    b = d.get("binance_usdm_btcusdt", {})
    out = ["**Backtest loop** (`bench_backtest`: events/s, one core)", "",
           "| run | events/s |", "| --- | ---: |"]
    rows = (("capture decode only (codec + books), baseline", b.get("capture_decode_baseline")),
            ("event store load", b.get("store_load")),
            ("full loop from the store, no strategy", b.get("backtest_no_strategy")),
            ("full loop from the store, example quoter (gate, router, matching)", b.get("backtest_quoter")))
    for label, row in rows:
        if row:
            out.append(f"| Binance USD-M BTCUSDT: {label} | {_n(row['events_per_s'])} |")
    syn = d.get("synthetic_chain_200")
    if syn:
        out.append(f"| synthetic perp + {syn['options']}-option chain, {syn['simulated_s']:.0f} s "
                   f"simulated | {_n(syn['events_per_s'])} |")
    t = d.get("targets", {})
    if t:
        out += ["", f"Target ≥ {_n(t['events_per_s'])} events/s from the store with a strategy: "
                f"{_n(t['best_events_per_s'])} ({_met(t['met'])})."]
    h = d.get("vs_hftbacktest", {})
    if h.get("no_strategy"):
        out += ["", "Against hftbacktest 2.4.4 (same capture, same run: constant 8 ms entry / 4 ms "
                "response latency, power queue model, exponent 2; messages/s of process CPU)", "",
                "| run | Volta | hftbacktest | ratio |", "| --- | ---: | ---: | ---: |"]
        for key, label in (("no_strategy", "no strategy"),
                           ("market_maker", "market maker (Volta's example quoter, the same rule "
                                            "as an `@njit` hftbacktest strategy)")):
            r = h[key]
            out.append(f"| {label} | {_n(r['volta_messages_per_s'])} | "
                       f"{_n(r['hftbacktest_messages_per_s'])} | {r['ratio']:.2f}× |")
        worst = min(h["no_strategy"]["ratio"], h["market_maker"]["ratio"])
        out += ["", f"Floor {h['floor']:.1f}×, target {h['target']:.1f}×: "
                f"{'met' if worst >= h['target'] else 'floor met' if worst >= h['floor'] else 'not met'}"
                f" ({worst:.2f}×)."]
    elif h.get("skipped"):
        out += ["", f"hftbacktest comparison skipped: {h['skipped']}."]
    return out


def risk(d: dict[str, Any]) -> list[str]:
    g, j = d.get("gate", {}), d.get("journal", {})
    out = ["**Risk and journal** (`bench_risk`)", "", "| what | p50 | p99 |", "| --- | ---: | ---: |"]
    if g:
        out.append(f"| gate decision, every check, {g['positions']} option positions | "
                   f"{g['p50_us']:.1f} µs | {g['p99_us']:.1f} µs |")
        out.append(f"| baseline: one naive Greek sum over the same positions | "
                   f"{g['baseline_naive_greek_sum_p50_us']:.0f} µs | – |")
    ga = d.get("gate_with_accounts")
    if ga:
        out.append(f"| gate decision with a paper account book (margin check), same positions | "
                   f"{ga['p50_us']:.1f} µs ({ga['cpu_p50_us']:.1f} CPU) | "
                   f"{ga['p99_us']:.1f} µs ({ga['cpu_p99_us']:.1f} CPU) |")
    pc = d.get("per_check_us")
    if pc:
        parts = ", ".join(f"{k.replace('_', ' ')} {v:.1f}" for k, v in pc.items()
                          if isinstance(v, float) and not k.endswith("_p50_us"))
        out.append(f"| per check (CPU p50, full gate minus the gate without it): {parts}; "
                   f"floor {pc['floor_p50_us']:.1f} | {pc['full_gate_p50_us']:.1f} µs | – |")
    for key, label in (("normal", "journal command, `synchronous=NORMAL` (crash-safe)"),
                       ("full", "journal command, `synchronous=FULL` (power-loss safe)")):
        if key in j:
            out.append(f"| {label} | {j[key]['p50_us']:.1f} µs | {j[key]['p99_us']:.1f} µs |")
    if g:
        with_acc = f" (with accounts: {_met(ga['met'])})" if ga else ""
        out += ["", f"Target gate p99 ≤ {g['target_p99_us']:.0f} µs: {_met(g['met'])}{with_acc}; journal p50 ≤ "
                f"{j.get('target_us', 50):.0f} µs: {_met(j.get('met'))}."]
    return out


def execution(d: dict[str, Any]) -> list[str]:
    t, b = d.get("tick_to_order", {}), d.get("noop_baseline", {})
    out = ["**Execution** (`bench_execution`: paper deployment, full gate, journal on disk in NORMAL "
           "mode; clock from the adapter handing a book event to the bus until the adapter's "
           "`submit` is called for an order it caused)", "",
           "| what | p50 | p99 |", "| --- | ---: | ---: |"]
    if t.get("p50_us") is not None:
        out.append(f"| tick-to-order ({t['orders_caused_by_book_events']} orders) | "
                   f"{t['p50_us']:.1f} µs | {t['p99_us']:.1f} µs |")
    rq = t.get("requote")
    if rq:
        out.append(f"| requote: cancel + two orders, to the last adapter call ({rq['n']}) | "
                   f"{rq['p50_us']:.1f} µs | {rq['p99_us']:.1f} µs |")
    lv = d.get("live")
    if lv and lv.get("orders"):
        out.append(f"| tick-to-order, the paper daemon on the wall clock (as `volta run` runs it; "
                   f"{lv['seconds']:.0f} s, {lv['orders']} orders; p90 {lv['p90_us']:.1f} µs; the loop "
                   f"sleeps between events: colder caches) | {lv['p50_us']:.1f} µs | {lv['p99_us']:.1f} µs |")
    if b:
        out.append(f"| baseline: book event to a no-op handler's submit (same run) | "
                   f"{b['p50_us']:.2f} µs | {b['p99_us']:.2f} µs |")
    br = t.get("breakdown_run")
    c = (br or {}).get("cpu") or t.get("cpu")
    if c:
        out.append(f"| tick-to-order, this thread's CPU time (not descheduled time; breakdown run) | "
                   f"{c['p50_us']:.1f} µs | {c['p99_us']:.1f} µs |")
    brq = (br or {}).get("requote") or rq
    if brq and "cpu_p50_us" in brq:
        out.append(f"| requote, CPU time (breakdown run) | {brq['cpu_p50_us']:.1f} µs | "
                   f"{brq['cpu_p99_us']:.1f} µs |")
    if br and br.get("p50_us") is not None:
        out.append(f"| tick-to-order in the breakdown run (the same events, gate and journal wrapped "
                   f"for the figures below: their timers' cost) | {br['p50_us']:.1f} µs | {br['p99_us']:.1f} µs |")
    gi = t.get("gate_in_run")
    if gi:
        out.append(f"| gate decision inside the run (breakdown run; {gi['n']} checks) | "
                   f"{gi['p50_us']:.1f} µs | {gi['p99_us']:.1f} µs |")
    for key, label in (
            ("journal_order_path_per_order_us", "journal per order on the order path (command appends + group commit)"),
            ("journal_order_path_per_order_p50_us", "journal per order on the order path, p50 over the order-causing events"),
            ("journal_in_event_per_order_us", "journal per order inside the order's event (also the simulated "
                                              "venue's answers, journaled as they arrive)"),
            ("journal_write_ahead_per_order_us", "journal per order, amortized: write-ahead (appends + group commits)"),
            ("journal_store_per_order_us", "journal per order, amortized: moving records into the SQLite store")):
        if key in t:
            out.append(f"| {label} | {t[key]:.1f} µs | – |")
    j = d.get("journal", {})
    if "commit_per_order_us" in j:
        out.append(f"| baseline: one insert + commit per order (the former journal) | "
                   f"{j['commit_per_order_us']:.1f} µs | – |")
    r = d.get("restart")
    if r:
        for key, label in (("hour", "restart after 1 simulated hour"),
                           ("day", "restart after 1 simulated day")):
            if key in r:
                rs, base = r[key]["restart"], r[key]["full_replay_baseline"]
                out.append(f"| {label} ({r[key]['history']['records']:,} records; snapshot + tail) "
                           f"| {rs['median_s'] * 1e3:,.1f} ms | – |")
                out.append(f"| baseline: full replay of the same journal (same run) "
                           f"| {base['median_s'] * 1e3:,.1f} ms | – |")
        ls = r.get("loop_stall")
        if ls:
            out.append(f"| longest event-loop stall, snapshot with a {ls['records']:,}-record rotation "
                       f"(store-writer thread) | {ls['after_store_writer']['longest_loop_stall_ms']:.1f} ms | – |")
            out.append(f"| baseline: the same snapshot and rotation on the event loop (same run) "
                       f"| {ls['before_on_loop']['longest_loop_stall_ms']:.1f} ms | – |")
    rt = d.get("retention")
    if rt and "with_rule" in rt and "without_rule" in rt:
        w, b = rt["with_rule"], rt["without_rule"]
        out += ["", f"Memory after {w['orders_made']:,} orders (`retention`: the execution core, the "
                f"journal on disk, the node's snapshot timer; each run in its own process): with the "
                f"retention rule {w['orders_held']:,} orders and {w['trade_ids_held']:,} trade ids held, "
                f"RSS {w['rss_mb']:.0f} MB; baseline, the same run with the rule off: "
                f"{b['orders_held']:,} orders, {b['trade_ids_held']:,} trade ids, RSS {b['rss_mb']:.0f} MB. "
                f"A call of the rule that drops something ({w['retire_calls_working']} calls, "
                f"{w['orders_dropped']:,} orders dropped in all; a slice per second): p50 "
                f"{w['retire_working_p50_us']:.0f} µs, p99 {w.get('retire_working_p99_us', float('nan')):.0f} µs, "
                f"max {w['retire_working_max_us']:.0f} µs (CPU time p50 {w['retire_working_cpu_p50_us']:.0f}, "
                f"p99 {w.get('retire_working_cpu_p99_us', float('nan')):.0f}, "
                f"max {w['retire_working_cpu_max_us']:.0f} µs: most of the millisecond calls checked had "
                f"a garbage collection of the whole process inside them); one with nothing to drop "
                f"{w['retire_idle_p50_us']:.1f} µs."]
    st = t.get("stages_p50_us")
    if st:
        out += ["", f"Where a tick-to-order goes (breakdown run, p50 from the book event): the strategy is called "
                f"at {st['to_strategy']:.1f} µs (books, integrity, bus), the group commit starts at "
                f"{st['to_commit']:.1f} µs (strategy, gate, journal appends), the commit takes "
                f"{st['commit']:.1f} µs, the first adapter call follows "
                f"{st['commit_to_first_send']:.1f} µs later."]
    met = d.get("met", {})
    tg = d.get("targets", {})
    if met:
        out += ["", f"Targets: p50 ≤ {tg.get('p50_us', 25):.0f} µs {_met(met.get('p50'))}; p99 ≤ "
                f"{tg.get('p99_us', 50):.0f} µs {_met(met.get('p99'))}; journal ≤ "
                f"{tg.get('journal_per_order_us', 5):.0f} µs per order (order path) "
                f"{_met(met.get('journal_per_order'))}."]
    return out


SECTIONS: tuple[tuple[str, Callable[[dict[str, Any]], list[str]]], ...] = (
    ("pricing", pricing), ("books", books), ("backtest", backtest), ("risk", risk),
    ("execution", execution))


def render() -> str:
    parts: list[str] = []
    machine = _load("all")
    if machine:
        m = machine.get("machine", {})
        parts.append(f"Measured {machine.get('started', '?')} on {m.get('cpu_count', '?')} cores, "
                     f"Python {m.get('python', '?')}, {m.get('platform', '?')}.")
    for name, fn in SECTIONS:
        data = _load(name)
        parts.append("\n".join(fn(data)) if data else f"`{name}`: no results yet (run `make bench`).")
    return "\n\n".join(parts)


def update(readme: Path) -> None:
    text = readme.read_text(encoding="utf-8")
    try:
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
    except ValueError:
        raise SystemExit(f"{readme}: no {START} ... {END} block") from None
    readme.write_text(f"{head}{START}\n{render()}\n{END}{tail}", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.tables", description=__doc__)
    ap.add_argument("--update", type=Path, metavar="README", help="rewrite the bench block in place")
    args = ap.parse_args(argv)
    if args.update:
        update(args.update)
    else:
        print(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
