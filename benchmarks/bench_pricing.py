"""Pricing benchmark: numba kernels vs QuantLib / scipy (and NautilusTrader if installed).

Run: ``python -m benchmarks.bench_pricing [--output FILE]`` (default benchmarks/results/pricing.json).
``run(output_path) -> dict`` is the programmatic entry point.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "pricing.json"
_COMPILE_SNIPPET = (
    "import time; t=time.perf_counter(); import engine.pricing as p; "
    "p.black76_greeks(True, 100.0, 100.0, 0.5, 0.5, 0.0); p.implied_vol(10.0, True, 100.0, 100.0, 0.5, 0.0); "
    "print(time.perf_counter()-t)"
)


def _best(fn: Callable[[], Any], repeat: int = 5, clock: Callable[[], float] = time.perf_counter) -> float:
    best = math.inf
    for _ in range(repeat):
        t0 = clock()
        fn()
        best = min(best, clock() - t0)
    return best


# One-thread figures and their baselines are timed in process CPU time: the machine is shared,
# and wall time would charge other jobs' time slices to whichever side ran during them.
_cpu = time.process_time


def _market(n: int, seed: int = 0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    F = np.full(n, 60000.0)
    T = np.exp(rng.uniform(np.log(1 / 365), np.log(1.0), n))
    v = rng.uniform(0.3, 1.5, n)
    K = F * np.exp(rng.normal(0, 1.0, n) * v * np.sqrt(T))
    c = rng.integers(0, 2, n).astype(bool)
    r = np.full(n, 0.03)
    return c, F, K, T, v, r


def _scipy_greeks(c, F, K, T, v, r):
    from scipy.special import ndtr

    sq = np.sqrt(T)
    s = v * sq
    d1 = np.log(F / K) / s + 0.5 * s
    d2 = d1 - s
    df = np.exp(-r * T)
    cp = np.where(c, 1.0, -1.0)
    n1 = np.exp(-0.5 * d1 * d1) / math.sqrt(2 * math.pi)
    price = df * cp * (F * ndtr(cp * d1) - K * ndtr(cp * d2))
    delta = cp * df * ndtr(cp * d1)
    gamma = df * n1 / (F * s)
    vega = df * F * n1 * sq
    theta = r * price - df * F * n1 * v / (2 * sq)
    return price, delta, gamma, vega, theta, -T * price


def _scipy_greeks8(c, F, K, T, v, r):
    """The same 8 outputs as ``black76_greeks`` (price, delta, gamma, vega, theta, rho, vanna,
    volga), textbook formulas, numpy + scipy.special.ndtr: the fair one-thread baseline."""
    from scipy.special import ndtr

    sq = np.sqrt(T)
    s = v * sq
    d1 = np.log(F / K) / s + 0.5 * s
    d2 = d1 - s
    df = np.exp(-r * T)
    cp = np.where(c, 1.0, -1.0)
    n1 = np.exp(-0.5 * d1 * d1) * (1.0 / math.sqrt(2 * math.pi))
    nd1 = ndtr(cp * d1)
    price = df * cp * (F * nd1 - K * ndtr(cp * d2))
    delta = cp * df * nd1
    gamma = df * n1 / (F * s)
    vega = df * F * n1 * sq
    theta = r * price - df * F * n1 * v / (2 * sq)
    return price, delta, gamma, vega, theta, -T * price, -df * n1 * d2 / v, vega * d1 * d2 / v


def _cold_start_seconds() -> dict[str, float]:
    root = Path(__file__).resolve().parent.parent
    out: dict[str, float] = {}
    tmp = tempfile.mkdtemp(prefix="volta-numba-cache-")
    try:
        env = dict(os.environ, NUMBA_CACHE_DIR=tmp)
        for label in ("cold_cache_s", "warm_cache_s"):
            res = subprocess.run([sys.executable, "-c", _COMPILE_SNIPPET], cwd=root, env=env,
                                 capture_output=True, text=True, timeout=600)
            out[label] = float(res.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


_THREADS_SNIPPET = r"""
import json, os, resource, sys, time
import numpy as np
if sys.argv[1] == "passive":
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"   # read when the first parallel call starts the pool
from engine.pricing import implied_vol
n = 40
args = (np.full(n, 5.0), np.ones(n, bool), np.full(n, 100.0), np.linspace(80.0, 120.0, n),
        np.full(n, 0.5), np.zeros(n))
