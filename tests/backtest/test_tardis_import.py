"""Tardis.dev CSV import: every dataset, the options chain as the live venue's option summaries,
integrity checks without sequence numbers, symbol mapping, and the three-command flow from a
downloaded Deribit day to a backtest report of the options market maker."""

from __future__ import annotations

import gzip
import json
import shutil
import sys
from pathlib import Path

import msgspec
import orjson
import pytest

from adapters.deribit.codec import DeribitCodec
from backtest import cli as backtest_cli
from backtest import data_cli
from backtest.catalog import open_catalog
from backtest.importers import DataImportError, import_files
from backtest.importers.symbols import SymbolResolver, UnknownSymbol, instrument_from_rules
from engine.model import (
    BookDelta,
    BookSnapshot,
    FundingRate,
    InstrumentKind,
    MarkPrice,
    OptionSummary,
    OptionType,
    Quote,
    Side,
    Trade,
)

sys.path.insert(0, str(Path(__file__).parent))
from tardis_fixture import write_deribit_day  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
H = "exchange,symbol,timestamp,local_timestamp"
# The example row of Tardis' options_chain documentation (Deribit, 2020-06-08).
DOC_CHAIN_ROW = ("deribit,BTC-9JUN20-9875-P,1591574399413000,1591574400196008,put,9875,"
                 "1591689600000000,0.1,0.0295,0.0205,15.0,55.91,0.0235,15.0,68.94,0.02210436,"
                 "62.89,SYN.BTC-9JUN20,9756.36,-0.61752,0.00103,2.24964,-53.05655,-0.22796")
CHAIN_H = (f"{H},type,strike_price,expiration,open_interest,last_price,bid_price,bid_amount,"
           "bid_iv,ask_price,ask_amount,ask_iv,mark_price,mark_iv,underlying_index,"
           "underlying_price,delta,gamma,vega,theta,rho")


def _gz(path: Path, lines: list[str]) -> Path:
    with gzip.open(path, "wt", encoding="utf-8", newline="") as f:
        f.write("\n".join(lines) + "\n")
    return path


def _events(cat: Path, **kw: object) -> list:
    return open_catalog(cat).load_store(**kw).events


def test_options_chain_row_gives_the_live_venues_option_summary(tmp_path: Path) -> None:
    f = _gz(tmp_path / "deribit_options_chain_2020-06-08_OPTIONS.csv.gz", [CHAIN_H, DOC_CHAIN_ROW])
    import_files("tardis", [f], tmp_path / "cat", progress=False)
    evs = _events(tmp_path / "cat")
    summary = next(e for e in evs if type(e) is OptionSummary)
    # independent arithmetic from the row: IVs in percent -> fractions, µs -> ns
    assert summary.instrument_id == "deribit:BTC-9JUN20-9875-P"
    assert (summary.mark_iv, summary.bid_iv, summary.ask_iv) == (62.89 / 100, 55.91 / 100,
                                                                 68.94 / 100)
    assert (summary.delta, summary.gamma, summary.vega, summary.theta) == (
        -0.61752, 0.00103, 2.24964, -53.05655)
    assert summary.underlying_price == 9756.36 and summary.open_interest == 0.1
    assert summary.ts_event == 1591574399413000 * 1000 and summary.ts_recv == 1591574400196008000
    # the live codec on the equivalent ticker notification gives the same summary
    ticker = {"jsonrpc": "2.0", "method": "subscription", "params": {
        "channel": "ticker.BTC-9JUN20-9875-P.raw", "data": {
            "timestamp": 1591574399413, "instrument_name": "BTC-9JUN20-9875-P",
            "best_bid_price": 0.0205, "best_bid_amount": 15.0, "best_ask_price": 0.0235,
            "best_ask_amount": 15.0, "mark_price": 0.02210436, "index_price": 9750.0,
            "mark_iv": 62.89, "bid_iv": 55.91, "ask_iv": 68.94, "underlying_price": 9756.36,
            "open_interest": 0.1, "last_price": 0.0295,
            "greeks": {"delta": -0.61752, "gamma": 0.00103, "vega": 2.24964,
                       "theta": -53.05655, "rho": -0.22796}}}}
    live = DeribitCodec().decode(orjson.dumps(ticker), 1591574400196008000)
    live_summary = next(e for e in live if type(e) is OptionSummary)
    assert msgspec.structs.replace(live_summary, ts_event=summary.ts_event) == summary
    live_quote = next(e for e in live if type(e) is Quote)
    quote = next(e for e in evs if type(e) is Quote)
    assert (quote.bid_price, quote.bid_size, quote.ask_price, quote.ask_size) == (
        live_quote.bid_price, live_quote.bid_size, live_quote.ask_price, live_quote.ask_size)
    snap = next(e for e in evs if type(e) is BookSnapshot)
    assert snap.bids == ((0.0205, 15.0),) and snap.asks == ((0.0235, 15.0),)
    mark = next(e for e in evs if type(e) is MarkPrice)
    assert mark.mark_price == 0.02210436 and mark.index_price != mark.index_price  # unpriced
    inst = open_catalog(tmp_path / "cat").instruments()[0]
    assert inst.kind is InstrumentKind.OPTION and inst.option_type is OptionType.PUT
    assert inst.strike == 9875.0 and inst.expiry_ns == 1591689600 * 10**9  # 2020-06-09 08:00Z
    assert inst.premium_in_coin and inst.inverse and inst.settle == "BTC"


