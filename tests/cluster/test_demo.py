"""``make cluster-demo`` (``cluster/demo.py``): a service that dies is a drill, not the end.

The demo's banner invites the user to ``kill -9`` a node or the aggregator and watch the rest
react; the demo itself must keep the other services running and say how to start the dead one
again. The services here are stand-ins (``sleep``) so the test checks the demo's own
supervision without the CPU of a whole cluster; nats-server is not started.
"""

from __future__ import annotations

import shlex
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import cluster.demo as demo

_POPEN = subprocess.Popen  # (the test replaces subprocess.Popen for the demo's services)


class _FakeServer:
    url = "nats://127.0.0.1:14222"
    instances: list[_FakeServer] = []

    def __init__(self, store_dir: Path, *_a: Any, **_k: Any) -> None:
        self.log_path = Path(store_dir) / "nats.log"
        self.proc: subprocess.Popen[bytes] | None = None
        _FakeServer.instances.append(self)

    def start(self) -> _FakeServer:
        self.proc = _POPEN(["sleep", "60"])
        self.proc.args = ["nats-server", "-js", "-sd", "STORE"]
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def test_a_killed_service_leaves_the_others_running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    started: dict[str, subprocess.Popen[bytes]] = {}

    def popen(cmd: list[str], **kw: Any) -> subprocess.Popen[bytes]:
        p = _POPEN(["sleep", "60"], **kw)
        p.args = cmd  # what the demo would have run, for its restart hint
        started[Path(kw["stdout"].name).stem] = p  # the demo's name (its log file)
        return p

    monkeypatch.setattr(demo, "NatsServer", _FakeServer)
    monkeypatch.setattr(demo.subprocess, "Popen", popen)
    monkeypatch.setattr(demo, "_summary", lambda: "  firm: (test)")
    monkeypatch.setattr(demo.signal, "signal", lambda *_a: None)  # not the main thread
    result: dict[str, int] = {}
    t = threading.Thread(target=lambda: result.update(rc=demo.main(
        ["--duration", "4", "--dir", str(tmp_path)])))
    t.start()
    deadline = time.monotonic() + 10
    while "node-sim" not in started and time.monotonic() < deadline:
        time.sleep(0.05)
    victim_name = "node-sim"
    victim = started[victim_name]
    victim.kill()  # kill -9 of a node, as the banner suggests
    nats = _FakeServer.instances[-1].proc
    assert nats is not None
    nats.kill()
    time.sleep(1.0)
    others = [p for p in started.values() if p is not victim]
    assert all(p.poll() is None for p in others), "the demo stopped the other services"
    t.join(20)
    assert result.get("rc") == 0
    out, err = (captured := capsys.readouterr()).out, captured.err
    # how to look at each service, with the paths the demo really uses
    assert f"volta status --journal {tmp_path}/node-sim.journal.sqlite" in out
    assert "volta status --url http://127.0.0.1:18787/" in out
    assert err.count(f"{victim_name} exited (-9)") == 1, err  # said once, not every 0.2 s
    assert "the others keep running" in err and shlex.join(victim.args) in err
    assert "nats-server exited (-9)" in err and "nats-server -js -sd STORE" in err  # its store
    assert all(p.poll() is not None for p in started.values())  # all stopped at the end


def test_the_summary_names_a_lagging_node_and_a_lost_store(monkeypatch: pytest.MonkeyPatch) -> None:
    """The drill 'restart nats-server without its store' (or a full stream) must show in the
    demo's summary line, not only in the aggregator's log."""
    import io
    import json

    def node(state: str, lagging: bool) -> dict[str, Any]:
        return {"stale": False, "reports_applied": 7, "reports_lagging": lagging,
                "report": {"trading_state": state}}
    view = {"greeks": {}, "pnl_usd": {"total": 0.0},
            "nodes": {"node-sim": node("active", True), "node-deribit": node("active", False)},
            "aggregator": {"leader": True, "store": {"ok": False, "losses": 2,
                                                     "lost": ["stream VOLTA_RISK"]}}}
    monkeypatch.setattr(demo.urllib.request, "urlopen",
                        lambda *_a, **_k: io.BytesIO(json.dumps(view).encode()))
    line = demo._summary()
    assert "node-sim:active/7 reports LAGGING, node-deribit:active/7 reports |" in line
    assert line.endswith("aggregator leader, JetStream store LOST (stream VOLTA_RISK; 2 losses)"), line
    view["aggregator"]["store"]["ok"] = True
    assert demo._summary().endswith("aggregator leader, JetStream store recreated after 2 losses")
