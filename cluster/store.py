"""The aggregator's JetStream resources and their loss.

The aggregator lives on three server-side resources: the reports stream, its durable consumer
on it and the lease bucket. A nats-server restarted with a wiped store directory, or an
operator deleting the stream, takes them away without any error reaching a push consumer: the
client reconnects, heartbeats (core NATS) keep every node fresh, and the firm view freezes on
the last reports it got, silently. So the aggregator asks the server every ``CHECK_S`` whether
they are there (``missing_resources``), and on a loss logs one warning, recreates them with
the configured settings and asks every node to report again
(``cluster.messages.resend_subject``); the record
of it (``StoreHealth``) is in ``/api/health``, ``/api/firm`` and ``/metrics``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from engine.config.schema import ClusterConfig

CHECK_S = 1.0
"""How often the aggregator checks its resources (the detection bound of a loss)."""

NO_JETSTREAM = "JetStream (the server runs without it)"
_STREAM_NOT_FOUND = 10059  # JetStream's err_code (a consumer's own absence is 10014)


@dataclass
class StoreHealth:
    """Losses of the aggregator's JetStream resources since it started (one owner: the
    aggregator). Times are wall-clock ns; 0 = never."""

    ok: bool = True
    losses: int = 0
    lost: list[str] = field(default_factory=list)  # what the last loss took ("stream VOLTA_RISK", ...)
    lost_at_ns: int = 0
    recovered_at_ns: int = 0

    def note_lost(self, lost: list[str]) -> None:
        self.ok = False
        self.losses += 1
        self.lost = list(lost)
        self.lost_at_ns = time.time_ns()

    def note_recovered(self) -> None:
        self.ok = True
        self.recovered_at_ns = time.time_ns()

    def view(self) -> dict[str, Any]:
        return {"ok": self.ok, "losses": self.losses, "lost": self.lost,
                "lost_at_ns": self.lost_at_ns, "recovered_at_ns": self.recovered_at_ns}


async def missing_resources(js: Any, cfg: ClusterConfig, durable: str,
                            stream_created: Any) -> list[str] | None:
    """What the server lacks of the stream, the durable consumer and the lease bucket ([]:
    nothing), or ``None`` when it cannot be asked (disconnected, not answering: that is not a
    loss, the client reconnects by itself). A stream created after ``stream_created`` (another
    service recreated it first) is a lost stream: it holds none of the reports. A server that
    answers no JetStream request at all (restarted without -js) has lost everything."""
    from nats.js.errors import NotFoundError, ServiceUnavailableError

    lost: list[str] = []
    try:
        try:
            await js.consumer_info(cfg.reports_stream, durable)
        except NotFoundError as exc:
            if exc.err_code == _STREAM_NOT_FOUND:
                lost.append(f"stream {cfg.reports_stream}")
            elif (await js.stream_info(cfg.reports_stream)).created != stream_created:
                lost.append(f"stream {cfg.reports_stream} (recreated empty by another service)")
            else:
                lost.append(f"consumer {durable}")
        try:
            await js.stream_info(f"KV_{cfg.lease_bucket}")  # (a bucket is the stream KV_<name>)
        except NotFoundError:
            lost.append(f"bucket {cfg.lease_bucket}")
    except ServiceUnavailableError as exc:
        return [NO_JETSTREAM] if exc.err_code is None else None  # (no responder at all)
    except Exception:  # noqa: BLE001 - timeout, disconnected, deleted meanwhile: ask again later
        return None
    return lost