def test_every_tardis_dataset_and_missing_values(tmp_path: Path) -> None:
    t = 1600000000000000
    files = [
        _gz(tmp_path / "deribit_quotes_2020-09-13_BTC-PERPETUAL.csv.gz", [
            f"{H},ask_amount,ask_price,bid_price,bid_amount",
            f"deribit,BTC-PERPETUAL,{t},{t + 5},1000,10300.5,10300,2000",
            f"deribit,BTC-PERPETUAL,{t + 1},{t + 6},1000,10300.5,,"]),
        _gz(tmp_path / "deribit_derivative_ticker_2020-09-13_BTC-PERPETUAL.csv.gz", [
            f"{H},funding_timestamp,funding_rate,predicted_funding_rate,open_interest,"
            "last_price,index_price,mark_price",
            f"deribit,BTC-PERPETUAL,{t},{t + 7},,0.0001,0.00012,5000000,10300,10298.1,10300.2",
            f"deribit,BTC-PERPETUAL,{t + 2},{t + 8},,,,5000010,10301,,"]),
        _gz(tmp_path / "deribit_book_snapshot_25_2020-09-13_BTC-PERPETUAL.csv.gz", [
            f"{H}," + ",".join(f"asks[{i}].price,asks[{i}].amount,bids[{i}].price,bids[{i}].amount"
                               for i in range(25)),
            f"deribit,BTC-PERPETUAL,{t},{t + 9},10300.5,100,10300,200,10301,50,10299.5,70"
            + ",,,," * 23]),
        _gz(tmp_path / "deribit_liquidations_2020-09-13_BTC-PERPETUAL.csv.gz", [
            f"{H},id,side,price,amount", f"deribit,BTC-PERPETUAL,{t},{t + 3},liq-1,sell,10200,500"]),
        _gz(tmp_path / "binance-futures_trades_2020-09-13_BTCUSDT.csv.gz", [
            f"{H},id,side,price,amount",
            f"binance-futures,BTCUSDT,{t},{t + 4},99,unknown,10310.1,0.5"]),
    ]
    res = import_files("tardis", files, tmp_path / "cat", progress=False)
    assert [f["dataset"] for f in res.files] == ["quotes", "derivative_ticker",
                                                  "book_snapshot_25", "liquidations", "trades"]
    evs = _events(tmp_path / "cat")
    q = [e for e in evs if type(e) is Quote]
    assert (q[0].bid_price, q[0].bid_size, q[0].ask_price, q[0].ask_size) == (10300.0, 2000.0,
                                                                              10300.5, 1000.0)
    assert q[1].bid_price != q[1].bid_price  # empty field: NaN ("unpriced"), never 0
    marks = [e for e in evs if type(e) is MarkPrice]
    assert [(m.mark_price, m.index_price) for m in marks] == [(10300.2, 10298.1)]
    funding = [e for e in evs if type(e) is FundingRate]
    assert [(f.rate, f.next_funding_ns) for f in funding] == [(0.0001, 0)]
    snap = next(e for e in evs if type(e) is BookSnapshot)
    assert snap.bids == ((10300.0, 200.0), (10299.5, 70.0))
    assert snap.asks == ((10300.5, 100.0), (10301.0, 50.0))
    trade = next(e for e in evs if type(e) is Trade)
    assert trade.instrument_id == "binance-usdm:BTCUSDT" and trade.aggressor is None
    cat = open_catalog(tmp_path / "cat")
    liq = cat.to_arrow("liquidation").to_pylist()
    assert liq[0]["side"] == "sell" and liq[0]["price"] == 10200.0 and liq[0]["id"] == "liq-1"
    tick = cat.to_arrow("ticker").to_pylist()
    assert [r["open_interest"] for r in tick] == [5000000.0, 5000010.0]
    assert tick[1]["predicted_funding_rate"] is None


