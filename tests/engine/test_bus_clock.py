from __future__ import annotations

from engine.bus import MessageBus
from engine.clock import VirtualClock


def test_bus_runs_to_completion_in_causal_order() -> None:
    bus = MessageBus()
    seen: list[str] = []

    def on_int(x: int) -> None:
        seen.append(f"int{x}")
        if x == 1:
            bus.publish("nested")  # published from inside a handler: queued, not re-entered
            seen.append("after-publish")

    bus.subscribe(int, on_int)
    bus.subscribe(str, lambda s: seen.append(s))
    bus.publish(1)
    assert seen == ["int1", "after-publish", "nested"]


def test_bus_isolates_a_failing_handler() -> None:
    errors = []
    bus = MessageBus(on_error=lambda ev, h, exc: errors.append((ev, type(exc))))
    seen = []
    bus.subscribe(int, lambda x: 1 / 0)
    bus.subscribe(int, seen.append)
    bus.publish(5)
    bus.publish(6)
    assert seen == [5, 6] and errors == [(5, ZeroDivisionError), (6, ZeroDivisionError)]
    assert bus.errors == 2


def test_virtual_clock_fires_in_time_order() -> None:
    clock = VirtualClock(1_000)
    fired: list[tuple[str, int]] = []
    clock.call_at(3_000, lambda t: fired.append(("b", t)))
    clock.call_at(2_000, lambda t: fired.append(("a", t)))
    handle = clock.call_at(2_500, lambda t: fired.append(("x", t)))
    handle.cancel()
    assert clock.advance_to(2_999) == 1
    assert clock.now_ns() == 2_999
    clock.advance_to(5_000)
    assert fired == [("a", 2_000), ("b", 3_000)]


def test_virtual_clock_periodic_timer_and_cancel() -> None:
    clock = VirtualClock(0)
    ticks: list[int] = []
    handle = clock.every(10, ticks.append)
    clock.advance_to(35)
    assert ticks == [10, 20, 30]
    handle.cancel()
    clock.advance_to(100)
    assert ticks == [10, 20, 30]


def test_timer_scheduled_from_a_timer_runs_in_the_same_advance() -> None:
    clock = VirtualClock(0)
    out: list[int] = []
    clock.call_at(5, lambda t: clock.call_at(t + 1, out.append))
    clock.advance_to(10)
    assert out == [6]
