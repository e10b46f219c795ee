"""``volta backtest --sweep`` honours ``[logging] level`` in its workers and shows progress
(issue 18, item 5)."""

from __future__ import annotations

from pathlib import Path

import pytest

from backtest.cli import main

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config" / "backtest.toml"


@pytest.mark.slow
def test_sweep_workers_log_at_the_configured_level(tmp_path: Path,
                                                   capfd: pytest.CaptureFixture[str]) -> None:
    text = CONFIG.read_text().replace("duration_s = 900.0", "duration_s = 30.0")
    assert 'level = "warning"' in text
    cfg = tmp_path / "bt.toml"
    cfg.write_text(text)
    code = main([str(cfg), "--output", str(tmp_path / "o"), "--workers", "2",
                 "--sweep", "strategies[0].params.size=0.01,0.02"])
    out, err = capfd.readouterr()
    assert code == 0, err
    both = out + err
    assert '"level":"info"' not in both and "[info" not in both  # workers obey [logging] level
    progress = [ln for ln in err.splitlines() if ln.startswith("sweep: ") and "runs done" in ln]
    assert [p.split()[1] for p in progress] == ["1/2", "2/2"]
