"""``volta record`` never leaves a capture of nothing behind (real ``python -m engine record``
processes). ``config/paper.toml`` (all venues simulated) used to write an empty capture and exit
0 ("recorded 0 records"): a simulated venue has no traffic, so it is refused before any file is
opened (exit 2, one line naming it); a venue that starts but sends nothing for the whole
duration used to leave a file of nothing too: now the file is removed and the exit code is 1
(an existing capture, which is appended to, is left exactly as it was)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
import websockets

from adapters.capture import CaptureWriter, iter_records
from adapters.deribit.fake import DeribitFake
from adapters.record import main

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


def _deployment(tmp_path: Path, name: str, venues: str) -> Path:
    """A paper deployment file ``tmp_path/name`` with the ``venues`` tables given."""
    cfg = tmp_path / name
    cfg.write_text(f'[deployment]\nname = "rec"\nmode = "paper"\n'
                   f'journal = "{tmp_path / "j.sqlite"}"\n' + venues)
    return cfg


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
    cfg = _deployment(tmp_path, "quiet.toml", '[venues.quiet]\nadapter = "quietvenue:QuietVenue"\n')
    out = tmp_path / "cap.jsonl"
    proc = _record([str(cfg), "--output", str(out), "--duration", "1"], extra_path=tmp_path)
    assert proc.returncode == 1, proc
    assert proc.stderr.strip().splitlines() == [
        "volta record: venue quiet started but sent nothing during the recording",
        "volta record: nothing was received from any venue; no capture written"], proc.stderr
    assert "recorded" not in proc.stdout
    assert not out.exists()


async def test_a_silent_venue_leaves_an_existing_capture_as_it_was(tmp_path: Path) -> None:
    """The capture is appended to: a run that received nothing used to leave its own
    connection-open and subscription records in the user's existing file."""
    async def silent(ws: websockets.ServerConnection) -> None:  # reads, never answers
        async for _ in ws:
            pass

    out = tmp_path / "old.jsonl.gz"
    with CaptureWriter(out) as w:
        w.write(1, "deribit", "ws", "ws://x", '{"jsonrpc":"2.0"}')
    before = out.read_bytes()
    async with websockets.serve(silent, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        cfg = _deployment(tmp_path, "silent.toml",
                          '[venues.deribit]\nadapter = "adapters.deribit.session:DeribitVenue"\n'
                          f'[venues.deribit.params]\nws_url = "ws://127.0.0.1:{port}/ws/api/v2"\n'
                          'instruments = ["BTC-PERPETUAL"]\nstart_timeout_s = 60.0\n')
        rc = await asyncio.wait_for(asyncio.to_thread(
            main, [str(cfg), "--output", str(out), "--duration", "1.5"]), 30)
    assert rc == 1
    assert out.read_bytes() == before


async def test_a_silent_venue_beside_a_live_one_is_named_and_the_other_recorded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "quietvenue.py").write_text(QUIET)
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "cap.jsonl"
    async with DeribitFake(("BTC-PERPETUAL",), step_s=0.01) as deribit:
        cfg = _deployment(tmp_path, "two.toml",
                          '[venues.quiet]\nadapter = "quietvenue:QuietVenue"\n'
                          '[venues.deribit]\nadapter = "adapters.deribit.session:DeribitVenue"\n'
                          f'[venues.deribit.params]\nws_url = "{deribit.url}"\n'
                          'instruments = ["BTC-PERPETUAL"]\nchannels = ["book"]\n')
        rc = await asyncio.wait_for(asyncio.to_thread(
            main, [str(cfg), "--output", str(out), "--duration", "3"]), 30)
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "volta record: venue quiet started but sent nothing during the recording" in err
    assert {r.venue for r in iter_records(out) if r.kind == "ws"} == {"deribit"}
