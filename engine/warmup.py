"""Kernel warm-up: every Numba kernel the node uses is compiled (or loaded from the on-disk
cache) before venues go LIVE and strategies start, never on the trading path.

Theory of operation: a Numba dispatcher compiles (or loads its cached machine code) on its
first call with a given type signature. With an empty cache that costs seconds per kernel and
would stall the event loop while orders are working. ``warm_kernels`` drives the very code
paths a running node takes, on a small synthetic option chain (two expiries, calls and puts
priced by Black-76, a perpetual-style forward): the chain refit (IVs, SVI slices, surface,
model Greeks, arbitrage report), the status summary (ATM vol, 25-delta risk reversal) and
the scalar Greeks the simulated venue uses. It returns how long that took; the node logs it
(``kernels_ready``) before it connects any venue.
"""

from __future__ import annotations

import time

from engine.chains import ChainView
from engine.integrity import BookKeeper
from engine.model import BookSnapshot, Instrument, InstrumentKind, OptionType
from engine.pricing import black76_greeks_scalar, black76_price_scalar

_NS_PER_DAY = 86_400 * 10**9
_NS_PER_YEAR = 365 * _NS_PER_DAY


def _options(now_ns: int) -> list[Instrument]:
    out = []
    for days in (7, 35):
        for strike in (50_000.0, 55_000.0, 60_000.0, 65_000.0, 70_000.0):
            for cp in (OptionType.CALL, OptionType.PUT):
                out.append(Instrument(
                    venue="warmup", symbol=f"W-{days}-{int(strike)}-{cp.value}",
                    kind=InstrumentKind.OPTION, base="BTC", quote="USD", settle="USD",
                    tick_size=0.1, lot_size=0.01, min_size=0.01, underlying="BTC",
                    expiry_ns=now_ns + days * _NS_PER_DAY, strike=strike, option_type=cp))
    return out


_warmed = False


def warm_kernels(now_ns: int, rate: float = 0.0) -> float:
    """Compile or load every kernel on the node's paths; returns the seconds it took (0.0
    when this process already did: compiled code stays with the dispatchers)."""
    global _warmed
    if _warmed:
        return 0.0
    t0 = time.perf_counter()
    forward, vol = 60_000.0, 0.6
    options = _options(now_ns)
    keeper = BookKeeper(publish=lambda _ev: None, request_resync=lambda _iid: None)
    for inst in options:
        T = (inst.expiry_ns - now_ns) / _NS_PER_YEAR
        px = black76_price_scalar(inst.option_type is OptionType.CALL, forward, inst.strike, T,
                                  vol, rate)
        keeper.on_snapshot(BookSnapshot(inst.id, ((round(px * 0.98, 1), 1.0),),
                                        ((round(px * 1.02 + 0.1, 1), 1.0),), 1, now_ns, now_ns))
    chain = ChainView("BTC", options, rate)
    for _ in range(2):  # a first fit, then a warm-started refit (another branch of the fitter)
        chain.dirty = True
        chain.refresh(now_ns, keeper.books.get, forward)
    chain.summary()
    black76_greeks_scalar(True, forward, 60_000.0, 0.1, vol, rate)
    _warmed = True
    return time.perf_counter() - t0
