"""No compilation on the trading path: with an empty Numba cache, every kernel is compiled
before the venue goes LIVE, and status lines then arrive on time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
INTERVAL_S = 1.0


def test_empty_numba_cache_compiles_before_trading_and_status_lines_are_on_time(
        tmp_path: Path) -> None:
    paper = (ROOT / "config" / "paper.toml").read_text()
    cfg = tmp_path / "paper.toml"
    cfg.write_text(paper.replace("status_interval_s = 5.0", f"status_interval_s = {INTERVAL_S}"))
    cache = tmp_path / "numba-cache"
    cache.mkdir()
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    proc = subprocess.run(
        [sys.executable, "-m", "engine.cli", "run", str(cfg), "--duration", "8",
         "--journal", str(tmp_path / "j.sqlite"), "--log-format", "json"],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [json.loads(ln) for ln in proc.stderr.splitlines() if ln.startswith("{")]  # (logs: stderr)
    events = [ln["event"] for ln in lines]
    ready = events.index("kernels_ready")
    assert lines[ready]["seconds"] > 0 and not lines[ready]["cached_in_process"]
    assert ready < events.index("venue_started") < events.index("node_started")
    assert any(cache.rglob("*.nbi")), "the kernels were compiled into the (empty) cache"
    # every status line after the start comes on time: the loop never stalls on a compile
    stamps = [ln for ln in lines[events.index("node_started"):] if ln["event"] == "status"]
    assert len(stamps) >= 5

    def ts(line: dict) -> float:
        from datetime import datetime
        return datetime.fromisoformat(line["timestamp"].replace("Z", "+00:00")).timestamp()

    gaps = [ts(b) - ts(a) for a, b in zip(stamps, stamps[1:])]
    assert max(gaps) < INTERVAL_S + 0.75, gaps
