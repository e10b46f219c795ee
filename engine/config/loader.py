"""Load and validate deployment files: TOML -> ``${ENV}`` substitution -> typed ``VoltaConfig``.

msgspec stops at the first error, so conversion here walks the schema itself - section by
section, key by key, item by item - and hands each leaf value to ``msgspec.convert``. Every
problem found is collected, with the full key path (``strategies[1].params.size``), and raised
together in one ``ConfigError``; a user fixing a file sees all of its mistakes at once.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
import tomllib
import types
import typing
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from engine.config.schema import (
    ConfigError,
    ConfigProblem,
    Deployment,
    StrategyConfig,
    VenueConfig,
    VoltaConfig,
    index_path,
    key_path,
)
from engine.config.secrets import Secret, expand_env_document

__all__ = [
    "ConfigError",
    "ConfigProblem",
    "check_config",
    "decode_params",
    "default_config_path",
    "find_problems",
    "load_config",
    "load_config_text",
    "print_problems",
]


# ---------------------------------------------------------------------------- typed conversion

_INVALID: Any = object()  # sentinel: this subtree had problems (already recorded)

_TOML_TYPE_NAMES = {"object": "table", "array": "array", "null": "nothing"}
_MSGSPEC_ERR = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<at>[^`]*)`)?$", re.S)
_EXPECTED_GOT = re.compile(r"^Expected `(?P<want>[^`]+)`, got `(?P<got>[^`]+)`$")
_EXPECTED_CONSTRAINT = re.compile(r"^Expected `(?P<want>[^`]+)` (?P<rule>.+)$")


def _toml_type(value: Any) -> str:
    if isinstance(value, Secret):
        return "str"
    if isinstance(value, dict):
        return "table"
    if isinstance(value, list):
        return "array"
    return type(value).__name__


def _translate(err: msgspec.ValidationError, value: Any, path: str) -> ConfigProblem:
    """Rewrite a msgspec message ("Expected `int`, got `str` - at `$[1]`") into ours."""
    m = _MSGSPEC_ERR.match(str(err))
    assert m is not None
    msg, at = m.group("msg"), m.group("at") or ""
    if eg := _EXPECTED_GOT.match(msg):
        got = _TOML_TYPE_NAMES.get(eg["got"], eg["got"])
        msg = f"expected {eg['want']}, got {got}"
    elif (ec := _EXPECTED_CONSTRAINT.match(msg)) and not at:
        msg = f"must be {ec['rule']}, got {value!r}"
    elif msg:
        msg = msg[0].lower() + msg[1:]
    return ConfigProblem(path + at, msg.replace("`", "'"))


def _unwrap(value: Any) -> Any:
    """Secrets -> plain strings (for fields typed ``str``; the values stay registered)."""
    if isinstance(value, Secret):
        return value.reveal()
    if isinstance(value, dict):
        return {k: _unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    return value


def _dec_hook(tp: type, obj: Any) -> Any:
    if tp is Secret:
        if isinstance(obj, (str, Secret)):
            return Secret(obj)
        raise TypeError(f"expected str, got {_toml_type(obj)}")
    raise TypeError(f"unsupported field type {tp!r}")


def _is_struct(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, msgspec.Struct)


def _convert(value: Any, tp: Any, path: str, problems: list[ConfigProblem]) -> Any:
    """Convert ``value`` to ``tp``, recording every problem; return ``_INVALID`` on failure."""
    if tp is Any:
        return value
    if _is_struct(tp):
        return _convert_struct(value, tp, path, problems)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Secret:
        if isinstance(value, (str, Secret)):
            return Secret(value)
        problems.append(ConfigProblem(path, f"expected str, got {_toml_type(value)}"))
        return _INVALID
    if origin is typing.Literal:
        return _convert_literal(value, args, path, problems)
    if origin in (typing.Union, types.UnionType):
        others = [a for a in args if a is not type(None)]
        if value is None and len(others) < len(args):
            return None
        if len(others) == 1:
            return _convert(value, others[0], path, problems)
    elif origin is dict and len(args) == 2 and args[0] is str:
        if not isinstance(value, dict):
            problems.append(ConfigProblem(path, f"expected table, got {_toml_type(value)}"))
            return _INVALID
        out = {k: _convert(v, args[1], key_path(path, k), problems) for k, v in value.items()}
        return _INVALID if any(v is _INVALID for v in out.values()) else out
    elif origin is list and len(args) == 1:
        if not isinstance(value, list):
            problems.append(ConfigProblem(path, f"expected array, got {_toml_type(value)}"))
            return _INVALID
        items = [_convert(v, args[0], index_path(path, i), problems) for i, v in enumerate(value)]
        return _INVALID if any(v is _INVALID for v in items) else items
    try:
        out = msgspec.convert(_unwrap(value), tp, dec_hook=_dec_hook)
    except msgspec.ValidationError as err:
        problems.append(_translate(err, value, path))
        return _INVALID
    if isinstance(out, float) and out != out:  # TOML's nan: every comparison with it is false
        problems.append(ConfigProblem(path, "expected a number, got nan"))
        return _INVALID
    return out


def _convert_literal(value: Any, choices: tuple[Any, ...], path: str,
                     problems: list[ConfigProblem]) -> Any:
    value = _unwrap(value)
    for choice in choices:
        # `type(...) is` so that true/1 do not match each other
        if type(choice) is type(value) and choice == value:
            return value
    listed = ", ".join(repr(c) for c in choices)
    msg = f"expected one of {listed}, got {value!r}"
    if isinstance(value, str):
        text_choices = [c for c in choices if isinstance(c, str)]
        close = difflib.get_close_matches(value.lower(), text_choices, n=1, cutoff=0.6)
        if close:
            msg += f" (did you mean {close[0]!r}?)"
    problems.append(ConfigProblem(path, msg))
    return _INVALID


def _convert_struct(value: Any, tp: type[msgspec.Struct], path: str,
                    problems: list[ConfigProblem]) -> Any:
    if not isinstance(value, dict):
        what = "table" if path else "a TOML document"
        problems.append(ConfigProblem(path, f"expected {what}, got {_toml_type(value)}"))
        return _INVALID
    fields = {f.encode_name: f for f in msgspec.structs.fields(tp)}
    kwargs: dict[str, Any] = {}
    ok = True
    for key, item in value.items():
        field = fields.get(key)
        if field is None:
            msg = f"unknown key {key!r}"
            close = difflib.get_close_matches(key, list(fields), n=1, cutoff=0.6)
            msg += f" (did you mean {close[0]!r}?)" if close else \
                f" (expected one of: {', '.join(sorted(fields))})"
            problems.append(ConfigProblem(key_path(path, key), msg))
            ok = False
            continue
        converted = _convert(item, field.type, key_path(path, key), problems)
        if converted is _INVALID:
            ok = False
        else:
            kwargs[field.name] = converted
    for name, field in fields.items():
        if name not in value and field.required:
            problems.append(ConfigProblem(key_path(path, name), "missing required key"))
            ok = False
    if not ok:
        return _INVALID
    try:
        return tp(**kwargs)
    except (TypeError, ValueError) as err:  # a params struct's own __post_init__ check
        problems.append(ConfigProblem(path, str(err)))
        return _INVALID


# ---------------------------------------------------------------------------- semantic checks

_IMPORT_PATH = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


# A strategy may also be named by the short name it registers in the ``volta.strategies``
# entry-point group (resolved at build time, where an unknown name is reported).
_SHORT_NAME = re.compile(r"[A-Za-z_][\w.-]*")


def _check_import_path(value: Any, path: str, problems: list[ConfigProblem],
                       short_names: bool = False) -> None:
    if not isinstance(value, str) or not value or _IMPORT_PATH.fullmatch(value):
        return
    if short_names and ":" not in value and _SHORT_NAME.fullmatch(value):
        return
    expected = "'package.module:ClassName'" + (" or a registered short name" if short_names else "")
    problems.append(ConfigProblem(path, f"invalid import path {value!r}: expected {expected}"))


def _check_semantics(doc: dict[str, Any], problems: list[ConfigProblem]) -> None:
    """Cross-field rules, run on the raw document so they report even if other keys are broken."""
    venues = doc.get("venues")
    venues = venues if isinstance(venues, dict) else {}
    enabled: set[str] = set()
    for name, venue in venues.items():
        vpath = key_path("venues", name)
        if ":" in name or not name.strip():
            problems.append(ConfigProblem(
                vpath, "venue name must be non-empty and contain no ':' (it prefixes instrument ids)"))
        if isinstance(venue, dict):
            _check_import_path(venue.get("adapter"), key_path(vpath, "adapter"), problems)
            if venue.get("enabled", True) is True:
                enabled.add(name)
    cluster = doc.get("cluster")
    aggregator = isinstance(cluster, dict) and cluster.get("role") == "aggregator"
    if not enabled and isinstance(doc.get("deployment"), dict) and not aggregator:
        problems.append(ConfigProblem("venues", "no enabled venue: add a [venues.<name>] table"))
    # what a cluster service would leave unused without a word (docs/cluster.md)
    role = cluster.get("role") if isinstance(cluster, dict) else None
    if role in ("gateway", "aggregator") and doc.get("strategies"):
        problems.append(ConfigProblem("strategies", f"a {role} runs no strategies (cluster.role): "
                                      "put them in a node's file"))
    if aggregator and venues:
        problems.append(ConfigProblem("venues", "an aggregator connects to no venue (cluster.role): "
                                      "put them in the gateway's or a node's file"))

    strategies = doc.get("strategies")
    seen_ids: dict[str, str] = {}
    for i, strat in enumerate(strategies if isinstance(strategies, list) else []):
        if not isinstance(strat, dict):
            continue
        spath = index_path("strategies", i)
        _check_import_path(strat.get("class"), key_path(spath, "class"), problems, short_names=True)
        sid = strat.get("id")
        if isinstance(sid, str) and sid:
            if sid in seen_ids:
                problems.append(ConfigProblem(
                    key_path(spath, "id"), f"duplicate strategy id {sid!r} (also {seen_ids[sid]})"))
            else:
                seen_ids[sid] = spath
        venue = strat.get("venue")
        if isinstance(venue, str) and venue:
            if venue not in venues:
                problems.append(ConfigProblem(key_path(spath, "venue"), _unknown_venue(venue, venues)))
            elif venue not in enabled:
                problems.append(ConfigProblem(
                    key_path(spath, "venue"), f"venue {venue!r} is disabled (venues.{venue}.enabled)"))

    risk = doc.get("risk")
    instruments = risk.get("instruments") if isinstance(risk, dict) else None
    for iid in instruments if isinstance(instruments, dict) else {}:
        ipath = key_path("risk.instruments", iid)
        venue, sep, symbol = iid.partition(":")
        if not sep or not venue or not symbol:
            problems.append(ConfigProblem(ipath, "expected an instrument id '<venue>:<symbol>'"))
        elif venue not in venues:
            problems.append(ConfigProblem(ipath, f"unknown venue {venue!r}"))
    # per-venue risk tables: a misspelt venue would leave its limits applied nowhere
    for table in ("accounts", "venue_rates"):
        entries = risk.get(table) if isinstance(risk, dict) else None
        for venue in entries if isinstance(entries, dict) else {}:
            if venue not in venues:
                problems.append(ConfigProblem(key_path(f"risk.{table}", venue),
                                              _unknown_venue(venue, venues)))
    operator = doc.get("operator")
    alerts = operator.get("alerts") if isinstance(operator, dict) else None
    reported = {p.path for p in problems}  # (e.g. a blank ${VAR}: said once)
    for key in _ALERT_URL_KEYS:
        value = _unwrap(alerts.get(key)) if isinstance(alerts, dict) else None
        if value and not (isinstance(value, str) and _is_http_url(value)) and \
                key_path("operator.alerts", key) not in reported:
            # (the URL itself is not echoed: a webhook URL carries its secret in the path)
            problems.append(ConfigProblem(key_path("operator.alerts", key),
                                          "not an http:// or https:// URL with a host"))
    if isinstance(alerts, dict):  # the Telegram sink needs both, else it is silently off
        token, chat = _unwrap(alerts.get("telegram_bot_token")), alerts.get("telegram_chat_id")
        given, missing = ("telegram_bot_token", "telegram_chat_id") if token else \
            ("telegram_chat_id", "telegram_bot_token")
        # (an unset ${VAR} there is reported already)
        if bool(token) != bool(chat) and key_path("operator.alerts", missing) not in reported:
            problems.append(ConfigProblem(key_path("operator.alerts", missing),
                                          f"missing: the Telegram sink needs it with {given} "
                                          "(set both, or neither)"))


# [operator.alerts] keys the alert sinks POST to ("" or absent: that sink is off)
_ALERT_URL_KEYS = ("webhook_url", "slack_webhook_url", "telegram_api")


def _is_http_url(text: str) -> bool:
    """``http(s)://host...``, with nothing a client would refuse (spaces, a bad port)."""
    if any(c.isspace() for c in text):
        return False
    try:
        parts = urllib.parse.urlsplit(text)
        parts.port  # (raises for a port that is not a number in 0-65535)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _unknown_venue(name: str, venues: dict[str, Any]) -> str:
    msg = f"unknown venue {name!r}"
    close = difflib.get_close_matches(name, list(venues), n=1, cutoff=0.6)
    return msg + (f" (did you mean {close[0]!r}?)" if close else
                  f" (configured: {', '.join(map(repr, venues)) or 'none'})")


