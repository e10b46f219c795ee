"""``volta record CONFIG [--output FILE] [--duration S]``: run the configured venues' live
sessions and write everything they exchange to a capture file (``adapters.capture``).

Theory of operation. Recording must see exactly what the sessions see, without a second
implementation of any venue, so the recorder runs the real sessions and taps the one place
every live session's traffic passes: ``adapters.ws.ReconnectingWebSocket``. While recording,
``Tap`` wraps each new connection's hooks: ``on_open`` (a ``ws-open`` record, then one
``ws-sent`` per frame it returns: auth and subscriptions), ``on_frame`` (``ws``), application
heartbeats and ``send``/``send_nowait`` (``ws-sent``). REST bodies are recorded for sessions
whose REST client offers the ``on_body(url, text)`` hook (OKX; Deribit has no REST). The
venue of a record is the part of the websocket's name before ``:`` (sessions name their
sockets ``"<venue>:<stream>"``). The wrappers are undone when recording ends.

Captures must never hold credentials: every text is passed through ``redact`` (values of
secret-looking JSON keys such as ``access_token``, ``client_secret``, ``sign``, ``apiKey``,
``passphrase``, and every value registered by ``engine.config.secrets``) before it is written. The
file is flushed every second, so a crash loses at most a second; Ctrl-C or SIGTERM stops
cleanly (sessions stopped, file closed) and the exit code is 0; configuration problems exit 2.

Only traffic is recorded: a simulated venue (``adapters.sim``) makes its market inside this
process and exchanges nothing, so a deployment naming one is refused before any file is opened
(exit 2, one line per such venue). A run in which no venue sent anything (no ``ws`` or ``rest``
record: none started, or those that did stayed silent for the whole duration) removes the
capture it created (an existing one is cut back to its size before the run) and exits 1
saying nothing was received: a file holding only our own subscriptions would look like a
recording and replay as an empty market.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from adapters import ws as ws_mod
from adapters.capture import CaptureWriter
from engine.config import ConfigError, ConfigProblem, load_config
from engine.config.secrets import known_secret_values
from engine.cli import seconds
from engine.clock import LiveClock
from engine.outputs import OutputPathError, check_output_file
from engine.startup import describe_start_failure

_log = structlog.get_logger("volta.record")

_SECRET_KEYS = ("access_token", "refresh_token", "client_secret", "signature", "sign",
                "apiKey", "api_key", "passphrase", "secret", "listenKey")
_RECEIVED = ("ws", "rest")  # record kinds that came from the venue (not ws-open, ws-sent)
_KEY_RE = re.compile(r'("(?:' + "|".join(_SECRET_KEYS) + r')"\s*:\s*)"[^"]*"')


def redact(text: str) -> str:
    """Mask secret-looking JSON values and every registered secret in ``text``."""
    text = _KEY_RE.sub(r'\1"***"', text)
    for value in known_secret_values():
        if value and value in text:
            text = text.replace(value, "***")
    return text


class Tap:
    """Taps every ``ReconnectingWebSocket`` created while active; see the module docstring."""

    def __init__(self, writer: CaptureWriter) -> None:
        self.writer = writer
        self._saved: dict[str, Any] = {}
        self.received: dict[str, int] = {}
        """Records each venue sent us (``ws`` frames, ``rest`` bodies), by venue."""

    def write(self, venue: str, kind: str, url: str, data: str | bytes) -> None:
        if kind in _RECEIVED:
            self.received[venue] = self.received.get(venue, 0) + 1
        if isinstance(data, (bytes, bytearray)):
            data = bytes(data).decode("utf-8", errors="surrogateescape")
        self.writer.write(time.time_ns(), venue, kind, url, redact(data))

    def rest_hook(self, venue: str) -> Callable[[str, str], None]:
        return lambda url, body: self.write(venue, "rest", url, body)

    def __enter__(self) -> Tap:
        cls = ws_mod.ReconnectingWebSocket
        self._saved = {"__init__": cls.__init__, "send": cls.send, "send_nowait": cls.send_nowait}
        tap = self
        orig_init, orig_send, orig_send_nowait = (self._saved["__init__"], self._saved["send"],
                                                  self._saved["send_nowait"])

        def __init__(self: Any, url: str, *, on_frame: Any, on_open: Any = None,
                     make_heartbeat: Any = None, name: str = "ws", **kw: Any) -> None:
            venue = name.split(":")[0]

            def frame(data: str | bytes, ts: int) -> None:
                tap.write(venue, "ws", self.url, data)
                on_frame(data, ts)

            def opened(u: str) -> Any:
                tap.write(venue, "ws-open", u, "")
                frames = list(on_open(u)) if on_open is not None else []
                for f in frames:
                    tap.write(venue, "ws-sent", u, f)
                return frames

            def beat() -> Any:
                f = make_heartbeat()
                if f is not None:
                    tap.write(venue, "ws-sent", self.url, f)
                return f

            orig_init(self, url, on_frame=frame, on_open=opened,
                      make_heartbeat=beat if make_heartbeat is not None else None, name=name, **kw)
            self._tap_venue = venue

        async def send(self: Any, data: str | bytes) -> None:
            await orig_send(self, data)
            tap.write(getattr(self, "_tap_venue", ""), "ws-sent", self.url, data)

        def send_nowait(self: Any, data: str | bytes) -> None:
            orig_send_nowait(self, data)
            tap.write(getattr(self, "_tap_venue", ""), "ws-sent", self.url, data)

        cls.__init__ = __init__  # type: ignore[method-assign]
        cls.send = send  # type: ignore[method-assign]
        cls.send_nowait = send_nowait  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        cls = ws_mod.ReconnectingWebSocket
        for name, fn in self._saved.items():
            setattr(cls, name, fn)


def _make_adapters(config: Any) -> list[Any]:
    from engine.plugins import PluginError
    from engine.runtime import _make_adapter  # the runtime's own construction rules

    adapters, problems = [], []
    for name, vc in config.venues.items():
        if vc.enabled:
            try:
                adapter = _make_adapter(name, vc.adapter, dict(vc.params))
            except PluginError as exc:  # an import path that does not resolve: a config error
                problems.append(ConfigProblem(f"venues.{name}.adapter", str(exc)))
                continue
            if _simulated(adapter):
                problems.append(ConfigProblem(
                    f"venues.{name}.adapter",
                    f"venue {name} is simulated ({vc.adapter}): its market is made inside this "
                    "process, there is no venue traffic to record (record a live venue)"))
            adapters.append(adapter)
    if problems:
        raise ConfigError(problems)
    return adapters


def _simulated(adapter: object) -> bool:
    """True for the built-in simulated venue (or a subclass of it). By module name: this
    shared module must not import a venue's package."""
    return any(c.__module__ == "adapters.sim" or c.__module__.startswith("adapters.sim.")
               for c in type(adapter).__mro__)


