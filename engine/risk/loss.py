"""Loss limits: daily loss and drawdown of the whole portfolio, in USD.

Theory of operation: ``evaluate`` is called on a timer and after fills (never per order: the
total PnL sums every position) with the portfolio's total PnL (realized + unrealized - fees,
USD). The day's baseline is the PnL at the first evaluation of each UTC day; the peak is the
highest PnL seen. A breach returns a reason once and latches: the runtime then puts trading
into REDUCING (and trips the kill switch at ``loss_kill_level`` if set) until an operator
clears it (``volta kill --clear``). The baseline and peak are saved in the journal's state
table, so a restart does not forget the losses already taken today.
"""

from __future__ import annotations

import msgspec

NS_PER_DAY = 86_400 * 1_000_000_000


class LossState(msgspec.Struct, kw_only=True):
    day: int = -1
    day_start_pnl: float = 0.0
    peak_pnl: float | None = None
    breached: str = ""


class LossMonitor:
    def __init__(self, max_daily_loss_usd: float | None, max_drawdown_usd: float | None) -> None:
        self.max_daily_loss = max_daily_loss_usd
        self.max_drawdown = max_drawdown_usd
        self.s = LossState()
        self.daily_loss = 0.0
        self.drawdown = 0.0
        self.changed = False

    @property
    def enabled(self) -> bool:
        return self.max_daily_loss is not None or self.max_drawdown is not None

    def evaluate(self, now_ns: int, pnl_usd: float) -> str | None:
        """Update with the current total PnL; the breach reason the first time a limit is hit."""
        s = self.s
        day = now_ns // NS_PER_DAY
        if day != s.day:
            s.day, s.day_start_pnl = day, pnl_usd
            self.changed = True
        if s.peak_pnl is None or pnl_usd > s.peak_pnl:
            s.peak_pnl = pnl_usd
            self.changed = True
        self.daily_loss = s.day_start_pnl - pnl_usd
        self.drawdown = s.peak_pnl - pnl_usd
        if s.breached:
            return None
        if self.max_daily_loss is not None and self.daily_loss > self.max_daily_loss:
            s.breached = f"daily loss {self.daily_loss:,.2f} USD > max {self.max_daily_loss:,.2f}"
        elif self.max_drawdown is not None and self.drawdown > self.max_drawdown:
            s.breached = f"drawdown {self.drawdown:,.2f} USD > max {self.max_drawdown:,.2f}"
        else:
            return None
        self.changed = True
        return s.breached

    def clear(self, pnl_usd: float) -> None:
        """Operator clear: the breach is lifted and the peak restarts from the current PnL."""
        self.s.breached = ""
        self.s.peak_pnl = pnl_usd
        self.changed = True

    def dump(self) -> bytes:
        self.changed = False
        return msgspec.json.encode(self.s)

    def load(self, payload: bytes) -> None:
        self.s = msgspec.json.decode(payload, type=LossState)
