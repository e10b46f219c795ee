"""Operator settings from ``[operator]`` and the token that guards control actions.

The token comes from ``$VOLTA_OPERATOR_TOKEN``. A paper deployment without it gets a random
one, printed once on the console at start (never logged) and written to a 0600 file next to
the journal so a local ``volta kill`` can use it. A live deployment without it serves the
read-only surface but refuses every control action (503, not a default password). Binding
anything but a loopback address without a token is a config error: the dashboard would be
open to the network with nobody able to act on it safely.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.config import ConfigError, ConfigProblem, VoltaConfig
from engine.config.secrets import Secret, register_secret

TOKEN_ENV = "VOLTA_OPERATOR_TOKEN"


def reveal(value: Any) -> str:
    """The plain text of a config value that may be a ``Secret`` (``""`` for None)."""
    if value is None:
        return ""
    return value.reveal() if isinstance(value, Secret) else str(value)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class OperatorSettings:
    host: str
    port: int
    token: str
    token_generated: bool
    mode: str
    deployment: str
    book_levels: int = 10
    history: int = 500
    alerts: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    def check(self, presented: str | None) -> int:
        """200 if ``presented`` is the token, 401 when absent, 403 when wrong, 503 when the
        daemon has no token (control disabled)."""
        if not self.token:
            return 503
        if not presented:
            return 401
        return 200 if hmac.compare_digest(presented.encode(), self.token.encode()) else 403


def token_path(journal: str | Path) -> Path:
    return Path(f"{journal}.operator-token")


def discovery_path(journal: str | Path) -> Path:
    """Where a running daemon writes its operator URL (read by ``volta status``/``kill``)."""
    return Path(f"{journal}.operator.json")


def operator_settings(config: VoltaConfig, env: dict[str, str] | None = None) -> OperatorSettings | None:
    """The operator settings of ``config`` (None when the surface is off).

    Raises ``ConfigError`` for a non-loopback bind without a token.
    """
    oc = config.operator
    mode = config.deployment.mode
    enabled = oc.enabled if oc.enabled is not None else mode == "paper"
    if not enabled:
        return None
    env = dict(os.environ) if env is None else env
    token = env.get(TOKEN_ENV, "").strip()
    generated = False
    if not is_loopback(oc.host) and not token:
        raise ConfigError([ConfigProblem("operator.host", (
            f"binding {oc.host} (not loopback) needs a control token: set ${TOKEN_ENV}"))])
    if token and len(token) < 16:
        raise ConfigError([ConfigProblem("operator", f"${TOKEN_ENV} is too short (at least 16 characters)")])
    if not token and mode == "paper":
        token, generated = secrets.token_urlsafe(24), True
    if token:
        register_secret(token)  # the log redactor strips it from any line, even by mistake
    return OperatorSettings(host=oc.host, port=oc.port, token=token, token_generated=generated,
                            mode=mode, deployment=config.deployment.name,
                            book_levels=oc.book_levels, history=oc.history, alerts=oc.alerts)


def write_token_file(path: Path, token: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, (token + "\n").encode())
    finally:
        os.close(fd)
