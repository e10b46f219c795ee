"""The Parquet catalog: exact round trips, idempotent imports, listing, notebook tables, and
capture -> catalog -> backtest giving byte-identical results to the capture path."""

from __future__ import annotations

import os
from pathlib import Path

import msgspec
import pyarrow.parquet as pq
import pytest

from backtest import store as stores
from backtest.catalog import CatalogError, CatalogWriter, open_catalog, write_events
from backtest.report import write_outputs
from backtest.runner import run_backtest
from backtest.sweep import load_with_overrides
from engine.model import BookDelta, BookSnapshot, MarkPrice, OptionSummary, Quote, Side, Trade

ROOT = Path(__file__).resolve().parents[2]
MARKETDATA = Path(os.environ.get("VOLTA_MARKETDATA", ROOT / ".." / "shared" / "marketdata"))
USDM = MARKETDATA / "binance-usdm" / "binance-usdm-btcusdt-2024-08-08.jsonl.gz"
OKX = MARKETDATA / "okx" / "okx-books-2022-05-13.jsonl.gz"
DAY = 86_400 * 10**9
T0 = 1_700_000_000 * 10**9  # 2023-11-14T22:13:20Z
NAN = float("nan")


def _enc(events: list) -> bytes:
    # NaN-safe equality (NaN -> null both sides); the columnar positions the event store
    # attaches to deep diffs (``BookDelta.columns``) are not event data
    return msgspec.json.encode([msgspec.structs.replace(e, columns=None)
                                if type(e) is BookDelta else e for e in events])


def test_every_kind_round_trips_exactly_with_missing_numbers_as_null(tmp_path: Path) -> None:
    evs = [
        BookSnapshot("v:X", ((100.0, 1.0), (99.5, 2.0)), ((101.0, 3.0),), 7, T0, T0 + 5),
        BookDelta("v:X", ((100.0, 0.0),), (), 8, 7, T0 + 1, T0 + 6, 8),
        Trade("v:X", 100.5, 0.25, Side.SELL, "t-1", T0 + 2, T0 + 6),  # same ts_recv: order kept
        Trade("v:X", 100.5, 0.25, None, "t-2", T0 + 2, T0 + 7),
        Quote("v:X", NAN, NAN, 101.0, 3.0, T0 + 3, T0 + 7, 9),
        MarkPrice("v:Y", 100.2, NAN, T0 + 3, T0 + 7),
        OptionSummary("v:Y", 0.01, 0.55, NAN, 0.6, 100.0, 0.5, 0.001, 2.0, -1.0, 10.0, T0, T0 + 8),
        Trade("v:X", 100.0, 1.0, Side.BUY, "t-3", T0 + DAY, T0 + DAY),  # next day
    ]
    write_events(tmp_path / "cat", "unit", evs)
    cat = open_catalog(tmp_path / "cat")
    back = cat.load_store()
    assert _enc(back.events) == _enc(evs)
    # the null is a Parquet null (a notebook sees a missing value, never 0)
    q = cat.to_arrow("quote")
    assert q["bid_price"].null_count == 1 and q["ask_price"].to_pylist() == [101.0]
    days = {f.day for f in cat.files(instrument="X")}
    assert days == {"2023-11-14", "2023-11-15"}
    # selections: by day, instrument id, kind
    assert len(cat.load_store(start="2023-11-15").events) == 1
    assert {type(e) for e in cat.load_store(instrument="v:Y").events} == {MarkPrice, OptionSummary}
    assert cat.to_arrow("trade", end="2023-11-14")["trade_id"].to_pylist() == ["t-1", "t-2"]