# ---------------------------------------------------------------------------- public API


def load_config_text(text: str, source: str = "<string>",
                     env: typing.Mapping[str, str] | None = None) -> VoltaConfig:
    """Parse and validate a deployment from TOML text; raise ``ConfigError`` listing all problems.

    ``env`` defaults to ``os.environ``; it supplies ``${NAME}`` substitutions.
    """
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError([_syntax_problem(err)], source) from None
    problems: list[ConfigProblem] = []
    doc = expand_env_document(doc, os.environ if env is None else env, problems)
    config = _convert_struct(doc, VoltaConfig, "", problems)
    _check_semantics(doc, problems)
    if problems:
        raise ConfigError(problems, source)
    journal = config.deployment.journal
    if journal.startswith("~"):  # the home folder, as in a shell (not a folder named "~")
        config = msgspec.structs.replace(config, deployment=msgspec.structs.replace(
            config.deployment, journal=os.path.expanduser(journal)))
    return typing.cast(VoltaConfig, config)


def load_config(path: str | os.PathLike[str],
                env: typing.Mapping[str, str] | None = None) -> VoltaConfig:
    """Read, parse and validate a deployment file (see ``load_config_text``).

    Relative paths inside the file (``deployment.journal``) are relative to the current
    working directory, not to the file.
    """
    source = os.fspath(path)
    try:
        raw = Path(source).read_bytes()
    except OSError as err:
        raise ConfigError([ConfigProblem("", f"cannot read file: {err.strerror or err}")],
                          source) from None
    try:
        text = raw.decode("utf-8-sig")  # (a byte order mark, as Windows editors write, is no TOML)
    except UnicodeDecodeError as err:
        raise ConfigError([ConfigProblem("", f"not UTF-8 text: {err}")], source) from None
    return load_config_text(text, source=source, env=env)


