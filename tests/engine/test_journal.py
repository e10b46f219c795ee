from __future__ import annotations

from pathlib import Path

from engine.journal import Journal
from engine.model import OrderCancelled, Side, SubmitOrder


def test_commands_are_durable_before_send_and_decode_back(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    j = Journal(path)
    cmd = SubmitOrder(client_order_id="a-1", strategy_id="a", instrument_id="sim:X", side=Side.BUY,
                      quantity=1.0, price=10.0)
    j.write_command(1, cmd)
    # A second connection sees the command at once: it was committed before "send".
    other = Journal(path, read_only=True)  # an audit reader: no lock
    records = list(other.records())
    assert records[0][2:] == ("out", "SubmitOrder", cmd)
    j.write_event(2, OrderCancelled(client_order_id="a-1", instrument_id="sim:X", reason="user",
                                    ts_event=2, ts_recv=2))
    j.close()
    reopened = Journal(path)
    assert [r[3] for r in reopened.records()] == ["SubmitOrder", "OrderCancelled"]
    assert reopened.seq == 2


def test_strategy_state_round_trip(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.sqlite")
    assert j.load_state("s") is None
    j.save_state("s", 1, b'{"n":1}')
    j.save_state("s", 2, b'{"n":2}')
    assert j.load_state("s") == b'{"n":2}'
