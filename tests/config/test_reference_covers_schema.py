"""Every key the loaders accept is in the reference a newcomer reads for its section.

config/example.toml covers the deployment's own sections (tests/config/test_config_loader.py);
`[cluster]` is documented in docs/cluster.md and `[backtest]` with the replay exchange's
params in docs/backtesting.md. Those two lacked keys the schemas accept (the cluster's
connect_timeout_s, subject_prefix, stream and bucket names, command_timeout_s/_retries; the
backtest's progress_interval_s, duration_s, synthetic_venue, start_ns, max_points, and most of
an instrument definition), so a user could only find them in the source.
"""

from __future__ import annotations

import re
from pathlib import Path

import msgspec

from backtest.schema import BacktestSpec, DataConfig, ExchangeParams, InstrumentSpec, ReportConfig
from engine.config.schema import ClusterConfig, FirmUnderlyingLimits

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _section(doc: str, heading: str) -> str:
    """The text of ``## heading`` up to the next ``## ``."""
    text = (DOCS / doc).read_text()
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else len(text)]


def undocumented(text: str, *structs: type[msgspec.Struct]) -> list[str]:
    """Fields of ``structs`` that no ``key =`` line (commented or not, several per line
    allowed) of ``text``'s TOML blocks names."""
    blocks = "\n".join(re.findall(r"```toml\n(.*?)```", text, re.S))
    return [f"{s.__name__}.{f.encode_name}" for s in structs for f in msgspec.structs.fields(s)
            if not re.search(rf"(^|[\s,#\[.]){f.encode_name}( = |\]|\.)", blocks, re.M)]


def test_cluster_reference_names_every_key() -> None:
    assert undocumented(_section("cluster.md", "Configuration"),
                        ClusterConfig, FirmUnderlyingLimits) == []


def test_backtest_reference_names_every_key() -> None:
    assert undocumented(_section("backtesting.md", "Configuration"), BacktestSpec, DataConfig,
                        ReportConfig, ExchangeParams, InstrumentSpec) == []


def test_the_check_sees_a_missing_key() -> None:
    text = "```toml\n[cluster]\nnode_id = \"a\"  # replicas = 3\n```\n"
    missing = undocumented(text, ClusterConfig)
    assert "ClusterConfig.node_id" not in missing and "ClusterConfig.replicas" not in missing
    assert "ClusterConfig.connect_timeout_s" in missing
