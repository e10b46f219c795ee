"""``make cluster-demo``: a whole cluster on this machine, and where to watch it.

Starts, each as its own process: ``nats-server`` (JetStream, 127.0.0.1:14222, store under
``var/cluster-demo``), the local fake Deribit venue (127.0.0.1:18765), ``volta gateway``,
``volta aggregator`` and two ``volta run`` nodes (the simulated venue; the fake Deribit
account), with the shipped ``config/cluster-*.toml`` files. Prints the firm view every few
seconds until Ctrl-C (or ``--duration``), then stops everything it started.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from cluster.server import NatsServer, NatsServerError
from engine.cli import seconds

NATS_PORT = 14222
DERIBIT_PORT = 18765
API = "http://127.0.0.1:18787/api"


def _config_dir() -> Path:
    from engine.config.loader import deployments_dir

    return deployments_dir()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m cluster.demo", description=__doc__.replace("``", ""),
        epilog='from make: make cluster-demo DEMO_ARGS="--duration 60"')
    ap.add_argument("--duration", type=seconds, default=None, metavar="SECONDS",
                    help="stop after this many seconds (default: until Ctrl-C)")
    ap.add_argument("--dir", default="var/cluster-demo", help="logs and the JetStream store")
    args = ap.parse_args(argv)
    work = Path(args.dir)
    work.mkdir(parents=True, exist_ok=True)
    cfg = _config_dir()
    procs: list[tuple[str, subprocess.Popen[bytes]]] = []
    volta = [sys.executable, "-m", "engine"]

    def spawn(name: str, cmd: list[str]) -> None:
        with open(work / f"{name}.log", "ab") as log:
            procs.append((name, subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                                 stdin=subprocess.DEVNULL)))

    try:
        server = NatsServer(work, NATS_PORT, name="nats").start()
    except NatsServerError as exc:
        print(f"cluster-demo: {exc}", file=sys.stderr)
        return 1
    stop = {"now": False}
    signal.signal(signal.SIGINT, lambda *_: stop.update(now=True))
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    try:
        spawn("fake-deribit", [sys.executable, "-m", "adapters.deribit.fake", "--port", str(DERIBIT_PORT)])
        spawn("gateway", volta + ["gateway", str(cfg / "cluster-gateway.toml")])
        spawn("aggregator", volta + ["aggregator", str(cfg / "cluster-aggregator.toml")])
        time.sleep(2.0)  # the gateway lists its instruments before the nodes ask
        env_log = ["--log-format", "json"]
        spawn("node-sim", volta + ["run", str(cfg / "cluster-node-sim.toml"),
                                   "--journal", str(work / "node-sim.journal.sqlite")] + env_log)
        spawn("node-deribit", volta + ["run", str(cfg / "cluster-node-deribit.toml"),
                                       "--journal", str(work / "node-deribit.journal.sqlite")] + env_log)
        print(f"""Volta cluster demo (Ctrl-C stops everything)
  nats-server   {server.url}  JetStream store {work}/nats  (log {server.log_path})
  gateway       market data on volta.md.feed.<symbol>.<kind>      log {work}/gateway.log
  nodes         node-sim (simulated venue), node-deribit (fake Deribit on :{DERIBIT_PORT})
                logs {work}/node-sim.log, {work}/node-deribit.log
                status: volta status --journal {work}/node-sim.journal.sqlite (or node-deribit's:
                the journals are here, not where the shipped files' deployment.journal says)
  aggregator    firm view  {API}/firm   alerts {API}/alerts       log {work}/aggregator.log
                status: volta status --url {API.removesuffix("api")}
  try: kill -9 a node's process -> stale + alert; kill the aggregator -> nodes reduce-only
""", flush=True)
        t0 = time.monotonic()
        next_print = 0.0
        gone: set[str] = set()
        # nats-server too: restarted by hand, it should get the same store (-sd) back; without
        # it the services recreate the stream and buckets, but the reports stored are gone
        watched = [("nats-server", server.proc), *procs] if server.proc is not None else procs
        while not stop["now"] and (args.duration is None or time.monotonic() - t0 < args.duration):
            # a service that dies is the drill the banner suggests, not the end of the demo:
            # say so once (with how to start it again) and keep the others running
            for name, p in watched:
                if name not in gone and p.poll() is not None:
                    gone.add(name)
                    log = server.log_path if name == "nats-server" else work / f"{name}.log"
                    print(f"cluster-demo: {name} exited ({p.returncode}); see {log}; the others keep "
                          f"running. Start it again with: {shlex.join(p.args)} >> {log} 2>&1 "
                          "(from another shell: the demo's Ctrl-C will not stop it)",
                          file=sys.stderr, flush=True)
            if len(gone) == len(watched):
                print("cluster-demo: every service has exited", file=sys.stderr)
                return 1
            if time.monotonic() >= next_print:
                print(_summary(), flush=True)
                next_print = time.monotonic() + 5.0
            time.sleep(0.2)
        return 0
    finally:
        for _name, p in reversed(procs):  # nodes first (they cancel their orders), venue last
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait()
        server.stop()
        print("cluster-demo: stopped", flush=True)


def _summary() -> str:
    try:
        with urllib.request.urlopen(f"{API}/firm", timeout=1) as r:
            view = json.loads(r.read())
    except OSError:
        return f"  firm view: no answer from the aggregator at {API} (still starting, or down: see its log)"
    greeks = ", ".join(f"{u} delta {g['delta']:+.6f}" for u, g in view["greeks"].items()) or "flat"
    nodes = ", ".join(f"{n}:{'STALE' if s['stale'] else (s['report'] or {}).get('trading_state', '?')}"
                      f"/{s['reports_applied']} reports{' LAGGING' if s.get('reports_lagging') else ''}"
                      for n, s in view["nodes"].items())
    lead = "leader" if view["aggregator"]["leader"] else "standby"
    store = view["aggregator"].get("store") or {}
    if store.get("losses"):  # (the drill: nats-server restarted without its store)
        lead += (f", JetStream store LOST ({', '.join(store['lost'])}; {store['losses']} losses)"
                 if not store["ok"] else f", JetStream store recreated after {store['losses']} losses")
    return f"  firm: {greeks} | pnl {view['pnl_usd']['total']:+.2f} USD | {nodes} | aggregator {lead}"


if __name__ == "__main__":
    raise SystemExit(main())
