"""Drop the pricing kernels' Numba cache when any pricing source has changed.

Numba keys a cached kernel on its *own* source file only (modification time and size). A kernel
whose module did not change but which inlines a function from a module that did (the chain
kernel inlines ``implied_vol_scalar`` and ``black76_greeks_scalar``) would otherwise load its
old machine code after an upgrade or a merge, silently running the previous pricing code.

So a digest of every ``engine/pricing/*.py`` is kept next to the cache files; when it differs
from the sources, every pricing kernel's cache index is flushed (Numba's own ``flush``: the
kernels compile again at their next call and store fresh entries; ``make`` re-warms them at
install, see :mod:`engine.pricing.warm`). Checked once per process at package import, before any
kernel has run: reading the sources and hashing them costs well under a millisecond.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

_STAMP_NAME = "volta-pricing-sources.sha256"
_PACKAGE_DIR = Path(__file__).resolve().parent


def sources_digest(package_dir: Path = _PACKAGE_DIR) -> str:
    """sha256 over the names and contents of the package's Python sources, in name order."""
    h = hashlib.sha256()
    for path in sorted(package_dir.glob("*.py")):
        h.update(path.name.encode())
        h.update(b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def _function_caches(modules: Iterable[Any]) -> list[Any]:
    """The Numba cache objects of every cached dispatcher defined in ``modules``."""
    caches: list[Any] = []
    seen: set[int] = set()
    for module in modules:
        for value in vars(module).values():
            # a dispatcher with caching on carries its FunctionCache (Numba has no public
            # accessor for it); anything else has no such attribute
            cache = getattr(value, "_cache", None)
            if cache is None or id(cache) in seen or not hasattr(cache, "flush"):
                continue
            if getattr(getattr(value, "py_func", None), "__module__", "") != module.__name__:
                continue  # imported from another module: that module lists it
            seen.add(id(cache))
            caches.append(cache)
    return caches


def flush_if_sources_changed(package: str = "engine.pricing") -> bool:
    """Flush the package's kernel caches if its sources changed since the last check; True if
    it flushed. Never raises: an unwritable or unusual cache location just skips the check
    (Numba then keeps its own per-file rule)."""
    modules = [m for name, m in sorted(sys.modules.items())
               if m is not None and (name == package or name.startswith(package + "."))]
    caches = _function_caches(modules)
    if not caches:
        return False
    try:
        stamp = Path(caches[0].cache_path) / _STAMP_NAME
        digest = sources_digest()
        if stamp.is_file() and stamp.read_text().strip() == digest:
            return False
        for cache in caches:
            cache.flush()
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(digest + "\n")
    except (OSError, AttributeError):
        return False
    return True
