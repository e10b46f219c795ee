"""Per-underlying limit keys: canonicalised, and checked against the listed instruments.

``[risk.underlyings.<NAME>]`` may name an underlying the canonical way (``BTC``) or the way a
venue spells it (``btc_usd``, ``BTC-USD``, ``BTCUSDT``); both mean the canonical asset of
``engine.model.assets``, so one BTC limit binds Deribit, OKX, Binance and Bybit alike. Two
keys that name the same asset are a config error, and so is a key no listed instrument maps
to (a typo would otherwise leave the book unlimited); the error lists the known underlyings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TypeVar

from engine.config import ConfigError
from engine.config.schema import ConfigProblem
from engine.model import Instrument, canonical_asset

T = TypeVar("T")


def canonical_keys(table: Mapping[str, T], section: str = "risk.underlyings") -> dict[str, T]:
    """The table keyed by canonical asset; two spellings of one asset is a ConfigError."""
    out: dict[str, T] = {}
    seen: dict[str, str] = {}
    problems: list[ConfigProblem] = []
    for key, value in table.items():
        asset = canonical_asset(key)
        if asset in seen:
            problems.append(ConfigProblem(f"{section}.{key}",
                                          f"names the same underlying {asset} as {section}.{seen[asset]}"))
            continue
        seen[asset] = key
        out[asset] = value
    if problems:
        raise ConfigError(problems)
    return out


def check_known(names: Iterable[str], instruments: Iterable[Instrument],
                section: str = "risk.underlyings") -> None:
    """ConfigError when a configured underlying matches no listed instrument."""
    known = sorted({i.asset for i in instruments})
    problems = [ConfigProblem(f"{section}.{n}",
                              f"no instrument maps to underlying {canonical_asset(n)!r}; "
                              f"known underlyings: {', '.join(known) or 'none'}")
                for n in names if canonical_asset(n) not in known]
    if problems:
        raise ConfigError(problems)
