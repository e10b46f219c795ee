"""Structured logging: structlog's production setup plus secret redaction.

``configure_logging()`` once at startup (and as often as tests like). Output is JSON lines
(rendered by orjson) when the stream is not a TTY, readable console lines when it is. Records
from the standard ``logging`` module (websockets, asyncio) go through the same processor chain,
so nothing reaches the stream without passing the redaction processor.

Redaction runs after exception formatting and immediately before rendering, and removes:
values under secret-looking keys (``api_secret``, ``token``, ``signature``, nested too),
``Secret`` objects, and every registered secret value (``engine.config.secrets.known_secret_values``)
wherever it occurs in a string - message, field or traceback.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import IO, Any

import orjson
import structlog
from structlog.tracebacks import ExceptionDictTransformer
from structlog.typing import EventDict, FilteringBoundLogger, Processor, WrappedLogger

from engine.config.secrets import MASK, Secret, is_secret_key, known_secret_values

__all__ = ["configure_logging", "get_logger", "log_clock", "redact_secrets"]

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}
_FORMATS = ("auto", "json", "console")


# ---------------------------------------------------------------------------- redaction

class _SecretPattern:
    """A regex matching any registered secret value, rebuilt only when the registry changes."""

    def __init__(self) -> None:
        self._snapshot: frozenset[str] | None = None
        self._pattern: re.Pattern[str] | None = None

    def get(self) -> re.Pattern[str] | None:
        snapshot = known_secret_values()
        if snapshot is not self._snapshot:
            # Longest first, so a secret containing another is masked whole.
            values = sorted(snapshot, key=len, reverse=True)
            self._pattern = re.compile("|".join(map(re.escape, values))) if values else None
            self._snapshot = snapshot
        return self._pattern


_secret_pattern = _SecretPattern()
_PLAIN = (int, float, type(None))


def _redact(key: Any, value: Any, pattern: re.Pattern[str] | None) -> Any:
    # bool/None under a secret key ("has_api_key": true) carry no secret and help debugging.
    if key is not None and value is not None and not isinstance(value, bool) \
            and is_secret_key(key):
        return MASK
    if isinstance(value, str):
        return pattern.sub(MASK, value) if pattern is not None else value
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, Secret):
        return MASK
    if isinstance(value, dict):
        return {k: _redact(k, v, pattern) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_redact(None, v, pattern) for v in value]
        return tuple(items) if isinstance(value, tuple) else items
    if pattern is None:
        return value
    if isinstance(value, (bytes, bytearray)):
        text = bytes(value).decode("utf-8", "replace")
        return pattern.sub(MASK, text) if pattern.search(text) else value
    # Any other object is rendered through repr (or serialized field by field by orjson, for
    # dataclasses), after this processor has run: check its repr now and replace it if needed.
    text = repr(value)
    return pattern.sub(MASK, text) if pattern.search(text) else value


def redact_secrets(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """structlog processor: mask secret-keyed values, ``Secret`` objects and known secret values.

    Must run after exception formatting (so tracebacks are text to scrub) and before rendering.
    """
    pattern = _secret_pattern.get()
    for key, value in event_dict.items():
        event_dict[key] = _redact(key, value, pattern)
    return event_dict


# ---------------------------------------------------------------------------- output

class _Sink:
    """The current output stream. Loggers look it up per call, so that loggers cached by an
    earlier ``configure_logging`` write to the stream of the latest one."""

    def __init__(self) -> None:
        self.stream: IO[str] | None = None
        """None: whatever ``sys.stderr`` is at each write (a test harness swaps and closes it)."""
        self.lock = threading.Lock()


_sink = _Sink()


class _SinkLogger:
    """The wrapped logger: writes one rendered line per call to the current stream."""

    __slots__ = ("name",)

    def __init__(self, name: str | None = None) -> None:
        self.name = name

    def msg(self, message: str) -> None:
        with _sink.lock:
            stream = _sink.stream if _sink.stream is not None else sys.stderr
            stream.write(message + "\n")
            stream.flush()

    log = debug = info = warn = warning = error = critical = exception = fatal = msg


def _sink_logger_factory(*args: Any) -> _SinkLogger:
    return _SinkLogger(str(args[0]) if args else None)


def _add_logger_name(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    name = getattr(logger, "name", None)
    if name is not None:
        event_dict.setdefault("logger", name)
    return event_dict


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_time_source: list[Callable[[], int] | None] = [None]
"""What ``timestamp`` reads: None for the wall clock, else a clock's ``now_ns`` (virtual runs)."""


