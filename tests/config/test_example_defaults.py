"""config/example.toml is the configuration reference: its header promises that "a value below
is the default unless its comment says what leaving the key out does ("omit: ...")". It showed
`max_drawdown_usd = 10000.0`, `max_open_orders_per_strategy = 200`, Greek limits and
`[risk.venue_rates] burst = 20.0` with no such comment, while leaving them out means no limit
(burst 1.0): a newcomer who deletes a line to "keep the default" got no limit at all."""

from __future__ import annotations

import re
import tomllib
from typing import Any

import msgspec
import pytest

from engine.config import default_config_path
from engine.config import schema as s

EXAMPLE = default_config_path().with_name("example.toml").read_text()

SECTIONS: dict[str, type[msgspec.Struct]] = {
    "deployment": s.Deployment, "logging": s.LoggingConfig, "venues.sim": s.VenueConfig,
    "risk": s.RiskConfig,
    'risk.instruments."sim:BTC-PERP"': s.InstrumentRisk, "risk.accounts.sim": s.AccountConfig,
    "risk.underlyings.BTC": s.UnderlyingRisk, "risk.venue_rates.sim": s.RateLimitConfig,
    "pricing": s.PricingConfig, "books": s.BooksConfig, "operator": s.OperatorConfig,
    "operator.alerts": s.AlertsConfig, "strategies": s.StrategyConfig,
}
REQUIRED = object()


def _default(field: msgspec.structs.FieldInfo) -> Any:
    if field.default is not msgspec.NODEFAULT:
        return field.default
    if field.default_factory is not msgspec.NODEFAULT:
        return field.default_factory()
    return REQUIRED


def shown_keys(text: str) -> list[tuple[str, str, Any, str]]:
    """(section, key, value shown, its comment with the comment lines continuing it)."""
    out: list[tuple[str, str, Any, str]] = []
    section = ""
    for line in text.splitlines():
        if header := re.match(r"^\[+([^\]]+)\]+", line):
            section = header.group(1)
            comment = line.partition("#")[2]
            continue
        if out and re.match(r"^\s+#", line) and out[-1][0] == section:  # a comment's continuation
            sec, key, value, comment = out[-1]
            out[-1] = (sec, key, value, f"{comment} {line.strip()[1:]}")
            continue
        kv = re.match(r"^(?:# )?(\w+) = (.*?)(?:\s{2,}#(.*))?$", line)
        if kv and section in SECTIONS:
            value = tomllib.loads(f"x = {kv.group(2)}")["x"]
            out.append((section, kv.group(1), value, kv.group(3) or ""))
    return out


def wrong_defaults(text: str) -> list[str]:
    wrong = []
    for section, key, value, comment in shown_keys(text):
        fields = {f.encode_name: f for f in msgspec.structs.fields(SECTIONS[section])}
        assert key in fields, f"{section}.{key} is not a key of the schema"
        default = _default(fields[key])
        omit = re.search(r"omit: ([-\d.]+)\)", comment)
        if default is REQUIRED:
            ok = "required" in comment
        elif omit:  # the comment names the default: it must be the schema's
            ok = float(omit.group(1)) == default
        else:
            # ("default: ..." explains a default that depends on another key)
            ok = value == default or "omit" in comment or "default:" in comment
        if not ok:
            wrong.append(f"{section}.{key} = {value!r} (default {default!r}): {comment.strip()}")
    return wrong


def test_every_value_shown_is_the_default_or_says_what_omitting_it_does() -> None:
    assert wrong_defaults(EXAMPLE) == []


def test_every_key_of_the_sections_is_checked() -> None:
    shown = {(sec, key) for sec, key, _, _ in shown_keys(EXAMPLE)}
    tables = {"instruments", "underlyings", "accounts", "venue_rates", "alerts", "params"}
    for section in ("deployment", "logging", "risk", "pricing", "books", "operator",
                    "operator.alerts", "risk.accounts.sim", "risk.venue_rates.sim",
                    "risk.underlyings.BTC", "strategies"):
        for field in msgspec.structs.fields(SECTIONS[section]):
            if field.encode_name not in tables:
                assert (section, field.encode_name) in shown, f"{section}.{field.encode_name}"


def test_the_check_catches_a_value_that_is_not_the_default() -> None:
    text = '[risk]\nmax_drawdown_usd = 10000.0\n[risk.venue_rates.sim]\nrate = 5.0          # required\n' \
           'burst = 20.0          # orders (omit: 20.0)\n'
    assert len(wrong_defaults(text)) == 2
    assert wrong_defaults('[risk]\nmax_drawdown_usd = 10000.0   # USD\n'
                          '                             # (omit: none)\n') == []


def test_the_reference_checks_as_its_header_says(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """`volta check-config config/example.toml` failed out of the box (DERIBIT_KEY is not set)
    with no word in the file on why or what to do; the header gives the command that works."""
    from engine.cli import main

    command = re.search(r"^#.*?((?:\w+= )+)volta (check-config config/example\.toml)$", EXAMPLE, re.M)
    assert command, "the header's command"
    for var in ("DERIBIT_KEY", "DERIBIT_SECRET"):
        monkeypatch.delenv(var, raising=False)
    assert main(["check-config", str(default_config_path().with_name("example.toml"))]) == 2
    assert "DERIBIT_KEY' is not set" in capsys.readouterr().err
    for assignment in command.group(1).split():
        monkeypatch.setenv(assignment.rstrip("="), "")
    example = str(default_config_path().with_name("example.toml"))  # (wherever tests run from)
    assert main([command.group(2).split()[0], example]) == 0
