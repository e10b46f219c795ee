"""The kill switch: three levels, tripped by an operator, a loss limit or lost connectivity.

Theory of operation: a level only ever rises until an operator clears it.

| level | name       | what it does                                                          |
| ----- | ---------- | --------------------------------------------------------------------- |
| 1     | HALT       | the gate denies every new order (``TRADING_HALTED``)                 |
| 2     | CANCEL_ALL | level 1, then cancel every open order we know and ask every venue to |
|       |            | cancel all of the account's orders (catches orders we do not know)   |
| 3     | FLATTEN    | level 2, then close every position with reduce-only market orders    |
|       |            | (split to the max order size) until flat; retried on ``tick``         |

Every change is logged and journaled (``KillSwitchTripped``). Lost connectivity is not the
kill switch's business: the trading-state owner (``engine.execution.trading``) halts a venue
while any of its streams is down and releases it after reconciliation. The
flattening orders go through the gate like any other order, under the privileged strategy
id ``killswitch`` that HALTED lets through only when the order reduces a position.
"""

from __future__ import annotations

import math
import structlog

from engine.journal import JournalError, KillSwitchTripped
from engine.model import OrderType, Side, SubmitOrder, TimeInForce, TradingState
from engine.risk.gate import PRIVILEGED_STRATEGY
from engine.risk.loss import LossMonitor

from engine.execution.ports import KillSwitchPorts

HALT, CANCEL_ALL, FLATTEN = 1, 2, 3
LEVEL_NAMES = {0: "clear", HALT: "halt", CANCEL_ALL: "cancel_all", FLATTEN: "flatten"}
log = structlog.get_logger("volta.killswitch")

KillState = tuple[int, str, str]
"""(level, reason, source)."""


def replayed(current: KillState, level: int, reason: str, source: str) -> KillState | None:
    """The kill state a restart keeps after one journaled ``KillSwitchTripped`` (None: no
    change). Connectivity and journal holds are not restored (the sessions and the journal
    report their own state again), nor a clear that is not the operator's; a trip restores
    its level if higher. One rule for a full replay and for a snapshot (``durable``)."""
    if source in ("connectivity", "journal") or (level == 0 and source != "operator"):
        return None
    if level == 0:
        return (0, "", source)
    if level > current[0]:
        return (level, reason, source)
    return None



