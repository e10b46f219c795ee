"""``adapters.sim.inflight.InFlight``: the one path of commands (and delayed answers) of both
simulators: batches held to the release, order-entry latency through clock timers in FIFO
order, and the drain at stop. Times are worked out from the constant latencies in each test."""

from __future__ import annotations

from typing import Any

import pytest
from structlog.testing import capture_logs

from adapters.sim.inflight import InFlight, Unbound
from adapters.sim.latency import LatencyChannel, LatencyModel
from engine.clock import VirtualClock

T0 = 1_800_000_000 * 10**9
MS = 1_000_000


class _Cmd:
    def __init__(self, client_order_id: str) -> None:
        self.client_order_id = client_order_id


def _path(ms: float) -> tuple[InFlight, VirtualClock, list[tuple[str, int]]]:
    clock = VirtualClock(T0)
    return InFlight(clock, LatencyChannel(LatencyModel(ms=ms), 1)), clock, []


def test_zero_latency_runs_at_once_and_a_batch_at_its_release_in_order() -> None:
    flight, clock, ran = _path(0.0)
    handle = lambda c: ran.append((c.client_order_id, clock.now_ns()))  # noqa: E731
    flight.send(handle, _Cmd("a"))
    assert ran == [("a", T0)]
    flight.hold()
    flight.send(handle, _Cmd("b"))
    flight.send(handle, _Cmd("c"))
    assert ran == [("a", T0)] and flight.pending == 2  # handed over, not run
    flight.release()
    assert ran == [("a", T0), ("b", T0), ("c", T0)] and flight.pending == 0
    flight.release()  # (a release without a batch does nothing)
    assert len(ran) == 3


def test_a_command_failing_at_the_release_is_logged_and_the_batch_goes_on() -> None:
    flight, _clock, ran = _path(0.0)

    def handle(c: _Cmd) -> None:
        if c.client_order_id == "bad":
            raise ValueError("broken command")
        ran.append((c.client_order_id, 0))

    flight.hold()
    for coid in ("a", "bad", "c"):
        flight.send(handle, _Cmd(coid))
    with capture_logs() as logs:
        flight.release()
    assert [r for r, _ in ran] == ["a", "c"]
    (entry,) = logs
    assert entry["event"] == "sim_command_failed" and entry["client_order_id"] == "bad"
    assert entry["command"] == "_Cmd" and "broken command" in entry["error"]


def test_latency_delivers_each_command_after_it_in_fifo_order_even_in_a_batch() -> None:
    flight, clock, ran = _path(20.0)
    handle = lambda c: ran.append((c.client_order_id, clock.now_ns()))  # noqa: E731
    flight.hold()  # nothing to hold: the commands arrive through timers after the batch anyway
    flight.send(handle, _Cmd("a"))
    flight.send(handle, _Cmd("b"))
    flight.release()
    assert ran == [] and flight.pending == 2
    clock.advance_to(T0 + 5 * MS)
    flight.send(handle, _Cmd("c"))
    clock.advance_to(T0 + 19 * MS)
    assert ran == []
    clock.advance_to(T0 + 100 * MS)
    assert ran == [("a", T0 + 20 * MS), ("b", T0 + 20 * MS), ("c", T0 + 25 * MS)]
    assert flight.pending == 0


def test_drain_runs_what_is_in_flight_in_due_order_and_answers_join_the_timeline() -> None:
    flight, clock, ran = _path(20.0)
    answers = LatencyChannel(LatencyModel(ms=4.0), 2)
    seen_clocks: list[Any] = []

    def handle(c: _Cmd) -> None:
        now = flight.clock.now_ns()
        ran.append((c.client_order_id, now))
        # the venue answers after the response latency, on the same path
        flight.later(answers.due(now), lambda: ran.append(("answer " + c.client_order_id,
                                                            flight.clock.now_ns())))

    flight.send(handle, _Cmd("a"))
    clock.advance_to(T0 + 10 * MS)
    flight.send(handle, _Cmd("b"))
    flight.drain(seen_clocks.append)  # the engine's clock stays at T0 + 10 ms
    assert ran == [("a", T0 + 20 * MS), ("answer a", T0 + 24 * MS),
                   ("b", T0 + 30 * MS), ("answer b", T0 + 34 * MS)]
    assert flight.pending == 0 and clock.now_ns() == T0 + 10 * MS
    assert len(seen_clocks) == 2 and seen_clocks[1] is clock and flight.clock is clock
    clock.advance_to(T0 + 100 * MS)  # the timers of what was drained never fire again
    assert len(ran) == 4


def test_drain_sends_a_batch_still_held() -> None:
    flight, clock, ran = _path(0.0)
    flight.hold()
    flight.send(lambda c: ran.append((c.client_order_id, clock.now_ns())), _Cmd("h"))
    flight.drain()
    assert ran == [("h", T0)] and flight.pending == 0


def test_a_path_used_before_its_venue_is_bound_says_so() -> None:
    flight = InFlight(Unbound(), LatencyChannel(LatencyModel(ms=1.0), 0))
    with pytest.raises(RuntimeError, match="before bind"):
        flight.send(lambda c: None, _Cmd("a"))
