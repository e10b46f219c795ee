"""Alerts: conditions watched once a second, delivered to a JSON webhook, Slack and Telegram.

Theory of operation: ``AlertWatcher.check`` (a 1 s timer on the loop, never on the trading
path) compares what it sees with what it saw: a higher kill level (or a trip already cleared
when it looks), a venue that lost its connection (and its return), a book not LIVE for longer than
``stale_book_s`` (grouped per venue when the venue is down or many are: ``_check_books``), loss-limit use above ``loss_use_pct``, new reconciliation differences, new
strategy exceptions. Each condition
has a key (``kill``, ``venue:deribit``, ``book:sim:BTC-PERP`` ...). ``Notifier.raise_alert``
deduplicates on that key (the same key is not sent again within ``dedup_s``) and rate-limits
the warnings (at most ``max_per_minute`` alerts a minute; the excess is counted and summarised
in the next alert that goes out); a critical alert is never held back by the rate limit. Delivery is an aiohttp POST per sink in a background task with a
timeout; a failed delivery is counted, never retried in a loop, and logged once per outage
of its sink (the first failure, then the recovery with the number of alerts lost).
Sink URLs and the Telegram bot token are secrets: they never appear in a log line.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog

from engine.operator.views import loss_use_pct

if TYPE_CHECKING:
    from engine.kernel import Kernel
    from engine.operator.tape import Tape

log = structlog.get_logger("volta.operator.alerts")

# More stale books than this on one venue (or any while the venue is down) is one alert for
# the venue, naming how many and the first BOOK_EXAMPLES, not one alert per book.
MAX_SINGLE_BOOKS = 3
BOOK_EXAMPLES = 3

SEVERITY_ICON = {"critical": "\U0001F6A8", "warning": "\u26A0\uFE0F", "info": "\u2139\uFE0F"}


@dataclass(frozen=True)
class Alert:
    key: str
    severity: str  # critical | warning | info
    title: str
    detail: str
    deployment: str
    ts_ns: int

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "severity": self.severity, "title": self.title, "detail": self.detail,
                "deployment": self.deployment, "ts_ns": self.ts_ns}


@dataclass(frozen=True)
class Sink:
    """One destination: ``kind`` is ``webhook`` | ``slack`` | ``telegram``."""

    kind: str
    url: str
    chat_id: str = ""

    def payload(self, alert: Alert, suppressed: int) -> dict[str, Any]:
        extra = f" (+{suppressed} alerts suppressed by the rate limit)" if suppressed else ""
        text = f"{SEVERITY_ICON.get(alert.severity, '')} [{alert.deployment}] {alert.title}: {alert.detail}{extra}"
        if self.kind == "slack":  # Slack incoming webhook: {"text": ...} (mrkdwn)
            return {"text": text}
        if self.kind == "telegram":  # Bot API sendMessage
            return {"chat_id": self.chat_id, "text": text, "disable_web_page_preview": True}
        return {**alert.as_dict(), "suppressed": suppressed, "text": text}


@dataclass
class Notifier:
    sinks: list[Sink]
    deployment: str
    dedup_s: float = 300.0
    max_per_minute: int = 10
    timeout_s: float = 5.0
    sent: int = 0
    failed: int = 0
    suppressed: int = 0
    deduplicated: int = 0
    _last_sent: dict[str, float] = field(default_factory=dict)
    _window: deque[float] = field(default_factory=deque)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _session: Any = None
    _outage: dict[str, int] = field(default_factory=dict)  # sink kind -> deliveries lost in it
    _by_sink: dict[str, dict[str, int]] = field(default_factory=dict)  # kind -> sent/failed

    def raise_alert(self, key: str, severity: str, title: str, detail: str, ts_ns: int,
                    now: float | None = None) -> Alert | None:
        """Queue an alert for delivery; None when deduplicated or rate-limited."""
        now = time.monotonic() if now is None else now
        last = self._last_sent.get(key)
        if last is not None and now - last < self.dedup_s:
            self.deduplicated += 1
            return None
        while self._window and now - self._window[0] >= 60.0:
            self._window.popleft()
        if len(self._window) >= self.max_per_minute and severity != "critical":
            # critical ones always go: sixty stale-book warnings must not mute the kill
            self.suppressed += 1
            return None
        self._window.append(now)
        self._last_sent[key] = now
        alert = Alert(key, severity, title, detail, self.deployment, ts_ns)
        suppressed, self.suppressed = self.suppressed, 0
        log.warning("alert", alert=key, severity=severity, title=title, detail=detail)
        for sink in self.sinks:
            self._deliver(sink, sink.payload(alert, suppressed))
        return alert

    def _deliver(self, sink: Sink, body: dict[str, Any]) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (virtual-clock runs): the alert is still logged and streamed
        task = loop.create_task(self._post(sink, body))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _post(self, sink: Sink, body: dict[str, Any]) -> None:
        import aiohttp

        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout_s))
        error = ""
        try:
            async with self._session.post(sink.url, json=body) as resp:
                if resp.status >= 300:
                    error = f"HTTP {resp.status}"
        except Exception as exc:  # noqa: BLE001 - an alert sink must never take the daemon down
            error = type(exc).__name__  # (not str(exc): it may hold the URL, a secret)
        counts = self._by_sink.setdefault(sink.kind, {"sent": 0, "failed": 0})
        if not error:
            self.sent += 1
            counts["sent"] += 1
            lost = self._outage.pop(sink.kind, 0)
            if lost:  # the end of an outage, with what it cost
                log.warning("alert_delivery_recovered", sink=sink.kind, alerts_lost=lost)
            return
        self.failed += 1
        counts["failed"] += 1
        lost = self._outage.get(sink.kind, 0)
        self._outage[sink.kind] = lost + 1
        if not lost:  # once per outage, not per alert; the URL (a secret) is not logged
            log.error("alert_delivery_failed", sink=sink.kind, error=error,
                      then="further failures to this sink are counted until a delivery succeeds")

    def delivery(self) -> dict[str, dict[str, Any]]:
        """Per configured sink: deliveries ``sent`` and ``failed``, ``down`` (its last delivery
        failed) and ``lost`` (the alerts that outage cost so far): an operator must see that
        the pager is broken somewhere other than the pager."""
        out: dict[str, dict[str, Any]] = {}
        for sink in self.sinks:
            counts = self._by_sink.get(sink.kind, {})
            lost = self._outage.get(sink.kind, 0)
            out[sink.kind] = {"sent": counts.get("sent", 0), "failed": counts.get("failed", 0),
                              "down": lost > 0, "lost": lost}
        return out

    async def drain(self, timeout: float = 2.0) -> None:
        """Wait for deliveries in flight (shutdown, tests)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)

    async def close(self) -> None:
        await self.drain()
        if self._session is not None:
            await self._session.close()
            self._session = None