class KillSwitch:
    def __init__(self, ports: KillSwitchPorts) -> None:
        self.k = ports
        self.level = 0
        self.reason = ""
        self.source = ""
        self.trips = 0
        self.flatten_orders = 0
        self._seq = 0
        self.durable: KillState = (0, "", "")
        """What a restart restores (``replayed`` folded over the journaled changes)."""
        lim = ports.limits
        self.loss = LossMonitor(lim.max_daily_loss_usd, lim.max_drawdown_usd)

    def trip(self, level: int, reason: str, source: str = "operator") -> int:
        """Raise to ``level`` (1..3) and act; returns the level now in force."""
        if level not in (HALT, CANCEL_ALL, FLATTEN):
            raise ValueError(f"kill switch level must be 1, 2 or 3, not {level}")
        k = self.k
        if level > self.level:
            self.level, self.reason, self.source = level, reason, source
        self.trips += 1
        log.warning("kill_switch", kill_level=level, name=LEVEL_NAMES[level], reason=reason, source=source)
        k.trading.hold("kill", TradingState.HALTED, f"kill switch level {self.level}: {reason}")
        self._journal(level, reason, source)
        if level >= CANCEL_ALL:
            cancelled = k.orders.cancel_all()
            k.cancel_everything_at_venues()
            log.warning("kill_switch_cancelled", orders=cancelled)
        if self.level >= FLATTEN:
            self.flatten()
        return self.level

    def clear(self, source: str = "operator") -> None:
        """Operator clear: level 0, the kill hold is released (other holds stay)."""
        self.level, self.reason, self.source = 0, "", source
        self.k.trading.release("kill", f"kill switch cleared by {source}")
        self._journal(0, "cleared", source)
        log.warning("kill_switch_cleared", source=source, state=str(self.k.trading.state))

    def flatten(self) -> int:
        """Send reduce-only market orders closing every position; returns orders sent."""
        k = self.k
        sent = 0
        max_qty = k.limits.max_order_qty
        for pos in k.portfolio.positions():
            inst = pos.instrument
            if abs(pos.qty) < inst.lot_size / 2 or not inst.active:
                continue
            side = Side.SELL if pos.qty > 0 else Side.BUY
            left = abs(pos.qty) - k.working_qty(inst.id, side)
            per = k.limits.per_instrument.get(inst.id)
            cap = per.max_order_qty if per and per.max_order_qty is not None else max_qty
            while left >= inst.min_size - 1e-12:
                qty = inst.round_size(min(left, cap))
                if qty <= 0:
                    break
                self._seq += 1
                cmd = SubmitOrder(client_order_id=f"{PRIVILEGED_STRATEGY}-{k.now_ns()}-{self._seq}",
                                  strategy_id=PRIVILEGED_STRATEGY, instrument_id=inst.id, side=side,
                                  quantity=qty, order_type=OrderType.MARKET,
                                  time_in_force=TimeInForce.IOC, reduce_only=True,
                                  ts=k.now_ns())
                if k.orders.submit(cmd) is not None:
                    break  # denied (book not live ...): retried on the next tick
                sent += 1
                left -= qty
        self.flatten_orders += sent
        return sent

    def tick(self, now: int) -> None:
        """Timer: loss limits, and keep flattening until flat while at level 3."""
        self.check_losses(now)
        if self.level >= FLATTEN and any(not math.isclose(p.qty, 0.0, abs_tol=1e-12)
                                         for p in self.k.portfolio.positions()):
            self.flatten()

    def check_losses(self, now: int) -> str | None:
        """Daily loss / drawdown: REDUCING (and the configured kill level) on a breach."""
        loss = self.loss
        if not loss.enabled:
            return None
        k = self.k
        breach = loss.evaluate(now, k.portfolio.pnl_usd()["priced_total"])  # (a number: unpriced left out)
        if loss.s.breached:
            k.trading.hold("loss", TradingState.REDUCING, loss.s.breached)
        if breach is not None:
            log.error("loss_limit_breached", reason=breach, state=str(k.trading.state))
            level = k.limits.loss_kill_level
            if level:
                self.trip(level, breach, "loss_limit")
            else:
                self._journal(0, f"loss limit: {breach} -> reducing", "loss_limit")
        j = k.journal
        if loss.changed and j is not None and not j.closed and not j.failed:
            # (a failed journal was reported and halted trading when it failed)
            j.save_state("__risk_loss__", now, loss.dump())
        return breach

    def restore_losses(self) -> None:
        j = self.k.journal
        payload = None if j is None else j.load_state("__risk_loss__")
        if payload:
            self.loss.load(payload)
            if self.loss.s.breached:
                self.k.trading.hold("loss", TradingState.REDUCING, self.loss.s.breached + " (restored)")

    def clear_loss(self) -> None:
        self.loss.clear(self.k.portfolio.pnl_usd()["priced_total"])
        self.k.trading.release("loss", "loss limit cleared")

    def restore(self, level: int, reason: str, source: str) -> None:
        """Put back the level a journal replay or a snapshot found (no action, nothing
        journaled)."""
        self.level, self.reason, self.source = level, reason, source
        self.durable = (level, reason, source)
        if level:
            self.k.trading.hold("kill", TradingState.HALTED,
                                f"kill switch level {level}: {reason} (restored)")
        else:
            self.k.trading.release("kill", "kill switch cleared (restored)")

    def _journal(self, level: int, reason: str, source: str) -> None:
        j = self.k.journal
        if j is not None and not j.closed and not j.failed:
            now = self.k.now_ns()
            try:
                j.write_command(now, KillSwitchTripped(level=level, reason=reason, source=source, ts=now))
                kept = replayed(self.durable, level, reason, source)
                if kept is not None:
                    self.durable = kept
            except JournalError as exc:  # the journal's own failure path halts and reports
                log.error("kill_switch_not_journaled", error=str(exc))
