"""``volta status`` and the API path of ``volta kill``: talk to a running daemon's operator API.

``volta status --url`` also reads a ``volta aggregator``'s firm view (its ``/api/snapshot``
says ``"kind": "firm"``) and shows it the same way: firm Greeks against the firm limits, each
node's state and exposure, venues across nodes.

The daemon is found from its journal (``--journal``, or the config's ``deployment.journal``):
a running daemon writes ``<journal>.operator.json`` with its URL. The token for control comes
from ``$VOLTA_OPERATOR_TOKEN`` or, for a paper daemon that generated one, from the 0600 file
``<journal>.operator-token``. Standard library only (urllib): the CLI stays light.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from engine.config import ConfigError
from engine.operator.auth import TOKEN_ENV, discovery_path, token_path


class DaemonNotFound(Exception):
    pass


def journal_of(journal: str | None, config: str | None) -> Path:
    if journal:  # (quoted, the shell left "~" as is: the home folder, as for volta run)
        return Path(journal).expanduser()
    from engine.config import default_config_path, load_config

    source = Path(config) if config else default_config_path()
    cfg = load_config(source)
    if cfg.deployment.journal == ":memory:":  # (no file next to it names a running daemon)
        cluster = cfg.cluster
        hint = (f"it deploys an aggregator, whose firm view is volta status --url "
                f"http://{cluster.api_host}:{cluster.api_port}"
                if cluster is not None and cluster.role == "aggregator"
                else "give the running daemon's own journal with --journal PATH")
        raise ValueError(f"{source} keeps its journal in memory (deployment.journal = "
                         f"\":memory:\"), so no running daemon is found through it; {hint}")
    return Path(cfg.deployment.journal)


def report_config_error(prog: str, exc: ConfigError) -> None:
    """A deployment file that does not load, as ``volta check-config`` prints it (one
    ``FILE: key.path: reason`` line per problem), and what to do instead."""
    from engine.config import print_problems

    source = exc.source or "config"
    print_problems(source, exc.problems)
    print(f"{prog}: the journal path comes from {source}, which does not load: fix it, or "
          "give --journal PATH", file=sys.stderr)


def find_daemon(journal: Path) -> str:
    """The operator URL of the daemon running on ``journal``; ``DaemonNotFound`` otherwise."""
    path = discovery_path(journal)
    try:
        info = json.loads(path.read_text())
        url, pid = str(info["url"]), int(info.get("pid", 0))
    except FileNotFoundError:
        raise DaemonNotFound(f"no running daemon with an operator API for journal {journal} "
                             f"({path} not found; is [operator] enabled?)") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise DaemonNotFound(f"{path} is unreadable: {exc}") from None
    if pid:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            raise DaemonNotFound(f"the daemon of journal {journal} (pid {pid}) is not running "
                                 f"(stale {path})") from None
        except PermissionError:
            pass
    return url


def token_for(journal: Path) -> str:
    tok = os.environ.get(TOKEN_ENV, "").strip()
    if tok:
        return tok
    try:
        return token_path(journal).read_text().strip()
    except OSError:
        return ""


def call(url: str, path: str, body: dict[str, Any] | None = None, token: str = "",
         timeout: float = 5.0) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url + path, data=data, method="GET" if body is None else "POST")
    req.add_header("Content-Type", "application/json")
    req.add_header("User-Agent", "volta-cli")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read())
        except ValueError:
            return exc.code, {"error": exc.reason}


# -- volta kill (API path) -----------------------------------------------------------------
def kill_via_api(journal: Path, cmd: dict[str, Any]) -> int | None:
    """Apply a ``volta kill`` command through the API; None when no daemon serves one (the
    caller falls back to the control file)."""
    try:
        url = find_daemon(journal)
    except DaemonNotFound:
        return None
    what = cmd["cmd"]
    if what == "status":
        try:
            _status, state = call(url, "api/state")
        except OSError:
            return None
        print(json.dumps(state))
        return 0
    action, body = {"kill": ("kill", {"level": cmd.get("level", 1), "reason": cmd.get("reason", "operator")}),
                    "clear": ("clear", {}),
                    "enable_strategy": ("enable_strategy", {"strategy_id": cmd.get("strategy")})}[what]
    try:
        status, result = call(url, f"api/control/{action}", body, token_for(journal))
    except OSError:
        return None  # not answering: the control file still works
    if status == 503:  # a live daemon without a token: its API is read-only, its file is not
        print(f"volta kill: the daemon's API has control disabled ($VOLTA_OPERATOR_TOKEN unset "
              f"there); using its control file", file=sys.stderr)
        return None
    if status != 200:
        hint = f"; {token_hint(journal)}" if status in (401, 403) else ""
        print(f"volta kill: the daemon refused: {result.get('error', status)}{hint}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


def token_hint(journal: Path | None) -> str:
    """What to do about a refused token: where the one sent came from."""
    if os.environ.get(TOKEN_ENV, "").strip():
        alt = f" (or unset it to use {token_path(journal)})" if journal and token_path(journal).exists() else ""
        return f"the token sent is ${TOKEN_ENV}'s: set it to the daemon's token{alt}"
    return f"set ${TOKEN_ENV} to the daemon's token (printed at its start)"


# -- volta status --------------------------------------------------------------------------
def _num(x: Any, d: int = 2) -> str:
    return "-" if x is None else f"{x:,.{d}f}"


def _table(title: str, head: list[str], rows: list[list[str]]) -> str:
    if not rows:
        return f"{title}: none\n"
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    line = "  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(head, widths)))
    out = [f"{title}:", "  " + line]
    for r in rows:
        out.append("  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
    return "\n".join(out) + "\n"


def render_status(s: dict[str, Any]) -> str:
    st = s["state"]
    pnl = st["pnl_usd"]
    # amounts in a currency with no USD price yet are not in the USD figures: shown beside them
    unpriced = "".join(f" {v:+.8g} {c}" for c, v in (pnl.get("unpriced") or {}).items())
    n = len(pnl.get("unmarked") or ())  # (positions with no mark: their unrealized is unknown)
    unmarked = f" and {n} position{'s' if n > 1 else ''} without a mark" if n else ""

    def usd(x: Any) -> str:  # null: nothing of that figure has a USD price, never 0
        return "unpriced" if x is None else f"{_num(x)} USD"
    out = [f"{st.get('deployment', '?')} ({st.get('mode', '?')})  state {st['state'].upper()}  "
           f"kill level {st['kill_level']}  PnL {usd(pnl['total'])}{' partial' if pnl.get('partial') else ''} "
           f"(realized {usd(pnl['realized'])}, unrealized {usd(pnl['unrealized'])}, fees {usd(pnl['fees'])})"
           f"{f' and unpriced{unpriced} (no USD price yet)' if unpriced else ''}{unmarked}  "
           f"open orders {st['open_orders']}  fills {st['fills']}  denied {st['denied']}",
           f"dashboard {st.get('url', '')}"]
    for src, h in st.get("holds", {}).items():
        out.append(f"  hold {src}: {h['state']} ({h['reason']})")
    for venue, v in st.get("venues", {}).items():
        if v["state"] != "active":
            out.append(f"  venue {venue}: {v['state']} ({v['reason']})")
    for kind, d in (s.get("alert_delivery") or {}).items():
        if d["down"]:  # the pager itself is broken: said where the operator looks
            out.append(f"  alerts to {kind} failing: {d['lost']} not delivered")
    for und, g in s.get("greeks", {}).items():
        if g.get("delta_incomplete"):
            out.append(_left_out(und, g["delta"], g["delta_incomplete"]))
    text = "\n".join(out) + "\n\n"
    text += _table("positions", ["instrument", "qty", "avg", "mark", "unrealized", "ccy"],
                   [[p["instrument_id"], f"{p['qty']:+g}", _num(p["avg_price"]),
                     "unpriced" if p["mark"] is None else _num(p["mark"]),
                     "unpriced" if p["unrealized"] is None else _num(p["unrealized"]), p["pnl_currency"]]
                    for p in s["positions"]])
    text += _table("open orders", ["client id", "instrument", "side", "price", "qty", "filled", "status"],
                   [[o["client_order_id"], o["instrument_id"], o["side"], _num(o["price"]), f"{o['quantity']:g}",
                     f"{o['filled']:g}", o["status"]] for o in s["orders"]["open"]])
    text += _table("risk limits", ["limit", "used", "max", "unit", "use %"],
                   [[r["limit"], _num(r["used"], 4), _num(r["max"], 4), r["unit"], _num(r["used_pct"], 1)]
                    for r in s["risk"]["limits"]])
    rows = []
    for key, ch in s["surface"].items():
        for e in ch["expiries"]:
            rows.append([f"{key} {e['expiry']}", _num(e["forward"], 0), _num(e["atm_vol_pts"]),
                         _num(e["fit_rmse_vol_pts"], 3), str(e["arbitrage"]["butterfly"])])
    text += _table("vol surface", ["expiry", "forward", "ATM vol pts", "fit RMSE pts", "arb flags"], rows)
    text += _table("venues", ["venue", "connection", "live", "syncing", "stale", "msg/s", "rejected"],
                   [[v, x["connection"], str(x["books"]["live"]), str(x["books"]["syncing"]),
                     str(x["books"]["stale"]), _num(x["messages_per_s"], 1), _rejects(x)]
                    for v, x in s["venues"].items()])
    text += _table("strategies", ["strategy", "state", "calls", "avg us", "max ms", "errors"],
                   [[sid, x["state"], str(x["callbacks"].get("calls", 0)), _num(x["callbacks"].get("avg_us"), 1),
                     _num(x["callbacks"].get("max_ms")), str(x["callbacks"].get("errors", 0))]
                    for sid, x in s["strategies"].items()])
    if s.get("alerts"):
        text += "recent alerts:\n" + "".join(f"  [{a['severity']}] {a['title']}: {a['detail']}\n"
                                             for a in s["alerts"][:5])
    return text


def _left_out(und: str, delta: float, positions: list[str]) -> str:
    """The positions a delta total leaves out (no delta known yet for them): said next to it."""
    return (f"  {und} delta {_num(delta, 4)} {und} leaves out {len(positions)} position(s) without "
            f"a delta: {', '.join(positions)}")


def _rejects(venue: dict[str, Any]) -> str:
    """Orders the venue refused, by reason category: ``3 (post_only 2, other 1)``."""
    n = venue.get("rejects_total", 0)  # (absent from an older daemon's snapshot)
    by = ", ".join(f"{why} {c}" for why, c in (venue.get("rejects") or {}).items())
    return f"{n} ({by})" if n else "0"


def _use(value: float, limit: float | None) -> str:
    return "-" if not limit else _num(abs(value) / limit * 100.0, 1)


def _behind(node: dict[str, Any]) -> str:
    """Reports the node's heartbeats named that the view does not hold, ``LAGGING`` once that
    lasted (alive, but its reports stopped arriving: its exposure here is old); ``?`` when
    they are another life's (how many is unknown); ``-`` from an aggregator without them."""
    if "reports_behind" not in node:
        return "-"
    n = node["reports_behind"]
    count = "?" if n is None else str(n)
    return f"LAGGING {count}" if node.get("reports_lagging") else count


