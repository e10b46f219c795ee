"""Loading deployment files: round trip, error paths and messages, env substitution, CLI check."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import msgspec
import pytest

from engine.config import (
    ConfigError,
    ConfigProblem,
    Secret,
    VoltaConfig,
    check_config,
    decode_params,
    default_config_path,
    known_secret_values,
    secret_enc_hook,
    load_config,
    load_config_text,
)

VALID = textwrap.dedent(
    """
    [deployment]
    name = "paper-btc"
    mode = "paper"
    journal = "var/paper.journal.sqlite"
    status_interval_s = 2.5

    [logging]
    level = "debug"
    format = "json"

    [venues.sim]
    adapter = "adapters.sim:SimVenue"
    [venues.sim.params]
    seed = 7

    [risk]
    max_order_qty = 3
    kill_switch = true
    [risk.instruments."sim:BTC-PERP"]
    max_position_qty = 5.0

    [[strategies]]
    id = "mm-1"
    class = "strategies.examples.mm:Quoter"
    venue = "sim"
    [strategies.params]
    instrument = "BTC-PERP"

    [[strategies]]
    id = "mm-2"
    class = "strategies.examples.mm:Quoter"
    venue = "sim"
    [strategies.params]
    instrument = "ETH-PERP"
    """
)


def problems_of(text: str, **kw: object) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config_text(text, **kw)  # type: ignore[arg-type]
    return [str(p) for p in info.value.problems]


def test_valid_file_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "d.toml"
    path.write_text(VALID)
    cfg = load_config(path)
    assert isinstance(cfg, VoltaConfig)
    assert cfg.deployment.name == "paper-btc"
    assert cfg.deployment.status_interval_s == 2.5
    assert cfg.logging.level == "debug" and cfg.logging.format == "json"
    assert cfg.venues["sim"].adapter == "adapters.sim:SimVenue"
    assert cfg.venues["sim"].enabled is True
    assert cfg.venues["sim"].params == {"seed": 7}
    assert cfg.risk.max_order_qty == 3.0 and isinstance(cfg.risk.max_order_qty, float)
    assert cfg.risk.kill_switch is True
    assert cfg.risk.max_open_orders == 200  # default
    assert cfg.risk.position_qty_limit("sim:BTC-PERP") == 5.0
    assert cfg.risk.position_qty_limit("sim:ETH-PERP") == 50.0
    assert cfg.risk.order_qty_limit("sim:BTC-PERP") == 3.0
    assert [s.id for s in cfg.strategies] == ["mm-1", "mm-2"]
    assert cfg.strategies[0].class_ == "strategies.examples.mm:Quoter"
    assert cfg.strategies[1].params == {"instrument": "ETH-PERP"}
    # Encoding with the TOML names and converting back gives an equal config.
    again = msgspec.convert(msgspec.to_builtins(cfg), VoltaConfig)
    assert again == cfg
    assert load_config_text(VALID) == cfg


def test_misspelt_key_names_path_and_suggests() -> None:
    (problem,) = problems_of(VALID.replace("max_order_qty = 3", "max_ordr_qty = 3"))
    assert problem == "risk.max_ordr_qty: unknown key 'max_ordr_qty' (did you mean 'max_order_qty'?)"


def test_unknown_key_without_close_match_lists_the_valid_ones() -> None:
    (problem,) = problems_of(VALID.replace("[logging]", "[logging]\nzzz = 1"))
    assert problem.startswith("logging.zzz: unknown key 'zzz' (expected one of: format, level)")


def test_wrong_type_names_path_and_types() -> None:
    (problem,) = problems_of(VALID.replace("max_order_qty = 3", 'max_order_qty = "3"'))
    assert problem == "risk.max_order_qty: expected float, got str"
    (problem,) = problems_of(VALID.replace("kill_switch = true", "kill_switch = 1"))
    assert problem == "risk.kill_switch: expected bool, got int"
    (problem,) = problems_of(VALID.replace('[venues.sim.params]\nseed = 7', "params = 3"))
    assert problem == "venues.sim.params: expected table, got int"


def test_enum_and_constraint_messages() -> None:
    problems = problems_of(
        VALID.replace('mode = "paper"', 'mode = "papr"')
        .replace("status_interval_s = 2.5", "status_interval_s = 0")
        .replace("max_order_qty = 3", "max_order_qty = -1")
    )
    assert problems == [
        "deployment.mode: expected one of 'paper', 'live', got 'papr' (did you mean 'paper'?)",
        "deployment.status_interval_s: must be > 0.0, got 0",
        "risk.max_order_qty: must be > 0.0, got -1",
    ]


def test_missing_required_key() -> None:
    assert problems_of(VALID.replace('journal = "var/paper.journal.sqlite"\n', "")) == [
        "deployment.journal: missing required key"
    ]
    assert "deployment: missing required key" in problems_of("[logging]\nlevel = 'info'\n")


def test_multiple_problems_are_all_reported() -> None:
    text = (
        VALID.replace('mode = "paper"', 'mode = "papr"')
        .replace('format = "json"', 'formt = "json"')
        .replace("max_order_qty = 3", 'max_order_qty = "3"')
        .replace('adapter = "adapters.sim:SimVenue"', 'adapter = "adapters.sim.SimVenue"')
        .replace('id = "mm-2"', 'id = "mm-1"')
        .replace('venue = "sim"\n[strategies.params]\ninstrument = "ETH', 'venue = "sym"\n[strategies.params]\ninstrument = "ETH')
        .replace("max_position_qty = 5.0", "max_position_qty = 5.0\nfoo = 1")
    )
    problems = problems_of(text)
    assert set(problems) == {
        "deployment.mode: expected one of 'paper', 'live', got 'papr' (did you mean 'paper'?)",
        "logging.formt: unknown key 'formt' (did you mean 'format'?)",
        "risk.max_order_qty: expected float, got str",
        'risk.instruments."sim:BTC-PERP".foo: unknown key \'foo\' (expected one of: '
        "max_order_qty, max_position_qty)",
        "venues.sim.adapter: invalid import path 'adapters.sim.SimVenue': "
        "expected 'package.module:ClassName'",
        "strategies[1].id: duplicate strategy id 'mm-1' (also strategies[0])",
        "strategies[1].venue: unknown venue 'sym' (did you mean 'sim'?)",
    }
    assert len(problems) == 7


def test_strategy_venue_must_be_enabled_and_instrument_ids_valid() -> None:
    text = VALID.replace("seed = 7", "seed = 7\n").replace(
        "[venues.sim]\n", "[venues.sim]\nenabled = false\n"
    ) + '\n[venues.other]\nadapter = "a.b:C"\n[risk.instruments."nope"]\nmax_order_qty = 1\n'
    problems = problems_of(text)
    assert "strategies[0].venue: venue 'sim' is disabled (venues.sim.enabled)" in problems
    assert 'risk.instruments.nope: expected an instrument id \'<venue>:<symbol>\'' in problems


def test_toml_syntax_error_gives_line_and_column() -> None:
    with pytest.raises(ConfigError) as info:
        load_config_text("[deployment]\nname = \"x\"\nmode = \n", source="bad.toml")
    (problem,) = info.value.problems
    assert problem.line == 3 and problem.column is not None
    assert str(info.value).startswith("bad.toml: line 3, column ")
    assert "invalid TOML" in problem.message


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read file"):
        load_config(tmp_path / "nope.toml")


# ---------------------------------------------------------------------------- env and secrets

SECRET_VENUE = textwrap.dedent(
    """
    [venues.deribit]
    adapter = "adapters.deribit:DeribitVenue"
    enabled = false
    [venues.deribit.params]
    api_key = "${VOLTA_TEST_KEY}"
    api_secret = "literal-secret-value"
    url = "wss://${VOLTA_TEST_HOST}/ws"
    note = "costs $${HOME} dollars"
    """
)


def test_env_substitution_yields_masked_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOLTA_TEST_KEY", "k3y-from-env")
    monkeypatch.setenv("VOLTA_TEST_HOST", "test.deribit.com")
    cfg = load_config_text(VALID + SECRET_VENUE)
    params = cfg.venues["deribit"].params
    assert isinstance(params["api_key"], Secret)
    assert params["api_key"].reveal() == "k3y-from-env"
    assert repr(params["api_key"]) == "Secret('***')" and str(params["api_key"]) == "***"
    assert f"{params['api_key']}" == "***"
    assert "k3y-from-env" not in repr(cfg)
    # a secret-named key is wrapped even without ${...}
    assert isinstance(params["api_secret"], Secret)
    assert "literal-secret-value" not in repr(cfg)
    assert isinstance(params["url"], Secret) and params["url"].reveal() == "wss://test.deribit.com/ws"
    assert params["note"] == "costs ${HOME} dollars"  # $${ escapes, and no reference: plain str
    assert {"k3y-from-env", "literal-secret-value"} <= known_secret_values()
    encoded = msgspec.json.encode(cfg, enc_hook=secret_enc_hook)
    assert b"k3y-from-env" not in encoded and b'"api_key":"***"' in encoded


def test_env_in_schema_fields_is_plain_text() -> None:
    cfg = load_config_text(VALID.replace('"var/paper', '"${VOLTA_DIR}/paper'), env={"VOLTA_DIR": "/srv"})
    assert cfg.deployment.journal == "/srv/paper.journal.sqlite"
    assert "/srv" not in known_secret_values()


def test_missing_env_var_names_variable_and_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VOLTA_TEST_KEY", raising=False)
    monkeypatch.setenv("VOLTA_TEST_HOST", "h")
    assert problems_of(VALID + SECRET_VENUE) == [
        "venues.deribit.params.api_key: environment variable 'VOLTA_TEST_KEY' is not set"
    ]


def test_malformed_reference() -> None:
    (problem,) = problems_of(VALID.replace('name = "paper-btc"', 'name = "x${1BAD}"'))
    assert problem.startswith("deployment.name: invalid reference '${1BAD}'")


# ---------------------------------------------------------------------------- decode_params


class QuoterParams(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    instrument: str
    size: float = 0.01
    half_spread_bps: float = 5.0


class VenueParams(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    seed: int = 0
    api_key: Secret | None = None
    api_secret: str = ""


def test_decode_params_nested_path() -> None:
    cfg = load_config_text(VALID.replace('instrument = "ETH-PERP"', 'instrument = 5\nsize = "big"\nsise = 1'))
    assert decode_params(cfg.strategies[0].params, QuoterParams, "strategies[0].params") == \
        QuoterParams(instrument="BTC-PERP")
    with pytest.raises(ConfigError) as info:
        decode_params(cfg.strategies[1].params, QuoterParams, "strategies[1].params")
    assert [str(p) for p in info.value.problems] == [
        "strategies[1].params.instrument: expected str, got int",
        "strategies[1].params.size: expected float, got str",
        "strategies[1].params.sise: unknown key 'sise' (did you mean 'size'?)",
    ]


def test_decode_params_secrets_and_types() -> None:
    params = {"seed": "7", "api_key": Secret("abcd-efgh"), "api_secret": Secret("ijkl-mnop")}
    with pytest.raises(ConfigError, match=r"venues\.sim\.params\.seed: expected int, got str"):
        decode_params(params, VenueParams, "venues.sim.params")
    params["seed"] = 7
    decoded = decode_params(params, VenueParams, "venues.sim.params")
    assert decoded.api_key == Secret("abcd-efgh") and isinstance(decoded.api_key, Secret)
    assert decoded.api_secret == "ijkl-mnop"  # a str field gets the revealed value
    assert decode_params(None, VenueParams, "p") == VenueParams()


def test_config_problem_str() -> None:
    assert str(ConfigProblem("a.b", "bad")) == "a.b: bad"


# ---------------------------------------------------------------------------- check_config


def test_check_config_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "ok.toml"
    path.write_text(VALID)
    assert check_config(path) == 0
    out, err = capsys.readouterr()
    assert out.strip() == f"ok: {path}" and err == ""


def test_check_config_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(VALID.replace("max_order_qty = 3", "max_ordr_qty = 3").replace('"paper"', '"x"'))
    assert check_config(path) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        f"{path}: deployment.mode: expected one of 'paper', 'live', got 'x'",
        f"{path}: risk.max_ordr_qty: unknown key 'max_ordr_qty' (did you mean 'max_order_qty'?)",
    ]


def test_check_config_resolve_hook(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "ok.toml"
    path.write_text(VALID)
    seen: list[VoltaConfig] = []

    def resolve(cfg: VoltaConfig) -> list[ConfigProblem]:
        seen.append(cfg)
        return [ConfigProblem("venues.sim.adapter", "cannot import 'adapters.sim'")]

    assert check_config(path, resolve=resolve) == 2
    assert seen and seen[0].deployment.name == "paper-btc"
    assert capsys.readouterr().err == f"{path}: venues.sim.adapter: cannot import 'adapters.sim'\n"


def test_check_config_syntax_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[deployment\n")
    assert check_config(path) == 2
    assert capsys.readouterr().err.startswith(f"{path}: line 1, column ")


# ---------------------------------------------------------------------------- packaged files


def test_packaged_paper_toml_loads() -> None:
    path = default_config_path()
    assert path.name == "paper.toml" and path.is_file()
    cfg = load_config(path)
    assert cfg.deployment.mode == "paper"
    assert cfg.deployment.journal.startswith("var/")
    assert cfg.deployment.status_interval_s == 5.0
    assert cfg.venues["sim"].adapter == "adapters.sim:SimVenue"
    assert cfg.venues["sim"].params == {"seed": 7}
    (strategy,) = cfg.strategies
    assert strategy.class_ == "strategies.examples.mm:Quoter" and strategy.venue == "sim"
    assert strategy.params["instrument"] == "BTC-PERP"


def test_example_toml_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DERIBIT_KEY", "example-key-123")
    monkeypatch.setenv("DERIBIT_SECRET", "example-secret-456")
    cfg = load_config(default_config_path().with_name("example.toml"))
    deribit = cfg.venues["deribit"]
    assert deribit.enabled is False and set(cfg.enabled_venues()) == {"sim"}
    assert deribit.params["api_secret"].reveal() == "example-secret-456"
    assert "example-secret-456" not in repr(cfg)
    # Every schema field appears in the example (it documents them all).
    text = default_config_path().with_name("example.toml").read_text()
    # (README: "shows every section and key"; [pricing], [books] and [operator] were missing
    # from this check and [pricing], [books] and alerts' telegram_api from the file)
    for section in (cfg.deployment, cfg.logging, cfg.risk, cfg.venues["sim"], cfg.strategies[0],
                    cfg.pricing, cfg.books, cfg.operator, cfg.operator.alerts,
                    cfg.risk.accounts["sim"], cfg.risk.underlyings["BTC"],
                    cfg.risk.venue_rates["sim"], cfg.risk.instruments["sim:BTC-PERP"]):
        for field in msgspec.structs.fields(section):
            name = field.encode_name
            assert re.search(rf"^(# )?{name} = |^\[[\w.]*\.?{name}[.\]]", text, re.M), name
    for section in ("deployment", "logging", "venues", "risk", "pricing", "books", "operator",
                    "strategies", "cluster", "backtest"):
        assert re.search(rf"^#? ?\[+{section}[.\]]", text, re.M), section


def test_a_byte_order_mark_is_not_a_syntax_error(tmp_path: Path) -> None:
    """Editors on Windows save UTF-8 with a byte order mark; it used to read as 'line 1,
    column 1: invalid TOML: Invalid statement'."""
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + default_config_path().read_bytes())
    assert load_config(path) == load_config(default_config_path())


def test_journal_under_the_home_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """journal = "~/volta/paper.sqlite" created a folder literally named '~' in the working
    directory (a trap: 'rm -rf ~' to clean it up); ~ is the home folder, as in a shell."""
    monkeypatch.setenv("HOME", str(tmp_path))
    text = default_config_path().read_text().replace(
        'journal = "var/paper.journal.sqlite"', 'journal = "~/volta/paper.sqlite"')
    assert load_config_text(text).deployment.journal == str(tmp_path / "volta" / "paper.sqlite")
