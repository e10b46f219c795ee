"""Numba keys a cached kernel on its own file only; the pricing package drops its whole cache
when any of its sources changed (engine/pricing/cache_guard.py), so a kernel that inlines a
changed function from another module cannot load stale machine code."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CHECK = r"""
import engine.pricing as p
from engine.pricing.cache_guard import _STAMP_NAME
f = p.implied_vol_scalar
f(5.0, True, 100.0, 100.0, 0.1, 0.0)
print("stamp", f.stats.cache_path + "/" + _STAMP_NAME)
print("compiled", sum(f.stats.cache_misses.values()) > 0 and not sum(f.stats.cache_hits.values()))
"""


def _run(cache_dir: Path) -> tuple[Path, bool]:
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir))
    res = subprocess.run([sys.executable, "-c", CHECK], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    lines = dict(line.split(" ", 1) for line in res.stdout.strip().splitlines())
    return Path(lines["stamp"]), lines["compiled"] == "True"


@pytest.mark.slow
def test_a_source_change_drops_the_cache(tmp_path: Path) -> None:
    from engine.pricing.cache_guard import sources_digest

    stamp, compiled = _run(tmp_path)
    assert compiled  # empty cache
    assert stamp.read_text().strip() == sources_digest()
    _, compiled = _run(tmp_path)
    assert not compiled  # cached, sources unchanged
    stamp.write_text("digest of other sources\n")  # as after an upgrade or a merge
    _, compiled = _run(tmp_path)
    assert compiled  # flushed and compiled afresh, though implied_vol.py's own stamp is unchanged
    assert stamp.read_text().strip() == sources_digest()
    _, compiled = _run(tmp_path)
    assert not compiled


def test_digest_follows_every_source(tmp_path: Path) -> None:
    from engine.pricing.cache_guard import sources_digest

    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "b.py").write_text("y = 2\n")
    first = sources_digest(tmp_path)
    (tmp_path / "b.py").write_text("y = 3\n")
    assert sources_digest(tmp_path) != first
    (tmp_path / "b.py").write_text("y = 2\n")
    assert sources_digest(tmp_path) == first
    (tmp_path / "c.py").write_text("")
    assert sources_digest(tmp_path) != first


# A kernel outside the package (the simulated venue's chain pricer) that calls a pricing kernel:
# run on a copy of the sources, so that a pricing source can really change between runs.
DEPENDENT = r"""
import numpy as np
import adapters.sim.chain as c
import engine.pricing
assert c.__file__.startswith(%(root)r) and engine.pricing.__file__.startswith(%(root)r)
f = c.chain_greeks
out = np.zeros((5, 1))
f(np.array([True]), np.array([100.0]), np.array([100.0]), np.array([1.0]), np.array([0.2]), 0.0,
  out)
print("price", repr(float(out[0, 0])))
print("compiled", sum(f.stats.cache_misses.values()) > 0 and not sum(f.stats.cache_hits.values()))
"""


def _copy_sources(dst: Path) -> None:
    import shutil

    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    for pkg in ("engine", "adapters"):
        shutil.copytree(ROOT / pkg, dst / pkg, ignore=skip)


def _run_dependent(tree: Path, cache_dir: Path) -> tuple[float, bool]:
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir), PYTHONPATH=str(tree))
    res = subprocess.run([sys.executable, "-c", DEPENDENT % {"root": str(tree)}], cwd=tree,
                         env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    lines = dict(line.split(" ", 1) for line in res.stdout.strip().splitlines())
    return float(lines["price"]), lines["compiled"] == "True"


@pytest.mark.slow
def test_a_pricing_change_drops_a_dependent_kernels_cache(tmp_path: Path) -> None:
    tree, cache = tmp_path / "src", tmp_path / "cache"
    _copy_sources(tree)
    # Black-76 at the money, F = K = 100, T = 1 y, sigma = 0.2, r = 0: F * (2 N(0.1) - 1),
    # N from the error function (independent of the pricing code)
    atm = 100.0 * math.erf(0.1 / math.sqrt(2.0))
    price, compiled = _run_dependent(tree, cache)
    assert compiled and price == pytest.approx(atm, rel=1e-12)
    price, compiled = _run_dependent(tree, cache)
    assert not compiled and price == pytest.approx(atm, rel=1e-12)  # cached, nothing changed
    # An upgrade changes black76.py only: adapters/sim/chain.py, whose cache holds the inlined
    # old code, is untouched. (Its premium now carries one more USD, so old code shows.)
    black76 = tree / "engine" / "pricing" / "black76.py"
    src = black76.read_text()
    assert src.count("    price = df * und\n") == 1
    black76.write_text(src.replace("    price = df * und\n", "    price = df * und + 1.0\n"))
    price, compiled = _run_dependent(tree, cache)
    assert price == pytest.approx(atm + 1.0, rel=1e-12)  # (without the guard: the old atm)
    assert compiled
    price, compiled = _run_dependent(tree, cache)
    assert not compiled and price == pytest.approx(atm + 1.0, rel=1e-12)


def test_the_dependent_guard_skips_what_it_cannot_check() -> None:
    from engine.pricing.cache_guard import flush_if_pricing_changed

    assert flush_if_pricing_changed("no.such.module") is False
    assert flush_if_pricing_changed("math") is False  # no source file, no kernels


def test_every_cached_kernel_outside_the_package_that_uses_pricing_calls_the_guard() -> None:
    """A new cached kernel that calls pricing code from another package needs the guard too."""
    unguarded = []
    for pkg in ("engine", "adapters", "strategies", "backtest", "cluster"):
        for path in sorted((ROOT / pkg).rglob("*.py")):
            if (ROOT / "engine" / "pricing") in path.parents:
                continue
            src = path.read_text()
            if ("cache=True" in src and "engine.pricing" in src
                    and "flush_if_pricing_changed(__name__)" not in src):
                unguarded.append(str(path.relative_to(ROOT)))
    assert not unguarded, f"cached kernels using engine.pricing without the cache guard: {unguarded}"
