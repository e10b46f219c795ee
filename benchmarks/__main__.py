"""``make bench``: run every benchmark module (or those named) and write their JSON results.

Each ``benchmarks/bench_<name>.py`` exposes ``run(output_path) -> dict`` and measures against
a baseline in the same run. Results go to ``benchmarks/results/<name>.json``; a combined
``benchmarks/results/all.json`` records which ran, when, and on what machine.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys
import time
from pathlib import Path

import orjson

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def available() -> list[str]:
    return sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    ap.add_argument("names", nargs="*", help=f"which to run (default all): {', '.join(available())}")
    args = ap.parse_args(argv)
    names = args.names or available()
    unknown = set(names) - set(available())
    if unknown:
        print(f"unknown benchmark(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    RESULTS.mkdir(parents=True, exist_ok=True)
    summary: dict[str, object] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"python": platform.python_version(), "cpu_count": os.cpu_count(),
                    "platform": platform.platform(), "processor": platform.processor()},
        "runs": {},
    }
    failed = 0
    for name in names:
        print(f"== {name}", flush=True)
        t0 = time.perf_counter()
        try:
            module = importlib.import_module(f"benchmarks.bench_{name}")
            module.run(RESULTS / f"{name}.json")
            summary["runs"][name] = {"ok": True, "seconds": round(time.perf_counter() - t0, 1)}  # type: ignore[index]
        except Exception as exc:  # noqa: BLE001 - report and go on with the others
            failed += 1
            summary["runs"][name] = {"ok": False, "error": repr(exc)}  # type: ignore[index]
            print(f"   failed: {exc!r}", file=sys.stderr)
    (RESULTS / "all.json").write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
