"""DemoTaker: buys and sells a small clip alternately on a timer, with IOC orders at the touch."""

from __future__ import annotations

import msgspec

from engine import OrderFilled, Side, Strategy


class DemoTakerConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    instrument: str = "BTC-PERP"
    size: float = 0.001
    every_s: float = 5.0


class DemoTaker(Strategy[DemoTakerConfig]):
    """Alternates small IOC buys and sells at the touch (so its position stays within one clip)."""

    def on_start(self) -> None:
        self.iid = self.ctx.instrument_id(self.config.instrument)
        self.fills = 0
        self.next_side = Side.BUY
        self.ctx.set_timer("trade", self.config.every_s)

    def on_timer(self, name: str, now_ns: int) -> None:
        book = self.ctx.book(self.iid)
        if book is None or not book.is_live:
            return
        px = book.best_ask_price() if self.next_side is Side.BUY else book.best_bid_price()
        self.ctx.submit_ioc(self.iid, self.next_side, self.config.size, px)
        self.next_side = self.next_side.opposite

    def on_fill(self, event: OrderFilled) -> None:
        self.fills += 1
