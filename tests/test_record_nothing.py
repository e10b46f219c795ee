"""``volta record`` never leaves a capture of nothing behind (real ``python -m engine record``
processes). ``config/paper.toml`` (all venues simulated) used to write an empty capture and exit
0 ("recorded 0 records"): a simulated venue has no traffic, so it is refused before any file is
opened (exit 2, one line naming it); a venue that starts but sends nothing for the whole
duration used to leave a file of nothing too: now the file is removed and the exit code is 1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# A venue adapter that starts at once and never sends anything (a venue that stays silent).
QUIET = '''
from engine.venue import VenueAdapter


class QuietVenue(VenueAdapter):
    venue = "quiet"

    def instruments(self):
        return []

    async def start(self):
        pass

    async def stop(self):
        pass

    def submit(self, cmd):
        pass

    def cancel(self, cmd):
        pass

    def amend(self, cmd):
        pass
'''


def _record(args: list[str], extra_path: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT)] + ([str(extra_path)] if extra_path else []))
    return subprocess.run([sys.executable, "-m", "engine", "record", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def test_recording_the_simulated_paper_deployment_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "cap.jsonl"
    proc = _record(["config/paper.toml", "--output", str(out), "--duration", "1"])
    assert proc.returncode == 2, proc
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("config/paper.toml: venues.sim.adapter: venue sim is simulated")
    assert "nothing" in lines[0] or "no venue traffic" in lines[0]
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert not out.exists()


def test_a_venue_that_sends_nothing_leaves_no_capture_and_exits_1(tmp_path: Path) -> None:
    (tmp_path / "quietvenue.py").write_text(QUIET)
    cfg = tmp_path / "quiet.toml"
    cfg.write_text('[deployment]\nname = "q"\nmode = "paper"\n'
                   f'journal = "{tmp_path / "j.sqlite"}"\n'
                   '[venues.quiet]\nadapter = "quietvenue:QuietVenue"\n')
    out = tmp_path / "cap.jsonl"
    proc = _record([str(cfg), "--output", str(out), "--duration", "1"], extra_path=tmp_path)
    assert proc.returncode == 1, proc
    assert proc.stderr.strip().splitlines() == [
        "volta record: venue quiet started but sent nothing during the recording",
        "volta record: nothing was received from any venue; no capture written"], proc.stderr
    assert "recorded" not in proc.stdout
    assert not out.exists()
