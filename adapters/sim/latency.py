"""Latency models and seeded latency channels, shared by the simulated venue and the replay
exchange: constant or sampled delays that keep messages in FIFO order.

A channel models one direction of one connection (order entry, responses, market data). TCP
delivers in order, so a message never overtakes the one sent before it on the same channel:
``due = max(previous due, now + sample)``. Samples come in blocks from a seeded PCG64 stream,
so a run is reproducible and the per-message cost is one list read.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
import numpy as np

_BLOCK = 4096
NonNeg = Annotated[float, msgspec.Meta(ge=0)]


class LatencyModel(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """One latency: ``constant`` (``ms``), ``uniform`` (``low_ms``..``high_ms``), ``lognormal``
    (median ``ms``, log-sd ``sigma``) or ``exponential`` (``ms`` floor plus a tail of mean
    ``tail_ms``). Samples are seeded; a channel stays FIFO (a later message never overtakes)."""

    kind: Literal["constant", "uniform", "lognormal", "exponential"] = "constant"
    ms: NonNeg = 0.0
    low_ms: NonNeg = 0.0
    high_ms: NonNeg = 0.0
    sigma: NonNeg = 0.5
    tail_ms: NonNeg = 0.0

    def __post_init__(self) -> None:
        # A field the kind does not read would be ignored without a word: kind "uniform" with
        # ms = 5 ran with no latency at all (low_ms = high_ms = 0).
        used = _USES[self.kind]
        ignored = [f"{f} = {getattr(self, f)!r}" for f, default in _DEFAULTS.items()
                   if f not in used and getattr(self, f) != default]
        if ignored:
            raise ValueError(f"kind {self.kind!r} reads {' and '.join(used)} only: "
                             f"{', '.join(ignored)} would be ignored")
        if self.kind == "uniform" and self.low_ms > self.high_ms:
            raise ValueError(f"low_ms {self.low_ms!r} is above high_ms {self.high_ms!r}")


_USES = {"constant": ("ms",), "uniform": ("low_ms", "high_ms"), "lognormal": ("ms", "sigma"),
         "exponential": ("ms", "tail_ms")}
"""The fields each kind reads."""
_DEFAULTS = {"ms": 0.0, "low_ms": 0.0, "high_ms": 0.0, "sigma": 0.5, "tail_ms": 0.0}


_NS_PER_MS = 1_000_000


class LatencyChannel:
    """Delays for one channel; ``due(now_ns)`` returns when a message sent now arrives."""

    __slots__ = ("model", "_rng", "_buf", "_i", "_last", "constant_ns")

    def __init__(self, model: LatencyModel, seed: int) -> None:
        self.model = model
        self._rng = np.random.Generator(np.random.PCG64(seed))
        self._buf: list[int] = []
        self._i = 0
        self._last = 0
        self.constant_ns: int | None = (int(round(model.ms * _NS_PER_MS))
                                        if model.kind == "constant" else None)

    @property
    def is_zero(self) -> bool:
        """True when every message arrives at once (the synchronous fast path applies)."""
        return self.constant_ns == 0

    def _refill(self) -> None:
        m, rng = self.model, self._rng
        if m.kind == "uniform":
            ms = rng.uniform(m.low_ms, m.high_ms, _BLOCK)
        elif m.kind == "lognormal":
            ms = m.ms * np.exp(m.sigma * rng.standard_normal(_BLOCK))
        else:  # exponential tail over a floor
            ms = m.ms + rng.exponential(m.tail_ms, _BLOCK) if m.tail_ms > 0 else np.full(_BLOCK, m.ms)
        self._buf = np.rint(ms * _NS_PER_MS).astype(np.int64).tolist()
        self._i = 0

    def sample_ns(self) -> int:
        """One delay in nanoseconds (not FIFO-adjusted)."""
        if self.constant_ns is not None:
            return self.constant_ns
        if self._i >= len(self._buf):
            self._refill()
        v = self._buf[self._i]
        self._i += 1
        return v

    def due(self, now_ns: int) -> int:
        """Arrival time of a message sent at ``now_ns`` (never before the previous arrival)."""
        c = self.constant_ns
        t = now_ns + (c if c is not None else self.sample_ns())
        if t < self._last:
            t = self._last
        self._last = t
        return t
