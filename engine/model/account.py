"""Account events: what a venue's private API says one margin account holds."""

from __future__ import annotations

import msgspec


class AccountReported(msgspec.Struct, frozen=True, kw_only=True):
    """A venue reported one margin account (a (venue, currency) pair), all amounts in
    ``currency``. ``balance`` is the wallet/cash balance (collateral), ``equity`` the balance
    plus unrealized PnL (the venue's margin balance), ``initial_margin`` and
    ``maintenance_margin`` what its positions and orders tie up, per the venue's own margin
    model; ``unrealized_pnl`` the PnL of the open positions at the venue's marks. NaN =
    the venue did not say (never 0). ``source`` names the endpoint or stream it came from."""

    venue: str
    currency: str
    balance: float
    equity: float
    initial_margin: float
    maintenance_margin: float
    unrealized_pnl: float
    source: str
    ts_event: int
    ts_recv: int
