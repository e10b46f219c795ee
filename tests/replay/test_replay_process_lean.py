"""``volta replay`` as a process pays only for what a replay uses (the whole-process benchmark
against the lean baseline counts interpreter start-up and imports): dispatching the subcommand
through ``engine.cli`` must not import ``importlib.metadata`` (~20 ms: only the strategy
registry needs it), nor numpy/Numba."""

from __future__ import annotations

import subprocess
import sys


def test_replay_dispatch_imports_no_plugin_metadata() -> None:
    code = ("import sys, engine.cli, engine.plugins, adapters.replay; "
            "engine.plugins.load_object('adapters.replay:main'); "
            "print(sorted(m for m in ('importlib.metadata', 'difflib', 'numpy', 'numba') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True)
    assert out.stdout.strip() == "[]"


def test_strategy_registry_still_reads_entry_points() -> None:
    from engine.plugins import strategy_registry

    reg = strategy_registry()
    assert reg and all(len(v) == 2 for v in reg.values())
