"""Operator control of a running daemon: ``volta kill`` and the control file it writes to.

Theory of operation: the daemon watches ``<journal>.control`` (next to its journal), an
append-only file of JSON lines, polling it on a timer (every 250 ms) from the end it found at
start, so old commands are never replayed. ``volta kill`` appends one command with a unique id
and waits for the daemon's answer, a JSON line with the same id in ``<journal>.control.ack``
(the resulting kill level and trading state). A file works on every platform, needs no open
port, survives the daemon restarting (a command written while it is down is read when it
comes back only if it was appended after the daemon opened the file; ``volta kill`` reports
"no answer" in that case), and its permissions are the journal directory's. Signals work as
well where a pid is known (``<journal>.pid``): SIGUSR1 = level 1 (halt), SIGUSR2 = level 2
(cancel all); ``volta kill --signal`` sends them.

Commands: ``{"cmd": "kill", "level": 1..3, "reason": ...}``, ``{"cmd": "clear"}`` (kill
switch and loss-limit holds lifted), ``{"cmd": "enable_strategy", "strategy": ID}`` (after the
repeated-execution throttle), ``{"cmd": "status"}``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

if TYPE_CHECKING:
    from engine.kernel import Kernel

log = structlog.get_logger("volta.control")


def control_path(journal: str | Path) -> Path:
    return Path(f"{journal}.control")


def ack_path(journal: str | Path) -> Path:
    return Path(f"{journal}.control.ack")


def pid_path(journal: str | Path) -> Path:
    return Path(f"{journal}.pid")


class ControlWatcher:
    """Reads operator commands appended to the control file and applies them."""

    def __init__(self, kernel: Kernel, journal: str | Path) -> None:
        self.k = kernel
        self.path = control_path(journal)
        self.ack = ack_path(journal)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch(exist_ok=True)
        self._offset = self.path.stat().st_size
        self._buf = b""
        self.applied = 0

    def poll(self, _now: int = 0) -> int:
        """Apply every complete new line; returns how many commands were applied."""
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            self.path.touch()
            self._offset = 0
            return 0
        if size < self._offset:
            self._offset = 0  # truncated by an operator: start over
        if size == self._offset:
            return 0
        with open(self.path, "rb") as fh:
            fh.seek(self._offset)
            data = fh.read(size - self._offset)
        self._offset = size
        self._buf += data
        *lines, self._buf = self._buf.split(b"\n")
        n = 0
        for line in lines:
            if line.strip():
                self._answer(self.apply_line(line))
                n += 1
        return n

    def apply_line(self, line: bytes) -> dict[str, Any]:
        try:
            cmd = json.loads(line)
            if not isinstance(cmd, dict):
                raise ValueError("a command is a JSON object")
            return {"id": cmd.get("id", ""), "ok": True, **self.apply(cmd)}
        except (ValueError, KeyError, TypeError) as exc:
            log.error("control_command_invalid", error=str(exc), line=line[:200].decode(errors="replace"))
            cid = ""
            try:
                cid = json.loads(line).get("id", "")
            except Exception:  # noqa: BLE001 - the id is only for the answer
                pass
            return {"id": cid, "ok": False, "error": str(exc)}

    def apply(self, cmd: dict[str, Any]) -> dict[str, Any]:
        k = self.k
        ks = k.killswitch
        what = cmd.get("cmd")
        reason = str(cmd.get("reason") or "operator")
        log.warning("control_command", cmd=what, kill_level=cmd.get("level"), reason=reason)
        if what == "kill":
            level = int(cmd.get("level", 1))
            ks.trip(level, reason, "operator")
        elif what == "clear":
            ks.clear("operator")
            ks.clear_loss()
        elif what == "enable_strategy":
            sid = str(cmd["strategy"])
            if sid not in k.gate.disabled_strategies:
                raise ValueError(f"strategy {sid} was not disabled")
            self._journal_enable(sid)
            k.gate.enable_strategy(sid)
        elif what != "status":
            raise ValueError(f"unknown command {what!r}")
        self.applied += 1
        return {"level": ks.level, "state": str(k.gate.state),
                "holds": {s: str(v) for s, v in k.gate.holds.items()},
                "disabled_strategies": dict(k.gate.disabled_strategies)}

    def _journal_enable(self, strategy_id: str) -> None:
        """Journaled like the operator API's (``OperatorAction``): a restart that replays the
        fills which disabled the strategy replays the enable too."""
        from engine.operator.actions import OperatorAction  # (the daemon's, not volta kill's)

        j = self.k.journal
        if j is not None and not j.closed and not j.failed:
            now = self.k.clock.now_ns()
            j.write_command(now, OperatorAction(action="enable_strategy",
                                                args={"strategy_id": strategy_id},
                                                origin="control file", ts=now))

    def _answer(self, result: dict[str, Any]) -> None:
        with open(self.ack, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(result) + "\n")


# -- volta kill ---------------------------------------------------------------------------
def _journal_of(args: argparse.Namespace) -> Path:
    from engine.operator.client import journal_of  # (one rule for volta kill and volta status)

    return journal_of(args.journal, args.config)


def _wait_seconds(text: str) -> float:
    """``--wait``: a number of seconds >= 0 (NaN wrote the command, then gave up at once)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value < math.inf:
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0, got {text!r}")
    return value


