"""Leader lease in a JetStream key-value bucket (one active aggregator, the others standby).

The bucket's TTL is the lease time: the holder renews the key (compare-and-set on the revision
it last wrote) every ``ttl/4``; if it dies, the key expires after ``ttl`` and the first standby
whose ``create`` succeeds leads. A holder that fails to renew (another wrote the key, or it
cannot reach JetStream for longer than the lease) steps down at once: two leaders never act on
the same revision. Take-over time: at most ``ttl + ttl/4``.
"""

from __future__ import annotations

from typing import Any

import structlog

KEY = "aggregator"
log = structlog.get_logger("volta.aggregator")


class LeaderLease:
    def __init__(self, kv: Any, holder: str) -> None:
        self.kv = kv
        self.holder = holder
        self.revision = 0
        self.leader = False
        self.problem = ""  # why the lease cannot be taken when nobody holds it ("" = none)

    async def tick(self) -> bool:
        """Renew (leader) or try to take (standby); returns whether this holder leads now."""
        if self.leader:
            try:
                self.revision = await self.kv.update(KEY, self.holder.encode(), last=self.revision)
            except Exception:  # noqa: BLE001 - lost the key or JetStream: not leader any more
                self.leader = False
        else:
            try:
                self.revision = await self.kv.create(KEY, self.holder.encode())
                self.leader = True
                self.problem = ""
            except Exception as exc:  # noqa: BLE001 - somebody else holds it, or JetStream fails
                self.leader = False
                self._note(exc)
        return self.leader

    def _note(self, exc: Exception) -> None:
        """Another holder is the normal standby case; anything else (the bucket gone with a
        nats-server restarted without its store, JetStream down) would keep every aggregator
        standby and every node reduce-only without a word: logged once per kind of failure."""
        from nats.js.errors import KeyWrongLastSequenceError

        problem = "" if isinstance(exc, KeyWrongLastSequenceError) else type(exc).__name__
        if problem and problem != self.problem:
            log.error("lease_unavailable", holder=self.holder, error=problem,
                      detail=f"JetStream cannot take the leader lease ({exc}); this aggregator "
                             "stays standby: check that nats-server runs with its JetStream store")
        self.problem = problem

    async def current(self) -> str | None:
        try:
            entry = await self.kv.get(KEY)
        except Exception:  # noqa: BLE001 - no leader
            return None
        return entry.value.decode() if entry.value else None

    async def release(self) -> None:
        if self.leader:
            try:
                await self.kv.delete(KEY, last=self.revision)
            except Exception:  # noqa: BLE001 - expires anyway
                pass
            self.leader = False
