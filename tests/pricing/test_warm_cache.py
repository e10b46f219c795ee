"""No compile at first run: after the install-time warm step, a new process that runs a synthetic
backtest (options market maker: chain view, IVs, SVI refits, Greeks; the simulated market's own
kernel) and the public pricing API compiles no Numba kernel at all."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CHECK = r"""
import logging, sys
import numpy as np
import structlog
from numba.core import event

compiled = []

class Count(event.Listener):
    def on_start(self, ev):
        compiled.append(ev.data["dispatcher"].py_func.__qualname__)
    def on_end(self, ev):
        pass

event.register("numba:compile", Count())
structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
from backtest.runner import run_backtest
from backtest.sweep import load_with_overrides
from engine.pricing import black76_greeks, implied_vol, inverse_greeks

config, _ = load_with_overrides("config/backtest.toml", [("backtest.data.duration_s", 20.0)])
result = run_backtest(config, progress_every_s=0.0)
implied_vol(np.array([5.0, 1.0]), np.array([True, False]), 100.0, np.array([100.0, 90.0]), 0.1, 0.0)
black76_greeks(True, 100.0, 100.0, 0.1, 0.5, 0.0)
inverse_greeks(np.array([True]), 100.0, 110.0, 0.2, 0.6, 0.0)
print("events", result.events, "compiled", sorted(set(compiled)))
sys.exit(1 if compiled or result.events == 0 else 0)
"""


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=540)


@pytest.mark.slow
def test_first_run_after_the_install_step_compiles_nothing() -> None:
    for module in ("engine.pricing.warm", "adapters.sim.warm"):  # what make runs after pip
        warm = _run(["-m", module])
        assert warm.returncode == 0, warm.stderr[-2000:]
    check = _run(["-c", CHECK])
    assert check.returncode == 0, check.stdout[-2000:] + check.stderr[-2000:]
    assert "compiled []" in check.stdout