def decode_params(params: dict[str, Any] | None, params_type: type[Any], path: str) -> Any:
    """Decode a free-form ``params`` table into ``params_type`` (usually a msgspec Struct).

    Unknown keys and type errors raise ``ConfigError`` naming the full key path
    (``venues.sim.params.seed: expected int, got str``). A ``Secret`` fills a field typed
    ``Secret`` as is and a field typed ``str`` with its revealed value (which stays redacted
    in logs); prefer declaring credentials as ``engine.config.secrets.Secret``.
    """
    problems: list[ConfigProblem] = []
    result = _convert({} if params is None else params, params_type, path, problems)
    if problems:
        raise ConfigError(problems)
    return result


def check_config(path: str | os.PathLike[str],
                 resolve: Callable[[VoltaConfig], list[ConfigProblem]] | None = None) -> int:
    """``volta check-config FILE``: print ``ok: FILE`` and return 0, or every problem and 2.

    ``resolve`` optionally checks what the file refers to (import paths, adapter params) and
    returns more problems. Problems go to stderr, one per line: ``FILE: key.path: message``.
    """
    source = os.fspath(path)
    _, problems = find_problems(source, resolve)
    if problems:
        print_problems(source, problems)
        return 2
    print(f"ok: {source}")
    return 0


def find_problems(path: str | os.PathLike[str],
                  resolve: Callable[[VoltaConfig], list[ConfigProblem]] | None = None
                  ) -> tuple[VoltaConfig | None, list[ConfigProblem]]:
    """The deployment and its problems as ``volta check-config`` finds them: the config is
    None unless it loaded; the problems are empty only if ``resolve`` found none either."""
    source = os.fspath(path)
    problems: list[ConfigProblem] = []
    try:
        config = load_config(source)
    except ConfigError as err:
        problems = err.problems
        if resolve is not None:  # broken keys elsewhere must not hide plugin problems
            # (a key already reported, e.g. a malformed import path, is not reported again
            # in the resolver's words)
            reported = {p.path for p in problems}
            problems += [p for p in _resolve_salvaged(source, resolve) if p.path not in reported]
        return None, problems
    if resolve is not None:
        try:
            problems = list(resolve(config))
        except ConfigError as err:
            problems = err.problems
    return config, problems


