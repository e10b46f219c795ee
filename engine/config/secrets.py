"""Secret values: a masking wrapper and the process-wide registry the log redactor reads.

A ``Secret`` never shows its value through ``repr``/``str``/``format``, so a config object can be
printed or logged whole. Every secret value is also registered (on construction) in a
process-wide set, so the log redaction processor can strip it from *any* text - an f-string
message, an exception message, a traceback - even after the code unwrapped it with ``reveal()``.
"""

from __future__ import annotations

import re
import threading
import typing
from typing import Any

from engine.config.schema import ConfigProblem, index_path, key_path

__all__ = [
    "MASK",
    "expand_env_document",
    "Secret",
    "is_secret_key",
    "known_secret_values",
    "register_secret",
    "secret_enc_hook",
]

MASK = "***"

# Scrubbing a 1-3 character "secret" out of every log line would mangle unrelated text
# (a secret "1" would erase every digit one), and such a value is no secret anyway.
MIN_REDACTABLE_LEN = 4

_lock = threading.Lock()
_values: set[str] = set()
# Rebuilt on every registration so readers get a cheap, immutable snapshot whose identity
# changes only when the registry does (the redactor caches its compiled pattern on it).
_snapshot: frozenset[str] = frozenset()


def register_secret(value: str) -> None:
    """Add ``value`` to the registry of values the log redactor strips from all output."""
    global _snapshot
    if not isinstance(value, str) or len(value) < MIN_REDACTABLE_LEN:
        return
    with _lock:
        if value not in _values:
            _values.add(value)
            _snapshot = frozenset(_values)


def known_secret_values() -> frozenset[str]:
    """Every registered secret value (a snapshot; identity changes when a value is added)."""
    return _snapshot


def _forget_all_for_tests() -> None:
    """Empty the registry. Tests only: production code never un-registers a secret."""
    global _snapshot
    with _lock:
        _values.clear()
        _snapshot = frozenset()


class Secret:
    """A string that masks itself: ``repr`` is ``Secret('***')``, ``str`` is ``***``.

    Use ``reveal()`` at the single point that needs the real value (signing a request). Two
    secrets compare equal when their values do, so configs stay comparable in tests.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        if not isinstance(value, str):
            raise TypeError(f"Secret value must be str, got {type(value).__name__}")
        self._value = value
        register_secret(value)

    def reveal(self) -> str:
        """The real value. Keep the result out of logs, exceptions and reprs."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return format(MASK, spec)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __len__(self) -> int:
        return len(self._value)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            return self._value == other._value
        return NotImplemented

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __reduce__(self) -> Any:
        # Pickling (multiprocessing) must carry the value, and re-registers it on unpickle.
        return (Secret, (self._value,))


def secret_enc_hook(obj: Any) -> Any:
    """msgspec ``enc_hook`` that encodes a ``Secret`` as ``"***"`` (for journaling a config)."""
    if isinstance(obj, Secret):
        return MASK
    raise NotImplementedError(f"cannot encode {type(obj).__name__}")


# Whole words that mark a key as secret-bearing. Matching words rather than substrings keeps
# "sigma", "signal" or "keyboard" from being treated as secrets while catching
# "api_key", "apiKey", "X-API-KEY", "client_secret" and "accessToken".
_SECRET_WORDS = frozenset(
    {
        "key",
        "secret",
        "signature",
        "sig",
        "token",
        "password",
        "passwd",
        "passphrase",
        "authorization",
        "credential",
        "credentials",
        "keys",
        "secrets",
        "tokens",
    }
)
# Compound words written without separators ("apikey", "privkey", "accesstoken").
_SECRET_SUFFIXES = ("key", "secret", "token", "password", "passphrase", "signature")
_WORD_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")


def is_secret_key(name: object) -> bool:
    """True if a mapping key named ``name`` (``api_key``, ``apiSecret``, ``X-Token``) holds a secret."""
    if not isinstance(name, str):
        return False
    for word in _WORD_SPLIT.split(name):
        word = word.lower()
        if word in _SECRET_WORDS or (word and word.endswith(_SECRET_SUFFIXES)):
            return True
    return False


# ---------------------------------------------------------------------------- ${ENV} substitution

# `$${` is an escaped literal `${`; `${NAME}` a reference; any other `${` is malformed.
_REF = re.compile(r"\$\$\{|\$\{([^}]*)(\}?)")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


# Words of a key whose value cannot be empty besides the secret ones (``is_secret_key``):
# URLs and the identities credentials go with ("client_id", "wallet", "user", "chat_id").
_NEEDS_VALUE_WORDS = frozenset({"url", "uri", "client", "wallet", "user", "username",
                                "subaccount", "chat"})