def render_firm(snap: dict[str, Any]) -> str:
    """An aggregator's firm view (``GET /api/snapshot`` of ``volta aggregator``): every node's
    exposure summed per canonical underlying, against the firm limits."""
    f = snap["firm"]
    agg, pnl = f.get("aggregator", {}), f["pnl_usd"]
    role = "leader" if agg.get("leader") else "standby"
    # funding is in the total; amounts with no USD price yet are not: both shown
    funding = f", funding {_num(pnl['funding'])}" if pnl.get("funding") else ""
    unpriced = "".join(f" {v:+.8g} {c}" for c, v in (f.get("pnl_unpriced") or {}).items())
    out = [f"firm view  aggregator {agg.get('id', '?')} ({role})  budget revision "
           f"{agg.get('budget_revision', 0)}  PnL {_num(pnl['total'])} USD (realized "
           f"{_num(pnl['realized'])}, unrealized {_num(pnl['unrealized'])}, fees {_num(pnl['fees'])}"
           f"{funding})" + (f" and unpriced{unpriced} (no USD price yet)" if unpriced else "")]
    store = agg.get("store") or {}
    if store and not store.get("ok", True):  # reports no longer stored: the view is frozen
        out.append(f"  JetStream store LOST ({', '.join(store.get('lost') or ()) or '?'}): the firm view "
                   "holds the last reports it got until the aggregator has recreated the store and "
                   "the nodes have reported again")
    for und, per in sorted((f.get("greeks_incomplete") or {}).items()):
        if per.get("delta"):  # a node's report leaves these out of its totals: so does the firm
            out.append(_left_out(und, f["greeks"].get(und, {}).get("delta", 0.0), per["delta"]))
    breached = f.get("breached") or {}
    out.append("firm limits breached: " + "; ".join(f"{u} {', '.join(g)}" for u, g in breached.items())
               if breached else "firm limits: none breached")
    text = "\n".join(out) + "\n\n"
    limits = f.get("firm_limits", {})
    delta_usd: dict[str, float | None] = {}
    for n in f["nodes"].values():
        for t in (n["report"] or {}).get("totals", ()):
            u, du = t["underlying"], t["delta_usd"]
            prev = delta_usd.get(u, 0.0)
            delta_usd[u] = None if prev is None or du is None else prev + du  # unknown stays unknown
    rows = []
    for u, g in sorted(f["greeks"].items()):
        lim = limits.get(u, {})
        du = delta_usd.get(u)
        rows.append([u, _num(g["delta"], 4), "unpriced" if du is None else _num(du),
                     _num(g["gamma"], 6), _num(g["vega_usd"]), _num(g["theta_usd_day"]),
                     _num(lim.get("max_delta"), 4), _use(g["delta"], lim.get("max_delta")),
                     _use(g["vega_usd"], lim.get("max_vega_usd"))])
    text += _table("firm greeks", ["underlying", "delta", "delta USD", "gamma", "vega USD",
                                   "theta USD/day", "max delta", "delta use %", "vega use %"], rows)
    rows = []
    for name, n in f["nodes"].items():
        r = n["report"] or {}
        deltas = ", ".join(f"{t['underlying']} {t['delta']:+.4f}" for t in r.get("totals", ()))
        seen = n["last_seen_s_ago"]
        rows.append([name, "STALE" if n["stale"] else r.get("trading_state", "no report"),
                     str(r.get("kill_level", "-")), "-" if seen is None else f"{seen:.1f}",
                     str(n["reports_applied"]), str(n["reports_missing"]), _behind(n),
                     str(len(r.get("positions", ()))), str(len(r.get("open_orders", ()))),
                     deltas or "-"])
    text += _table("nodes", ["node", "state", "kill", "seen s ago", "reports", "missing", "behind",
                             "positions", "open orders", "delta"], rows)
    text += _table("venues", ["venue", "gross notional USD", "unpriced positions", "open orders",
                              "collateral USD", "nodes"],
                   [[v, _num(x["gross_notional_usd"]), str(x["unpriced_positions"]),
                     str(x["open_orders"]), "unknown" if x["collateral_usd"] is None
                     else _num(x["collateral_usd"]), ", ".join(x["nodes"])]
                    for v, x in sorted(f["venues"].items())])
    if snap.get("alerts"):
        text += "recent alerts:\n" + "".join(f"  [{a['kind']}] {a['node_id']}: {a['message']}\n"
                                             for a in snap["alerts"][:5])
    return text


