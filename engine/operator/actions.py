"""Operator control actions (kill levels, clear, cancel, strategy enable/disable), journaled.

Theory of operation: every action the API accepts goes through ``OperatorActions.apply``,
which validates it, journals an ``OperatorAction`` record (time, action, arguments, origin:
the client address and user agent, never the token) *before* acting, then acts through the
kernel's public commands (kill switch, router, risk gate) and returns the resulting state.
Invalid input raises ``ActionError`` with a one-line message; nothing is half-applied. Refused
too: a body field the action does not have (a typo must not act on a default), a kill level
below the one in force (the switch only goes up: clear first) and any action
once the journal is closed (the daemon stopping), which the next start would not replay.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
import structlog

if TYPE_CHECKING:
    from engine.kernel import Kernel

log = structlog.get_logger("volta.operator")


class OperatorAction(msgspec.Struct, frozen=True, kw_only=True):
    """One control action taken through the operator API (journal record)."""

    action: str
    args: dict[str, str]
    origin: str
    ts: int


class ActionError(ValueError):
    """The action cannot be applied (unknown order/strategy, bad level ...)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


FIELDS: dict[str, tuple[str, ...]] = {
    "kill": ("level", "reason"), "clear": ("reason",), "cancel": ("client_order_id", "reason"),
    "cancel_all": ("instrument_id", "strategy_id", "reason"),
    "disable_strategy": ("strategy_id", "reason"), "enable_strategy": ("strategy_id", "reason")}
"""The body fields of each action: any other is refused (``{"levle": 3}`` must not halt at 1)."""
ACTIONS = tuple(FIELDS)


class OperatorActions:
    def __init__(self, kernel: Kernel) -> None:
        self.k = kernel
        self.applied = 0

    def apply(self, action: str, args: dict[str, Any], origin: str) -> dict[str, Any]:
        k = self.k
        if action not in ACTIONS:
            raise ActionError(f"unknown action {action!r} (one of {', '.join(ACTIONS)})", 404)
        clean = self._validate(action, args)
        now = k.clock.now_ns()
        if k.journal is not None:
            if k.journal.closed:  # an action not journaled would be undone by the next start
                raise ActionError("the daemon is stopping (its journal is closed): nothing was done", 409)
            k.journal.write_command(now, OperatorAction(action=action, args=clean, origin=origin, ts=now))
        log.warning("operator_action", action=action, origin=origin, **clean)
        result: dict[str, Any] = {}
        ks = k.killswitch
        reason = clean.get("reason", "operator")
        if action == "kill":
            ks.trip(int(clean["level"]), reason, f"operator:{origin}")
        elif action == "clear":
            ks.clear(f"operator:{origin}")
            ks.clear_loss()
        elif action == "cancel":
            order = k.orders.get(clean["client_order_id"])
            assert order is not None  # validated
            result["cancel_sent"] = k.router.cancel(order)
        elif action == "cancel_all":
            result["cancels_sent"] = k.router.cancel_all(
                instrument_id=clean.get("instrument_id") or None,
                strategy_id=clean.get("strategy_id") or None)
        elif action == "disable_strategy":
            sid = clean["strategy_id"]
            k.gate.disable_strategy(sid, f"disabled by operator ({reason})")
            result["cancels_sent"] = k.router.cancel_all(strategy_id=sid)
        elif action == "enable_strategy":
            result["enabled"] = k.gate.enable_strategy(clean["strategy_id"])
        k.sync_trading_state()
        self.applied += 1
        return {"ok": True, "action": action, "args": clean, **result, "state": str(k.gate.state),
                "kill_level": ks.level, "disabled_strategies": dict(k.gate.disabled_strategies)}

    def _validate(self, action: str, args: dict[str, Any]) -> dict[str, str]:
        k = self.k
        unknown = sorted(set(args) - set(FIELDS[action]))
        if unknown:
            raise ActionError(f"unknown field {unknown[0]!r} for {action} "
                              f"(its fields: {', '.join(FIELDS[action])})")
        reason = str(args.get("reason") or "operator")[:200]
        if action == "kill":
            # exactly 1, 2 or 3 (a JSON number or its text): int() would make 2.9 a 2 and
            # true a 1, acting on a level nobody asked for
            raw = args.get("level", 1)
            level = raw if type(raw) is int else int(raw) if isinstance(raw, str) and raw.strip().isdigit() else 0
            if level not in (1, 2, 3):
                raise ActionError("level must be 1 (halt), 2 (cancel all) or 3 (flatten)")
            if level < k.killswitch.level:  # the switch only goes up: an "ok" would be a lie
                raise ActionError(f"the kill switch is at level {k.killswitch.level}: level {level} "
                                  f"would not lower it (clear first, then kill {level})", 409)
            return {"level": str(level), "reason": reason}
        if action == "clear":
            return {"reason": reason}
        if action == "cancel":
            coid = str(args.get("client_order_id") or "")
            order = k.orders.get(coid)
            if order is None:
                raise ActionError(f"no order {coid!r}", 404)
            if not order.is_open:
                raise ActionError(f"order {coid} is {order.status}, not open", 409)
            return {"client_order_id": coid}
        if action == "cancel_all":
            out = {"reason": reason}
            for key in ("instrument_id", "strategy_id"):
                if args.get(key):
                    out[key] = str(args[key])
            # a filter naming nothing would cancel nothing and still answer ok: refused
            iid = out.get("instrument_id")
            if iid is not None and iid not in k.instruments:
                raise ActionError(f"no instrument {iid!r} (ids are venue:symbol, e.g. "
                                  f"{next(iter(k.instruments), 'sim:BTC-PERP')})", 404)
            if "strategy_id" in out:
                self._strategy(out["strategy_id"])
            return out
        sid = self._strategy(str(args.get("strategy_id") or ""))
        if action == "enable_strategy" and sid not in k.gate.disabled_strategies:
            raise ActionError(f"strategy {sid} is not disabled", 409)
        return {"strategy_id": sid, "reason": reason}

    def _strategy(self, sid: str) -> str:
        if sid not in self.k.strategies:
            raise ActionError(f"no strategy {sid!r} (running: {', '.join(self.k.strategies) or 'none'})", 404)
        return sid
