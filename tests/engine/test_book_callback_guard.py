"""A strategy's ``on_book`` runs under the same guard as every other callback (the kernel calls
it inline on the depth-update path): a raising strategy is counted and logged and the others
still hear the book; timing and slow callbacks are counted; nothing is heard once stopped."""

from __future__ import annotations

import msgspec
import structlog

from engine.clock import VirtualClock
from engine.kernel import Kernel
from engine.model import BookDelta, BookSnapshot
from engine.risk import RiskLimits
from engine.strategy import Strategy, StrategyContext

IID = "v:X"


class _Books(Strategy[msgspec.Struct]):
    Config = msgspec.Struct

    def on_start(self) -> None:
        self.seen: list[float] = []
        self.fail = False
        self.stop_all: Kernel | None = None

    def on_book(self, book: object) -> None:
        self.seen.append(book.best_bid_price())  # type: ignore[attr-defined]
        if self.stop_all is not None:
            self.stop_all.strategies_running = False
        if self.fail:
            raise RuntimeError("boom")


def _kernel() -> tuple[Kernel, _Books, _Books]:
    k = Kernel(VirtualClock(0), RiskLimits())
    a = _Books(StrategyContext(k.strategy_ports(), "a", "v"), msgspec.Struct())
    b = _Books(StrategyContext(k.strategy_ports(), "b", "v"), msgspec.Struct())
    k.add_strategy("a", a)
    k.add_strategy("b", b)
    k.subscribe("a", IID, books=True)
    k.subscribe("b", IID, books=True)
    k.start_strategies()
    k.bus.publish(BookSnapshot(IID, ((100.0, 1.0),), ((101.0, 1.0),), 1, 1, 1))
    return k, a, b


def test_a_raising_on_book_is_counted_and_logged_and_the_next_strategy_still_hears() -> None:
    k, a, b = _kernel()
    assert a.seen == [100.0] and b.seen == [100.0]
    a.fail = True
    with structlog.testing.capture_logs() as logs:
        k.bus.publish(BookDelta(IID, ((100.5, 2.0),), (), 2, 1, 2, 2))
    assert a.seen == [100.0, 100.5] and b.seen == [100.0, 100.5]
    assert k.strategy_errors["a"] == 1 and k.strategy_errors["b"] == 0
    failed = [e for e in logs if e["event"] == "strategy_callback_failed"]
    assert [(e["strategy"], e["callback"]) for e in failed] == [("a", "on_book")]
    assert k.counters["handler_errors"] == 0  # the guard caught it, not the bus


def test_on_book_time_is_counted_and_a_slow_one_is_reported() -> None:
    k, a, b = _kernel()
    k.callbacks.slow_ns = 1  # every callback is slow
    calls, total = k.strategy_timing()["a"]["calls"], k.callbacks.callback_ns["a"]
    k.bus.publish(BookDelta(IID, ((100.5, 2.0),), (), 2, 1, 2, 2))
    timing = k.strategy_timing()
    assert timing["a"]["calls"] == calls + 1 and k.callbacks.callback_ns["a"] > total
    assert timing["a"]["slow"] == 1 and timing["b"]["slow"] == 1


def test_a_strategy_stopping_everything_leaves_the_rest_unheard() -> None:
    k, a, b = _kernel()
    a.stop_all = k
    k.bus.publish(BookDelta(IID, ((100.5, 2.0),), (), 2, 1, 2, 2))
    assert a.seen == [100.0, 100.5] and b.seen == [100.0]