class NothingRecorded(Exception):
    """No venue sent anything: ``failures`` says why, per venue that did not start (one line
    each); the venues that started stayed silent."""

    def __init__(self, failures: dict[str, str]) -> None:
        self.failures = failures
        super().__init__("; ".join(f"{v}: {why}" for v, why in failures.items()) or "no venue started")


async def _start_all(adapters: list[Any], started: list[Any], failures: dict[str, str]) -> None:
    """Start every venue concurrently; a failure becomes one line in ``failures``."""
    async def one(adapter: Any) -> None:
        try:
            await adapter.start()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - reported per venue, the others record
            failures[adapter.venue] = describe_start_failure(adapter, exc)
            return
        started.append(adapter)
        _log.info("record.venue_started", venue=adapter.venue,
                  instruments=len(adapter.instruments()))

    await asyncio.gather(*(one(a) for a in adapters))


async def record(config_path: str, output: str, duration_s: float | None,
                 stop: asyncio.Event | None = None,
                 failures: dict[str, str] | None = None,
                 silent: list[str] | None = None) -> dict[str, int]:
    """Record until ``duration_s`` passes or ``stop`` is set; return records written per kind.

    The duration counts from the call: connecting is part of it. A venue that does not start is
    reported in ``failures`` (venue -> why) and the others record; when none started, or
    none of those that did sent anything, ``NothingRecorded`` is raised and a capture file this
    call created is removed. ``silent`` gets the venues that started but sent nothing."""
    deadline = None if duration_s is None else time.monotonic() + duration_s
    config = load_config(config_path)
    adapters = _make_adapters(config)
    if not adapters:
        raise ConfigError([])
    stop = stop if stop is not None else asyncio.Event()
    failures = failures if failures is not None else {}
    silent = silent if silent is not None else []
    clock = LiveClock()
    counts: dict[str, int] = {}
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    created = not Path(output).exists()
    size_before = 0 if created else Path(output).stat().st_size
    try:
        with CaptureWriter(output) as writer, Tap(writer) as tap:
            for adapter in adapters:
                rest = getattr(adapter, "rest", None)
                if rest is not None and hasattr(rest, "on_body"):
                    rest.on_body = tap.rest_hook(adapter.venue)
                adapter.bind(lambda ev: counts.__setitem__("events", counts.get("events", 0) + 1),
                             clock)
            started: list[Any] = []
            try:
                starting = asyncio.ensure_future(_start_all(adapters, started, failures))
                stopping = asyncio.ensure_future(stop.wait())
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                await asyncio.wait({starting, stopping}, timeout=left,
                                   return_when=asyncio.FIRST_COMPLETED)
                stopping.cancel()
                if not starting.done():  # the duration (or Ctrl-C) ended the run while connecting
                    starting.cancel()
                    await asyncio.gather(starting, return_exceptions=True)
                    for adapter in adapters:
                        if adapter not in started and adapter.venue not in failures:
                            failures[adapter.venue] = "still connecting when the recording ended"
                if not started:
                    raise NothingRecorded(failures)
                while not stop.is_set():
                    left = 1.0 if deadline is None else min(1.0, deadline - time.monotonic())
                    if left <= 0:
                        break
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), left)
                    writer.flush()
            finally:
                for adapter in reversed(started):
                    with contextlib.suppress(Exception):
                        await adapter.stop()
                writer.flush()
                counts["records"] = writer.records
            silent.extend(a.venue for a in started if a.venue not in tap.received)
            if not tap.received:
                raise NothingRecorded(failures)
    except NothingRecorded:
        if created:
            Path(output).unlink(missing_ok=True)  # a capture of nothing is not worth a file
        else:  # an existing capture keeps what it held, without our unanswered frames
            os.truncate(output, size_before)
        raise
    _log.info("record.done", output=output, records=counts["records"])
    return counts


