"""In-process message bus: synchronous handlers, run to completion, by event type.

Theory of operation: ``publish`` looks up the handlers registered for the event's exact type
and calls them in registration order. If a handler publishes while another event is being
dispatched, the new event is queued and dispatched after the current one finishes, so each
handler sees events one at a time in causal order and no handler re-enters itself (an order
acknowledgement produced while a strategy is still inside ``on_book`` reaches it afterwards).
No task is created per event. A handler that raises is reported to ``on_error`` and the bus
goes on with the next handler: one bad event never stops the engine.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

Handler = Callable[[Any], None]
ErrorHandler = Callable[[Any, Handler, BaseException], None]


class MessageBus:
    __slots__ = ("_handlers", "_queue", "_dispatching", "on_error", "published", "errors")

    def __init__(self, on_error: ErrorHandler | None = None) -> None:
        self._handlers: dict[type, list[Handler]] = {}
        self._queue: deque[Any] = deque()
        self._dispatching = False
        self.on_error: ErrorHandler | None = on_error
        self.published = 0
        self.errors = 0

    def subscribe(self, event_type: type, handler: Handler) -> None:
        self._handlers.setdefault(event_type, []).append(handler)

    def unsubscribe(self, event_type: type, handler: Handler) -> None:
        handlers = self._handlers.get(event_type, [])
        if handler in handlers:
            handlers.remove(handler)

    def publish(self, event: Any) -> None:
        self._queue.append(event)
        if self._dispatching:
            return
        self._dispatching = True
        try:
            self._drain()
        finally:
            self._dispatching = False

    def _drain(self) -> None:
        queue = self._queue
        handlers = self._handlers
        while queue:
            event = queue.popleft()
            self.published += 1
            for handler in handlers.get(type(event), ()):
                try:
                    handler(event)
                except Exception as exc:  # noqa: BLE001 - isolate handlers from each other
                    self.errors += 1
                    if self.on_error is not None:
                        self.on_error(event, handler, exc)