def test_l2_events_resets_and_integrity_without_sequence_numbers(tmp_path: Path) -> None:
    t = 1585699200245000
    rows = [f"{H},is_snapshot,side,price,amount",
            f"deribit,BTC-PERPETUAL,{t - 5},{t - 1},false,bid,6400,10",   # before any snapshot
            f"deribit,BTC-PERPETUAL,{t},{t + 100},true,ask,6421.5,18640",
            f"deribit,BTC-PERPETUAL,{t},{t + 100},true,ask,6422,1190",
            f"deribit,BTC-PERPETUAL,{t},{t + 100},true,bid,6421,500",
            f"deribit,BTC-PERPETUAL,{t + 10},{t + 110},false,bid,6421,0",
            f"deribit,BTC-PERPETUAL,{t + 10},{t + 110},false,bid,6420.5,700",
            f"deribit,BTC-PERPETUAL,{t + 20},{t + 120},false,bid,6423,5",      # crossed
            f"deribit,BTC-PERPETUAL,{t + 90_000_000},{t + 90_000_100},true,ask,6430,10",  # reset
            f"deribit,BTC-PERPETUAL,{t + 90_000_000},{t + 90_000_100},true,bid,6429.5,10"]
    f = _gz(tmp_path / "deribit_incremental_book_L2_2020-04-01_BTC-PERPETUAL.csv.gz", rows)
    res = import_files("tardis", [f], tmp_path / "cat", progress=False)
    chk = res.files[0]["integrity"]
    assert chk["deltas_before_first_snapshot"] == 1
    assert chk["snapshots"] == 2 and chk["snapshot_resets"] == 1
    assert chk["crossed_books"] == 1
    assert chk["silences_over_threshold"] == 1 and chk["longest_silence_s"] == round((90_000_100 - 120) / 1e6, 3)
    evs = _events(tmp_path / "cat")
    assert [type(e) for e in evs] == [BookSnapshot, BookDelta, BookDelta, BookSnapshot]
    s0, d1 = evs[0], evs[1]
    assert s0.asks == ((6421.5, 18640.0), (6422.0, 1190.0)) and s0.bids == ((6421.0, 500.0),)
    assert d1.bids == ((6421.0, 0.0), (6420.5, 700.0)) and d1.asks == ()  # best first
    assert d1.prev_seq == -1 and d1.seq == s0.seq + 1  # no venue sequence: no continuity claim
    assert (d1.ts_event, d1.ts_recv) == ((t + 10) * 1000, (t + 110) * 1000)


