"""SIGKILL at each step between journal commit and send: after a restart nothing is lost or
sent twice.

Each case runs the paper market maker in a real child process on a virtual clock against the
simulated venue with persistent account state (the venue remembers what it received, as a real
one does), and kills the child with SIGKILL at one step of the group commit of its Nth batch:

* ``before_commit``: the batch is appended but not written: never sent, never journaled;
* ``after_commit``: written, nothing sent yet: journaled orders the venue never saw;
* ``after_send``: the first order of the batch handed to the venue, the rest not.

A second node on the same journal and venue state then recovers, runs and stops. Checked
against the venue's own record: every order the venue received is in the journal, no client
order id reached the venue twice, every fill at the venue is in the journal exactly once, the
positions agree, and nothing is left open on either side.
"""

from __future__ import annotations

import asyncio
import collections
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import msgspec
import pytest

from engine.clock import NS_PER_S, VirtualClock
from engine.config import load_config_text
from engine.journal import Journal
from engine.runtime import build_node
from tests.crash_harness import (
    START_NS as START,
    assert_fills_once,
    assert_positions_agree,
    crash_config,
    drive,
    kernel_qty,
)

ROOT = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent("""
    import asyncio, os, signal, sys
    from engine.clock import VirtualClock
    from engine.config import load_config_text
    from engine.runtime import build_node
    from tests.crash_harness import drive

    text, step, nth = sys.argv[1], sys.argv[2], int(sys.argv[3])
    start = {start}
    clock = VirtualClock(start)
    node = build_node(load_config_text(text), clock)
    k = node.kernel
    j, venue = k.journal, k.adapters["sim"]
    batches = [0]
    real_commit, real_submit = j.commit, venue.submit

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    def commit():
        if any(r[3] == "SubmitOrder" for r in j.uncommitted()):  # a batch with new orders
            batches[0] += 1
            if batches[0] == nth and step == "before_commit":
                die()
            real_commit()
            if batches[0] == nth and step == "after_commit":
                die()
            return
        real_commit()

    def submit(cmd):
        real_submit(cmd)
        if batches[0] == nth and step == "after_send":
            die()

    j.commit = commit
    venue.submit = submit

    asyncio.run(drive(node, clock, start, 40))
    print("finished without reaching the crash point", flush=True)
    sys.exit(3)
""").format(start=START)


def _received(state: Path) -> list[str]:
    """Client order ids of every submit the venue received, from its own state file."""
    out = []
    for line in state.read_bytes().splitlines():
        try:
            name, obj = msgspec.json.decode(line)
        except (msgspec.DecodeError, ValueError):
            break
        if name == "SubmitOrder":
            out.append(obj["client_order_id"])
    return out


@pytest.mark.parametrize("step", ["before_commit", "after_commit", "after_send"])
def test_sigkill_between_commit_and_send_loses_nothing_and_sends_nothing_twice(
        tmp_path: Path, step: str) -> None:
    journal, state = tmp_path / "j.sqlite", tmp_path / "sim.state"
    text = crash_config("crash-points", journal, state)
    child = subprocess.run([sys.executable, "-c", CHILD, text, step, "6"], cwd=ROOT,
                           capture_output=True, text=True, timeout=300)
    assert child.returncode == -signal.SIGKILL, child.stdout + child.stderr[-2000:]
    # what the journal holds right after the crash (committed records only)
    crashed = [r[4].client_order_id for r in Journal(journal, read_only=True).records()
               if r[3] == "SubmitOrder"]
    received_before = _received(state)
    assert received_before, "the venue received orders before the crash"
    assert set(received_before) <= set(crashed), \
        "an order reached the venue that the journal does not know"
    if step == "after_commit":  # the case that matters: journaled, never sent
        assert set(crashed) - set(received_before)

    # restart on the same journal and venue state: recover, trade, stop
    clock = VirtualClock(START + 45 * NS_PER_S)
    node = build_node(load_config_text(text), clock)
    asyncio.run(drive(node, clock, START + 45 * NS_PER_S, 10))
    k = node.kernel
    acc = k.adapters["sim"].account
    records = list(Journal(journal, read_only=True).records())
    journaled = [r[4].client_order_id for r in records if r[3] == "SubmitOrder"]
    received = _received(state)
    twice = [c for c, n in collections.Counter(received).items() if n > 1]
    assert not twice, f"sent twice: {twice}"
    assert len(journaled) == len(set(journaled))
    assert set(received) <= set(journaled), "every order the venue saw is journaled"
    # the orders journaled but never received were not resent: they ended at the restart
    for coid in set(crashed) - set(received):
        o = k.orders.get(coid)
        assert o is not None and not o.is_open
    assert_fills_once(journal, acc)
    assert_positions_agree(acc, kernel_qty(k))
    assert acc.open_orders() == [] and k.orders.open_orders() == []