implied_vol(*args)
cpu = lambda r: r.ru_utime + r.ru_stime
walls = []
p0, t0 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_THREAD)
for _ in range(200):
    t = time.perf_counter()
    implied_vol(*args)
    walls.append(time.perf_counter() - t)
    time.sleep(0.002)                  # the event loop's other work between two chain calls
p1, t1 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_THREAD)
walls.sort()
print(json.dumps({"policy": os.environ.get("OMP_WAIT_POLICY") or "unset (OpenMP default)",
                  "call_p50_us": round(walls[100] * 1e6, 1), "call_p99_us": round(walls[198] * 1e6, 1),
                  "main_thread_cpu_s": round(cpu(t1) - cpu(t0), 3),
                  "other_threads_cpu_s": round((cpu(p1) - cpu(p0)) - (cpu(t1) - cpu(t0)), 3)}))
"""


def _kernel_threads() -> dict[str, Any]:
    """A 40-option implied-vol call every 2 ms, as a node's chain refits call the kernels
    between book events on a virtual clock, in two fresh processes (the wait policy is read
    once, when the thread pool starts): OpenMP's default, which the node keeps (workers spin
    for a while after each call), and ``OMP_WAIT_POLICY=PASSIVE`` (they sleep): each call's
    wall time and the CPU the threads burn (the trade-off in docs/architecture.md)."""
    root = Path(__file__).resolve().parent.parent
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out: dict[str, Any] = {}
    for label in ("openmp_default", "passive"):
        res = subprocess.run([sys.executable, "-c", _THREADS_SNIPPET, label], cwd=root, env=env,
                             capture_output=True, text=True, timeout=600)
        out[label] = json.loads(res.stdout.strip().splitlines()[-1]) if res.returncode == 0 \
            else {"error": res.stderr.strip().splitlines()[-1:]}
    return out


def _nautilus_rows() -> list[dict[str, Any]]:
    """NautilusTrader's black_scholes_greeks / imply_vol_and_greeks, from an interpreter that
    has it (``VOLTA_NAUTILUS_PYTHON``; see benchmarks/nautilus_baseline.py)."""
    import json as _json
    import os
    import subprocess

    exe = os.environ.get("VOLTA_NAUTILUS_PYTHON")
    if not exe:
        return [{"name": "nautilus_trader", "per_s": None,
                 "note": "set VOLTA_NAUTILUS_PYTHON to a python with nautilus_trader installed"}]
    script = Path(__file__).with_name("nautilus_baseline.py")
    try:
        out = subprocess.run([exe, str(script)], capture_output=True, text=True, timeout=600, check=True)
        res = _json.loads(out.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError) as exc:
        return [{"name": "nautilus_trader", "per_s": None, "note": f"failed: {exc!r}"}]
    return [{"name": "nautilus_trader black_scholes_greeks (python loop)", "per_s": res["greeks_per_s"]},
            {"name": "nautilus_trader imply_vol_and_greeks (python loop)", "per_s": res["iv_and_greeks_per_s"]}]


def run(output_path: str | Path = DEFAULT_OUTPUT) -> dict[str, Any]:
    """Run all measurements, write JSON to ``output_path`` and return the results."""
    import numba

    from engine.pricing import black76_greeks_kernel, black76_price, implied_vol_kernel
    from engine.pricing.chain import chain_kernel

    results: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "numba": numba.__version__}}
    n = 1_000_000
    c, F, K, T, v, r = _market(n)
    out = np.empty((8, n))
    price = np.asarray(black76_price(c, F, K, T, v, r))
    iv = np.empty(n)
    rows: list[dict[str, Any]] = []
    for threads in (1, 2):
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        black76_greeks_kernel(c, F, K, T, v, r, out)
        implied_vol_kernel(price, c, F, K, T, r, iv)
        clock = _cpu if threads == 1 else time.perf_counter  # (2 threads: wall time)
        tg = _best(lambda: black76_greeks_kernel(c, F, K, T, v, r, out), 5, clock)
        ti = _best(lambda: implied_vol_kernel(price, c, F, K, T, r, iv), 3, clock)
        rows.append({"name": f"volta price+8 greeks ({threads} thr)", "per_s": n / tg})
        rows.append({"name": f"volta implied vol ({threads} thr)", "per_s": n / ti})
    numba.set_num_threads(1)
    # Baselines
    tsp = _best(lambda: _scipy_greeks(c, F, K, T, v, r), 3, _cpu)
    rows.append({"name": "numpy/scipy ndtr price+5 greeks", "per_s": n / tsp})
    tsp8 = _best(lambda: _scipy_greeks8(c, F, K, T, v, r), 5, _cpu)
    rows.append({"name": "numpy/scipy ndtr, the same 8 outputs (baseline)", "per_s": n / tsp8})
    volta1 = next(row["per_s"] for row in rows if row["name"] == "volta price+8 greeks (1 thr)")
    iv1 = next(row["per_s"] for row in rows if row["name"] == "volta implied vol (1 thr)")
    results["greeks_1thr_x_numpy_scipy_same_outputs"] = round(volta1 / (n / tsp8), 2)
    results["iv_1thr_per_s"] = iv1
    try:
        import QuantLib as ql

        m = 20000
        def ql_loop() -> None:
            for i in range(m):
                calc = ql.BlackCalculator(ql.PlainVanillaPayoff(ql.Option.Call if c[i] else ql.Option.Put, K[i]),
                                          F[i], v[i] * math.sqrt(T[i]), math.exp(-r[i] * T[i]))
                calc.value(); calc.deltaForward(); calc.gammaForward(); calc.vega(T[i]); calc.theta(F[i], T[i])
        rows.append({"name": "QuantLib BlackCalculator loop price+4 greeks", "per_s": m / _best(ql_loop, 2)})
    except ImportError:
        rows.append({"name": "QuantLib", "per_s": None, "note": "not installed"})
    rows.extend(_nautilus_rows())
    # Full chain: 5 expiries x 40 strikes, IV + Greeks + vega-weighted SVI refit in one njit call.
    ne, ns = 5, 40
    Tc = np.repeat([7 / 365, 30 / 365, 90 / 365, 180 / 365, 1.0], ns)
    Fc = np.repeat([60000.0, 60300.0, 61000.0, 62000.0, 64000.0], ns)
    kk = np.tile(np.linspace(-1.5, 1.5, ns), ne) * np.sqrt(Tc) * 0.8
    Kc = Fc * np.exp(kk)
    kn = kk / np.sqrt(Tc)
    vc = 0.6 - 0.1 * kn + 0.15 * kn * kn
    cc = Kc >= Fc
    rc = np.full(ne * ns, 0.03)
    pc = np.asarray(black76_price(cc, Fc, Kc, Tc, vc, rc))
    starts = np.arange(0, ne * ns + 1, ns, dtype=np.int64)
    ivc, gc, sse = np.empty(ne * ns), np.empty((8, ne * ns)), np.empty(ne)
    params = np.zeros((ne, 5))
    chain_kernel(pc, cc, Fc, Kc, Tc, rc, starts, ivc, gc, params, sse)
    cold = params.copy()
    def chain_cold() -> None:
        params[:] = 0.0
        chain_kernel(pc, cc, Fc, Kc, Tc, rc, starts, ivc, gc, params, sse)
    def chain_warm() -> None:
        params[:] = cold
        chain_kernel(pc, cc, Fc, Kc, Tc, rc, starts, ivc, gc, params, sse)
    results["chain_200_cold_fit_ms"] = 1e3 * _best(chain_cold, 20)
    results["chain_200_warm_refit_ms"] = 1e3 * _best(chain_warm, 20)
    results["throughput"] = rows
    results["first_call"] = _cold_start_seconds()
    results["kernel_threads"] = _kernel_threads()
    results["targets"] = {"greeks_per_s_1thr": 1e7, "iv_per_s_1thr": 1e6, "chain_ms": 1.0,
                          "greeks_x_numpy_scipy": 1.0, "iv_per_s_1thr_issue16": 2e6}
    path = Path(output_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2))
    return results


def _print(results: dict[str, Any]) -> None:
    print(f"{'benchmark':48s} {'options/s':>14s}")
    for row in results["throughput"]:
        val = f"{row['per_s']:14,.0f}" if row["per_s"] else f"{row.get('note', ''):>14s}"
        print(f"{row['name']:48s} {val}")
    print(f"{'chain 5x40 IV+Greeks+SVI fit (cold) ms':48s} {results['chain_200_cold_fit_ms']:14.3f}")
    print(f"{'chain 5x40 IV+Greeks+SVI refit (warm) ms':48s} {results['chain_200_warm_refit_ms']:14.3f}")
    fc = results["first_call"]
    print(f"{'first call, empty numba cache s':48s} {fc['cold_cache_s']:14.2f}")
    print(f"{'first call, warm numba cache s':48s} {fc['warm_cache_s']:14.2f}")
    for label, kt in results["kernel_threads"].items():
        print(f"kernel threads, {label}: {kt}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--output", default=str(DEFAULT_OUTPUT))
    args = ap.parse_args(argv)
    _print(run(args.output))


if __name__ == "__main__":
    main()
