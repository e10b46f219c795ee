"""The guide covers the whole public strategy API (a new callback or method needs a line there)."""

from __future__ import annotations

import inspect
from pathlib import Path

from engine import Strategy, StrategyContext

GUIDE = (Path(__file__).resolve().parents[2] / "docs/strategies.md").read_text()


def _public(cls: type) -> set[str]:
    return {n for n, v in vars(cls).items() if not n.startswith("_") and (callable(v) or isinstance(v, property))}


def test_every_callback_and_context_method_is_in_the_guide() -> None:
    internal = {"handle_order_event", "id", "new_client_order_id"}
    missing = sorted(n for n in (_public(Strategy) | _public(StrategyContext)) - internal
                     if f"{n}(" not in GUIDE and f"`{n}`" not in GUIDE and f".{n}" not in GUIDE)
    assert missing == []


def test_every_public_method_has_a_docstring_or_is_self_explanatory() -> None:
    undocumented = [n for n in _public(StrategyContext) if not inspect.getdoc(getattr(StrategyContext, n))
                    and n not in {"now_ns", "instrument", "order", "open_orders", "position",
                                  "subscribe_trades", "quote_ids"}]
    assert undocumented == []
