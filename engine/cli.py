"""``volta``: the command-line entry point.

Subcommands that live outside ``engine`` (replay, which needs every venue's codec) are
resolved by import path, like adapters and strategies, so ``engine`` never imports
``adapters``.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.config import ConfigError, ConfigProblem, VoltaConfig

EXTERNAL_COMMANDS = {
    "replay": ("adapters.replay:main", "replay captures through the codecs and books"),
    "record": ("adapters.record:main", "record live venue streams into capture files"),
    "backtest": ("backtest.cli:main", "backtest a deployment on recorded or synthetic data"),
    "data": ("backtest.data_cli:main", "import market data (Tardis, Binance, captures); list a catalog"),
    "journal": ("engine.journal_cli:main", "audit a journal: segments, snapshots, records (read-only)"),
    "kill": ("engine.control:kill_main", "trip the kill switch of a running daemon"),
    "status": ("engine.operator.client:status_main", "show a running daemon's state (its operator API)"),
    "strategies": ("engine.plugins:strategies_main", "list the installed strategies"),
    "new-strategy": ("engine.plugins:new_strategy_main", "write a strategy template with a test"),
    "gateway": ("cluster.gateway:main", "publish venue market data on NATS (cluster)"),
    "aggregator": ("cluster.aggregator:main", "the cluster's central risk service"),
}


def seconds(text: str) -> float:
    """A duration in seconds: finite and > 0 (NaN or 0 would stop at once or never)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (0 < value < math.inf):
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="volta", description="Volta trading engine",
        epilog="exit status: 0 done (also a run stopped by Ctrl-C, SIGTERM or SIGHUP), "
               "1 nothing to talk to (kill/status without a daemon, a cluster service without "
               "NATS), 2 bad configuration or arguments, 3 a venue did not start and "
               "--fail-fast was given, 4 a strategy failed to start (its on_start raised), "
               "5 the run was stopped after its journal failed (trading had been halted), "
               "130 another command interrupted by Ctrl-C")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a deployment (default: the built-in paper deployment)")
    run.add_argument("config", nargs="?", help="deployment TOML (default: config/paper.toml)")
    run.add_argument("--duration", type=seconds, default=None, metavar="SECONDS",
                     help="stop by itself after this many seconds")
    run.add_argument("--virtual", action="store_true",
                     help="run on a virtual clock as fast as possible (needs --duration); logs "
                          "carry simulated time; the journal is kept in memory unless --journal "
                          "is given (never the deployment's journal); the pricing kernels' "
                          "threads sleep between calls (OMP_WAIT_POLICY=PASSIVE unless set)")
    run.add_argument("--journal", default=None, metavar="PATH",
                     help="write the journal here instead of deployment.journal")
    run.add_argument("--log-format", choices=("auto", "json", "console"), default=None,
                     help="override [logging] format: json lines, console text, or auto "
                          "(console on a terminal, json otherwise)")
    run.add_argument("--fail-fast", action="store_true",
                     help="exit with status 3 when a venue cannot be reached or refuses the "
                          "credentials at start (default: stay HALTED and retry with backoff)")

    check = sub.add_parser("check-config", help="validate a deployment file (exit 0 ok, 2 errors)",
                           description="Decode a deployment file and resolve every adapter and "
                                       "strategy it names; list every problem found.")
    check.add_argument("config", metavar="CONFIG", help="the deployment TOML file to check")

    for name, (_, helptext) in EXTERNAL_COMMANDS.items():
        ext = sub.add_parser(name, help=helptext, add_help=False)
        ext.add_argument("args", nargs=argparse.REMAINDER)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    entry_point = argv is None  # this process is the command (not a caller's library use)
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        status = _main(argv)
        if entry_point and argv[:1] == ["run"]:
            # The node stopped and its journal is closed; a second Ctrl-C during the
            # interpreter's teardown (~0.5 s) must not end a clean run by SIGINT (status 130).
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        return status
    except KeyboardInterrupt:
        # Ctrl-C before the command handles it itself (its imports take ~0.5 s): one line, no
        # traceback. A run that has not started has sent nothing; its documented status is 0.
        if argv[:1] == ["run"]:
            print("volta run: interrupted before the node started (nothing was sent)",
                  file=sys.stderr)
            return 0
        command = f"volta {argv[0]}" if argv else "volta"
        print(f"{command}: interrupted", file=sys.stderr)
        return 130


def _main(argv: list[str]) -> int:
    if argv and argv[0] in EXTERNAL_COMMANDS:
        from engine.plugins import PluginError, load_object

        try:
            command = load_object(EXTERNAL_COMMANDS[argv[0]][0])
        except PluginError as exc:
            print(f"volta {argv[0]}: not available in this installation ({exc})", file=sys.stderr)
            return 2
        return int(command(argv[1:]) or 0)
    args = _parser().parse_args(argv)
    if args.command == "check-config":
        from engine.config import check_config
        from engine.plugins import add_module_folder

        add_module_folder(Path(args.config).parent)  # strategies next to the deployment file

        return check_config(args.config, resolve=lambda config: _resolve_all(config, args.config))
    if args.command == "run":
        return _run(args)
    return 2