def test_reimporting_a_day_replaces_it_and_a_failed_import_changes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "cat"
    first = [Trade("v:X", 1.0 + i, 1.0, Side.BUY, str(i), T0 + i, T0 + i) for i in range(5)]
    write_events(root, "trades", first)
    write_events(root, "trades", first)
    cat = open_catalog(root)
    assert cat.summary()[0]["rows"] == {"trade": 5}  # not 10
    write_events(root, "trades", first[:2])  # a corrected day replaces the old one
    assert cat.to_arrow("trade")["trade_id"].to_pylist() == ["0", "1"]
    # another dataset of the same instrument and day sits next to it
    write_events(root, "quotes", [Quote("v:X", 1.0, 1.0, 2.0, 1.0, T0, T0)])
    assert cat.summary()[0]["rows"] == {"trade": 2, "quote": 1}
    assert cat.summary()[0]["datasets"] == ["quotes", "trades"]
    w = CatalogWriter(root, "trades", chunk_rows=2)
    for e in first:
        w.add(e)
    w.abort()  # e.g. a bad row half-way through the file
    assert cat.to_arrow("trade")["trade_id"].to_pylist() == ["0", "1"]
    assert not [p for p in root.iterdir() if p.name.startswith(".staging")]


def test_bounded_buffers_spill_parts_and_merge_in_order(tmp_path: Path) -> None:
    evs = [Trade(f"v:S{i % 3}", float(i), 1.0, Side.BUY, str(i), T0 + i, T0 + i)
           for i in range(1000)]
    w = CatalogWriter(tmp_path / "cat", "trades", chunk_rows=64, max_buffered_rows=100)
    for e in evs:
        w.add(e)
        assert w._buffered <= 100
    w.commit()
    files = open_catalog(tmp_path / "cat").files()
    assert len(files) == 3 and all(pq.ParquetFile(f.path).metadata.num_row_groups > 1
                                   for f in files)
    assert _enc(open_catalog(tmp_path / "cat").load_store().events) == _enc(evs)


def test_notebook_one_liner_and_clear_errors(tmp_path: Path) -> None:
    write_events(tmp_path / "cat", "unit",
                 [Trade("v:X", 1.0, 2.0, Side.BUY, "a", T0, T0 + 1)])
    t = open_catalog(tmp_path / "cat").to_arrow("trade")
    assert t.column_names[-3:] == ["venue", "instrument", "dataset"]
    assert t.to_pylist()[0] == {"ts_recv": T0 + 1, "ts_event": T0, "ord": 0, "price": 1.0,
                                "size": 2.0, "aggressor": "buy", "trade_id": "a", "venue": "v",
                                "instrument": "X", "dataset": "unit"}
    try:
        import polars  # noqa: F401
    except ImportError:
        with pytest.raises(CatalogError, match="pip install polars"):
            open_catalog(tmp_path / "cat").to_polars("trade")
    else:
        assert open_catalog(tmp_path / "cat").to_polars("trade").height == 1
    with pytest.raises(CatalogError, match="no such catalog folder"):
        open_catalog(tmp_path / "nope")
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(CatalogError, match="a-file: not a folder: a catalog is a folder"):
        open_catalog(tmp_path / "a-file")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.txt").write_text("x")
    with pytest.raises(CatalogError, match="not a catalog"):
        open_catalog(tmp_path / "other")
    with pytest.raises(CatalogError, match="unknown kind 'trades'"):
        open_catalog(tmp_path / "cat").to_arrow("trades")
    with pytest.raises(CatalogError, match="no replayable data"):
        open_catalog(tmp_path / "cat").load_store(venue="deribit")


def _outputs(result, out: Path) -> dict[str, bytes]:
    write_outputs(result, out, "t")
    summary = msgspec.json.decode((out / "summary.json").read_bytes())
    summary.pop("data")
    return {"summary": msgspec.json.encode(summary), "fills": (out / "fills.csv").read_bytes(),
            "orders": (out / "orders.csv").read_bytes()}


@pytest.mark.skipif(not USDM.is_file(), reason=f"real capture not present: {USDM}")
def test_capture_to_catalog_backtest_is_byte_identical_to_the_capture_path(tmp_path: Path) -> None:
    config, _ = load_with_overrides(ROOT / "config" / "backtest-binance.toml",
                                    [("backtest.data.files", [str(USDM)])])
    data = stores.from_captures([USDM])
    direct = _outputs(run_backtest(config, data=data), tmp_path / "direct")
    write_events(tmp_path / "cat", "capture", data.events, data.instruments)
    cat_cfg, _ = load_with_overrides(ROOT / "config" / "backtest-binance.toml",
                                     [("backtest.data.source", "catalog"),
                                      ("backtest.data.catalog", str(tmp_path / "cat"))])
    via = run_backtest(cat_cfg)
    assert via.summary["data"]["source"] == "catalog"
    assert _outputs(via, tmp_path / "via") == direct
    assert b"," in direct["fills"] and len(direct["fills"].splitlines()) > 10


