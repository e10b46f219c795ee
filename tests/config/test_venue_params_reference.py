"""Every key of every venue's ``[venues.<name>.params]`` is in that venue's reference page.

The loader accepts every field of a venue's params struct, but many were documented nowhere a
user looks: Deribit's ``ping_interval_s``/``ping_timeout_s``, Binance's ``ping_timeout_s``,
``start_timeout_s`` and ``account_poll_s``, most of Bybit's and Derive's connection keys, OKX's
``account_poll_s``, and all ~50 of the simulated venue's (only in ``adapters/sim/params.py``).
Each page's reference tables must name every field in backticks, so a new field fails here
until it is documented.
"""

from __future__ import annotations

import re

import msgspec
import pytest

from adapters.binance.params import BinanceParams
from adapters.bybit.params import BybitParams
from adapters.deribit.params import DeribitParams
from adapters.derive.params import DeriveParams
from adapters.okx.params import OkxParams
from adapters.sim.params import SimVenueParams
from tests.config.test_reference_covers_schema import _section

REFERENCES: list[tuple[str, str, type[msgspec.Struct]]] = [
    ("live-deribit.md", "Keys and endpoints", DeribitParams),
    ("live-binance.md", "Keys and endpoints", BinanceParams),
    ("live-okx.md", "Keys and endpoints", OkxParams),
    ("live-bybit.md", "Keys and endpoints", BybitParams),
    ("live-derive.md", "Keys and endpoints", DeriveParams),
    ("sim-venue.md", "Parameters", SimVenueParams),
]


def undocumented(text: str, struct: type[msgspec.Struct]) -> list[str]:
    """Fields of ``struct`` that no table row of ``text`` names as the key (first column,
    several keys per cell allowed: ``| `a`, `b` | ...``)."""
    keys = {k for row in re.findall(r"^\| ([^|]*) \|", text, re.M)
            for k in re.findall(r"`([A-Za-z_0-9]+)`", row)}
    return [f.encode_name for f in msgspec.structs.fields(struct) if f.encode_name not in keys]


@pytest.mark.parametrize("doc, heading, struct", REFERENCES, ids=[r[0] for r in REFERENCES])
def test_every_venue_param_is_in_its_reference(doc: str, heading: str,
                                               struct: type[msgspec.Struct]) -> None:
    assert undocumented(_section(doc, heading), struct) == []


def test_the_check_sees_a_missing_key_and_ignores_mentions_outside_the_key_column() -> None:
    text = ("| key | default | meaning |\n| --- | --- | --- |\n"
            "| `network`, `ws_url` | testnet | see `start_timeout_s` |\n")
    missing = undocumented(text, DeribitParams)
    assert "network" not in missing and "ws_url" not in missing
    assert "start_timeout_s" in missing and "ping_timeout_s" in missing
