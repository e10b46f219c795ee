"""A strategy in a separate package, installed next to Volta, found by short name and run.

How it is installed: ``tests/sdk/plugin_pkg`` is a normal package with its own
``pyproject.toml`` declaring ``[project.entry-points."volta.strategies"]``. The test installs
it the way pip lays out an install (package directory plus a ``.dist-info`` with ``METADATA``,
``entry_points.txt`` generated from that pyproject table, and ``RECORD``) into a temporary
site directory put on ``sys.path``, which is exactly what ``importlib.metadata`` scans in a
venv's site-packages. A real ``pip install`` into the project venv is not used: it would
mutate the venv other test runs share at the same moment, and building a wheel offline needs
the ``wheel`` package, which the venv does not have.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import msgspec
import pytest

from engine.config import VoltaConfig
from engine.plugins import PluginError, resolve_strategy, strategy_registry
from engine.runtime import run_virtual

PKG = Path(__file__).resolve().parent / "plugin_pkg"
ROOT = Path(__file__).resolve().parents[2]

DEPLOYMENT = """
[deployment]
name = "plugin-paper"
mode = "paper"
journal = "{journal}"

[venues.sim]
adapter = "adapters.sim:SimVenue"

[venues.sim.params]
seed = 3
expiries_days = []

[[strategies]]
id = "demo"
class = "demo_taker"
venue = "sim"

[strategies.params]
instrument = "BTC-PERP"
size = 0.002
every_s = 2.0
"""


def install(pkg_dir: Path, site: Path, entry_points: dict[str, str] | None = None) -> None:
    """Lay out ``pkg_dir`` in ``site`` as an installer would (package + .dist-info)."""
    project = tomllib.loads((pkg_dir / "pyproject.toml").read_text())["project"]
    for package in tomllib.loads((pkg_dir / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]:
        shutil.copytree(pkg_dir / package, site / package)
    name, version = project["name"], project["version"]
    dist = site / f"{name.replace('-', '_')}-{version}.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    eps = entry_points if entry_points is not None else project["entry-points"]["volta.strategies"]
    lines = ["[volta.strategies]"] + [f"{k} = {v}" for k, v in eps.items()]
    (dist / "entry_points.txt").write_text("\n".join(lines) + "\n")
    (dist / "RECORD").write_text("")
    (dist / "INSTALLER").write_text("volta-tests\n")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    site = tmp_path / "site-packages"
    site.mkdir()
    install(PKG, site)
    monkeypatch.syspath_prepend(str(site))
    yield site
    for mod in [m for m in sys.modules if m.startswith("volta_plugin_demo")]:
        del sys.modules[mod]


def test_the_installed_package_is_found_by_short_name(site: Path) -> None:
    assert strategy_registry()["demo_taker"] == ("volta_plugin_demo.taker:DemoTaker", "volta-plugin-demo")
    assert resolve_strategy("demo_taker").__name__ == "DemoTaker"


def test_it_runs_in_the_paper_deployment_by_short_name(site: Path, tmp_path: Path) -> None:
    raw = tomllib.loads(DEPLOYMENT.format(journal=tmp_path / "j.sqlite"))
    node = run_virtual(msgspec.convert(raw, VoltaConfig), duration_s=60)
    k = node.kernel
    demo = k.strategies["demo"]
    assert type(demo).__module__ == "volta_plugin_demo.taker"
    assert k.strategy_errors.get("demo", 0) == 0
    assert demo.fills >= 20, "an IOC at the touch every 2 s fills"
    assert abs(k.portfolio.position("sim:BTC-PERP").qty) <= 0.002 + 1e-12


def test_volta_strategies_lists_it(site: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}
    out = subprocess.run([sys.executable, "-m", "engine", "strategies", "demo_taker"], env=env,
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert "demo_taker  volta_plugin_demo.taker:DemoTaker  [volta-plugin-demo]" in out.stdout
    assert "every_s: float = 5.0" in out.stdout


def test_two_packages_claiming_one_name_is_an_error_naming_both(site: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    (other / "volta_plugin_demo2").mkdir(parents=True)
    (other / "volta_plugin_demo2" / "__init__.py").write_text("")
    (other / "pyproject.toml").write_text(
        '[project]\nname = "volta-plugin-other"\nversion = "1.0"\n'
        '[tool.setuptools]\npackages = ["volta_plugin_demo2"]\n')
    install(other, site, {"demo_taker": "volta_plugin_demo2:Other"})
    with pytest.raises(PluginError, match="ambiguous.*volta-plugin-demo.*volta-plugin-other|"
                                          "ambiguous.*volta-plugin-other.*volta-plugin-demo"):
        resolve_strategy("demo_taker")
