"""Account reads of a live venue over REST: a first read at start, re-reads when the private
stream says the account changed, and a periodic read (marks move unrealized PnL and margin
without any event).

Theory of operation. A venue's session owns one ``AccountPoller`` and gives it ``read``: one
REST round trip that returns the venue's accounts decoded (``AccountReported``, by the venue's
``private`` module) or raises. ``start`` awaits the first read (so the account book is fed
before the venue reports ready) and starts the periodic loop; ``poke`` asks for a re-read as
soon as possible (after a fill, an ``ACCOUNT_UPDATE``...), coalescing pokes that arrive while a
read is in flight into one more read. A failed read is logged and counted
(``stats["account_read_failed"]``) and the last reports stand: nothing is published as 0.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from adapters.live.rest import NotSent, Unknown
from adapters.live.session import LiveSession
from engine.model import AccountReported, VenueProtocolError

ReadAccounts = Callable[[], Awaitable[list[AccountReported]]]


class AccountReadFailed(Exception):
    """The venue refused or could not answer an account read (the message says why)."""


class AccountPoller:
    """See the module docstring."""

    def __init__(self, session: LiveSession, read: ReadAccounts, interval_s: float | None) -> None:
        self._session = session
        self._read = read
        self.interval_s = interval_s
        self.reads = 0
        self._wake = asyncio.Event()

    async def start(self) -> None:
        await self.read_once()
        self._session.spawn(self._loop())

    def poke(self) -> None:
        """Re-read soon (the private stream announced a change)."""
        self._wake.set()

    async def read_once(self) -> bool:
        s = self._session
        try:
            reports = await self._read()
        except (AccountReadFailed, VenueProtocolError, Unknown, NotSent, OSError, TimeoutError,
                *s.quiet_errors) as exc:
            s.stats["account_read_failed"] = s.stats.get("account_read_failed", 0) + 1
            s.log.error(f"{s.log_name}.account_read_failed", venue=s.venue, error=str(exc))
            return False
        self.reads += 1
        for ev in reports:
            s.publish(ev)
        return True

    async def _loop(self) -> None:
        while True:
            try:
                async with asyncio.timeout(self.interval_s):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
            await self.read_once()