def kill_main(argv: list[str]) -> int:
    """``volta kill [--level N] [--reason TEXT] [--clear] [--enable-strategy ID] [--journal PATH]``."""
    p = argparse.ArgumentParser(prog="volta kill", description=(
        "Trip the kill switch of a running daemon (1 halt new orders, 2 cancel all, 3 flatten), "
        "clear it, or re-enable a strategy disabled by the repeated-execution throttle."),
        epilog="Commands go to a running daemon only: with no daemon running on the journal, "
               "nothing is queued and the exit status is 1 (start a deployment halted with "
               "risk.kill_switch = true instead).")
    p.add_argument("--level", type=int, choices=(1, 2, 3), default=None,
                   help="1 halt new orders, 2 also cancel every open order, 3 also flatten "
                        "every position (default 1)")
    p.add_argument("--reason", default="operator", metavar="TEXT",
                   help="why, in words: written to the journal and the logs (default 'operator')")
    p.add_argument("--clear", action="store_true", help="lift the kill switch and loss-limit holds")
    p.add_argument("--enable-strategy", metavar="ID",
                   help="let strategy ID (its [[strategies]] id) trade again after the "
                        "repeated-execution throttle or the operator disabled it")
    p.add_argument("--status", action="store_true", help="only report the daemon's state")
    p.add_argument("--journal", help="the daemon's journal path (default: from the config)")
    p.add_argument("--config", help="deployment file to read the journal path from")
    p.add_argument("--signal", action="store_true",
                   help="send SIGUSR1 (level 1) / SIGUSR2 (level 2) to the daemon's pid instead")
    p.add_argument("--wait", type=_wait_seconds, default=5.0, metavar="SECONDS",
                   help="how long to wait for the daemon's answer (0: do not wait)")
    args = p.parse_args(argv)
    # One command per call: "--clear --signal" would otherwise trip level 1, and
    # "--level 3 --clear" clear without a word about the level asked for.
    others = [o for o, given in (("--clear", args.clear), ("--enable-strategy", args.enable_strategy),
                                 ("--status", args.status)) if given]
    trip = [o for o, given in (("--level", args.level is not None), ("--signal", args.signal))
            if given]
    if len(others) > 1 or (others and trip):
        p.error(f"{' and '.join((others + trip)[:2])} are different commands: give one")
    if args.level is None:
        args.level = 1
    from engine.config import ConfigError

    try:
        journal = _journal_of(args)
    except ConfigError as exc:
        from engine.operator.client import report_config_error

        report_config_error("volta kill", exc)
        return 2
    except Exception as exc:  # noqa: BLE001 - config problems are reported, not raised
        print(f"volta kill: cannot find the journal: {exc}", file=sys.stderr)
        return 2
    if args.signal:
        return _send_signal(journal, args.level)
    cid = uuid.uuid4().hex
    if args.clear:
        cmd: dict[str, Any] = {"cmd": "clear"}
    elif args.enable_strategy:
        cmd = {"cmd": "enable_strategy", "strategy": args.enable_strategy}
    elif args.status:
        cmd = {"cmd": "status"}
    else:
        cmd = {"cmd": "kill", "level": args.level, "reason": args.reason}
    cmd["id"] = cid
    from engine.operator.client import kill_via_api  # a daemon with an operator API: use it

    answered = kill_via_api(journal, cmd)
    if answered is not None:
        return answered
    running = daemon_pid(journal)
    if running is None:
        # a command queued for no one would be ignored by a daemon started later (it reads
        # only what is appended while it runs): say so instead of pretending it will apply
        print(f"volta kill: no daemon is running with journal {journal} (no live process in "
              f"{pid_path(journal)}); nothing was sent", file=sys.stderr)
        return 1
    path = control_path(journal)
    path.parent.mkdir(parents=True, exist_ok=True)
    ack = ack_path(journal)
    start = ack.stat().st_size if ack.exists() else 0
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (json.dumps(cmd) + "\n").encode())
    finally:
        os.close(fd)
    if args.wait <= 0:
        print(f"volta kill: command written to {path}")
        return 0
    deadline = time.monotonic() + args.wait
    try:
        while time.monotonic() < deadline:
            answer = _find_ack(ack, start, cid)
            if answer is not None:
                print(json.dumps(answer))
                return 0 if answer.get("ok") else 1
            time.sleep(0.05)
    except KeyboardInterrupt:  # Ctrl-C stops the waiting, not the command: say which
        print(f"volta kill: interrupted while waiting; the command was written to {path} and "
              f"the daemon applies it when it reads it (volta kill --status shows the state)",
              file=sys.stderr)
        return 130
    print(f"volta kill: no answer from the daemon within {args.wait:g}s "
          f"(is it running with journal {journal}?); the command stays queued in {path}",
          file=sys.stderr)
    return 1


