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

The same holds for a cached kernel *outside* the package that calls a pricing kernel (the
simulated venue's chain pricer calls ``black76_greeks_scalar``): Numba links the callee's
machine code into the caller's cache entry, keyed on the caller's file alone. Such a module calls
``flush_if_pricing_changed(__name__)`` at the end of its import, once its kernels exist: its own
kernels' caches are flushed when the pricing sources or its own source differ from the stamp it
left (``volta-pricing-deps-<module>.sha256`` next to its cache files). The dependent imports
this package, never the reverse.
"""

from __future__ import annotations

import functools
import hashlib
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

_STAMP_NAME = "volta-pricing-sources.sha256"
_DEPENDENT_STAMP = "volta-pricing-deps-{module}.sha256"
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


@functools.cache
def _pricing_digest() -> str:
    """This package's sources digest, read once per process (the guard runs at imports)."""
    return sources_digest()


def _flush_if_changed(caches: list[Any], stamp_name: str, digest: str) -> bool:
    """Flush ``caches`` unless the stamp next to them holds ``digest``; then write it. True if
    it flushed. Never raises: an unwritable or unusual cache location just skips the check
    (Numba then keeps its own per-file rule)."""
    if not caches:
        return False
    try:
        stamp = Path(caches[0].cache_path) / stamp_name
        if stamp.is_file() and stamp.read_text().strip() == digest:
            return False
        for cache in caches:
            cache.flush()
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(digest + "\n")
    except (OSError, AttributeError):
        return False
    return True


def flush_if_sources_changed(package: str = "engine.pricing") -> bool:
    """Flush the package's kernel caches if its sources changed since the last check; True if
    it flushed (never raises)."""
    modules = [m for name, m in sorted(sys.modules.items())
               if m is not None and (name == package or name.startswith(package + "."))]
    try:
        digest = _pricing_digest()
    except OSError:
        return False
    return _flush_if_changed(_function_caches(modules), _STAMP_NAME, digest)


def flush_if_pricing_changed(module_name: str) -> bool:
    """For a module outside this package whose cached kernels call pricing kernels, called at
    the end of its import (``flush_if_pricing_changed(__name__)``): flush that module's kernel
    caches if the pricing sources or the module's own source changed since its last check.
    True if it flushed; never raises (an unknown module, a module without a source file or
    cached kernels: nothing to do)."""
    module = sys.modules.get(module_name)
    source = getattr(module, "__file__", None)
    if module is None or not source:
        return False
    try:
        h = hashlib.sha256(_pricing_digest().encode())
        h.update(b"\0")
        h.update(Path(source).read_bytes())
    except OSError:
        return False
    stamp_name = _DEPENDENT_STAMP.format(module=module_name)
    return _flush_if_changed(_function_caches([module]), stamp_name, h.hexdigest())
