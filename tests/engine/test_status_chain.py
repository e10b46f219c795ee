"""The status line's chain part: it appeared only once a surface existed, so when no expiry
fitted at all the reasons (kept per expiry by the chain view) were invisible; and the JSON
event's ``atm_vol`` / ``rr25`` gave no unit (they are vol points): now ``atm_vol_pts`` and
``rr25_vol_pts``, None (never NaN, never 0) with no surface."""

from __future__ import annotations

import json
from types import SimpleNamespace

from engine.status import _chain_fields, status_line
from tests.engine.test_chains import NOW, F, _chain


def _line(fields: dict[str, object]) -> str:
    return status_line({"state": "active", "pnl_usd": 0.0, "positions": "flat", "working": 0,
                        "fills": 0, "denied": 0, "books_live": "0/0", **fields})


def test_a_chain_with_no_fitted_expiry_shows_why() -> None:
    chain, _keeper = _chain()
    chain.refresh(NOW, lambda iid: None, F)  # no live book: no quote to fit
    assert chain.surface is None
    fields = _chain_fields(SimpleNamespace(chains={"x:BTC": chain}))  # type: ignore[arg-type]
    c = fields["chain_x:BTC"]
    assert c["atm_vol_pts"] is None and c["rr25_vol_pts"] is None and "atm_vol" not in c
    assert c["slices_not_fitted"] == 2 and len(c["slices"]) == 2
    json.dumps(fields, allow_nan=False)  # valid JSON: no NaN
    reason = next(iter(c["slices"].values()))
    assert "quotes" in reason
    assert f"| x:BTC no vol surface (2 expiries not fitted: {reason})" in _line(fields)


def test_a_fitted_chain_gives_its_vol_in_vol_points() -> None:
    chain, keeper = _chain()
    assert chain.refresh(NOW, keeper.book, F)
    c = _chain_fields(SimpleNamespace(chains={"x:BTC": chain}))["chain_x:BTC"]  # type: ignore[arg-type]
    assert c["atm_vol_pts"] == round(chain.atm_vol() * 100, 2)
    assert c["rr25_vol_pts"] == round(chain.risk_reversal_25d() * 100, 2)
    assert _line({"chain_x:BTC": c}).endswith(f"| x:BTC ATM vol {c['atm_vol_pts']:.1f}%")
