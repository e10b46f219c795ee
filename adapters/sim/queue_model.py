"""Queue position, shared by the simulated venue and the replay exchange: how trades and
cancels at a price move the client orders resting there.

A resting order tracks ``ahead``, the displayed size in front of it at its price. A trade at
that price eats ``ahead`` first, then the orders in time priority (``fill_queue``, one rule
for both simulators); when displayed size shrinks without trading (cancels by the rest of the
market), a ``QueueShare`` decides how much of the cancelled size was ahead
(``shrink_queue``). Every model keeps ``ahead`` within [0, displayed size] and never lets it
grow. ``QueueModel`` (a config struct: ``queue = { model = "power", exponent = 2.0 }``) names
the model; ``make_queue_share`` builds it. The random model draws from a seeded source. The
functions work in the caller's units: integer lots (``whole``: shares truncate to whole lots)
on the simulated venue, contracts on the replay exchange.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol

import msgspec
import numpy as np

if TYPE_CHECKING:
    from adapters.sim.core import Order

_EPS = 1e-12  # (adapters.sim.core.EPS: zero for float quantities; integer lots compare exactly)
Positive = Annotated[float, msgspec.Meta(gt=0)]


class QueueModel(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """How the size ahead of a resting order shrinks when displayed size is cancelled.

    ``worst``: only trades advance the queue (cancels never help; the size ahead is clamped
    to what is displayed). ``proportional``: a cancel of ``c`` removes ``c * ahead / level``
    from ahead (cancels are spread uniformly over the queue). ``power``: hftbacktest's
    probability model, ``c * f(ahead) / (f(ahead) + f(behind))`` with ``f(x) = x**exponent``
    (exponent > 1: cancels come mostly from the back). ``random``: each cancel is wholly
    ahead of the order with probability ``ahead / level`` (seeded draws).
    """

    model: Literal["worst", "proportional", "power", "random"] = "proportional"
    exponent: Positive = 2.0

    def __post_init__(self) -> None:
        # (only "power" reads the exponent: any other model would ignore it without a word)
        if self.model != "power" and self.exponent != 2.0:
            raise ValueError(f"exponent = {self.exponent!r} is read by model 'power' only, "
                             f"not {self.model!r}")


class QueueShare(Protocol):
    """The part of a cancel of ``cancelled`` (out of a level of ``level``) that was in front of
    an order with ``ahead`` in front of it; 0 <= result <= min(cancelled, ahead)."""

    advances: bool
    """False when cancels never move the order up (only the clamp to the level applies)."""

    def __call__(self, ahead: float, level: float, cancelled: float) -> float: ...


class WorstQueue:
    """Cancels are always behind the order."""

    advances = False

    def __call__(self, ahead: float, level: float, cancelled: float) -> float:
        return 0.0


class ProportionalQueue:
    """Cancels spread uniformly over the level."""

    advances = True

    def __call__(self, ahead: float, level: float, cancelled: float) -> float:
        if ahead <= 0.0 or level <= 0.0:
            return 0.0
        return min(cancelled * ahead / level, ahead)


class PowerQueue:
    """hftbacktest's power probability model: share f(ahead) / (f(ahead) + f(behind))."""

    advances = True

    def __init__(self, exponent: float) -> None:
        self.exponent = exponent

    def __call__(self, ahead: float, level: float, cancelled: float) -> float:
        if ahead <= 0.0 or level <= 0.0:
            return 0.0
        behind = max(level - ahead, 0.0)
        fa, fb = ahead ** self.exponent, behind ** self.exponent
        share = fa / (fa + fb) if fa + fb > 0 else 0.0
        return min(cancelled * share, ahead)


class RandomQueue:
    """Each cancel is wholly ahead of the order with probability ahead/level (seeded)."""

    advances = True

    def __init__(self, rand: Callable[[], float]) -> None:
        self.rand = rand

    def __call__(self, ahead: float, level: float, cancelled: float) -> float:
        if ahead <= 0.0 or level <= 0.0:
            return 0.0
        return min(cancelled, ahead) if self.rand() < ahead / level else 0.0


def make_queue_share(model: QueueModel, rand: Callable[[], float]) -> QueueShare:
    """The ``QueueShare`` a ``QueueModel`` names."""
    if model.model == "worst":
        return WorstQueue()
    if model.model == "proportional":
        return ProportionalQueue()
    if model.model == "power":
        return PowerQueue(model.exponent)
    return RandomQueue(rand)


def make_uniform(seed: int) -> Callable[[], float]:
    """A seeded U(0,1) source read one number at a time (block-drawn)."""
    rng = np.random.Generator(np.random.PCG64(seed))
    buf: list[float] = []

    def draw() -> float:
        nonlocal buf
        if not buf:
            buf = rng.random(4096).tolist()
            buf.reverse()
        return buf.pop()

    return draw


def shrink_queue(orders: list[Order], before: Any, now: Any, cancelled: Any, share: QueueShare,
                 whole: bool) -> None:
    """The displayed size at the orders' price went from ``before`` to ``now`` and ``cancelled``
    of that was cancels (not trades): the queue model moves each order up (by whole lots when
    ``whole``), then ``ahead`` is clamped to [0, ``now``]."""
    if cancelled > _EPS and share.advances:
        for o in orders:
            x = share(o.ahead, before, cancelled)
            o.ahead -= int(x) if whole else x
    for o in orders:
        if o.ahead > now:
            o.ahead = now
        if o.ahead < _EPS:
            o.ahead -= o.ahead  # (0 or +0.0: the caller's unit type)


def fill_queue(orders: list[Order], price: Any, left: Any, through: bool,
               fills: list[tuple[Order, Any, Any]],
               lots: Callable[[Any], Any] | None = None) -> tuple[Any, Any]:
    """A trade of ``left`` reaches the client ``orders`` resting at ``price`` (time priority).

    At the order's price the size displayed ahead of each order trades first, then the order
    (a maker fill at ``price``, appended to ``fills``; ``lots`` rounds it down to what can
    fill); a trade that printed ``through`` the level (at a worse price) swept it, so the orders
    fill first. Filled orders leave ``orders``; the rest move up by what traded ahead.
    Returns (what is left of the trade, displayed size it ate ahead of the orders).
    """
    eaten = left * 0
    for o in orders[:]:
        if not through:
            gap = o.ahead - eaten
            if gap > 0:
                x = left if left < gap else gap
                eaten += x
                left -= x
                if left <= _EPS:
                    break
        r = o.remaining
        x = left if left < r else r
        if lots is not None:
            x = lots(x)
        if x > _EPS:
            o.filled += x
            left -= x
            fills.append((o, x, price))
        if o.remaining <= 0:
            orders.remove(o)
            o.resting = False
        if left <= _EPS:
            break
    if eaten:
        for o in orders:
            o.ahead = o.ahead - eaten if o.ahead > eaten else eaten * 0
    return left, eaten
