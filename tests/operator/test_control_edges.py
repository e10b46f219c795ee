"""Control actions an operator takes at awkward moments get a true answer.

Before: ``kill`` level 1 while the switch was at 2 answered ok (the switch only goes up: nothing
changed), and every action after the node stopped answered ok although its journal was closed:
a ``clear`` made then was not journaled, so the next start put the kill back.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.journal import Journal
from tests.operator.conftest import running_node


async def test_a_lower_kill_level_is_refused_not_answered_ok(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with running_node(tmp_path, monkeypatch=monkeypatch) as r:
        await r.wait_for(lambda: r.node.recovered, 10, "recovery")
        status, body = await r.post("api/control/kill", {"level": 2})
        assert status == 200 and body["kill_level"] == 2
        status, body = await r.post("api/control/kill", {"level": 1})
        assert status == 409, body
        assert body["error"] == ("the kill switch is at level 2: level 1 would not lower it "
                                 "(clear first, then kill 1)")
        status, body = await r.post("api/control/kill", {"level": 2})  # the same level: idempotent
        assert status == 200 and body["kill_level"] == 2
        assert [a["action"] for a in await r.get("api/actions")] == ["kill", "kill"]
        status, body = await r.post("api/control/clear", {})
        assert status == 200 and body["kill_level"] == 0
        status, body = await r.post("api/control/kill", {"level": 1})
        assert status == 200 and body["kill_level"] == 1


async def test_control_while_the_daemon_stops_is_refused_and_views_still_answer(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with running_node(tmp_path, monkeypatch=monkeypatch) as r:
        await r.wait_for(lambda: r.node.recovered, 10, "recovery")
        status, _ = await r.post("api/control/kill", {"level": 1, "reason": "drill"})
        assert status == 200
        await r.node.stop()  # the runtime stops the node first, then the operator surface
        status, body = await r.post("api/control/clear", {})
        assert status == 409, body
        assert body["error"] == "the daemon is stopping (its journal is closed): nothing was done"
        assert r.node.kernel.killswitch.level == 1  # nothing was done
        for name in ("state", "positions", "orders", "fills", "greeks", "surface", "books", "venues",
                     "risk", "strategies", "alerts", "actions", "denials", "venue_events", "pnl",
                     "latency", "snapshot"):
            await r.get("api/" + name)  # (asserts 200)
        async with r.session.get(r.url + "metrics") as resp:
            assert resp.status == 200
        journal = r.node.journal_path
    j = Journal(journal)
    actions = [obj["action"] for _s, _ts, _d, t, obj in j.records() if t == "OperatorAction"]
    j.close()
    assert actions == ["kill"]


async def test_wrong_tokens_are_counted_and_logged_without_the_token(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Someone guessing the token left no trace: no log line, no figure."""
    from prometheus_client.parser import text_string_to_metric_families
    from structlog.testing import capture_logs

    async with running_node(tmp_path, monkeypatch=monkeypatch) as r:
        with capture_logs() as logs:
            for i in range(3):
                status, _ = await r.post("api/control/kill", {"level": 1}, token=f"guess-{i}")
                assert status == 403
            status, _ = await r.post("api/control/kill", {"level": 1}, token=None)
            assert status == 401
        assert r.node.kernel.killswitch.level == 0
        wrong = [e for e in logs if e["event"] == "operator_wrong_token"]
        assert len(wrong) == 1  # the first; then every 100th
        assert wrong[0]["path"] == "/api/control/kill" and wrong[0]["origin"].startswith("127.0.0.1")
        assert "guess-0" not in str(logs)
        async with r.session.get(r.url + "metrics") as resp:
            text = await resp.text()
        refused = {s.labels["status"]: s.value for f in text_string_to_metric_families(text)
                   for s in f.samples if s.name == "volta_operator_refused_total"}
        assert refused == {"401": 1.0, "403": 3.0}


async def test_the_action_log_says_what_was_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The action record (API, stream, dashboard log) carried the action's name only: 'operator
    kill' without its level, 'operator cancel' without the order."""
    async with running_node(tmp_path, monkeypatch=monkeypatch) as r:
        await r.wait_for(lambda: r.node.recovered, 10, "recovery")
        status, body = await r.post("api/control/kill", {"level": 2, "reason": "drill"})
        assert status == 200 and body["args"] == {"level": "2", "reason": "drill"}
        (action,) = await r.get("api/actions")
        assert action["args"] == {"level": "2", "reason": "drill"}
        assert "args" not in action["result"] and action["result"]["kill_level"] == 2


async def test_a_misspelt_field_is_refused_not_replaced_by_its_default(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``{"levle": 3}`` (flatten, misspelt) halted at level 1 and answered ok."""
    async with running_node(tmp_path, monkeypatch=monkeypatch) as r:
        await r.wait_for(lambda: r.node.recovered, 10, "recovery")
        status, body = await r.post("api/control/kill", {"levle": 3})
        assert status == 400, body
        assert body["error"] == "unknown field 'levle' for kill (its fields: level, reason)"
        status, body = await r.post("api/control/cancel_all", {"instrument": "sim:BTC-PERP"})
        assert status == 400, body
        assert body["error"] == ("unknown field 'instrument' for cancel_all "
                                 "(its fields: instrument_id, strategy_id, reason)")
        assert r.node.kernel.killswitch.level == 0 and await r.get("api/actions") == []
        status, body = await r.post("api/control/kill", {"level": 1, "reason": "drill"})
        assert status == 200