class AlertWatcher:
    """Checks the alert conditions against the kernel and the tape once a second."""

    def __init__(self, kernel: Kernel, tape: Tape, notifier: Notifier, *, stale_book_s: float = 30.0,
                 loss_use_pct: float = 80.0) -> None:
        self.k, self.tape, self.notifier = kernel, tape, notifier
        self.stale_book_ns = int(stale_book_s * 1e9)
        self.loss_threshold = loss_use_pct
        self._kill_level = kernel.killswitch.level
        self._kill_trips = kernel.killswitch.trips
        self._reconcile_diffs = kernel.counters.get("reconcile_differences", 0)
        self._errors = dict(kernel.strategy_errors)
        # venue -> (when the check saw it down, ns; whether that alert went out)
        self._down: dict[str, tuple[int, bool]] = {}
        # venue -> (the most books stale at once since its grouped alert went out, when it went
        # out, ns), until it recovers
        self._grouped: dict[str, tuple[int, int]] = {}

    def _raise(self, key: str, severity: str, title: str, detail: str) -> Alert | None:
        alert = self.notifier.raise_alert(key, severity, title, detail, self.k.clock.now_ns())
        if alert is not None:
            self.tape.add_alert({"type": "alert", **alert.as_dict()})
        return alert

    def _check_books(self, now_ns: int) -> None:
        """Books not LIVE for longer than the threshold, grouped by venue. A venue that went
        down takes all its books with it (67 on the simulated venue, hundreds on an options
        venue): one alert per book flooded the receiver and spent the minute's budget on
        noise. So a venue that is down, or has more than ``MAX_SINGLE_BOOKS`` stale books,
        gets one alert naming how many and a few examples, and one recovery when it is over;
        a few books stale on a venue that is fine alert one by one."""
        by_venue: dict[str, list[tuple[str, int]]] = {}
        for iid, since in self.tape.not_live_since.items():
            if now_ns - since > self.stale_book_ns:
                by_venue.setdefault(iid.partition(":")[0], []).append((iid, since))
        secs = f"{self.stale_book_ns / 1e9:g} s"
        for venue in sorted(set(by_venue) | set(self._grouped)):
            stale = sorted(by_venue.get(venue, []))
            if stale and (venue in self._down or len(stale) > MAX_SINGLE_BOOKS):
                if venue not in self._grouped:
                    examples = ", ".join(iid for iid, _ in stale[:BOOK_EXAMPLES])
                    more = f" and {len(stale) - BOOK_EXAMPLES} more" if len(stale) > BOOK_EXAMPLES else ""
                    link = f"venue {self.tape.connection.get(venue, '?')}; " if venue in self._down else ""
                    alert = self._raise(f"books:{venue}", "warning", f"{_books(len(stale))} on {venue} not live",
                                        f"{link}not live for more than {secs}: {examples}{more}")
                    if alert is not None:  # else tried again next second (rate limit, dedup)
                        self._grouped[venue] = (len(stale), now_ns)
                else:  # more may cross the threshold after the alert: the recovery counts them
                    most, since = self._grouped[venue]
                    self._grouped[venue] = (max(most, len(stale)), since)
                continue
            if venue in self._grouped:  # the venue is back and at most a few books still stale
                still = f"; {len(stale)} still not live, alerted one by one" if stale else ", all live now"
                most, since = self._grouped.pop(venue)
                # (a key per episode: the last one's recovery must not deduplicate this one's)
                self._raise(f"books:{venue}:live:{since}", "info", f"books on {venue} live again",
                            f"{_books(most)} {'was' if most == 1 else 'were'} not live{still}")
            for iid, since in stale:
                book = self.k.books.get(iid)
                status = str(book.status) if book is not None else "gone"
                self._raise(f"book:{iid}", "warning", f"book {iid} not live",
                            f"{status} for {(now_ns - since) / 1e9:.0f} s (threshold {secs})")

    def check(self, now_ns: int) -> None:
        k = self.k
        ks = k.killswitch
        if ks.level > self._kill_level:
            self._raise(f"kill:{ks.level}", "critical", f"kill switch level {ks.level}",
                        f"{ks.reason or 'no reason'} (source: {ks.source}); trading {k.gate.state}")
        elif ks.trips > self._kill_trips and ks.level == 0:  # tripped and cleared between checks
            self._raise(f"kill:cleared:{ks.trips}", "critical", "kill switch tripped and cleared",
                        f"{ks.trips - self._kill_trips} trip(s) since the last check, cleared by "
                        f"{ks.source or '?'}; trading {k.gate.state}")
        self._kill_level, self._kill_trips = ks.level, ks.trips
        for venue, status in self.tape.connection.items():
            if status in ("disconnected", "reconnecting"):
                if venue not in self._down:
                    down = [f"{s or 'venue'} {st}" for s, st in self.tape.streams.get(venue, {}).items()
                            if st != "connected"]
                    sent = self._raise(f"venue:{venue}", "critical", f"venue {venue} {status}",
                                       f"{', '.join(down) or status}: market data or orders on this venue "
                                       "are interrupted")
                    self._down[venue] = (now_ns, sent is not None)
            elif venue in self._down:
                since, alerted = self._down.pop(venue)
                if alerted:  # whoever was paged that it went down hears that it is back
                    # (a key per outage: the last one's recovery must not deduplicate this one's)
                    self._raise(f"venue:{venue}:back:{since}", "info", f"venue {venue} connected again",
                                f"after {(now_ns - since) / 1e9:.0f} s down")
        if self.stale_book_ns > 0:
            self._check_books(now_ns)
        use = loss_use_pct(k)
        if use is not None and use >= self.loss_threshold:
            # one key per severity: a breach minutes after the warning is news, not a duplicate
            severity = "warning" if use < 100 else "critical"
            self._raise(f"loss:{severity}", severity, "loss limit use high",
                        f"{use:.0f} % of the daily-loss/drawdown limit used "
                        f"(threshold {self.loss_threshold:g} %)")
        diffs = k.counters.get("reconcile_differences", 0)
        if diffs > self._reconcile_diffs:
            self._raise(f"reconcile:{diffs}", "critical", "reconciliation mismatch",
                        f"{diffs - self._reconcile_diffs} difference(s) between the journal and a venue "
                        "were found and resolved (the venue wins)")
        self._reconcile_diffs = diffs
        for sid, n in k.strategy_errors.items():
            before = self._errors.get(sid, 0)
            if n > before:
                self._raise(f"strategy:{sid}", "warning", f"strategy {sid} raised",
                            f"{n - before} exception(s) in callbacks ({n} in total); see the log")
            self._errors[sid] = n


def _books(n: int) -> str:
    """``1 book``, ``67 books``: an alert title reads as written."""
    return f"{n} book" if n == 1 else f"{n} books"