def daemon_pid(journal: str | Path) -> int | None:
    """The pid of the daemon running on ``journal``: its pid file names a live process."""
    try:
        pid = int(pid_path(journal).read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None  # a stale pid file (the daemon was killed hard)
    except PermissionError:
        return pid  # alive, another user's
    return pid


def _find_ack(path: Path, start: int, cid: str) -> dict[str, Any] | None:
    if not path.exists():
        return None
    with open(path, "rb") as fh:
        fh.seek(start)
        for line in fh.read().splitlines():
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict) and obj.get("id") == cid:
                return obj
    return None


def _send_signal(journal: Path, level: int) -> int:
    if level == 3:
        print("volta kill: level 3 (flatten) is only available through the control file",
              file=sys.stderr)
        return 2
    try:
        pid = int(pid_path(journal).read_text().strip())
    except (OSError, ValueError) as exc:
        print(f"volta kill: no daemon pid file for {journal}: {exc}", file=sys.stderr)
        return 1
    try:
        os.kill(pid, signal.SIGUSR1 if level == 1 else signal.SIGUSR2)
    except ProcessLookupError:  # a stale pid file: the daemon was killed hard
        print(f"volta kill: no daemon is running with journal {journal} (pid {pid} in "
              f"{pid_path(journal)} is gone); nothing was sent", file=sys.stderr)
        return 1
    except PermissionError:
        print(f"volta kill: pid {pid} (from {pid_path(journal)}) belongs to another user; "
              f"nothing was sent", file=sys.stderr)
        return 1
    print(f"volta kill: sent {'SIGUSR1' if level == 1 else 'SIGUSR2'} to {pid}")
    return 0
