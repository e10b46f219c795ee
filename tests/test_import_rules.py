"""The dependency rules of DEVELOPERS.md and docs/architecture.md, enforced on every import.

1. ``engine.model``: standard library, msgspec and sortedcontainers only.
2. ``engine.pricing``: numpy and numba only; nothing from the rest of ``engine``.
3. the rest of ``engine``: the model, each other, ``engine.config`` (a leaf) and the runtime
   libraries; never ``adapters``, ``strategies`` or ``websockets``.
4. ``adapters.<venue>.codec`` (and modules of the same venue it imports): the model, orjson,
   msgspec (what the model is built on) and the standard library only; no asyncio, sockets,
   clocks or logging.
5. an adapter never imports another venue, nor ``strategies``; the venue-neutral adapter
   modules (``adapters.live``, ``adapters.fakes``, ``adapters.ws`` ...) import no venue at all,
   so every venue may build on them.
6. ``strategies``: only the public ``engine`` API (``engine`` itself, ``engine.pricing``),
   numpy, msgspec and the standard library.
7. ``engine.config`` (the deployment loader): the standard library and msgspec only. The
   top-level ``config/`` folder holds deployment TOML files only (package data, no code), so
   that a user's own ``config`` package never collides with ours.
8. ``backtest``: may use ``engine`` and ``adapters``; strategies only by import path. Its
   Parquet catalog (``backtest.catalog``) is a data layer: the standard library, numpy,
   pyarrow, msgspec, polars (optional), ``engine.model`` and the event store's container only (no codecs, no
   engine runtime), so a notebook can read a catalog without the trading machinery.
9. ``cluster`` (gateway, aggregator, node service): may use ``engine`` and ``adapters``;
   strategies only by import path; ``engine`` reaches it only by import path.
10. ``adapters.nats`` (the cluster's market-data adapter) is venue-neutral: it imports no venue.
11. nothing the kernel builds imports the kernel: ``engine.strategy``, ``engine.killswitch``,
   ``engine.execution`` (and the other parts below the wiring) work through the narrow ports of
   ``engine.execution.ports``; only the wiring (``engine.runtime``, ``engine.cli``, ``engine.status``,
   ``engine.control``, ``engine.reconcile``) and the operator surface on top of it may name
   ``engine.kernel``, even under TYPE_CHECKING.
12. ``engine.operator`` (the operator surface) is reached only by ``engine.runtime``, ``engine.cli``
   and ``engine.control``; the trading core never imports it.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STDLIB = set(sys.stdlib_module_names)
PACKAGES = ("engine", "adapters", "strategies", "backtest", "cluster")
SHARED_ADAPTER_MODULES = {"adapters.capture", "adapters.replay", "adapters.registry", "adapters.ws",
                          "adapters.ratelimit", "adapters.common", "adapters.record", "adapters"}
ETH_SIGNING = ("eth_account", "eth_abi", "eth_utils")  # Derive's EIP-191/712 signing only
SHARED_ADAPTER_PACKAGES = ("adapters.fakes", "adapters.live", "adapters.nats")  # venue-neutral helpers, not venues
KERNEL_USERS = {"engine.kernel", "engine.runtime", "engine.cli", "engine.status", "engine.control",
                "engine.reconcile", "engine"}  # the wiring; everything else gets ports
# 12. ``engine.operator`` (HTTP server, metrics, dashboard, alerts) sits on top of the core: only
#    the runtime's wiring and the CLI commands reach it; the kernel and everything it runs never do.
OPERATOR_USERS = {"engine.runtime", "engine.cli", "engine.control"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    module = _module_name(path)
    is_pkg = path.name == "__init__.py"
    out: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base if is_pkg else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            out.append((name, node.lineno))
    return out


def _top(name: str) -> str:
    return name.split(".")[0]


def _venue_of(module: str) -> str | None:
    parts = module.split(".")
    shared = module in SHARED_ADAPTER_MODULES or module.startswith(SHARED_ADAPTER_PACKAGES)
    if parts[0] == "adapters" and len(parts) >= 2 and not shared:
        return parts[1]
    return None


def _violations_for(path: Path) -> list[str]:
    module = _module_name(path)
    problems: list[str] = []
    for name, line in _imports(path):
        top = _top(name)
        where = f"{path.relative_to(ROOT)}:{line} imports {name}"
        if top == "__future__":
            continue
        if module.startswith("engine.model"):
            if not (top in STDLIB or top in ("msgspec", "sortedcontainers") or name.startswith("engine.model")):
                problems.append(f"{where}: engine.model may use only the stdlib, msgspec, sortedcontainers")
        elif module.startswith("engine.pricing"):
            if top == "engine" and not name.startswith("engine.pricing"):
                problems.append(f"{where}: engine.pricing is a leaf")
            elif top not in STDLIB and top not in ("numpy", "numba", "engine"):
                problems.append(f"{where}: engine.pricing may use only numpy and numba")
        elif module.startswith("engine.config"):
            if not (top in STDLIB or top == "msgspec" or name.startswith("engine.config")):
                problems.append(f"{where}: engine.config may use only the stdlib and msgspec")
        elif module.startswith("engine"):
            if top in ("adapters", "strategies", "websockets", "cluster"):
                problems.append(f"{where}: engine must not depend on {top}")
            if (name == "engine.kernel" and module not in KERNEL_USERS
                    and not module.startswith("engine.operator")):  # outside the core, like the runtime
                problems.append(f"{where}: only the wiring may import the kernel (use the ports)")
            if (name.startswith("engine.operator") and not module.startswith("engine.operator")
                    and module not in OPERATOR_USERS):
                problems.append(f"{where}: the trading core must not depend on the operator surface")

        elif module.startswith("strategies"):
            ok = (top in STDLIB or top in ("numpy", "msgspec", "strategies") or name == "engine"
                  or name.startswith("engine.pricing"))
            if not ok:
                problems.append(f"{where}: strategies may use only the public engine API")
        elif module.startswith("backtest.catalog"):
            ok = (top in STDLIB or top in ("numpy", "pyarrow", "msgspec", "polars")
                  or name.startswith(("engine.model", "backtest.catalog")) or name == "engine.model"
                  or name == "backtest.store")
            if not ok:
                problems.append(f"{where}: backtest.catalog may use only the stdlib, numpy, pyarrow, "
                                "polars (optional), "
                                "msgspec, engine.model and backtest.store")
        elif module.startswith("backtest"):
            if top == "strategies":
                problems.append(f"{where}: backtest loads strategies by import path, never imports them")
        elif module.startswith("cluster"):
            if top in ("strategies", "backtest"):
                problems.append(f"{where}: cluster loads strategies by import path, never imports {top}")
        elif module.startswith("adapters"):
            venue = _venue_of(module)
            if top in ETH_SIGNING and venue != "derive":
                problems.append(f"{where}: Ethereum signing libraries belong to adapters.derive")
            if top == "strategies":
                problems.append(f"{where}: adapters must not import strategies")
            other = _venue_of(name) if top == "adapters" else None
            if venue and other and other != venue:
                problems.append(f"{where}: venue {venue} must not import venue {other}")
            if venue is None and other is not None:
                problems.append(f"{where}: a venue-neutral adapters module must not import venue {other}")
            if venue and module.endswith(".codec"):
                ok = (top in STDLIB and top not in ("asyncio", "socket", "logging", "ssl", "time", "selectors"))
                ok = ok or top in ("orjson", "msgspec") or name.startswith("engine.model") or name == "engine.model"
                ok = ok or (other == venue and name != f"adapters.{venue}.session")
                if not ok:
                    problems.append(f"{where}: a codec may use only the model, orjson, msgspec and the stdlib (no I/O)")
    return problems


def _python_files() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def test_every_package_follows_the_dependency_rules() -> None:
    problems = [p for path in _python_files() for p in _violations_for(path)]
    assert not problems, "dependency rule violations:\n" + "\n".join(problems)


@pytest.mark.parametrize("source,module,expected", [
    ("import adapters.sim\n", "engine/bad.py", "engine must not depend on adapters"),
    ("from engine.operator import views\n", "engine/kernel.py", "must not depend on the operator surface"),
    ("from engine.kernel import Kernel\n", "strategies/bad.py", "public engine API"),
    ("import numpy\nfrom engine.book import OrderBook\n", "engine/pricing/bad.py", "leaf"),
    ("import asyncio\n", "adapters/zz/codec.py", "no I/O"),
    ("from adapters.yy.codec import X\n", "adapters/zz/session.py", "must not import venue yy"),
    ("from adapters.yy.orders import X\n", "adapters/live/bad.py", "venue-neutral adapters module"),
    ("from adapters.yy.fake import X\n", "adapters/fakes/bad.py", "venue-neutral adapters module"),
    ("import structlog\n", "engine/config/bad.py", "stdlib and msgspec"),
    ("import numpy\n", "engine/model/bad.py", "engine.model may use only"),
    ("import cluster.node\n", "engine/bad.py", "engine must not depend on cluster"),
    ("from strategies.examples import mm\n", "cluster/bad.py", "cluster loads strategies"),
    ("from adapters.deribit.codec import X\n", "adapters/nats/bad.py", "venue-neutral adapters module"),
    ("from adapters import registry\n", "backtest/catalog/bad.py", "backtest.catalog may use only"),
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from engine.kernel import Kernel\n",
     "engine/strategy.py", "only the wiring may import the kernel"),
    ("from engine.kernel import Kernel\n", "engine/killswitch.py", "only the wiring"),
    ("from engine.kernel import Kernel\n", "engine/option_chains.py", "only the wiring"),
    ("from engine.kernel import Kernel\n", "engine/trading_notices.py", "only the wiring"),
])
def test_the_rule_checker_catches_violations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             source: str, module: str, expected: str) -> None:
    # The checker must be able to fail: plant a bad module in a scratch tree and scan it.
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    path = tmp_path / module
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source)
    problems = _violations_for(path)
    assert any(expected in p for p in problems), problems


def test_config_folder_holds_deployment_files_only() -> None:
    # A top-level ``config`` package would shadow (or be shadowed by) a user's own ``config``
    # module: the folder ships TOML deployments as package data and nothing importable.
    code = sorted(p.name for p in (ROOT / "config").iterdir() if p.suffix == ".py")
    assert not code, f"config/ must hold deployment files only, found {code}"
