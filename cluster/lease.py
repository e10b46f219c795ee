"""Leader lease in a JetStream key-value bucket (one active aggregator, the others standby).

The bucket's TTL is the lease time: the holder renews the key (compare-and-set on the revision
it last wrote) every ``ttl/4``; if it dies, the key expires after ``ttl`` and the first standby
whose ``create`` succeeds leads. A holder that fails to renew (another wrote the key, or it
cannot reach JetStream for longer than the lease) steps down at once: two leaders never act on
the same revision. Take-over time: at most ``ttl + ttl/4``.
"""

from __future__ import annotations

from typing import Any

KEY = "aggregator"


class LeaderLease:
    def __init__(self, kv: Any, holder: str) -> None:
        self.kv = kv
        self.holder = holder
        self.revision = 0
        self.leader = False

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
            except Exception:  # noqa: BLE001 - somebody else holds it
                self.leader = False
        return self.leader

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
