"""A service's NATS connection and the JetStream resources it needs, from ``[cluster]``."""

from __future__ import annotations

import asyncio
from typing import Any

from adapters.nats.connect import NatsUnavailable, connect
from engine.config.schema import ClusterConfig

__all__ = ["NatsUnavailable", "cluster_connect", "ensure_bucket", "ensure_reports_stream", "store_gone"]


async def cluster_connect(cfg: ClusterConfig, name: str, **options: Any) -> Any:
    return await connect(list(cfg.servers), name=name, user=cfg.user, password=cfg.password,
                         token=cfg.token, connect_timeout_s=cfg.connect_timeout_s, **options)


_NOT_CLUSTERED = 10074  # JetStream's err_code: "replicas > 1 not supported in non-clustered mode"


async def _retrying(what: str, fn: Any, timeout_s: float, replicas: int) -> Any:
    """JetStream answers "not ready" while a fresh cluster elects its leaders: retry a while
    (not a configuration no retry fixes)."""
    from nats.js.errors import APIError

    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        try:
            return await fn()
        except Exception as exc:  # noqa: BLE001 - nats raises assorted errors
            permanent = isinstance(exc, APIError) and exc.err_code == _NOT_CLUSTERED
            if permanent or asyncio.get_running_loop().time() > deadline:
                raise NatsUnavailable(f"JetStream cannot provide {what}: {_why(exc, replicas)}") from None
            await asyncio.sleep(0.25)


def _why(exc: BaseException, replicas: int) -> str:
    from nats.js.errors import APIError, ServiceUnavailableError

    # No responder to the JetStream API at all: the server runs without JetStream (a server
    # still electing its JetStream leaders answers with an error code instead).
    if isinstance(exc, ServiceUnavailableError) and exc.err_code is None:
        return ("the NATS server runs without JetStream (start nats-server with -js, or a "
                "jetstream block in its configuration)")
    if isinstance(exc, APIError) and exc.err_code == _NOT_CLUSTERED:
        return (f"cluster.replicas = {replicas} needs a JetStream cluster, and this nats-server "
                f"runs alone: set replicas = 1, or run {replicas} servers with routes")
    return str(exc)


def store_gone(exc: BaseException) -> bool:
    """Whether a JetStream error says the stream or bucket is not there (a nats-server restarted
    with a wiped store, a stream deleted by an operator), not that the server is unreachable:
    a publish finds no stream to answer it, an info request finds none."""
    from nats.js.errors import NoStreamResponseError, NotFoundError

    return isinstance(exc, NoStreamResponseError | NotFoundError)


async def ensure_reports_stream(js: Any, cfg: ClusterConfig, timeout_s: float = 15.0) -> bool:
    """The persisted stream of every node's exposure reports (file storage, replicated);
    returns whether this call created it."""
    from nats.js.api import StorageType, StreamConfig

    sc = StreamConfig(name=cfg.reports_stream, subjects=[f"{cfg.subject_prefix}.risk.>"],
                      storage=StorageType.FILE, num_replicas=cfg.replicas,
                      max_msgs_per_subject=100_000, duplicate_window=120.0)

    async def add() -> bool:
        try:
            await js.stream_info(cfg.reports_stream)
            return False  # exists (its configuration is the operator's)
        except Exception:  # noqa: BLE001 - not there yet
            pass
        try:
            await js.add_stream(sc)
        except Exception as exc:  # noqa: BLE001 - another service created it meanwhile
            if "already in use" not in str(exc):
                raise
            return False
        return True

    return bool(await _retrying(f"the stream {cfg.reports_stream}", add, timeout_s, cfg.replicas))


async def ensure_bucket(js: Any, bucket: str, replicas: int, ttl_s: float | None = None,
                        timeout_s: float = 15.0) -> Any:
    from nats.js.api import KeyValueConfig, StorageType

    try:
        return await js.key_value(bucket)
    except Exception:  # noqa: BLE001 - not there yet
        pass
    cfg = KeyValueConfig(bucket=bucket, history=1, replicas=replicas, storage=StorageType.FILE,
                         ttl=ttl_s)

    async def create() -> Any:
        try:
            return await js.create_key_value(cfg)
        except Exception as exc:  # noqa: BLE001 - another service created it meanwhile?
            try:
                return await js.key_value(bucket)
            except Exception:  # noqa: BLE001 - no: why the creation failed is the news
                raise exc from None

    return await _retrying(f"the key-value bucket {bucket}", create, timeout_s, replicas)
