"""NautilusTrader's scalar Greeks/IV calls, timed in an interpreter that has it installed.

NautilusTrader is not a Volta dependency (it is large and pins its own numpy); to measure it
side by side, create a venv with ``pip install nautilus_trader numpy`` and point
``VOLTA_NAUTILUS_PYTHON`` at its interpreter: ``bench_pricing`` then runs this file there
and reports the figures next to Volta's. Prints one JSON object.
"""

from __future__ import annotations

import json
import time

import numpy as np
from nautilus_trader.core.nautilus_pyo3 import black_scholes_greeks, imply_vol_and_greeks

rng = np.random.default_rng(7)
n = 50_000
S = 60_000.0
K = S * np.exp(rng.uniform(-0.5, 0.5, n))
T = rng.uniform(1 / 365, 1.0, n)
vol = rng.uniform(0.2, 1.5, n)
calls = rng.uniform(size=n) < 0.5
args = list(zip(K.tolist(), T.tolist(), vol.tolist(), calls.tolist()))

t0 = time.perf_counter()
prices = [black_scholes_greeks(S, 0.0, 0.0, v, bool(c), k, t, 1.0).price for k, t, v, c in args]
greeks_s = time.perf_counter() - t0

# NautilusTrader's implied vol panics (aborts the interpreter) when a price carries no time
# value (found with this very grid), so it only gets cases with time value > 1e-6 of spot.
intrinsic = [max(S - k, 0.0) if c else max(k - S, 0.0) for k, _, _, c in args]
ok = [(a, p) for a, p, i in zip(args, prices, intrinsic) if p - i > 1e-6 * S]
t0 = time.perf_counter()
for (k, t, _, c), p in ok:
    imply_vol_and_greeks(S, 0.0, 0.0, bool(c), k, t, p, 1.0)
iv_s = time.perf_counter() - t0
print(json.dumps({"n": n, "greeks_per_s": n / greeks_s, "iv_n": len(ok),
                  "iv_and_greeks_per_s": len(ok) / iv_s}))