def status_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="volta status", description=(
        "Show a running daemon's state, positions, orders, risk use, vol surface, venues and "
        "strategies (through its operator API)."))
    p.add_argument("--json", action="store_true", help="print the full snapshot as JSON")
    p.add_argument("--journal", help="the daemon's journal path (default: from the config)")
    p.add_argument("--config", help="deployment file to read the journal path from")
    p.add_argument("--url", help="the daemon's operator URL (instead of finding it), or a "
                   "volta aggregator's API URL for the firm view")
    args = p.parse_args(argv)
    token = os.environ.get(TOKEN_ENV, "").strip()
    try:
        if args.url:
            url = args.url.rstrip("/") + "/"
        else:
            journal = journal_of(args.journal, args.config)
            url, token = find_daemon(journal), token_for(journal)
    except DaemonNotFound as exc:
        print(f"volta status: {exc}", file=sys.stderr)
        return 1
    except ConfigError as exc:
        report_config_error("volta status", exc)
        return 2
    except Exception as exc:  # noqa: BLE001 - config problems are reported, not raised
        print(f"volta status: cannot find the daemon: {exc}", file=sys.stderr)
        return 2
    try:
        code, snap = call(url, "api/snapshot", token=token)  # needed when bound off loopback
    except OSError as exc:
        print(f"volta status: the daemon at {url} does not answer: {getattr(exc, 'reason', exc)}", file=sys.stderr)
        return 1
    except ValueError as exc:  # a malformed URL, or a server whose answer is not JSON
        print(f"volta status: {url} is not a Volta operator API ({exc}); give the URL a daemon "
              "prints at start (volta: dashboard http://...) or an aggregator's api_host:api_port",
              file=sys.stderr)
        return 1
    if code != 200:
        hint = f"; {token_hint(None)}" if code in (401, 403) else ""
        print(f"volta status: {url} answered {code}: {snap.get('error', '') if isinstance(snap, dict) else ''}"
              f"{hint}", file=sys.stderr)
        return 1
    if not isinstance(snap, dict) or not ("state" in snap or snap.get("kind") == "firm"):
        print(f"volta status: {url} answered, but not with a Volta snapshot; give the URL a "
              "daemon prints at start (volta: dashboard http://...) or an aggregator's "
              "api_host:api_port", file=sys.stderr)
        return 1
    render = render_firm if snap.get("kind") == "firm" else render_status  # an aggregator
    print(json.dumps(snap, indent=2) if args.json else render(snap), end="" if not args.json else "\n")
    return 0
