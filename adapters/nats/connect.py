"""Connecting to NATS with clear one-line errors (shared by the adapter and the services)."""

from __future__ import annotations

from typing import Any

import structlog

log = structlog.get_logger("volta.nats")


class NatsUnavailable(ConnectionError):
    """The NATS servers cannot be reached, or refused the credentials."""


def shown(servers: list[str] | tuple[str, ...]) -> str:
    """The servers as they may be printed and logged: a URL's password or token
    (``nats://user:pass@host``, ``nats://token@host``, valid NATS syntax) as ``***``."""
    out = []
    for url in servers:
        scheme, sep, rest = url.rpartition("://")
        userinfo, at, host = rest.rpartition("@")
        if at:
            user, colon, _ = userinfo.partition(":")
            rest = f"{user}:***@{host}" if colon else f"***@{host}"
        out.append(f"{scheme}{sep}{rest}")
    return ", ".join(out)


async def connect(servers: list[str], *, name: str, user: str | None = None,
                  password: str | None = None, token: str | None = None,
                  connect_timeout_s: float = 2.0, **options: Any) -> Any:
    """A connected ``nats.aio.client.Client`` that reconnects forever once connected.

    Raises ``NatsUnavailable`` (with the servers named, never a credential: ``shown``) when no server
    answers at start or the credentials are refused.
    """
    try:
        import nats
        from nats.errors import NoServersError
    except ImportError as exc:  # the cluster extra is not installed
        raise NatsUnavailable("nats-py is not installed: pip install 'volta[cluster]'") from exc
    kwargs: dict[str, Any] = {"name": name, "connect_timeout": connect_timeout_s,
                              "max_reconnect_attempts": -1, "reconnect_time_wait": 0.25,
                              "allow_reconnect": True, **options}
    if user is not None:
        kwargs["user"] = str(user)
        kwargs["password"] = str(password or "")
    if token is not None:
        kwargs["token"] = str(token)
    failures: list[str] = []

    async def on_error(exc: Exception) -> None:
        # nats-py reports socket and protocol errors here (never with credentials in them).
        failures.append(f"{type(exc).__name__}: {exc}".lower())
        if len(failures) <= 3 or len(failures) % 100 == 0:
            log.warning("nats_error", client=name, error=type(exc).__name__, count=len(failures))

    kwargs.setdefault("error_cb", on_error)
    try:
        # Once connected, reconnect forever; the first connection is tried once per server.
        return await _connect_once(nats, servers, kwargs)
    except NoServersError:
        if any("authorization" in f for f in failures):
            raise NatsUnavailable(f"NATS at {shown(servers)} refused the credentials") from None
        raise NatsUnavailable(f"cannot reach NATS at {shown(servers)}") from None
    except (OSError, TimeoutError) as exc:
        raise NatsUnavailable(f"cannot reach NATS at {shown(servers)}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - nats raises assorted errors (authorization ...)
        text = str(exc) or type(exc).__name__
        if "authorization" in text.lower():
            raise NatsUnavailable(f"NATS at {shown(servers)} refused the credentials") from None
        raise NatsUnavailable(f"cannot connect to NATS at {shown(servers)}: {text}") from None


async def _connect_once(nats: Any, servers: list[str], kwargs: dict[str, Any]) -> Any:
    # nats-py retries the initial connection forever with max_reconnect_attempts=-1; a service
    # must fail fast at start instead, so the first attempt runs with no reconnect and the
    # connection is then told to reconnect forever.
    nc = await nats.connect(servers, **{**kwargs, "max_reconnect_attempts": 1,
                                        "allow_reconnect": True})
    nc.options["max_reconnect_attempts"] = -1
    return nc