@pytest.mark.skipif(not OKX.is_file(), reason=f"real capture not present: {OKX}")
def test_okx_capture_round_trips_like_the_event_store(tmp_path: Path) -> None:
    data = stores.from_captures([OKX])
    assert data.meta["integrity"]["checksums_verified"] > 10  # verified while decoding
    write_events(tmp_path / "cat", "capture", data.events, data.instruments)
    back = open_catalog(tmp_path / "cat").load_store()
    stores.save(data, tmp_path / "store")  # the event store keeps the same (no checksums)
    assert _enc(back.events) == _enc(stores.load(tmp_path / "store").events)
    assert sorted(i.id for i in back.instruments) == sorted(i.id for i in data.instruments)


def test_rows_out_of_receive_order_are_replayed_in_receive_order(tmp_path: Path) -> None:
    late = [Trade("v:X", 1.0, 1.0, Side.BUY, "b", T0 + 5, T0 + 5),
            Trade("v:X", 1.0, 1.0, Side.BUY, "a", T0 + 1, T0 + 1),  # a vendor's row out of order
            Trade("v:Y", 1.0, 1.0, Side.BUY, "c", T0 + 3, T0 + 3)]
    write_events(tmp_path / "cat", "unit", late)
    back = open_catalog(tmp_path / "cat").load_store().events
    assert [e.trade_id for e in back] == ["a", "c", "b"]


