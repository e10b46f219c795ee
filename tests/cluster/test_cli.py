"""``volta gateway`` / ``volta aggregator`` / ``volta run`` with [cluster]: one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cluster.server import free_port
from tests.cluster.conftest import DEPLOY, cluster_table

ROOT = Path(__file__).resolve().parents[2]


def _volta(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "engine", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def test_a_service_refuses_a_file_of_another_role(tmp_path: Path) -> None:
    cfg = tmp_path / "agg.toml"
    cfg.write_text(DEPLOY.format(name="a") + cluster_table(["nats://127.0.0.1:1"], "a", "aggregator"))
    r = _volta("gateway", str(cfg))
    assert r.returncode == 2 and "deploys an aggregator, not a gateway (cluster.role): run it with volta aggregator" in r.stderr
    plain = tmp_path / "plain.toml"
    plain.write_text(DEPLOY.format(name="p") + '[venues.sim]\nadapter = "adapters.sim:SimVenue"\n')
    r = _volta("aggregator", str(plain))
    assert r.returncode == 2 and "no [cluster] section" in r.stderr


@pytest.mark.parametrize("command", ["aggregator", "run"])
def test_unreachable_nats_is_one_line_and_no_traceback(tmp_path: Path, command: str) -> None:
    url = f"nats://127.0.0.1:{free_port()}"  # nothing listens there
    cfg = tmp_path / "c.toml"
    if command == "aggregator":
        cfg.write_text(DEPLOY.format(name="a") + cluster_table([url], "a", "aggregator", api_port=0))
    else:
        cfg.write_text(DEPLOY.format(name="n") + '[venues.sim]\nadapter = "adapters.sim:SimVenue"\n'
                       + cluster_table([url], "n"))
    r = _volta(command, str(cfg), "--duration", "5")
    assert r.returncode == 1, (r.stdout[-2000:], r.stderr[-2000:])
    assert "cannot reach NATS at " + url in r.stderr
    assert "Traceback" not in r.stderr + r.stdout


def test_a_second_aggregator_with_the_same_node_id_is_one_line(tmp_path: Path, nats_server) -> None:  # type: ignore[no-untyped-def]
    """A standby started from a copy of the leader's file without its own node_id (or the same
    aggregator started twice) meets the first one's durable consumer: one line saying so."""
    import time

    cfg = tmp_path / "agg.toml"
    cfg.write_text(DEPLOY.format(name="a") + cluster_table([nats_server.url], "agg-1", "aggregator",
                                                           api_port=0))
    out = tmp_path / "first.log"
    with open(out, "wb") as fh:
        first = subprocess.Popen([sys.executable, "-m", "engine", "aggregator", str(cfg), "--duration", "60"],
                                 cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while "leads" not in out.read_text():  # (DEPLOY logs warnings only: the lease alert)
            assert first.poll() is None and time.monotonic() < deadline, out.read_text()[-2000:]
            time.sleep(0.1)
        r = _volta("aggregator", str(cfg), "--duration", "5")
        assert r.returncode == 1, (r.stdout[-2000:], r.stderr[-2000:])
        assert "Traceback" not in r.stderr + r.stdout, r.stderr[-2000:]
        assert "another aggregator with node_id 'agg-1' is running" in r.stderr, r.stderr
        assert first.poll() is None  # the first one is not disturbed
    finally:
        first.terminate()
        first.wait(20)
