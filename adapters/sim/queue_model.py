"""Queue models shared by the simulated venue and the replay exchange: how much of a displayed
size that was cancelled stood in front of a resting client order.

A resting order tracks ``ahead``, the displayed size in front of it at its price. Trades eat
``ahead`` first (both simulators do that themselves); when displayed size shrinks without
trading (cancels by the rest of the market), a ``QueueShare`` decides how much of the cancelled
size was ahead. Every model keeps ``ahead`` within [0, displayed size] and never lets it grow.
``QueueModel`` (a config struct: ``queue = { model = "power", exponent = 2.0 }``) names the
model; ``make_queue_share`` builds it. The random model draws from a seeded source.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal, Protocol

import msgspec
import numpy as np

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