def _run(args: argparse.Namespace) -> int:
    from engine.config import ConfigError, default_config_path, load_config
    from engine.journal import JournalError
    from engine.logging import configure_logging
    from engine.plugins import PluginError, add_module_folder
    from engine.startup import StrategyStartFailed, VenueStartFailed

    if args.journal:
        args.journal = os.path.expanduser(args.journal)  # (quoted, the shell left "~" as is)
    if args.virtual:
        # No result of a virtual run depends on wall-clock latency, and the pricing kernels'
        # OpenMP workers spinning after each call cost a busy 2-core host 6x the wall time and
        # 5x the CPU (300 simulated s: 26 s against 4.3 s). Read when the pool starts; a
        # policy the user chose is kept.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    path = Path(args.config) if args.config else default_config_path()
    add_module_folder(path.parent)  # strategies next to the deployment file
    try:
        config = load_config(path)
    except ConfigError as exc:
        _print_problems(path, exc)
        return 2
    from engine.outputs import OutputPathError, check_output_file

    if config.cluster is not None and config.cluster.role != "node":
        role = config.cluster.role
        print(f"volta run: {path} deploys the cluster's {role} (cluster.role), not a node: "
              f"run it with volta {role} {path}", file=sys.stderr)
        return 2
    if args.virtual and args.journal and config.deployment.journal != ":memory:" and \
            Path(args.journal).resolve() == Path(config.deployment.journal).resolve():
        print(f"volta run: --journal {args.journal} is the deployment's own journal "
              "(deployment.journal); a virtual run's simulated orders must not join its "
              "history: give another path, or none to keep the journal in memory",
              file=sys.stderr)
        return 2
    journal = args.journal or (":memory:" if args.virtual else config.deployment.journal)
    if journal != ":memory:":
        try:
            check_output_file(journal, "--journal" if args.journal else "deployment.journal")
        except OutputPathError as exc:
            print(f"volta run: {exc}", file=sys.stderr)
            return 2
    configure_logging(config.logging.level, args.log_format or config.logging.format)
    from engine import runtime

    try:
        if args.virtual:
            if args.duration is None:
                print("--virtual needs --duration", file=sys.stderr)
                return 2
            # never the deployment's journal: simulated orders must not join a real history
            node = runtime.run_virtual(config, args.duration, journal_path=args.journal or ":memory:")
        else:
            if args.journal:
                import msgspec

                config = msgspec.structs.replace(
                    config, deployment=msgspec.structs.replace(config.deployment, journal=args.journal))
            node = runtime.run_live(config, args.duration, fail_fast=args.fail_fast)
    except ConfigError as exc:  # found once the venues are up (e.g. an unknown underlying)
        _print_problems(path, exc)
        return 2
    except PluginError as exc:
        print(f"{path}: {exc}", file=sys.stderr)
        return 2
    except JournalError as exc:  # e.g. another process holds the journal
        print(f"volta: {exc}", file=sys.stderr)
        return 2
    except ConnectionError as exc:  # a cluster service cannot reach NATS (docs/cluster.md)
        print(f"{path}: {exc}", file=sys.stderr)
        return 1
    except VenueStartFailed as exc:
        for venue, why in exc.failures.items():
            print(f"volta run: venue {venue} did not start: {why}", file=sys.stderr)
        return 3
    except StrategyStartFailed as exc:
        for sid, why in exc.failures.items():
            print(f"volta run: strategy {sid} failed to start: {why}", file=sys.stderr)
        return 4
    except KeyboardInterrupt:
        return 0
    failure = node.journal_failure
    if failure:  # the node ran on HALTED until stopped: not a clean run for a supervisor
        print(f"volta run: stopped after a journal failure ({node.journal_path}): {failure}; "
              "trading was halted from then on and nothing unjournaled was sent", file=sys.stderr)
        return 5
    return 0


def _resolve_all(config: VoltaConfig, path: str) -> list[ConfigProblem]:
    """What check-config checks beyond the file itself: adapters, strategies and their
    parameters, and a ``[backtest]`` table as ``volta backtest`` decodes it, with the data
    it names (``path``: the file, which the data paths are relative to)."""
    from engine.plugins import PluginError, load_object
    from engine.runtime import resolve_plugins

    problems = resolve_plugins(config)
    from engine.config import ConfigError
    from engine.operator import operator_settings

    try:  # what the run's operator surface refuses at start (in this environment)
        operator_settings(config)
    except ConfigError as exc:
        problems += exc.problems
    from engine.config.schema import ConfigProblem
    from engine.outputs import OutputPathError, check_output_file

    journal = config.deployment.journal
    if journal != ":memory:":
        try:  # what volta run refuses before it starts (on this machine)
            check_output_file(journal, "journal")
        except OutputPathError as exc:
            problems.append(ConfigProblem("deployment.journal", str(exc)))
    if config.backtest:
        try:  # (by import path, like the external commands: engine never imports backtest)
            check_backtest = load_object("backtest.schema:check_backtest")
        except PluginError:
            return problems
        problems += check_backtest(config)
        if not problems:  # what volta backtest refuses before any work: data that is not there
            problems += load_object("backtest.cli:missing_data_of")(path)
    return problems


def _print_problems(path: Path, exc: ConfigError) -> None:
    """One line per problem, ``FILE: key.path: reason``, as ``volta check-config`` prints them."""
    for problem in exc.problems:
        print(f"{path}: {problem}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
