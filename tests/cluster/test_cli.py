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
    assert r.returncode == 2 and "deploys a aggregator, not a gateway" in r.stderr
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
