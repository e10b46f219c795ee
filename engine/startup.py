"""Venue start-up supervision: a venue that cannot be reached (or refuses the credentials) at
start does not end the run.

Theory of operation. ``VenueStarter.start_all`` starts every venue concurrently, each attempt
bounded by the venue's own ``start_timeout_s``. A venue whose first attempt fails is reported
in exactly one log line (``venue_unavailable``: the venue, what went wrong in words, when the
next attempt is) and the venue gets a ``venue_start:<name>`` hold, so it stays HALTED (that
venue only: the others trade). A background task then retries the start with exponential backoff (``backoff_base_s`` doubling up
to ``backoff_cap_s``); when an attempt succeeds the venue's instruments are registered, the
venue is reconciled (fills first, like any reconnection) and only then is its hold released.
With ``fail_fast`` the first failures raise ``VenueStartFailed`` instead (one line per venue),
for operators who prefer a non-zero exit to a daemon that waits.

The messages name the failure, never a secret: credentials are not part of any exception the
sessions raise, and the text is built from the exception's message, not its arguments.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from engine.venue import VenueAdapter

log = structlog.get_logger("volta.startup")

__all__ = ["StrategyStartFailed", "VenueStartFailed", "VenueStarter", "describe_start_failure",
           "describe_strategy_failure"]


STILL_CONNECTING = "not connected yet when the run ended (still trying)"


class VenueStartFailed(Exception):
    """Raised by ``start_all`` with ``fail_fast``: one line per venue that did not start."""

    def __init__(self, failures: dict[str, str]) -> None:
        self.failures = failures
        super().__init__("; ".join(f"{v}: {msg}" for v, msg in failures.items()))


class StrategyStartFailed(Exception):
    """A strategy's ``on_start`` raised: the node does not run a deployment with a strategy
    that never started (a typo'd instrument, a parameter it refuses); one line per strategy."""

    def __init__(self, failures: dict[str, str]) -> None:
        self.failures = failures
        super().__init__("; ".join(f"{sid}: {msg}" for sid, msg in failures.items()))


def describe_strategy_failure(exc: BaseException) -> str:
    """One line for an exception a strategy raised: its type, its message and where it was
    raised: the innermost line outside the engine (the strategy's own call, also when the SDK
    raised for it), else the innermost."""
    text = (str(exc).strip().splitlines() or [""])[0]
    engine_dir = str(Path(__file__).resolve().parent)
    tb, inner, outside = exc.__traceback__, None, None
    while tb is not None:
        inner = (tb.tb_frame.f_code.co_filename, tb.tb_lineno)
        if not inner[0].startswith(engine_dir):
            outside = inner
        tb = tb.tb_next
    at = outside or inner
    where = f" (at {at[0]}:{at[1]})" if at is not None else ""
    return f"{type(exc).__name__}{': ' + text if text else ''}{where}"


def describe_start_failure(adapter: VenueAdapter, exc: BaseException) -> str:
    """One line, in words, for why ``adapter`` did not start."""
    if isinstance(exc, TimeoutError):
        timeout = getattr(getattr(adapter, "params", None), "start_timeout_s", None)
        within = f" within {timeout:g} s" if isinstance(timeout, (int, float)) else ""
        url = getattr(getattr(adapter, "params", None), "url", None)
        where = f" at {url}" if isinstance(url, str) else ""
        return f"venue unreachable: no usable connection{where}{within}"
    if isinstance(exc, ConnectionRefusedError):
        return f"venue unreachable: connection refused ({exc.strerror or exc})"
    if isinstance(exc, OSError):
        return f"venue unreachable: {exc.strerror or exc}"
    text = str(exc).strip() or type(exc).__name__
    prefix = f"{adapter.venue}: "
    if text.startswith(prefix):  # the sessions prefix their own name; we add it once
        text = text[len(prefix):]
    return text.splitlines()[0]


class VenueStarter:
    """Starts the venues of one node and keeps retrying the ones that failed."""

    def __init__(self, hold: Callable[[str, str], None], release: Callable[[str], None],
                 on_up: Callable[[VenueAdapter], Any], backoff_base_s: float = 1.0,
                 backoff_cap_s: float = 30.0) -> None:
        """``hold(source, reason)``/``release(source)`` drive the gate; ``on_up(adapter)`` is
        awaited once a venue started (register instruments, reconcile) before its release."""
        self._hold = hold
        self._release = release
        self._on_up = on_up
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.down: dict[str, str] = {}
        """Venue → why it is not started (empty once every venue is up)."""
        self.attempts: dict[str, int] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.pending: set[str] = set()
        """Venues whose first start attempt has not finished yet."""

    @staticmethod
    def source(venue: str) -> str:
        return f"venue_start:{venue}"  # not "venue:<name>": the kill switch's disconnect hold

    async def _attempt(self, adapter: VenueAdapter) -> str | None:
        """One start attempt; None on success, else the reason in words."""
        self.attempts[adapter.venue] = self.attempts.get(adapter.venue, 0) + 1
        try:
            await adapter.start()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - every start failure becomes one line
            return describe_start_failure(adapter, exc)
        return None

    async def start_all(self, adapters: list[VenueAdapter], fail_fast: bool = False) -> list[VenueAdapter]:
        """Start every venue concurrently; returns the ones that started (in the given order)."""
        self.pending = {a.venue for a in adapters}

        async def first(adapter: VenueAdapter) -> str | None:
            why = await self._attempt(adapter)
            self.pending.discard(adapter.venue)
            return why

        try:
            results = await asyncio.gather(*(first(a) for a in adapters))
        except asyncio.CancelledError:  # the run ended (duration, signal) during the start
            for venue in sorted(self.pending):
                log.error("venue_unavailable", venue=venue, error=STILL_CONNECTING)
            raise
        failures = {a.venue: why for a, why in zip(adapters, results, strict=True) if why is not None}
        if failures and fail_fast:
            for venue, why in failures.items():
                log.error("venue_unavailable", venue=venue, error=why, action="exiting (fail fast)")
            raise VenueStartFailed(failures)
        for adapter in adapters:
            why = failures.get(adapter.venue)
            if why is None:
                continue
            self.down[adapter.venue] = why
            self._hold(self.source(adapter.venue), f"{adapter.venue} unavailable: {why}")
            log.error("venue_unavailable", venue=adapter.venue, error=why,
                      action=f"trading halted; retrying in {self._delay(1):g} s")
            self._spawn(adapter)
        return [a for a in adapters if a.venue not in failures]

    def _delay(self, failures: int) -> float:
        return min(self.backoff_cap_s, self.backoff_base_s * 2 ** (failures - 1))

    def _spawn(self, adapter: VenueAdapter) -> None:
        task = asyncio.get_running_loop().create_task(self._retry(adapter), name=f"start-{adapter.venue}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _retry(self, adapter: VenueAdapter) -> None:
        failures = 1
        while True:
            await asyncio.sleep(self._delay(failures))
            why = await self._attempt(adapter)
            if why is None:
                break
            failures += 1
            self.down[adapter.venue] = why
            log.warning("venue_start_retry_failed", venue=adapter.venue, error=why,
                        attempt=self.attempts[adapter.venue], retry_in_s=self._delay(failures))
        try:
            await self._on_up(adapter)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the venue stays held; reported, not raised
            log.error("venue_recovery_failed", venue=adapter.venue, error=str(exc) or repr(exc))
            return
        self.down.pop(adapter.venue, None)
        self._release(self.source(adapter.venue))
        log.info("venue_available", venue=adapter.venue, attempts=self.attempts[adapter.venue],
                 instruments=len(adapter.instruments()))

    async def stop(self) -> None:
        """Cancel the retries (an attempt in flight cleans up after itself)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
