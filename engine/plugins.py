"""Loading adapters and strategies: import paths, short names, ``volta strategies``/``new-strategy``.

Theory of operation: an object is named either by import path (``"package.module:Class"``) or,
for strategies, by a short name registered in the ``volta.strategies`` entry-point group, so a
quant's own package plugs in by declaring, in its ``pyproject.toml``::

    [project.entry-points."volta.strategies"]
    my_mm = "my_desk.mm:MyMarketMaker"

``resolve_strategy`` is the one place both ``volta check-config`` and ``volta run`` resolve a
strategy name. Volta's own examples are registered the same way (``pyproject.toml``);
``BUILTIN_STRATEGIES`` repeats them so they resolve even from an editable install whose
metadata predates the table (a test keeps the two in step). An installed entry point wins
over the built-in table; two installed distributions claiming one name is an error naming both.
"""

from __future__ import annotations

import argparse
import importlib
import keyword
import re
import shlex
import sys
from pathlib import Path
from typing import Annotated, Any, get_args, get_origin

ENTRY_POINT_GROUP = "volta.strategies"
BUILTIN_STRATEGIES = {
    "quoter": "strategies.examples.mm:Quoter",
    "options_mm": "strategies.examples.options_mm:OptionsMarketMaker",
    "delta_hedger": "strategies.examples.delta_hedger:DeltaHedger",
    "basis_arb": "strategies.examples.basis_arb:BasisArb",
}


class PluginError(Exception):
    """An import path or short name that does not resolve to a usable class."""


def load_object(path: str) -> Any:
    """Import ``"module:attr"`` and return the attribute, with a clear error if it fails."""
    module_name, sep, attr = path.partition(":")
    if not sep or not module_name or not attr:
        raise PluginError(f"invalid import path {path!r}: expected 'package.module:Class'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise PluginError(f"cannot import module {module_name!r} (from {path!r}): {exc}") from None
    except SyntaxError as exc:  # a user's module next to the deployment: say where, in one line
        raise PluginError(f"cannot import module {module_name!r} (from {path!r}): {exc.msg} "
                          f"({exc.filename}, line {exc.lineno})") from None
    except Exception as exc:  # raised by the module's own top-level code
        raise PluginError(f"cannot import module {module_name!r} (from {path!r}): "
                          f"{type(exc).__name__}: {exc}{_where(exc)}") from None
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise PluginError(f"module {module_name!r} has no attribute {attr!r}") from None
    return obj


def _where(exc: BaseException) -> str:
    """`` (file, line N)`` of the innermost Python frame that raised ``exc`` ("" if none)."""
    import traceback

    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not f.filename.startswith("<frozen ")]
    return f" ({frames[-1].filename}, line {frames[-1].lineno})" if frames else ""


def add_module_folder(folder: str | Path) -> None:
    """Let strategies (and adapters) in ``folder`` import by module name: a deployment's own
    folder, so ``class = "my_dipper:MyDipper"`` next to ``my_dipper.py`` works from anywhere.

    Appended, never prepended: a user's module can never shadow Volta's own packages (nor the
    standard library), whatever it is called; such a module simply is not found under that
    name (see the README on module names).
    """
    path = str(Path(folder).resolve())
    if path not in sys.path:
        sys.path.append(path)


def strategy_registry() -> dict[str, tuple[str, str]]:
    """Short name -> (import path, where it comes from: a distribution name or ``builtin``)."""
    out = {name: (path, "builtin") for name, path in BUILTIN_STRATEGIES.items()}
    claimed: dict[str, tuple[str, str]] = {}
    # (imported here: importlib.metadata costs ~20 ms, paid by every ``volta`` subcommand
    # that goes through ``load_object`` otherwise, e.g. a replay)
    import importlib.metadata

    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist.name if ep.dist is not None else "?"
        prior = claimed.get(ep.name)
        if prior is not None and prior[0] != ep.value:
            out[ep.name] = ("", f"ambiguous: {prior[1]} ({prior[0]}) and {dist} ({ep.value})")
            continue
        claimed[ep.name] = (ep.value, dist)
        out[ep.name] = (ep.value, dist)
    return out


