"""The event store (round trips, bad input), real captures, and config key-path overrides."""

from __future__ import annotations

import gzip
import os
import tomllib
from pathlib import Path

import msgspec
import pytest

from backtest import store as stores
from backtest.runner import run_backtest
from backtest.store import StoreError
from backtest.sweep import (
    OverrideError,
    dump_toml,
    grid,
    load_with_overrides,
    parse_path,
    parse_sweeps,
    set_path,
)
from engine.model import BookDelta, BookSnapshot, OptionSummary, Trade

ROOT = Path(__file__).resolve().parents[2]
MARKETDATA = Path(os.environ.get("VOLTA_MARKETDATA", ROOT / ".." / "shared" / "marketdata"))
USDM = MARKETDATA / "binance-usdm" / "binance-usdm-btcusdt-2024-08-08.jsonl.gz"
START = 1_767_225_600_000_000_000


def _events(events: list) -> list:
    return [msgspec.structs.replace(e, columns=None) if type(e) is BookDelta else e
            for e in events]


def test_synthetic_store_round_trips_exactly(tmp_path: Path) -> None:
    data = stores.synthetic({"seed": 5, "expiries_days": [1.0, 7.0], "strikes_per_expiry": 5},
                            "sim", START, 20.0)
    kinds = {type(e) for e in data.events}
    assert {BookSnapshot, BookDelta, Trade, OptionSummary} <= kinds
    assert len(data.instruments) == 1 + 2 * 5 * 2
    stores.save(data, tmp_path / "s")
    back = stores.load(tmp_path / "s")
    # (NaN-safe; the columnar positions ``load`` attaches to deep diffs are not event data)
    assert msgspec.json.encode(_events(back.events)) == msgspec.json.encode(_events(data.events))
    assert any(type(e) is BookDelta and e.columns is not None for e in back.events)
    assert back.instruments == data.instruments
    again = stores.synthetic({"seed": 5, "expiries_days": [1.0, 7.0], "strikes_per_expiry": 5},
                             "sim", START, 20.0)
    assert (msgspec.json.encode(_events(again.events))
            == msgspec.json.encode(_events(data.events)))  # seeded


def test_bad_stores_and_captures_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="not a readable event store"):
        stores.load(tmp_path / "missing")
    data = stores.synthetic({"seed": 1, "strikes_per_expiry": 1, "expiries_days": [1.0]},
                            "sim", START, 2.0)
    stores.save(data, tmp_path / "s")
    (tmp_path / "s" / "meta.json").write_text('{"format": 99}')
    with pytest.raises(StoreError, match="format 99"):
        stores.load(tmp_path / "s")
    bad = tmp_path / "bad.jsonl.gz"
    with gzip.open(bad, "wt") as fh:
        fh.write('{"ts": 1, "venue": "binance-usdm", "kind": "ws"}\nnot json\n')
    with pytest.raises(StoreError, match="bad.jsonl.gz"):
        stores.from_captures([bad])
    other = tmp_path / "other.jsonl"
    other.write_text('{"ts": 1, "venue": "nasdaq", "kind": "ws", "data": "{}"}\n')
    with pytest.raises(StoreError, match="no codec for venue 'nasdaq'"):
        stores.from_captures([other])


@pytest.mark.skipif(not USDM.is_file(), reason=f"real capture not present: {USDM}")
def test_binance_capture_backtest_equals_its_event_store_backtest(tmp_path: Path) -> None:
    config, _ = load_with_overrides(ROOT / "config" / "backtest-binance.toml",
                                    [("backtest.data.files", [str(USDM)])])
    data = stores.from_captures([USDM])
    assert data.meta["integrity"]["gaps"] == 0 and len(data.events) == 93_954
    direct = run_backtest(config, data=data)
    stores.save(data, tmp_path / "usdm")
    via_store = run_backtest(config, data=stores.load(tmp_path / "usdm"))
    assert {k: v for k, v in direct.summary.items() if k != "data"} == {
        k: v for k, v in via_store.summary.items() if k != "data"}
    s = direct.summary
    assert s["events"] == 93_954 and s["fills"]["count"] > 10
    assert s["exchange"]["binance-usdm"]["maker_fills"] == s["fills"]["maker"]
    assert s["queue"]["avg_wait_s"] > 0


def test_key_paths_and_values() -> None:
    assert parse_path("strategies[0].params.half_spread_bps") == [
        "strategies", 0, "params", "half_spread_bps"]
    for bad in ("", "a..b", "a[x]", "[0", "a.b]"):
        with pytest.raises(OverrideError):
            parse_path(bad)
    assert parse_sweeps(["a.b=1,2.5,true,x"]) == [("a.b", [1, 2.5, True, "x"])]
    assert grid([("a", [1, 2]), ("b", ["x", "y"])]) == [
        [("a", 1), ("b", "x")], [("a", 1), ("b", "y")], [("a", 2), ("b", "x")], [("a", 2), ("b", "y")]]
    with pytest.raises(OverrideError):
        parse_sweeps(["nothing"])
    doc = {"strategies": [{"params": {}}]}
    set_path(doc, "strategies[0].params.x", 1.5)
    with pytest.raises(OverrideError, match="no item"):
        set_path(doc, "strategies[3].params.x", 1)
    doc2 = {"a": {"b c": [1, 2.5, "q\"uote", True, {"x": float("inf")}]}, "d": "s"}
    assert tomllib.loads(dump_toml(doc2)) == doc2


def test_overrides_are_validated_like_the_file(tmp_path: Path) -> None:
    from engine.config import ConfigError

    cfg, _ = load_with_overrides(ROOT / "config" / "backtest.toml",
                                 [("strategies[0].params.half_spread_bps", 7.0)], seed=9)
    assert cfg.strategies[0].params["half_spread_bps"] == 7.0
    assert cfg.backtest["data"]["synthetic"]["seed"] == 9 and cfg.venues["sim"].params["seed"] == 9
    with pytest.raises(ConfigError, match="risk: unknown key 'max_ordr_qty'|max_ordr_qty"):
        load_with_overrides(ROOT / "config" / "backtest.toml", [("risk.max_ordr_qty", 1.0)])


def test_a_store_of_other_data_is_not_reused(tmp_path: Path) -> None:
    """``store`` caches the decoded data: a store made from other data (another seed or
    duration of the generator, other capture files) is rebuilt, never replayed in its place."""
    from backtest.runner import load_data
    from backtest.schema import backtest_spec

    text = (ROOT / "config" / "backtest.toml").read_text().replace(
        "duration_s = 900.0", "duration_s = 10.0").replace('store = ""', 'store = "cache"')
    cfg = tmp_path / "bt.toml"
    cfg.write_text(text)

    def data(seed: int | None) -> stores.EventStore:
        config, _ = load_with_overrides(cfg, [], seed)
        return load_data(config, backtest_spec(config))

    def same(a: stores.EventStore, b: stores.EventStore) -> bool:  # (NaN fields: by encoding)
        return msgspec.json.encode(_events(a.events)) == msgspec.json.encode(_events(b.events))

    first = data(None)
    assert (tmp_path / "cache" / "meta.json").is_file()
    assert same(data(None), first)  # the same data: reused
    other = data(7)
    fresh = stores.synthetic({**first.meta["params"], "seed": 7}, "sim", first.meta["start_ns"],
                             first.meta["duration_s"])
    assert other.meta["params"]["seed"] == 7 and same(other, fresh) and not same(other, first)