def _report_silent(silent: list[str]) -> None:
    for venue in silent:
        print(f"volta record: venue {venue} started but sent nothing during the recording",
              file=sys.stderr)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="volta record",
                                 description="Record the configured venues' traffic to a capture.")
    ap.add_argument("config", help="deployment TOML (its [venues] are recorded)")
    ap.add_argument("--output", default="", metavar="FILE", help="capture file (.gz compresses); default "
                    "captures/record-<UTC time>.jsonl.gz")
    ap.add_argument("--duration", type=seconds, default=None, metavar="SECONDS",
                    help="stop by itself after this many seconds (default: until Ctrl-C)")
    args = ap.parse_args(argv)
    output = args.output or time.strftime("captures/record-%Y%m%dT%H%M%SZ.jsonl.gz", time.gmtime())
    try:
        check_output_file(output, "--output" if args.output else "capture file")
    except OutputPathError as exc:
        print(f"volta record: {exc}", file=sys.stderr)
        return 2
    failures: dict[str, str] = {}
    silent: list[str] = []

    async def run() -> dict[str, int]:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        return await record(args.config, output, args.duration, stop, failures, silent)

    try:
        counts = asyncio.run(run())
    except ConfigError as err:
        for p in err.problems:
            print(f"{args.config}: {p}", file=sys.stderr)
        if not err.problems:
            print(f"{args.config}: no enabled venue to record", file=sys.stderr)
        return 2
    except NothingRecorded as exc:
        for venue, why in exc.failures.items():
            print(f"volta record: venue {venue} did not start: {why}", file=sys.stderr)
        _report_silent(silent)
        print("volta record: nothing was received from any venue; no capture written",
              file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"volta record: {output}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    for venue, why in failures.items():
        print(f"volta record: venue {venue} did not start (not recorded): {why}", file=sys.stderr)
    _report_silent(silent)
    print(f"recorded {counts.get('records', 0)} records to {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