def resolve_strategy(name: str) -> type:
    """The strategy class named by import path or short name; ``PluginError`` says why not."""
    from engine.strategy import Strategy  # engine.strategy imports the model; keep this module light

    if ":" in name:
        cls = load_object(name)
    else:
        registry = strategy_registry()
        entry = registry.get(name)
        if entry is None and (hint := _module_without_class(name, Strategy)):
            raise PluginError(hint)
        if entry is None:
            import difflib

            close = difflib.get_close_matches(name, registry, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise PluginError(f"no strategy named {name!r}{hint}; installed: "
                              f"{', '.join(sorted(registry))}; or use an import path 'module:Class'")
        if not entry[0]:
            raise PluginError(f"strategy name {name!r} is {entry[1]}")
        cls = load_object(entry[0])
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise PluginError(f"{name!r} is not a Strategy subclass (got {cls!r})")
    config = getattr(cls, "Config", None)
    if not (isinstance(config, type) and hasattr(config, "__struct_fields__")):
        raise PluginError(f"{name!r}: Config must be a msgspec Struct type, got {config!r}")
    return cls


def _module_without_class(name: str, base: type) -> str:
    """The hint for a strategy named by its module alone ("" if ``name`` is no module)."""
    import importlib.util

    try:
        if importlib.util.find_spec(name) is None:
            return ""
        module = importlib.import_module(name)
    except Exception:  # not a module, or one that does not import: the usual message
        return ""
    classes = [n for n, obj in vars(module).items() if isinstance(obj, type)
               and issubclass(obj, base) and obj is not base and obj.__module__ == name]
    return (f"{name!r} is a module, not a strategy: name the class in it, e.g. "
            f"'{name}:{classes[0] if classes else 'ClassName'}'")


def config_fields(config_type: type) -> list[tuple[str, str, str]]:
    """(name, type, default) of each field of a strategy's config struct, for listings."""
    import msgspec

    out = []
    for f in msgspec.structs.fields(config_type):
        if f.default is not msgspec.NODEFAULT:
            default = repr(f.default)
        elif f.default_factory is not msgspec.NODEFAULT:
            default = repr(f.default_factory())
        else:
            default = "(required)"
        out.append((f.encode_name, _type_name(f.type), default))
    return out


_BOUNDS = (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="))


def _type_name(tp: Any) -> str:
    if get_origin(tp) is Annotated:  # a bounded field (msgspec.Meta): "float (> 0)"
        base, *meta = get_args(tp)
        bounds = [f"{op} {getattr(m, key)}" for m in meta for key, op in _BOUNDS
                  if getattr(m, key, None) is not None]
        return _type_name(base) + (f" ({', '.join(bounds)})" if bounds else "")
    text = tp.__name__ if isinstance(tp, type) else repr(tp)
    return re.sub(r"\b(typing|builtins|engine\.model\.enums)\.", "", text)


# ---------------------------------------------------------------------------- volta strategies


def strategies_main(argv: list[str]) -> int:
    """``volta strategies [NAME] [--json]``: installed strategies with their config fields."""
    p = argparse.ArgumentParser(
        prog="volta strategies",
        description="List the installed strategies (the volta.strategies entry points and "
                    "Volta's examples) with the fields of their config and their defaults.")
    p.add_argument("name", nargs="?", help="show only this short name")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    args = p.parse_args(argv)
    registry = strategy_registry()
    if args.name is not None and args.name not in registry:
        print(f"volta strategies: no strategy named {args.name!r}", file=sys.stderr)
        return 2
    rows: list[dict[str, Any]] = []
    broken = 0
    for name in sorted(registry):
        if args.name is not None and name != args.name:
            continue
        path, source = registry[name]
        row: dict[str, Any] = {"name": name, "path": path, "source": source}
        try:
            cls = resolve_strategy(name)
            row["doc"] = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
            row["config"] = [{"name": n, "type": t, "default": d} for n, t, d in config_fields(cls.Config)]
        except PluginError as exc:
            row["error"] = str(exc)
            broken += 1
        rows.append(row)
    if args.json:
        import orjson

        sys.stdout.write(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 1 if broken else 0
    try:
        _print_rows(rows)
    except BrokenPipeError:  # `volta strategies | head`
        pass
    return 1 if broken else 0


def _print_rows(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        print(f"{row['name']}  {row['path'] or '-'}  [{row['source']}]")
        if "error" in row:
            print(f"    ERROR: {row['error']}")
            continue
        if row["doc"]:
            print(f"    {row['doc']}")
        for f in row["config"]:
            print(f"    {f['name']}: {f['type']} = {f['default']}")


# ---------------------------------------------------------------------------- volta new-strategy


def new_strategy_main(argv: list[str]) -> int:
    """``volta new-strategy NAME [--dir DIR] [--force]``: a commented strategy, test and configs."""
    p = argparse.ArgumentParser(
        prog="volta new-strategy",
        description="Write a commented strategy module, its test, a paper deployment and a "
                    "backtest deployment, and print the commands that run them.")
    p.add_argument("name", help="module name in snake_case, not the name of another module "
                                "(engine, json, ...), e.g. my_dipper")
    p.add_argument("--dir", default=".", help="where to write the files (default: .)")
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    args = p.parse_args(argv)
    name = args.name
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name) or keyword.iskeyword(name):
        print(f"volta new-strategy: {name!r} is not a valid snake_case module name", file=sys.stderr)
        return 2
    out = Path(args.dir)
    taken = _module_elsewhere(name, out)
    if taken:
        # the deployment's folder is searched after everything else (add_module_folder)
        print(f"volta new-strategy: a module named {name!r} already exists ({taken}): your "
              "module would never be imported under that name; pick another", file=sys.stderr)
        return 2
    from engine.outputs import OutputPathError, check_output_dir

    try:
        check_output_dir(out, "--dir")
    except OutputPathError as exc:
        print(f"volta new-strategy: {exc}", file=sys.stderr)
        return 2
    files = render_templates(name)
    existing = [out / f for f in files if (out / f).exists()]
    if existing and not args.force:
        print(f"volta new-strategy: would overwrite {', '.join(map(str, existing))} "
              "(use --force)", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    for fname, text in files.items():
        (out / fname).write_text(text, encoding="utf-8")
        print(f"wrote {out / fname}")
    # Every printed step must work as printed: the interpreter Volta runs in (which has Volta,
    # maybe not pytest), and ``volta`` only if that is what the shell would find.
    python = shlex.quote(sys.executable)
    volta = _volta_command()
    cd = "" if out.resolve() == Path.cwd().resolve() else f"cd {shlex.quote(str(out))} && "
    print(f"next: {cd}{python} test_{name}.py && "
          f"{volta} run {name}.paper.toml --virtual --duration 300")
    return 0


def _module_elsewhere(name: str, folder: Path) -> str:
    """Where a top-level module ``name`` other than ``folder/name.py`` is found ("": none)."""
    import importlib.util

    if name in sys.builtin_module_names:
        return "built into Python"
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return ""
    if spec is None:
        return ""
    origin = spec.origin or next(iter(spec.submodule_search_locations or ()), "") or name
    if Path(origin).resolve() == (folder / f"{name}.py").resolve():
        return ""  # this strategy itself, written before (--force)
    return origin


def _volta_command() -> str:
    """How to run this installation's ``volta`` from a shell, as short as is still right."""
    import shutil

    script = Path(sys.executable).parent / "volta"
    found = shutil.which("volta")
    if script.is_file():
        if found is not None and Path(found).resolve() == script.resolve():
            return "volta"
        return shlex.quote(str(script))
    return f"{shlex.quote(sys.executable)} -m engine"


def render_templates(name: str) -> dict[str, str]:
    """File name -> text of a new strategy ``name``: module, test, paper and backtest configs."""
    cls = "".join(part.capitalize() for part in name.split("_") if part) or "MyStrategy"
    subst = {"name": name, "Class": cls}
    return {f"{name}.py": _fill(_T_STRATEGY, subst), f"test_{name}.py": _fill(_T_TEST, subst),
            f"{name}.paper.toml": _fill(_T_PAPER, subst),
            f"{name}.backtest.toml": _fill(_T_BACKTEST, subst)}


def _fill(template: str, subst: dict[str, str]) -> str:
    return re.sub(r"\{\{(\w+)\}\}", lambda m: subst[m.group(1)], template)


_T_STRATEGY = '''"""{{Class}}: quotes around a slow EMA of the mid (a template: change the idea, keep the shape).

Run it:   volta run {{name}}.paper.toml --virtual --duration 300
Test it:  python test_{{name}}.py   (or python -m pytest -q test_{{name}}.py with pytest installed)
Guide:    docs/strategies.md (every callback and context method, timing, risk denials)
"""

from __future__ import annotations

import math
from typing import Annotated

import msgspec

from engine import OrderBook, OrderDenied, OrderFilled, Strategy, TradingState

# Constraints are checked when the config is decoded: `size = -1` or `ema_s = 0` is a config
# error naming the key (volta check-config too), never a denial storm or a division by zero.
Positive = Annotated[float, msgspec.Meta(gt=0)]
NonNegative = Annotated[float, msgspec.Meta(ge=0)]


class {{Class}}Config(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """Parameters, decoded from ``[strategies.params]``; a typo there is a config error."""

    instrument: str = "BTC-PERP"
    size: Positive = 0.01
    """Quantity of each quote, in contracts of the instrument."""
    edge_bps: NonNegative = 2.0
    """Distance of each quote from the EMA, in basis points."""
    ema_s: Positive = 30.0
    """EMA time constant in seconds (clock time: virtual in backtests)."""
    max_position: Positive = 0.05
    """Largest position either way, in contracts."""


class {{Class}}State(msgspec.Struct):
    """What survives a restart (saved in the journal with ``ctx.save_state``)."""

    fills: int = 0
    ema: float = math.nan


class {{Class}}(Strategy[{{Class}}Config]):
    """Quotes both sides around an EMA of the mid, leaning against its position."""

    def on_start(self) -> None:
        # Runs once; instruments are known, books not necessarily LIVE yet.
        self.iid = self.ctx.instrument_id(self.config.instrument)
        inst = self.ctx.instrument(self.iid)
        if inst is None:
            raise ValueError(f"unknown instrument {self.iid}")
        self.inst = inst
        self.state = self.ctx.load_state({{Class}}State) or {{Class}}State()
        self.last_ns = 0
        self.denials: dict[str, int] = {}
        self.halted = self.ctx.venue_halted()  # "" unless the venue is halted already
        self.ctx.subscribe_book(self.iid)  # -> on_book / on_book_status

    def on_book(self, book: OrderBook) -> None:
        # Called on every change of the book: keep it short, never block.
        mid = book.mid()
        if math.isnan(mid):
            return
        now = self.ctx.now_ns()
        st = self.state
        if math.isnan(st.ema):
            st.ema = mid
        else:
            alpha = 1.0 - math.exp(-(now - self.last_ns) / 1e9 / self.config.ema_s)
            st.ema += alpha * (mid - st.ema)
        self.last_ns = now
        if self.halted or self.ctx.trading_state is not TradingState.ACTIVE:
            return  # nothing new may leave: no denials collected by trying
        cfg, inst = self.config, self.inst
        pos = self.ctx.position_qty(self.iid)
        edge = st.ema * cfg.edge_bps / 1e4
        bid = inst.round_price(min(st.ema - edge, book.best_ask_price() - inst.tick_size))
        ask = inst.round_price(max(st.ema + edge, book.best_bid_price() + inst.tick_size))
        bid_qty = cfg.size if pos + cfg.size <= cfg.max_position + 1e-12 else 0.0
        ask_qty = cfg.size if pos - cfg.size >= -cfg.max_position - 1e-12 else 0.0
        # Both sides as one unit: amended in place, or both pulled if one cannot be placed.
        self.ctx.quote(self.iid, bid, bid_qty, ask, ask_qty)

    def on_fill(self, event: OrderFilled) -> None:
        self.state.fills += 1
        self.ctx.log.info("filled", side=str(event.side), qty=event.quantity, price=event.price)

    def on_order_denied(self, event: OrderDenied) -> None:
        # The risk gate said no before anything left: event.reason is a stable code. The engine
        # already logs denials (aggregated per reason): count them here, react if you need to.
        self.denials[event.reason] = self.denials.get(event.reason, 0) + 1

    def on_halt(self, state: TradingState, reason: str) -> None:
        self.ctx.cancel_quote(self.iid)  # nothing new may leave anyway; cancels always may

    def on_venue_halt(self, venue: str, reason: str) -> None:
        # This venue alone is halted (a stream down, reconciliation pending): the engine is
        # blind to it, so pull the quote. A cancel may be refused while the venue is
        # unreachable: the order is then still working there (see on_venue_resume).
        if venue == self.ctx.venue:
            self.halted = reason
            self.ctx.cancel_quote(self.iid)

    def on_venue_resume(self, venue: str, reason: str) -> None:
        # Back and reconciled: cancel what is still working (a cancel that never got out),
        # then quote afresh at the next book update.
        if venue == self.ctx.venue:
            self.halted = ""
            for order in self.ctx.open_orders(self.iid):
                self.ctx.cancel(order.client_order_id)

    def on_stop(self) -> None:
        self.ctx.save_state(self.state)
'''

_T_TEST = '''"""{{Class}} in the paper deployment on a virtual clock (two simulated minutes in ~2 s)."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from engine.config import load_config  # noqa: E402
from engine.runtime import run_virtual  # noqa: E402


def test_{{name}}_trades_in_the_paper_deployment(tmp_path: Path) -> None:
    node = run_virtual(load_config(HERE / "{{name}}.paper.toml"), duration_s=120,
                       journal_path=tmp_path / "journal.sqlite")
    k = node.kernel
    assert k.strategy_errors.get("{{name}}", 0) == 0, "a callback raised: see the log"
    assert k.router.sent > 0, "it should have placed orders"
    pos = k.portfolio.position("sim:BTC-PERP")
    assert pos is None or abs(pos.qty) <= 0.05 + 1e-9


if __name__ == "__main__":  # runs without pytest too: python test_{{name}}.py
    import tempfile

    from engine.logging import configure_logging

    configure_logging("error", "console")  # the verdict below, and what went wrong, if anything
    with tempfile.TemporaryDirectory() as tmp:
        test_{{name}}_trades_in_the_paper_deployment(Path(tmp))
    print("ok: test_{{name}}_trades_in_the_paper_deployment")
'''

_T_PAPER = """# {{Class}} on the built-in simulated venue (paper trading).
#   volta run {{name}}.paper.toml                       # wall clock, Ctrl-C to stop
#   volta run {{name}}.paper.toml --virtual --duration 300
# "{{name}}:{{Class}}" imports from this file's folder, wherever you run volta from (or install
# your package and register a short name in the "volta.strategies" entry-point group).

[deployment]
name = "{{name}}-paper"
mode = "paper"
journal = "var/{{name}}.journal.sqlite"
status_interval_s = 5.0

[venues.sim]
adapter = "adapters.sim:SimVenue"

[venues.sim.params]
seed = 7
expiries_days = []        # perpetual only: no option chain needed here

[[strategies]]
id = "{{name}}"
class = "{{name}}:{{Class}}"
venue = "sim"

[strategies.params]
instrument = "BTC-PERP"
size = 0.01
edge_bps = 2.0
ema_s = 30.0
max_position = 0.05
"""

_T_BACKTEST = """# {{Class}} backtest: the paper deployment on a virtual clock over a simulated hour.
#   volta backtest {{name}}.backtest.toml            (report in var/backtest/)
#   volta run {{name}}.backtest.toml --virtual --duration 3600   (works everywhere)

[deployment]
name = "{{name}}-backtest"
mode = "paper"
journal = "var/{{name}}.backtest.sqlite"
status_interval_s = 60.0

[venues.sim]
adapter = "adapters.sim:SimVenue"

[venues.sim.params]
seed = 11
expiries_days = []

[[strategies]]
id = "{{name}}"
class = "{{name}}:{{Class}}"
venue = "sim"

[strategies.params]
instrument = "BTC-PERP"

[backtest.data]
source = "venue"           # the simulated venue makes the market, as in paper trading
duration_s = 3600.0

[backtest.report]
sample_interval_s = 1.0
markout_s = [1.0, 10.0]
"""
