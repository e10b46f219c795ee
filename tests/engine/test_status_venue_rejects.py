"""Orders the venue rejected show on the status line (a count) and by reason in the JSON status
event: the line counted the gate's denials only, so a venue refusing every order (margin,
post-only crossing) looked like a quiet market."""

from __future__ import annotations

from engine.execution.reports import REJECT_REASONS
from engine.model import OrderRejected
from engine.status import status_fields, status_line
from tests.risk.helpers import make, order


def _reject(k, reason: str) -> None:  # type: ignore[no-untyped-def]
    cmd = order(qty=0.01, price=59_000.0, strategy="s")
    assert k.router.submit(cmd) is None
    k.bus.publish(OrderRejected(client_order_id=cmd.client_order_id, instrument_id=cmd.instrument_id,
                                reason=reason, ts_event=0, ts_recv=0))


def test_venue_rejects_are_counted_on_the_line_and_by_reason() -> None:
    k, _venue = make()
    assert "0 denied, 0 rejected by venue" in status_line(status_fields(k))
    _reject(k, "insufficient margin")
    _reject(k, "insufficient margin")
    _reject(k, "post-only would cross")
    fields = status_fields(k)
    assert fields["rejected"] == 3
    assert fields["rejects_by_reason"] == {"insufficient margin": 2, "post-only would cross": 1}
    assert "0 denied, 3 rejected by venue" in status_line(fields)


def test_reasons_quoting_order_ids_do_not_grow_without_bound() -> None:
    k, _venue = make()
    for i in range(REJECT_REASONS + 5):
        _reject(k, f"order {i} not found")
    by_reason = status_fields(k)["rejects_by_reason"]
    assert len(by_reason) == REJECT_REASONS + 1 and by_reason["other"] == 5
    assert sum(by_reason.values()) == REJECT_REASONS + 5
