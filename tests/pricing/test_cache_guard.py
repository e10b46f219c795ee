"""Numba keys a cached kernel on its own file only; the pricing package drops its whole cache
when any of its sources changed (engine/pricing/cache_guard.py), so a kernel that inlines a
changed function from another module cannot load stale machine code."""

from __future__ import annotations

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