def test_symbol_mapping_per_venue_and_unknown_symbols() -> None:
    cm = instrument_from_rules("binance-coinm", "BTCUSD_PERP")
    assert cm.inverse and cm.contract_size == 100.0 and cm.kind is InstrumentKind.PERPETUAL
    okx = instrument_from_rules("okx", "BTC-USD-220624-30000-C")
    assert okx.expiry_ns == 1656057600 * 10**9 and okx.strike == 30000.0  # 2022-06-24 08:00Z
    assert okx.is_call and okx.underlying == "BTC"
    bybit = instrument_from_rules("bybit", "BTC-30JUN23-30000-P")
    assert bybit.settle == "USDC" and not bybit.inverse and bybit.expiry_ns == 1688112000 * 10**9
    bo = instrument_from_rules("binance-options", "ETH-230630-1900-C")
    assert bo.quote == "USDT" and bo.strike == 1900.0
    fut = instrument_from_rules("deribit", "BTC-25SEP20")
    assert fut.kind is InstrumentKind.FUTURE and fut.expiry_ns == 1601020800 * 10**9
    assert instrument_from_rules("deribit", "BTC-5JUN20-0d5-C").strike == 0.5
    with pytest.raises(UnknownSymbol, match="'DOGE-PERPETUAL'.*--instruments"):
        instrument_from_rules("deribit", "DOGE-PERPETUAL")
    with pytest.raises(UnknownSymbol, match="'BTC-WHENEVER-X'"):
        SymbolResolver().resolve("deribit", "BTC-WHENEVER-X")


