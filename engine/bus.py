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
    __slots__ = ("_handlers", "pending", "dispatching", "on_error", "published", "errors", "on_idle")

    def __init__(self, on_error: ErrorHandler | None = None) -> None:
        self._handlers: dict[type, list[Handler]] = {}
        self.pending: deque[Any] = deque()
        self.dispatching = False
        self.on_error: ErrorHandler | None = on_error
        self.published = 0
        self.errors = 0
        self.on_idle: Callable[[], None] | None = None
        """Called each time a dispatch has drained its queue (the execution core's group
        commit: the commands one event produced are committed and sent here), with the bus
        still dispatching: events published meanwhile are queued, then handled."""

    # ``dispatching`` (a dispatch is running) and ``pending`` (events queued behind it) are
    # read-only outside the bus: a hot-path publisher (``Kernel.market_publisher``) may skip
    # the dispatch only while the bus is idle (not dispatching, nothing pending).

    def handlers_of(self, event_type: type) -> list[Handler]:
        """The live subscriber list of ``event_type`` (read-only; (un)subscriptions show)."""
        return self._handlers.setdefault(event_type, [])

    def subscribe(self, event_type: type, handler: Handler) -> None:
        self._handlers.setdefault(event_type, []).append(handler)

    def unsubscribe(self, event_type: type, handler: Handler) -> None:
        handlers = self._handlers.get(event_type, [])
        if handler in handlers:
            handlers.remove(handler)

    def publish(self, event: Any) -> None:
        if self.dispatching:
            self.pending.append(event)  # dispatched when the current event is done
            return
        self.dispatching = True
        try:
            queue = self.pending
            if queue:  # left over by a dispatch that was aborted (BaseException): keep order
                queue.append(event)
            else:
                # Not dispatching and nothing queued: dispatch at once, without the round
                # trip through the queue (the common case: one event from an adapter).
                self.published += 1
                handlers = self._handlers.get(type(event))
                if handlers:
                    for handler in handlers:
                        try:
                            handler(event)
                        except Exception as exc:  # noqa: BLE001 - isolate handlers from each other
                            self._failed(event, handler, exc)
            # Settle: drain the queue, then run ``on_idle`` (the group commit and send) while
            # the bus still counts as dispatching: what the venues answer while the batch is
            # being sent is queued and handled after the whole batch is out (as a real venue's
            # answers arrive after the sends), then ``on_idle`` again for what those handlers
            # produced. (Written here, the only copy: no call of its own per event.)
            while True:
                if queue:
                    self._drain()
                on_idle = self.on_idle
                if on_idle is None:
                    break
                on_idle()
                if not queue:
                    break
        finally:
            self.dispatching = False

    def dispatcher(self, event_type: type) -> Handler:
        """``publish`` for events of exactly ``event_type`` (a hot-path publisher of one type).

        ``publish`` itself: its lookup by type is one dict read, less than a second copy of
        the dispatch rules would be worth (queued while another event is being dispatched,
        every current subscriber called in order, errors isolated, then the settling).
        """
        return self.publish

    def _failed(self, event: Any, handler: Handler, exc: BaseException) -> None:
        self.errors += 1
        if self.on_error is not None:
            self.on_error(event, handler, exc)

    def _drain(self) -> None:
        queue = self.pending
        handlers = self._handlers
        while queue:
            event = queue.popleft()
            self.published += 1
            for handler in handlers.get(type(event), ()):
                try:
                    handler(event)
                except Exception as exc:  # noqa: BLE001 - isolate handlers from each other
                    self._failed(event, handler, exc)
