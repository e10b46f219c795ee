"""``volta run`` on a cluster service's file (``[cluster] role = "aggregator"`` or
``"gateway"``) started a trading node that did nothing (no venue for the aggregator) or traded
the gateway's feed, with exit status 0; ``volta gateway`` and ``volta aggregator`` already refuse
a file of another role. It is refused in one line naming the command to use."""

from __future__ import annotations

import pytest

from engine.cli import main
from engine.config import default_config_path


@pytest.mark.parametrize("role", ["aggregator", "gateway"])
def test_run_refuses_another_services_file(role: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = default_config_path().with_name(f"cluster-{role}.toml")
    assert main(["run", str(path), "--virtual", "--duration", "1"]) == 2
    assert capsys.readouterr().err == (
        f"volta run: {path} deploys the cluster's {role} (cluster.role), not a node: "
        f"run it with volta {role} {path}\n")
