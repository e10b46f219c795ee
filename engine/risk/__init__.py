"""The pre-trade risk gate, its limits, throttles and loss monitor.

``from engine.risk import RiskGate, RiskLimits, Reason, Denial, InstrumentLimits`` is the
stable import; the modules are ``limits`` (numbers and reason codes), ``throttle`` (token
bucket, windows), ``exposure`` (working orders' Greeks), ``facts`` (what the gate resolves once
per instrument), ``gate`` (the checks), ``refusals`` (the denials, their texts and the tail
checks' exact decisions) and ``loss`` (daily loss and drawdown).
"""

from engine.risk.gate import PRIVILEGED_STRATEGY, RiskGate
from engine.risk.limits import (
    Denial,
    InstrumentLimits,
    RateLimit,
    Reason,
    RiskLimits,
    UnderlyingLimits,
)
from engine.risk.loss import LossMonitor
from engine.risk.throttle import DuplicateFilter, TokenBucket, WindowCounter

__all__ = ["Denial", "DuplicateFilter", "InstrumentLimits", "LossMonitor", "PRIVILEGED_STRATEGY",
           "RateLimit", "Reason", "RiskGate", "RiskLimits", "TokenBucket", "UnderlyingLimits",
           "WindowCounter"]