def _add_timestamp(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """ISO-8601 UTC with microseconds, from the engine clock while ``log_clock`` is active."""
    source = _time_source[0]
    ns = time.time_ns() if source is None else source()
    stamp = _EPOCH + dt.timedelta(microseconds=ns // 1000)
    event_dict["timestamp"] = stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return event_dict


@contextlib.contextmanager
def log_clock(now_ns: Callable[[], int]) -> Iterator[None]:
    """Stamp log lines with ``now_ns()`` (a virtual clock: simulated time) inside the block."""
    previous = _time_source[0]
    _time_source[0] = now_ns
    try:
        yield
    finally:
        _time_source[0] = previous


_RESERVED = ("level", "timestamp")
"""Keys the chain itself writes: a caller's field of that name is kept as ``<key>_value``."""


def _keep_reserved_fields(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """Move a caller's ``level=``/``timestamp=`` out of the way of the log level and time, which
    would otherwise overwrite it (a kill switch level written as ``"level": "warning"``)."""
    for key in _RESERVED:
        if key in event_dict:
            event_dict[f"{key}_value"] = event_dict.pop(key)
    return event_dict


def _orjson_dumps(obj: Any, default: Any = None, **_: Any) -> str:
    return orjson.dumps(
        obj, default=default, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY
    ).decode()


# One list object handed to structlog and updated in place on reconfiguration: loggers cached
# under an earlier configuration hold a reference to it and so pick up the new chain.
_processors: list[Processor] = []


class _StdlibBridge(logging.Handler):
    """Feeds stdlib ``logging`` records into the structlog chain (and so through redaction)."""

    def __init__(self, logger: FilteringBoundLogger) -> None:
        super().__init__()
        self._logger = logger

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fields: dict[str, Any] = {"logger": record.name}
            if record.exc_info and record.exc_info[0] is not None:
                fields["exc_info"] = record.exc_info
            if record.stack_info:
                fields["stack"] = record.stack_info
            self._logger.log(record.levelno, record.getMessage(), **fields)
        except Exception:  # never let a log call take the process down
            self.handleError(record)


def _console_line(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """Console only: an event carrying ``console_line`` (the periodic status) is shown as that
    one short line; the JSON format keeps every field."""
    line = event_dict.pop("console_line", None)
    if line is None:
        return event_dict
    keep = ("timestamp", "level", "logger", "exc_info")
    return {"event": f"{event_dict.get('event', '')}: {line}",
            **{k: event_dict[k] for k in keep if k in event_dict}}


def configure_logging(level: str = "info", fmt: str = "auto", stream: IO[str] | None = None) -> None:
    """Configure structlog and stdlib logging to write to ``stream`` (default: stderr).

    ``level`` is debug|info|warning|error; ``fmt`` is ``json`` (orjson lines), ``console``
    (human-readable) or ``auto`` (console if ``stream`` is a TTY, else JSON). Safe to call
    again: the previous configuration, including the stdlib bridge handler, is replaced.
    Call it before the first log call: a logger used earlier keeps its level filter.
    """
    try:
        levelno = _LEVELS[level.lower()]
    except KeyError:
        raise ValueError(f"unknown log level {level!r}: expected one of {', '.join(_LEVELS)}") \
            from None
    if fmt not in _FORMATS:
        raise ValueError(f"unknown log format {fmt!r}: expected one of {', '.join(_FORMATS)}")
    out = sys.stderr if stream is None else stream
    is_tty = bool(getattr(out, "isatty", lambda: False)())
    use_json = fmt == "json" or (fmt == "auto" and not is_tty)

    chain: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        _keep_reserved_fields,
        structlog.processors.add_log_level,
        _add_logger_name,
        _add_timestamp,
        structlog.processors.StackInfoRenderer(),
    ]
    if use_json:
        chain += [
            structlog.processors.ExceptionRenderer(ExceptionDictTransformer(show_locals=False)),
            redact_secrets,
            structlog.processors.JSONRenderer(serializer=_orjson_dumps),
        ]
    else:
        # The traceback is formatted to text *before* redaction (not by the renderer) so that
        # secrets inside exception messages are scrubbed; format_exc_info never shows locals.
        chain += [
            _console_line,
            structlog.processors.format_exc_info,
            redact_secrets,
            structlog.dev.ConsoleRenderer(
                colors=is_tty, exception_formatter=structlog.dev.plain_traceback
            ),
        ]

    structlog.reset_defaults()
    _processors[:] = chain
    _sink.stream = stream  # None: sys.stderr as it is at each write
    structlog.configure(
        processors=_processors,
        wrapper_class=structlog.make_filtering_bound_logger(levelno),
        logger_factory=_sink_logger_factory,
        context_class=dict,
        cache_logger_on_first_use=True,
    )

    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _StdlibBridge):
            root.removeHandler(handler)
    root.addHandler(_StdlibBridge(structlog.get_logger()))
    root.setLevel(levelno)


def get_logger(name: str | None = None, **bound: Any) -> FilteringBoundLogger:
    """A structlog logger, with ``logger=name`` and ``bound`` key/values on every event.

    Lazy: safe to create at import time, before ``configure_logging`` runs.
    """
    # The name goes to the logger factory (not into initial values, where structlog reserves
    # `logger`); a processor copies it into each event.
    args = () if name is None else (name,)
    return structlog.get_logger(*args, **bound)  # type: ignore[no-any-return]
