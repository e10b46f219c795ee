"""The duplicate filter (engine.risk.throttle.DuplicateFilter) against a naive model written
here: every remembered (time, key) kept in a list, "seen" = the latest time of the key that
is still inside the window. Times are small integers so that ties and exact window edges
(a time exactly ``window`` ago is outside) come up often."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.risk.throttle import DuplicateFilter

WINDOW = 5


@settings(max_examples=500, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.sampled_from("abc"), st.booleans()), max_size=60))
def test_filter_agrees_with_the_naive_model(steps: list[tuple[int, str, bool]]) -> None:
    f = DuplicateFilter(WINDOW)
    kept: list[tuple[int, str]] = []  # everything remembered, in order
    now = 1_000
    for dt, key, remember in steps:
        now += dt
        inside = [t for t, k in kept if k == key and t > now - WINDOW]
        assert f.seen(key, now) == (max(inside) if inside else None)
        if remember and not inside:  # (the gate remembers only what it approves)
            f.remember(key, now)
            kept.append((now, key))
        # a snapshot: the latest time of each key inside the window ending now, oldest first
        # (equal times in the order they were remembered)
        latest = {k: (t, i) for i, (t, k) in enumerate(kept)}
        expected = [(t, k) for k, (t, _) in sorted(latest.items(), key=lambda e: e[1])
                    if t > now - WINDOW]
        assert f.snapshot() == expected
        g = DuplicateFilter(WINDOW)  # and a restore gives the same filter back
        g.restore(f.snapshot())
        assert g.snapshot() == expected
        for k in "abc":
            assert g.seen(k, now) == f.seen(k, now)


def test_a_key_exactly_one_window_old_is_not_a_duplicate() -> None:
    f = DuplicateFilter(1_000_000)  # 1 ms
    f.remember("k", 10_000_000)
    assert f.seen("k", 10_999_999) == 10_000_000
    assert f.seen("k", 11_000_000) is None
    # and long after, nothing is kept: two generations at most
    for t in range(20_000_000, 30_000_000, 100_000):
        f.remember(("o", t), t)
    assert len(f.snapshot()) == 10  # the last 1 ms: 10 orders 0.1 ms apart


@settings(max_examples=500, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.sampled_from("abc"),
                          st.sampled_from(["seen", "admit", "admit+forget", "remember"])), max_size=60))
def test_admit_and_forget_are_seen_then_remember_or_nothing(steps: list[tuple[int, str, str]]) -> None:
    """``admit`` = ``seen`` and, when not seen, ``remember``; ``forget`` right after takes the
    remembering back: the filter then answers exactly as if only ``seen`` had been asked."""
    f, ref = DuplicateFilter(WINDOW), DuplicateFilter(WINDOW)
    now = 1_000
    for dt, key, action in steps:
        now += dt
        want = ref.seen(key, now)
        if action == "seen":
            assert f.seen(key, now) == want
        elif action == "remember":
            f.remember(key, now)
            ref.remember(key, now)
        else:
            assert f.admit(key, now) == want
            if want is None:
                if action == "admit":
                    ref.remember(key, now)
                else:
                    f.forget()
        assert f.snapshot() == ref.snapshot()
        for k in "abc":
            assert f.seen(k, now) == ref.seen(k, now)


def test_forget_restores_an_older_time_of_the_key() -> None:
    f = DuplicateFilter(10)
    f.remember("k", 100)  # generation starts at 100
    f.remember("j", 101)
    assert f.admit("k", 109) == 100  # seen: nothing remembered, nothing to forget
    f.forget()
    assert f.snapshot() == [(100, "k"), (101, "j")]
    assert f.admit("j", 111) is None  # 10 after 101 is outside: a new generation holds j
    f.forget()
    assert f.snapshot() == [] and f.seen("j", 111) is None
    assert f.admit("k", 112) is None
    assert f.seen("k", 113) == 112


def test_a_seen_or_remember_after_an_admit_leaves_nothing_to_forget() -> None:
    # (``forget`` takes back the admit of an order refused later in the same check; asking or
    # remembering in between makes that admit no longer the last word on the filter)
    for between in ("seen", "remember"):
        f = DuplicateFilter(10)
        assert f.admit("k", 100) is None
        getattr(f, between)("j", 101)
        f.forget()
        assert f.seen("k", 102) == 100
        assert f.snapshot() == ([(100, "k")] if between == "seen" else [(100, "k"), (101, "j")])
