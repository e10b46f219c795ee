"""The ``[cluster]`` section: validated like every other section, credentials via ${ENV}."""

from __future__ import annotations

import pytest

from engine.config import ConfigError, load_config_text
from engine.config.secrets import known_secret_values

BASE = """
[deployment]
name = "n"
mode = "paper"
journal = ":memory:"

[venues.sim]
adapter = "adapters.sim:SimVenue"
"""


def test_cluster_section_decodes_with_defaults_and_env_credentials() -> None:
    text = BASE + """
[cluster]
node_id = "node-a"
servers = ["nats://127.0.0.1:4222", "nats://127.0.0.1:4223"]
replicas = 3
user = "volta"
password = "${NATS_PASSWORD}"

[cluster.firm.BTC]
max_delta = 2.5
"""
    cfg = load_config_text(text, env={"NATS_PASSWORD": "s3cr3t-nats"})
    c = cfg.cluster
    assert c is not None and c.node_id == "node-a" and c.role == "node"
    assert c.servers == ("nats://127.0.0.1:4222", "nats://127.0.0.1:4223")
    assert c.replicas == 3 and c.firm["BTC"].max_delta == 2.5
    assert c.password == "s3cr3t-nats"
    assert "s3cr3t-nats" in known_secret_values()  # redacted in every log line
    assert c.on_aggregator_loss == "reduce_only"  # fail-closed by default


def test_no_cluster_section_means_one_process() -> None:
    assert load_config_text(BASE).cluster is None


@pytest.mark.parametrize("body,path", [
    ('node_id = ""', "cluster.node_id"),
    ('node_id = "a"\nreplicas = 7', "cluster.replicas"),
    ('node_id = "a"\nservers = []', "cluster.servers"),
    ('node_id = "a"\nrole = "boss"', "cluster.role"),
    ('node_id = "a"\nsubject_prefix = "a.b"', "cluster.subject_prefix"),
    ('node_id = "a"\nreport_interval_s = 0', "cluster.report_interval_s"),
    ('node_id = "a"\nserver = "x"', "cluster.server"),
    ('node_id = "a"\non_aggregator_loss = "panic"', "cluster.on_aggregator_loss"),
])
def test_bad_cluster_keys_name_their_path(body: str, path: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load_config_text(BASE + "\n[cluster]\n" + body + "\n")
    assert any(p.path.startswith(path) for p in exc.value.problems), exc.value.problems


def test_missing_env_credential_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as exc:
        load_config_text(BASE + '\n[cluster]\nnode_id = "a"\ntoken = "${NO_SUCH_VAR_X}"\n', env={})
    assert "NO_SUCH_VAR_X" in str(exc.value)


def test_an_aggregator_needs_no_venue() -> None:
    text = '[deployment]\nname = "agg"\nmode = "paper"\njournal = ":memory:"\n' \
           '[cluster]\nnode_id = "agg-1"\nrole = "aggregator"\n'
    assert load_config_text(text).cluster.role == "aggregator"  # type: ignore[union-attr]
    with pytest.raises(ConfigError):
        load_config_text(text.replace('role = "aggregator"', 'role = "node"'))
