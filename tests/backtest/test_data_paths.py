"""Backtest data paths (issue 18 item 11): relative to the config file, not the working
directory; ``${VOLTA_MARKETDATA}`` honoured; a missing data file is one clear line, exit 2,
before any work."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from backtest import cli as backtest_cli
from backtest.catalog import write_events
from backtest.datapaths import resolve_path
from backtest.sweep import load_with_overrides
from engine.model import BookSnapshot, Trade

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_767_225_600_000_000_000


def _config(folder: Path, data: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    text = (ROOT / "config" / "backtest-binance.toml").read_text()
    start = text.index("[backtest.data]")
    end = text.index("[backtest.report]")
    cfg = folder / "bt.toml"
    cfg.write_text(text[:start] + "[backtest.data]\n" + data + "\n\n" + text[end:])
    return cfg


def _tiny_catalog(root: Path) -> None:
    iid = "binance-usdm:BTCUSDT"
    evs = [BookSnapshot(iid, ((60000.0, 1.0),), ((60000.1, 1.0),), 1, T0, T0)]
    evs += [Trade(iid, 60000.1, 0.01, None, str(i), T0 + i * 10**9, T0 + i * 10**9)
            for i in range(1, 30)]
    write_events(root, "unit", evs)


def test_relative_paths_resolve_against_the_config_file(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _config(tmp_path / "project" / "configs", 'catalog = "../data/catalog"')
    _tiny_catalog(tmp_path / "project" / "data" / "catalog")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the working directory does not matter
    config, _ = load_with_overrides(cfg, [])
    assert config.backtest["data"]["catalog"] == str(tmp_path / "project" / "data" / "catalog")
    out = tmp_path / "out"
    assert backtest_cli.main([str(cfg), "--output", str(out), "--quiet"]) == 0
    assert (out / "summary.json").is_file()


def test_volta_marketdata_is_expanded_and_an_unset_variable_is_named(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _tiny_catalog(tmp_path / "md" / "cat")
    cfg = _config(tmp_path / "c", 'catalog = "${VOLTA_MARKETDATA}/cat"\nrequires = "the tiny catalog"')
    monkeypatch.setenv("VOLTA_MARKETDATA", str(tmp_path / "md"))
    config, _ = load_with_overrides(cfg, [])
    assert config.backtest["data"]["catalog"] == str(tmp_path / "md" / "cat")
    monkeypatch.delenv("VOLTA_MARKETDATA")
    assert backtest_cli.main([str(cfg), "--quiet", "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "environment variable VOLTA_MARKETDATA is not set" in err and "the tiny catalog" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "o").exists()
    assert resolve_path("~/x", tmp_path) == os.path.expanduser("~/x")
    assert resolve_path("/abs/x", tmp_path) == "/abs/x"


@pytest.mark.parametrize("data, key", [
    ('source = "capture"\nfiles = ["missing.jsonl.gz"]', "backtest.data.files: no such file"),
    ('catalog = "no-catalog-here"', "backtest.data.catalog: no such catalog folder"),
    ('catalog = "bt.toml"', "backtest.data.catalog: not a folder (a catalog is a folder): "),
    ('source = "store"\nstore = "no-store"', "backtest.data.store: no event store"),
    ('catalog = "."\nstart = "2026-13-01"', "backtest.data.start: '2026-13-01' is not a"),
])
def test_missing_data_is_one_line_exit_2_before_any_work(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], data: str, key: str) -> None:
    cfg = _config(tmp_path / "c", data)
    t = time.perf_counter()
    assert backtest_cli.main([str(cfg), "--quiet", "--output", str(tmp_path / "o")]) == 2
    assert time.perf_counter() - t < 5.0
    err = capsys.readouterr().err
    assert key in err and str(tmp_path / "c") in err  # the path it looked at, resolved
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_shipped_recorded_backtests_name_their_data(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("VOLTA_MARKETDATA", raising=False)
    for name, want in (("backtest-binance.toml", "VOLTA_MARKETDATA is not set"),
                       ("backtest-deribit-options-mm.toml", "volta data import tardis")):
        cfg = tmp_path / "config" / name
        cfg.parent.mkdir(exist_ok=True)
        shutil.copy(ROOT / "config" / name, cfg)
        assert backtest_cli.main([str(cfg), "--quiet", "--output", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err
        assert want in err and len(err.strip().splitlines()) == 1
    # every shipped backtest on recorded data names it; every other runs on generated data
    import tomllib

    for cfg in sorted((ROOT / "config").glob("backtest*.toml")):
        data = tomllib.loads(cfg.read_text())["backtest"].get("data", {})
        if cfg.name in ("backtest-binance.toml", "backtest-deribit-options-mm.toml",
                        "backtest-okx-inverse.toml"):
            assert data.get("requires")
        else:
            assert data.get("source", "synthetic") in ("synthetic", "venue"), cfg.name
