"""``volta gateway`` / ``volta aggregator`` refuse a broken deployment file the way
``volta check-config`` reports it: one line per problem, ``FILE: key.path: reason``, exit 2,
before anything starts (no NATS needed)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from cluster.aggregator import main as aggregator_main
from cluster.gateway import main as gateway_main
from engine.cli import main as volta_main

GATEWAY = (Path(__file__).parents[2] / "config" / "cluster-gateway.toml").read_text()


@pytest.mark.parametrize("edit", [
    ("seed = 11", 'seed = "x"'),                                   # an adapter param's type
    ("tick_ms = 100", "tick_ms = 100\nbogus = 1"),                  # an adapter's unknown key
    ('role = "gateway"', 'role = "gateway"\nbad_key = 1'),          # a schema key ...
])
def test_gateway_prints_check_configs_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            edit: tuple[str, str]) -> None:
    path = tmp_path / "gw.toml"
    path.write_text(GATEWAY.replace(*edit))
    assert volta_main(["check-config", str(path)]) == 2
    expected = capsys.readouterr().err
    assert expected.startswith(f"{path}: ") and "invalid configuration" not in expected
    assert gateway_main([str(path)]) == 2
    assert capsys.readouterr().err == expected


def test_both_kinds_of_problem_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "gw.toml"
    path.write_text(GATEWAY.replace("tick_ms = 100", "tick_ms = 100\nbogus = 1")
                    .replace('role = "gateway"', 'role = "gateway"\nbad_key = 1'))
    assert gateway_main([str(path)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(": ")[1] for line in lines] == ["cluster.bad_key", "venues.feed.params.bogus"]


def test_aggregator_prints_check_configs_lines(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "missing.toml"
    assert aggregator_main([str(path)]) == 2
    assert capsys.readouterr().err == f"{path}: cannot read file: No such file or directory\n"


@pytest.mark.parametrize(("command", "role", "said"), [
    (aggregator_main, "gateway", "deploys a gateway, not an aggregator (cluster.role): "
                                 "run it with volta gateway"),
    (gateway_main, "node", "deploys a node, not a gateway (cluster.role): run it with volta run"),
])
def test_a_file_of_another_role_names_the_command_to_run_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        command: Callable[[list[str]], int], role: str, said: str) -> None:
    path = tmp_path / "other.toml"
    path.write_text(GATEWAY.replace('role = "gateway"', f'role = "{role}"'))
    assert command([str(path)]) == 2
    assert said in capsys.readouterr().err


@pytest.mark.parametrize(("command", "argv", "said"), [
    (gateway_main, ["--duration", "-1"], "argument --duration: expected a number of seconds > 0"),
    (aggregator_main, ["--duration", "0"], "argument --duration: expected a number of seconds > 0"),
    (aggregator_main, ["--port", "99999"], "--port: expected 0-65535, got 99999"),
])
def test_bad_arguments_are_refused_before_anything_starts(
        capsys: pytest.CaptureFixture[str], command: Callable[[list[str]], int],
        argv: list[str], said: str) -> None:
    path = Path(__file__).parents[2] / "config" / "cluster-aggregator.toml"
    with pytest.raises(SystemExit) as exc:
        command([str(path), *argv])
    assert exc.value.code == 2
    assert said in capsys.readouterr().err


@pytest.mark.parametrize("command", [gateway_main, aggregator_main])
def test_every_argument_has_help(capsys: pytest.CaptureFixture[str],
                                 command: Callable[[list[str]], int]) -> None:
    with pytest.raises(SystemExit):
        command(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "config the " in text and "--duration SECONDS stop by itself" in text


def test_what_a_service_would_leave_unused_is_a_config_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    strategy = '''
[[strategies]]
id = "mm"
class = "strategies.examples.mm:Quoter"
venue = "feed"
[strategies.params]
instrument = "BTC-PERP"
size = 0.01
'''
    path = tmp_path / "gw.toml"
    path.write_text(GATEWAY + strategy)
    assert volta_main(["check-config", str(path)]) == 2
    said = f"{path}: strategies: a gateway runs no strategies (cluster.role): put them in a node's file\n"
    assert capsys.readouterr().err == said
    assert gateway_main([str(path)]) == 2
    assert capsys.readouterr().err == said
    aggregator = (Path(__file__).parents[2] / "config" / "cluster-aggregator.toml").read_text()
    path.write_text(aggregator + '\n[venues.sim]\nadapter = "adapters.sim:SimVenue"\n')
    assert aggregator_main([str(path)]) == 2
    assert capsys.readouterr().err == (
        f"{path}: venues: an aggregator connects to no venue (cluster.role): put them in the "
        "gateway's or a node's file\n")
