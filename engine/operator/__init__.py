"""The operator surface of a running daemon: dashboard, JSON API, live stream, /metrics,
token-guarded control and alerts (see docs/operator.md).

``start_operator(node)`` is the runtime's one entry point: it reads ``[operator]``, starts the
HTTP server in the node's event loop and prints the dashboard URL (and, for paper, a generated
control token) once on the console.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from engine.operator.auth import TOKEN_ENV, OperatorSettings, discovery_path, operator_settings
from engine.operator.server import Operator

if TYPE_CHECKING:
    from engine.kernel import Kernel

__all__ = ["TOKEN_ENV", "Operator", "OperatorSettings", "discovery_path", "make_operator",
           "operator_settings"]


def make_operator(kernel: Kernel, config: Any, journal_path: str = "") -> Operator | None:
    """The node's operator surface per ``[operator]`` (None when off). Raises ConfigError."""
    settings = operator_settings(config)
    if settings is None:
        return None
    return Operator(kernel, settings, journal_path)


async def start_and_announce(op: Operator) -> str:
    """Start the server and print the URL (and a generated token) on the console once."""
    url = await op.start()
    print(f"volta: dashboard {url}  (metrics {url}metrics)", file=sys.stderr, flush=True)
    if op.s.token_generated:
        # Printed once, on the console only (never through the logger, which redacts it).
        print(f"volta: operator token for this run: {op.s.token}  "
              f"(set ${TOKEN_ENV} to choose one)", file=sys.stderr, flush=True)
    elif not op.s.token:
        print(f"volta: control actions disabled (${TOKEN_ENV} unset)", file=sys.stderr, flush=True)
    return url
