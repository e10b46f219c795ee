"""Data paths of a backtest config: relative to the config file, environment variables expanded.

A ``[backtest.data]`` path (``files``, ``store``, ``catalog``) may use ``~`` and environment
variables (``${VOLTA_MARKETDATA}/binance-usdm/...``); a relative path is relative to the folder
of the config file, never to the current directory, so a config works from anywhere. A
variable that is not set is a config error naming it (not a path with a literal ``$`` in it).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from engine.config import ConfigProblem

PATH_KEYS = ("files", "store", "catalog")
_VAR = re.compile(r"\$(\w+)|\$\{([^}]*)\}")


def resolve_path(value: str, base: Path) -> str:
    """``value`` with ``~`` and variables expanded, made absolute against ``base``.
    Raises ``KeyError`` naming an unset variable."""
    for m in _VAR.finditer(value):
        name = m.group(1) or m.group(2)
        if name not in os.environ:
            raise KeyError(name)
    p = Path(os.path.expanduser(os.path.expandvars(value)))
    return os.path.normpath(p if p.is_absolute() else base / p)


def resolve_data_paths(doc: dict[str, Any], config_path: str | os.PathLike[str]
                       ) -> list[ConfigProblem]:
    """Rewrite ``doc['backtest']['data']`` paths in place; returns the problems found."""
    data = (doc.get("backtest") or {}).get("data") if isinstance(doc.get("backtest"), dict) else None
    if not isinstance(data, dict):
        return []
    base = Path(config_path).resolve().parent
    problems: list[ConfigProblem] = []

    def one(key: str, v: Any) -> Any:
        if not isinstance(v, str) or not v:
            return v
        try:
            return resolve_path(v, base)
        except KeyError as exc:
            need = data.get("requires")
            problems.append(ConfigProblem(f"backtest.data.{key}", f"environment variable "
                                          f"{exc.args[0]} is not set (used in {v!r})"
                                          + (f"; needs: {need}" if isinstance(need, str) and need
                                             else "")))
            return v

    for key in PATH_KEYS:
        v = data.get(key)
        if isinstance(v, list):
            data[key] = [one(key, x) for x in v]
        elif v is not None:
            data[key] = one(key, v)
    return problems