def print_problems(source: str | os.PathLike[str], problems: list[ConfigProblem]) -> None:
    """To stderr, one line per problem: ``FILE: key.path: reason`` (check-config's form)."""
    for problem in problems:
        print(f"{os.fspath(source)}: {problem}", file=sys.stderr)


def _resolve_salvaged(source: str, resolve: Callable[[VoltaConfig], list[ConfigProblem]]
                      ) -> list[ConfigProblem]:
    """Resolve the venues and strategies of a file that failed to load, each on its own.

    Every ``[venues.<name>]`` and ``[[strategies]]`` entry that decodes by itself is put in an
    otherwise default config and handed to ``resolve``, so that an unknown key in
    ``[deployment]`` does not hide a wrong adapter parameter type. Problems of the entries
    themselves were already reported by the load; the ones found here are added.
    """
    try:
        doc = tomllib.loads(Path(source).read_bytes().decode("utf-8-sig"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return []  # already reported by the load
    scratch: list[ConfigProblem] = []
    doc = expand_env_document(doc, os.environ, scratch)
    unset = [p.path for p in scratch]  # ${VAR}s not set (reported by the load), "" in their place
    base = VoltaConfig(deployment=Deployment(name="check-config", mode="paper", journal=":memory:"))
    found: list[ConfigProblem] = []
    venues = doc.get("venues")
    salvaged: dict[str, VenueConfig] = {}
    for name, raw in (venues.items() if isinstance(venues, dict) else ()):
        venue = _convert(raw, VenueConfig, key_path("venues", name), scratch)
        if venue is not _INVALID:
            salvaged[name] = venue
    if salvaged:
        found += resolve(msgspec.structs.replace(base, venues=salvaged))
    strategies = doc.get("strategies")
    for i, raw in enumerate(strategies if isinstance(strategies, list) else ()):
        strategy = _convert(raw, StrategyConfig, index_path("strategies", i), scratch)
        if strategy is _INVALID:
            continue
        # resolved alone, it is strategies[0]: put its own index back into the key paths
        for p in resolve(msgspec.structs.replace(base, strategies=[strategy])):
            if p.path.startswith("strategies[0]"):
                p = msgspec.structs.replace(p, path=index_path("strategies", i) + p.path[len("strategies[0]"):])
            found.append(p)
    # (a verdict on an unset variable's "" placeholder, or on the table holding it, repeats
    # the unset variable in other words: "subaccount_id must be a non-negative integer, got ''")
    return [p for p in found
            if not any(u == p.path or u.startswith((p.path + ".", p.path + "[")) for u in unset)]


def deployments_dir() -> Path:
    """The folder of shipped deployment files (``config/*.toml``).

    In a source checkout (and an editable install) that is the repository's ``config/``; a
    regular install puts the same files under ``<prefix>/share/volta/config``.
    """
    checkout = Path(__file__).resolve().parents[2] / "config"
    if (checkout / "paper.toml").is_file():
        return checkout
    return Path(sys.prefix) / "share" / "volta" / "config"


def default_config_path() -> Path:
    """The shipped paper-trading deployment (``config/paper.toml``)."""
    return deployments_dir() / "paper.toml"


_SYNTAX_POS = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")


def _syntax_problem(err: tomllib.TOMLDecodeError) -> ConfigProblem:
    msg = str(err)
    m = _SYNTAX_POS.search(msg)
    if m is None:
        return ConfigProblem("", f"invalid TOML: {msg}")
    return ConfigProblem("", f"invalid TOML: {msg[: m.start()]}",
                         line=int(m.group(1)), column=int(m.group(2)))
