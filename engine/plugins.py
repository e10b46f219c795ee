"""Loading adapters and strategies by import path (``"package.module:Class"``)."""

from __future__ import annotations

import importlib
from typing import Any


class PluginError(Exception):
    """An import path that does not resolve to a usable class."""


def load_object(path: str) -> Any:
    """Import ``"module:attr"`` and return the attribute, with a clear error if it fails."""
    module_name, sep, attr = path.partition(":")
    if not sep or not module_name or not attr:
        raise PluginError(f"invalid import path {path!r}: expected 'package.module:Class'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise PluginError(f"cannot import module {module_name!r} (from {path!r}): {exc}") from None
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise PluginError(f"module {module_name!r} has no attribute {attr!r}") from None
    return obj