def needs_value(name: object) -> bool:
    """True if a key named ``name`` cannot work empty: a secret, a URL, a credential's id."""
    if not isinstance(name, str):
        return False
    return is_secret_key(name) or any(w.lower() in _NEEDS_VALUE_WORDS for w in _WORD_SPLIT.split(name))


def _expand_str(text: str, path: str, env: typing.Mapping[str, str],
                problems: list[ConfigProblem], needs: bool = False) -> tuple[str, bool]:
    """Substitute ``${NAME}`` references in one string; return (result, had_reference).

    With ``needs`` (the key cannot work empty, ``needs_value``), references that leave the
    value empty are a problem naming them: a variable set to "" is a mistake there, never a
    choice (a live venue would run without its credentials, an alert sink post nowhere)."""
    if "$" not in text:
        return text, False
    had_ref = False
    empty: list[str] = []

    def sub(m: re.Match[str]) -> str:
        nonlocal had_ref
        if m.group(0) == "$${":
            return "${"
        name, closed = m.group(1), m.group(2)
        if not closed or not _ENV_NAME.fullmatch(name):
            problems.append(ConfigProblem(path, f"invalid reference {m.group(0)!r}: expected "
                                          "${NAME} (letters, digits, _); write $${ for a literal ${"))
            return ""
        had_ref = True
        value = env.get(name)
        if value is None:
            problems.append(ConfigProblem(path, f"environment variable {name!r} is not set"))
            return ""
        if not value.strip():
            empty.append(name)
        return value

    out = _REF.sub(sub, text)
    if needs and empty and not out.strip():
        names = ", ".join(repr(n) for n in empty)
        what = "empty" if not out else "blank (white space only)"
        problems.append(ConfigProblem(path, f"environment variable {names} is set but {what}, "
                                      "and this key cannot be empty: give it a value"))
    return out, had_ref


def _expand(value: Any, path: str, env: typing.Mapping[str, str], problems: list[ConfigProblem],
            *, wrap: bool, secret: bool = False, needs: bool = False,
            unused: bool = False) -> Any:
    """Substitute env references in a TOML subtree.

    With ``wrap`` (free-form ``params`` tables), a string that came from ``${...}`` or sits
    under a secret-looking key becomes a ``Secret``. Typed schema fields (journal, adapter, ...)
    get plain strings: they are not secrets, and registering e.g. "paper" as one would make the
    log redactor erase that word everywhere. ``unused`` (a disabled venue): "" may stand
    anywhere, as nothing of it runs (an unset variable is still reported).
    """
    if isinstance(value, str):
        text, had_ref = _expand_str(value, path, env, problems, needs)
        return Secret(text) if wrap and (had_ref or secret) else text
    if isinstance(value, dict):
        return {k: _expand(v, key_path(path, k), env, problems, wrap=wrap,
                           secret=secret or is_secret_key(k),
                           needs=needs_value(k) and not unused, unused=unused)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, index_path(path, i), env, problems, wrap=wrap, secret=secret,
                        needs=needs, unused=unused) for i, v in enumerate(value)]
    return value


def expand_env_document(doc: dict[str, Any], env: typing.Mapping[str, str],
                        problems: list[ConfigProblem]) -> dict[str, Any]:
    """Substitute ``${NAME}`` in every string of a parsed TOML document, recording problems.

    Only ``params`` tables of venues and strategies get ``Secret`` wrapping (see ``_expand``).
    """
    def entry(item: Any, path: str) -> Any:
        if not isinstance(item, dict):
            return _expand(item, path, env, problems, wrap=False)
        unused = item.get("enabled") is False  # a disabled venue
        return {k: _expand(v, key_path(path, k), env, problems, wrap=(k == "params"),
                           needs=needs_value(k) and not unused, unused=unused)
                for k, v in item.items()}

    out: dict[str, Any] = {}
    for key, value in doc.items():
        if key == "venues" and isinstance(value, dict):
            out[key] = {name: entry(v, key_path("venues", name)) for name, v in value.items()}
        elif key == "strategies" and isinstance(value, list):
            out[key] = [entry(v, index_path("strategies", i)) for i, v in enumerate(value)]
        elif key == "cluster" and isinstance(value, dict):  # NATS credentials: redacted too
            out[key] = _expand(value, key, env, problems, wrap=True)
        else:
            out[key] = _expand(value, key, env, problems, wrap=False)
    return out