def test_bad_input_is_one_clear_line_and_changes_nothing(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    cat = tmp_path / "cat"
    good = _gz(tmp_path / "deribit_trades_2020-04-01_BTC-PERPETUAL.csv.gz",
               [f"{H},id,side,price,amount", "deribit,BTC-PERPETUAL,1,2,a,buy,6400,10"])
    assert data_cli.main(["import", "tardis", str(good), "--to", str(cat), "--quiet"]) == 0
    before = sorted(p.relative_to(cat) for p in cat.rglob("*"))
    unknown = _gz(tmp_path / "deribit_trades_2020-04-01_XRP-PERPETUAL.csv.gz",
                  [f"{H},id,side,price,amount", "deribit,XRP-PERPETUAL,1,2,a,buy,0.2,10"])
    bad_row = _gz(tmp_path / "deribit_trades_2020-04-02_BTC-PERPETUAL.csv.gz",
                  [f"{H},id,side,price,amount", "deribit,BTC-PERPETUAL,3,4,b,buy,6400,10",
                   "deribit,BTC-PERPETUAL,5,6,c,buy,not-a-price,10"])
    not_tardis = tmp_path / "prices.csv"
    not_tardis.write_text("a,b\n1,2\n")
    for f, msg in ((unknown, "unknown symbol 'XRP-PERPETUAL'"), (bad_row, "not-a-price"),
                   (not_tardis, "not a Tardis CSV file"),
                   (tmp_path / "missing.csv.gz", "no such file")):
        assert data_cli.main(["import", "tardis", str(f), "--to", str(cat), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert msg in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert sorted(p.relative_to(cat) for p in cat.rglob("*")) == before




def test_three_commands_from_a_tardis_day_to_an_options_mm_report(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = write_deribit_day(tmp_path / "download", minutes=12)
    # the layout of a checkout: config/ next to var/ (the config names ../var/catalog)
    (tmp_path / "config").mkdir()
    cfg = tmp_path / "config" / "backtest-deribit-options-mm.toml"
    shutil.copy(ROOT / "config" / "backtest-deribit-options-mm.toml", cfg)
    cat = tmp_path / "var" / "catalog"
    # 1. import (options_chain, option trades, BTC-PERPETUAL trades and L2)
    assert data_cli.main(["import", "tardis", *map(str, files.values()), "--to", str(cat),
                          "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "options_chain" in out and "incremental_book_L2" in out and "lines/s" in out
    # 2. list
    assert data_cli.main(["ls", str(cat)]) == 0
    listing = capsys.readouterr().out
    assert "BTC-PERPETUAL" in listing and "2020-04-01" in listing and "BTC-10APR20-6500-C" in listing
    # 3. backtest, from another working directory (paths resolve against the config file)
    report = tmp_path / "report"
    assert backtest_cli.main([str(cfg), "--output", str(report), "--quiet"]) == 0
    summary = json.loads((report / "summary.json").read_text())
    assert summary["data"]["source"] == "catalog"
    assert summary["fills"]["count"] > 0 and summary["engine"]["counters"]["chain_refreshes"] > 10
    assert (report / "report.html").stat().st_size > 10_000
    # the report says where the data came from, and the option premiums' currency (coin)
    page = (report / "report.html").read_text()
    assert f"Data: catalog {cat} (incremental_book_L2, options_chain, trades; 2020-04-01)" \
        in page and "venue-generated" not in page
    assert "<th>price in</th>" in page and "<td>BTC</td>" in page and '"unit":"BTC"' in page
    # re-importing the day replaces it: the same rows, the same result
    rows = [r["rows"] for r in open_catalog(cat).summary()]
    assert data_cli.main(["import", "tardis", *map(str, files.values()), "--to", str(cat),
                          "--quiet"]) == 0
    assert [r["rows"] for r in open_catalog(cat).summary()] == rows
    again = tmp_path / "again"
    assert backtest_cli.main([str(cfg), "--output", str(again), "--quiet"]) == 0
    assert (again / "fills.csv").read_bytes() == (report / "fills.csv").read_bytes()


def test_trades_sides_and_ids(tmp_path: Path) -> None:
    f = _gz(tmp_path / "okex-swap_trades_2022-05-13_BTC-USDT-SWAP.csv.gz", [
        f"{H},id,side,price,amount",
        "okex-swap,BTC-USDT-SWAP,1652400000000000,1652400000100000,t1,buy,29000.1,3",
        "okex-swap,BTC-USDT-SWAP,1652400000000001,1652400000100001,t2,sell,29000,1"])
    import_files("tardis", [f], tmp_path / "cat", progress=False)
    t1, t2 = _events(tmp_path / "cat")
    assert (t1.instrument_id, t1.aggressor, t1.trade_id, t1.size) == (
        "okx:BTC-USDT-SWAP", Side.BUY, "t1", 3.0)
    assert t2.aggressor is Side.SELL
    with pytest.raises(DataImportError, match="no such file"):
        import_files("tardis", [tmp_path / "nope.csv.gz"], tmp_path / "cat", progress=False)


def _big_l2(path: Path, updates: int) -> Path:
    t = 1585699200245000
    with gzip.open(path, "wt", encoding="utf-8", newline="") as f:
        f.write(f"{H},is_snapshot,side,price,amount\n")
        for i in range(20):
            f.write(f"deribit,BTC-PERPETUAL,{t},{t + 1},true,bid,{6000 - i * 0.5},100\n"
                    f"deribit,BTC-PERPETUAL,{t},{t + 1},true,ask,{6000.5 + i * 0.5},100\n")
        for n in range(updates):
            t += 1000
            f.write(f"deribit,BTC-PERPETUAL,{t},{t + 7},false,{'bid' if n % 2 else 'ask'},"
                    f"{6000 - (n % 10) * 0.5 if n % 2 else 6000.5 + (n % 10) * 0.5},{n % 50 + 1}\n")
    return path


def test_import_memory_is_bounded_by_the_buffers_not_the_file(tmp_path: Path) -> None:
    import tracemalloc

    peaks = []
    for n in (20_000, 80_000):
        f = _big_l2(tmp_path / f"deribit_incremental_book_L2_2020-04-01_BTC-PERPETUAL-{n}.csv.gz",
                    n)
        f = f.rename(tmp_path / "deribit_incremental_book_L2_2020-04-01_BTC-PERPETUAL.csv.gz")
        tracemalloc.start()
        res = import_files("tardis", [f], tmp_path / f"cat{n}", progress=False, chunk_rows=4096)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert res.rows == n + 1
    # 4x the rows, about the same peak (the writer spills 4096-row parts; no whole-file list)
    assert peaks[1] < 1.5 * peaks[0], peaks


def test_skip_unknown_counts_and_skips_rows_of_unknown_symbols(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = _gz(tmp_path / "deribit_trades_2022-06-01_OPTIONS.csv.gz", [
        f"{H},id,side,price,amount",
        "deribit,BTC-3JUN22-30000-C,1654041600000000,1654041600100000,1,buy,0.05,1",
        "deribit,SOL_USDC-3JUN22-40-C,1654041600000001,1654041600100001,2,buy,1.5,10",
        "deribit,SOL_USDC-3JUN22-40-C,1654041600000002,1654041600100002,3,sell,1.4,10"])
    cat = tmp_path / "cat"
    assert data_cli.main(["import", "tardis", str(f), "--to", str(cat), "--quiet"]) == 2
    assert "unknown symbol 'SOL_USDC-3JUN22-40-C'" in capsys.readouterr().err
    assert data_cli.main(["import", "tardis", str(f), "--to", str(cat), "--quiet",
                          "--skip-unknown"]) == 0
    assert "skipped 2 rows of 1 unknown symbols: SOL_USDC-3JUN22-40-C (2)" in \
        capsys.readouterr().out
    assert [e.trade_id for e in _events(cat)] == ["1"]


def test_binance_futures_book_snapshot_5_rows_as_tardis_publishes_them(tmp_path: Path) -> None:
    """Two rows of Tardis' public binance-futures book_snapshot_5 sample for BTCUSDT on
    2020-09-01 (the numbers as published with nautilus_trader's test data), in its header."""
    head = H + "," + ",".join(f"asks[{i}].price,asks[{i}].amount,bids[{i}].price,bids[{i}].amount"
                              for i in range(5))
    rows = ["binance-futures,BTCUSDT,1598918403696000,1598918403810979,11657.08,1.714,11657.07,"
            "10.896,11657.54,5.4,11656.97,0.2,11657.56,0.238,11655.78,0.2,11657.61,0.077,"
            "11655.77,0.98,11657.92,0.918,11655.68,0.111",
            "binance-futures,BTCUSDT,1598918403888000,1598918403894256,11657.08,1.476,11657.07,"
            "10.896,11657.54,5.4,11656.97,0.2,11657.56,0.238,11655.78,0.2,11657.61,0.077,"
            "11655.77,0.98,11657.92,0.918,11655.68,0.111"]
    f = _gz(tmp_path / "binance-futures_book_snapshot_5_2020-09-01_BTCUSDT.csv.gz", [head, *rows])
    res = import_files("tardis", [f], tmp_path / "cat", progress=False)
    assert res.files[0]["dataset"] == "book_snapshot_5"
    assert res.files[0]["integrity"]["snapshot_resets"] == 0  # every row is a snapshot here
    s1, s2 = _events(tmp_path / "cat")
    assert s1.instrument_id == "binance-usdm:BTCUSDT"
    assert s1.bids == ((11657.07, 10.896), (11656.97, 0.2), (11655.78, 0.2), (11655.77, 0.98),
                       (11655.68, 0.111))
    assert s1.asks[0] == (11657.08, 1.714) and s2.asks[0] == (11657.08, 1.476)
    assert (s1.ts_event, s1.ts_recv) == (1598918403696000000, 1598918403810979000)
    assert s2.seq == s1.seq + 1


def test_an_error_names_the_line_of_the_bad_row(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """The line in the message is the offending row's own line of the file (the header is line
    1), also when it is the first row, when the symbol is unknown, and for a book update whose
    time is malformed (read as one message with the rows of the same time)."""
    trades = f"{H},id,side,price,amount"
    l2 = f"{H},is_snapshot,side,price,amount"
    cases = [
        (_gz(tmp_path / "deribit_trades_2020-04-01_BTC-PERPETUAL.csv.gz",
             [trades, "deribit,BTC-PERPETUAL,3,4,b,buy,abc,10"]), ":2: ", "'abc'"),
        (_gz(tmp_path / "deribit_trades_2020-04-02_BTC-PERPETUAL.csv.gz",
             [trades, "deribit,BTC-PERPETUAL,3,4,b,buy,6400,10",
              "deribit,XRP-PERPETUAL,5,6,c,buy,0.2,10"]), ":3: ", "unknown symbol 'XRP-PERPETUAL'"),
        (_gz(tmp_path / "deribit_incremental_book_L2_2020-04-03_BTC-PERPETUAL.csv.gz",
             [l2, "deribit,BTC-PERPETUAL,1,2,true,bid,6400,10",
              "deribit,BTC-PERPETUAL,1,2,true,ask,6401,10",
              "deribit,BTC-PERPETUAL,x3,4,false,bid,6400,0",
              "deribit,BTC-PERPETUAL,x3,4,false,bid,6399,5",
              "deribit,BTC-PERPETUAL,5,6,false,ask,6401,7"]), ":4: ", "'x3'"),
        (_gz(tmp_path / "deribit_incremental_book_L2_2020-04-04_BTC-PERPETUAL.csv.gz",
             [l2, "deribit,BTC-PERPETUAL,1,2,true,bid,6400,10",
              "deribit,BTC-PERPETUAL,1,2,true,ask,6401,10",
              "deribit,BTC-PERPETUAL,3,4,false,bid,6400,0",
              "deribit,BTC-PERPETUAL,3,4,false,middle,6399,5"]), ":5: ", "'middle'"),
    ]
    for f, where, what in cases:
        assert data_cli.main(["import", "tardis", str(f), "--to", str(tmp_path / "cat"),
                              "--quiet"]) == 2
        err = capsys.readouterr().err.strip()
        assert f"{f}{where}" in err and what in err and len(err.splitlines()) == 1, err


@pytest.mark.parametrize(("dataset", "row", "what"), [
    ("trades", "deribit,BTC-PERPETUAL,3,4,b,buy,nan,10", "price 'nan' is not a finite number above 0"),
    ("trades", "deribit,BTC-PERPETUAL,3,4,b,buy,6400,-10", "size '-10' is not a finite number above 0"),
    ("trades", "deribit,BTC-PERPETUAL,3,4,b,buy,inf,10", "price 'inf' is not a finite number above 0"),
    ("trades", "deribit,BTC-PERPETUAL,3,4,b,buy", "fewer fields than the header's 8"),
    ("incremental_book_L2", "deribit,BTC-PERPETUAL,3,4,false,bid,6400,-5",
     "size '-5' is not a finite number >= 0"),
    ("incremental_book_L2", "deribit,BTC-PERPETUAL,3,4,false,ask,0,5",
     "price '0' is not a finite number above 0"),
    ("quotes", "deribit,BTC-PERPETUAL,3,4,10,6401,nan,10", "price 'nan' is not a finite number above 0"),
])
def test_a_trade_or_level_no_venue_sends_is_a_malformed_row_not_data(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], dataset: str, row: str, what: str) -> None:
    """A trade or book level at a NaN, infinite, zero or negative price, or of a negative size,
    was imported as it was and replayed into the book and the matching as if real. It is a
    malformed row now: one line naming the file and line, nothing written."""
    header = {"trades": f"{H},id,side,price,amount",
              "incremental_book_L2": f"{H},is_snapshot,side,price,amount",
              "quotes": f"{H},ask_amount,ask_price,bid_price,bid_amount"}[dataset]
    first = {"trades": "deribit,BTC-PERPETUAL,1,2,a,buy,6400,10",
             "incremental_book_L2": "deribit,BTC-PERPETUAL,1,2,true,bid,6400,10",
             "quotes": "deribit,BTC-PERPETUAL,1,2,10,6401,6400,10"}[dataset]
    f = _gz(tmp_path / f"deribit_{dataset}_2020-04-01_BTC-PERPETUAL.csv.gz", [header, first, row])
    cat = tmp_path / "cat"
    assert data_cli.main(["import", "tardis", str(f), "--to", str(cat), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"volta data: {f}:3: malformed {dataset} row: {what}", err
    assert not any(cat.rglob("*.parquet"))


def test_a_truncated_download_is_named_as_such_not_as_a_malformed_row(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    full = write_deribit_day(tmp_path / "day", minutes=5)["trades"]
    cut = tmp_path / full.name
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    assert data_cli.main(["import", "tardis", str(cut), "--to", str(tmp_path / "cat"),
                          "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"volta data: {cut}: unreadable: ") and "malformed" not in err, err
    assert err.count(str(cut)) == 1 and "ended before the end-of-stream" in err, err
    assert not (tmp_path / "cat").exists() or not list((tmp_path / "cat").rglob("*.parquet"))


def test_ctrl_c_says_which_files_were_imported_and_which_was_not(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C while the second file is read: the first (committed) is listed as imported, the
    message names the second as not imported; Ctrl-C during the first file's moves into place:
    the first is whole and listed, not called 'not written'."""
    import signal

    from backtest.catalog import writer as writer_mod
    from backtest.importers.tardis import TardisImporter

    files = write_deribit_day(tmp_path / "download", minutes=2)
    first, second = str(files["trades"]), str(files["l2"])
    real_read = TardisImporter.read

    def read_then_ctrl_c(self: TardisImporter, path: Path, sink: object, aux: object) -> str:
        if path.name == files["l2"].name:
            raise KeyboardInterrupt
        return real_read(self, path, sink, aux)  # type: ignore[arg-type]

    monkeypatch.setattr(TardisImporter, "read", read_then_ctrl_c)
    cat = tmp_path / "cat"
    assert data_cli.main(["import", "tardis", first, second, "--to", str(cat), "--quiet"]) == 130
    io = capsys.readouterr()
    assert f"{first}: trades, 158 rows" in io.out and second not in io.out
    assert io.err.strip() == (f"volta data: interrupted: {second} was not imported (the catalog "
                              "keeps what it had); the 1 file listed above was"), io.err
    assert {f.dataset for f in open_catalog(cat).files()} == {"trades"}

    monkeypatch.setattr(TardisImporter, "read", real_read)
    real_replace = writer_mod.os.replace
    fired: list[int] = []

    def replace_then_ctrl_c(src: object, dst: object) -> None:
        real_replace(src, dst)
        if not fired:
            fired.append(1)
            signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(writer_mod.os, "replace", replace_then_ctrl_c)
    cat2 = tmp_path / "cat2"
    assert data_cli.main(["import", "tardis", first, second, "--to", str(cat2), "--quiet"]) == 130
    io = capsys.readouterr()
    assert f"{first}: trades, 158 rows" in io.out and f"{second} was not imported" in io.err, io
    assert {f.dataset for f in open_catalog(cat2).files()} == {"trades"}


def test_stale_after_must_be_a_positive_number_of_seconds(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = _gz(tmp_path / "deribit_trades_2020-04-01_BTC-PERPETUAL.csv.gz",
            [f"{H},id,side,price,amount", "deribit,BTC-PERPETUAL,1,2,a,buy,6400,10"])
    for bad in ("-5", "0", "nan", "x"):
        assert data_cli.main(["import", "tardis", str(f), "--to", str(tmp_path / "cat"),
                              "--stale-after", bad, "--quiet"]) == 2
        err = capsys.readouterr().err
        assert "--stale-after" in err and "expected a number of seconds > 0" in err, (bad, err)
    assert not (tmp_path / "cat").exists()
