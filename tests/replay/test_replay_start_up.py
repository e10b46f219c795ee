"""``volta replay`` starts without the trading stack: replaying captures needs the codecs, the
books and the integrity layer, not numpy, Numba, the risk gate or the strategy host (about half
a second of imports before, a third of the whole replay of the USD-M capture)."""

from __future__ import annotations

import subprocess
import sys

import engine


def test_replay_imports_neither_numpy_nor_numba() -> None:
    code = ("import sys; import adapters.replay, adapters.binance.codec, adapters.okx.codec; "
            "print(sorted(m for m in ('numpy', 'numba', 'engine.risk', 'engine.strategy') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True)
    assert out.stdout.strip() == "[]"


def test_public_api_still_resolves_every_name() -> None:
    for name in engine.__all__:
        assert getattr(engine, name) is not None, name
    from engine import ChainView, OrderBook, Strategy  # noqa: F401 - the lazy names import
    assert set(engine.__all__) <= set(dir(engine))
