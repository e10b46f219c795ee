"""ctx.consolidated takes any venue's spelling of the underlying, as docs/units.md promises for
every strategy call (``btc_usd`` and ``btc`` mean ``BTC``), not only the canonical name."""

from __future__ import annotations

import pytest

from engine import Strategy
from engine.consolidated import ConsolidatedBook

from .conftest import PERP, add_strategy, make_kernel


@pytest.mark.parametrize("spelling", ["BTC", "btc", "btc_usd", "BTC-USD", "BTCUSDT", "XBT"])
def test_consolidated_takes_any_spelling_of_the_underlying(spelling: str) -> None:
    kernel, _ = make_kernel()
    s = add_strategy(kernel, Strategy)
    cb = s.ctx.consolidated(spelling)
    assert cb.instrument_ids == [PERP.id]
    best = cb.best_ask()
    assert best is not None and best.price == 60_010.0 and best.instrument_id == PERP.id
    named = s.ctx.consolidated(spelling, instrument_ids=(PERP.id,))
    assert named.instrument_ids == [PERP.id]


def test_another_asset_is_still_refused() -> None:
    with pytest.raises(ValueError, match="is not ETH"):
        ConsolidatedBook("eth_usd", [PERP], {})