@pytest.mark.skipif(not OKX.is_file(), reason=f"real capture not present: {OKX}")
def test_volta_data_import_capture_and_ls(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from engine.cli import main as volta

    cat = tmp_path / "cat"
    assert volta(["data", "import", "capture", str(OKX), "--to", str(cat), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "capture_okx-books-2022-05-13" in out and "checksums_verified" in out
    assert volta(["data", "ls", str(cat)]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[0].split() == ["venue", "instrument", "days", "rows", "size", "datasets"]
    assert any(line.startswith("okx") and "2022-05-13" in line for line in listing)
    n_rows = sum(r["rows"].get("book", 0) for r in open_catalog(cat).summary())
    assert n_rows == sum(1 for e in stores.from_captures([OKX]).events
                         if type(e) in (BookSnapshot, BookDelta))
    assert volta(["data", "ls", str(tmp_path / "nothing")]) == 2
    assert "no such catalog folder" in capsys.readouterr().err


def test_an_empty_selection_says_which_filter_found_nothing_and_what_there_is(
        tmp_path: Path) -> None:
    """A selection that matches nothing names the filter that emptied it and what the catalog
    holds there, so the user can correct the config (not just 'no replayable data')."""
    cat = tmp_path / "cat"
    write_events(cat, "trades", [Trade("deribit:BTC-PERPETUAL", 1.0, 2.0, Side.BUY, "a", T0, T0 + 1),
                                 Trade("deribit:ETH-PERPETUAL", 1.0, 2.0, Side.BUY, "b", T0, T0 + 2)])
    c = open_catalog(cat)
    day = c.files()[0].day
    for kw, why in (
            ({"venue": "okx"}, "no data of venue okx; the catalog has venue deribit"),
            ({"instrument": ["SOL-PERPETUAL"]}, "no data of instrument SOL-PERPETUAL; the catalog "
                                                "has instruments BTC-PERPETUAL, ETH-PERPETUAL"),
            ({"venue": "deribit", "start": "2024-08-01"}, f"no data of day 2024-08-01..; the "
                                                          f"catalog has day {day}"),
            ({"start": "2024-08-02", "end": "2024-08-01"}, "start 2024-08-02 is after end 2024-08-01"),
            ({"datasets": ["book_snapshot_25"]}, "no data of dataset book_snapshot_25; the catalog "
                                                 "has dataset trades")):
        with pytest.raises(CatalogError) as exc:
            c.load_store(**kw)
        assert str(exc.value) == f"{cat}: no replayable data matches the selection: {why}", kw
    aux = tmp_path / "aux"
    w = CatalogWriter(aux, "liquidations")
    w.add_aux("liquidation", "deribit", "BTC-PERPETUAL", T0, T0, (6400.0, 10.0, "buy", "x"))
    w.commit()
    with pytest.raises(CatalogError, match="no replayable data matches the selection: the "
                                           "catalog holds no replayable data"):
        open_catalog(aux).load_store()


def test_ctrl_c_during_a_commit_moves_every_partition_or_none(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Ctrl-C that lands while a commit moves its partitions into place is acted on once
    they all are: the import is whole (never half of a file's days and instruments)."""
    import signal

    from backtest.catalog import writer as writer_mod

    real = writer_mod.os.replace
    calls: list[int] = []

    def replace_then_ctrl_c(src: object, dst: object) -> None:
        real(src, dst)
        calls.append(1)
        if len(calls) == 1:
            signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(writer_mod.os, "replace", replace_then_ctrl_c)
    events = [Trade(f"deribit:{s}", 1.0, 2.0, Side.BUY, s, T0 + d * 86_400 * 10**9, T0 + d * 86_400 * 10**9)
              for s in ("BTC-PERPETUAL", "ETH-PERPETUAL") for d in range(3)]
    with pytest.raises(KeyboardInterrupt):
        write_events(tmp_path / "cat", "trades", events)
    monkeypatch.setattr(writer_mod.os, "replace", real)
    assert len(open_catalog(tmp_path / "cat").files()) == 6
    assert not [p for p in (tmp_path / "cat").iterdir() if p.name.startswith(".staging-")]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_an_empty_or_cut_capture_is_one_line_naming_it_once(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An empty capture is refused as volta replay refuses it (not imported as '0 rows', exit
    0), and a cut one is named once, with its line."""
    import gzip

    from backtest import data_cli

    empty = tmp_path / "empty.jsonl.gz"
    with gzip.open(empty, "wb"):
        pass
    cut = tmp_path / "cut.jsonl.gz"
    with gzip.open(cut, "wt") as f:
        for i in range(2000):
            f.write(f'{{"ts":{T0 + i},"venue":"okx","kind":"ws","url":"u","data":"{i}"}}\n')
    cut.write_bytes(cut.read_bytes()[:-100])
    for f, what in ((empty, f"{empty}: empty capture (no records)"),
                    (cut, f"{cut}:")):
        assert data_cli.main(["import", "capture", str(f), "--to", str(tmp_path / "cat"),
                              "--quiet"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"volta data: {what}") and err.count(str(f)) == 1, err
    assert not list((tmp_path / "cat").rglob("*.parquet"))


def test_two_datasets_of_one_book_or_trade_stream_overlapping_in_time_are_refused(
        tmp_path: Path) -> None:
    """Binance trades and aggTrades of one symbol and day (or two books of one instrument) in
    one selection would replay every trade (every book) twice: refused, naming them and the
    key that selects one. Two captures of one day at different times replay together."""
    cat = tmp_path / "cat"
    iid = "binance-usdm:BTCUSDT"
    write_events(cat, "trades", [Trade(iid, 6e4, 0.1, Side.BUY, "1", T0, T0),
                                 Trade(iid, 6e4, 0.2, Side.BUY, "2", T0 + 10, T0 + 10)])
    write_events(cat, "aggTrades", [Trade(iid, 6e4, 0.3, Side.BUY, "a", T0 + 5, T0 + 5)])
    with pytest.raises(CatalogError) as exc:
        open_catalog(cat).load_store()
    day = open_catalog(cat).files()[0].day
    assert str(exc.value) == (
        f"{cat}: {iid} {day}: trade rows of datasets aggTrades and trades overlap in time: the "
        "backtest would replay both; select one with [backtest.data] datasets")
    assert len(open_catalog(cat).load_store(datasets=["trades"]).events) == 2
    later = tmp_path / "later"
    write_events(later, "capture_a", [Trade(iid, 6e4, 0.1, Side.BUY, "1", T0, T0)])
    write_events(later, "capture_b", [Trade(iid, 6e4, 0.1, Side.BUY, "2", T0 + 60, T0 + 60)])
    assert len(open_catalog(later).load_store().events) == 2
