"""Binance public data (data.binance.vision) import: each dataset's documented columns, with and
without the header row, zip and plain CSV, market from the download path or --venue; and
--instruments with a venue's real instrument list."""

from __future__ import annotations

import gzip
import io
import json
import os
import zipfile
from pathlib import Path

import pytest

from backtest import data_cli
from backtest.catalog import open_catalog
from backtest.importers import DataImportError, import_files
from engine.model import FundingRate, Quote, Side, Trade

ROOT = Path(__file__).resolve().parents[2]
MARKETDATA = Path(os.environ.get("VOLTA_MARKETDATA", ROOT / ".." / "shared" / "marketdata"))
OKX_INSTRUMENTS = MARKETDATA / "okx" / "okx-instruments-2022-05-13.jsonl.gz"
MS = 1_000_000


def _zip(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(path.with_suffix(".csv").name, "\n".join(lines) + "\n")
    return path


def test_spot_and_futures_trades_aggtrades_bookticker_funding(tmp_path: Path) -> None:
    um = tmp_path / "data" / "futures" / "um" / "daily"
    files = [
        # spot: no header row (the README's example row shape)
        _zip(tmp_path / "data" / "spot" / "daily" / "trades" / "BTCUSDT" /
             "BTCUSDT-trades-2024-08-08.zip",
             ["51175358,61000.01000000,0.00500000,305.00005000,1723075200123,True,True",
              "51175359,61000.02000000,0.01000000,610.00020000,1723075200124,False,True"]),
        # futures: newer files have a header row
        _zip(um / "trades" / "BTCUSDT" / "BTCUSDT-trades-2024-08-08.zip",
             ["id,price,qty,quote_qty,time,is_buyer_maker",
              "5120001,61010.1,0.003,183.0303,1723075200200,true"]),
        _zip(um / "aggTrades" / "BTCUSDT" / "BTCUSDT-aggTrades-2024-08-08.zip",
             ["agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,"
              "is_buyer_maker", "2200001,61010.2,0.010,5120002,5120004,1723075200300,false"]),
        _zip(um / "bookTicker" / "BTCUSDT" / "BTCUSDT-bookTicker-2024-08-08.zip",
             ["update_id,best_bid_price,best_bid_qty,best_ask_price,best_ask_qty,"
              "transaction_time,event_time",
              "4900000001,61010.0,1.234,61010.1,0.567,1723075200400,1723075200401"]),
        _zip(tmp_path / "BTCUSDT-fundingRate-2024-08.zip",  # monthly; market from --venue
             ["calc_time,funding_interval_hours,last_funding_rate",
              "1723075200000,8,0.00010000"]),
    ]
    import_files("binance", files[:4], tmp_path / "cat", progress=False)
    with pytest.raises(DataImportError, match="which Binance market"):
        import_files("binance", files[4:], tmp_path / "cat", progress=False)
    import_files("binance", files[4:], tmp_path / "cat", venue="binance-usdm", progress=False)
    evs = open_catalog(tmp_path / "cat").load_store().events
    spot = [e for e in evs if e.instrument_id == "binance-spot:BTCUSDT"]
    # isBuyerMaker True: the buyer rested, the seller took it
    assert [(e.aggressor, e.price, e.size, e.trade_id) for e in spot] == [
        (Side.SELL, 61000.01, 0.005, "51175358"), (Side.BUY, 61000.02, 0.01, "51175359")]
    assert spot[0].ts_event == spot[0].ts_recv == 1723075200123 * MS
    um_trades = [e for e in evs if type(e) is Trade and e.instrument_id == "binance-usdm:BTCUSDT"]
    assert [(e.trade_id, e.aggressor) for e in um_trades] == [("5120001", Side.SELL),
                                                              ("2200001", Side.BUY)]
    q = next(e for e in evs if type(e) is Quote)
    assert (q.bid_price, q.bid_size, q.ask_price, q.ask_size, q.seq) == (
        61010.0, 1.234, 61010.1, 0.567, 4900000001)
    assert (q.ts_event, q.ts_recv) == (1723075200400 * MS, 1723075200401 * MS)
    f = next(e for e in evs if type(e) is FundingRate)
    assert f.rate == 0.0001 and f.next_funding_ns == f.ts_recv == 1723075200000 * MS


def test_klines_bookdepth_metrics_are_notebook_tables(tmp_path: Path) -> None:
    um = tmp_path / "data" / "futures" / "um" / "daily"
    files = [
        _zip(um / "klines" / "BTCUSDT" / "1m" / "BTCUSDT-1m-2024-08-08.zip",
             ["open_time,open,high,low,close,volume,close_time,quote_volume,count,"
              "taker_buy_volume,taker_buy_quote_volume,ignore",
              "1723075200000,61000.0,61020.5,60990.0,61010.1,12.5,1723075259999,762500.1,321,"
              "6.2,378000.2,0"]),
        _zip(um / "bookDepth" / "BTCUSDT" / "BTCUSDT-bookDepth-2024-08-08.zip",
             ["timestamp,percentage,depth,notional", "2024-08-08 00:00:08,-1.00,1234.5,75000000.1",
              "2024-08-08 00:00:08,1.00,1100.0,67500000.2"]),
        _zip(um / "metrics" / "BTCUSDT" / "BTCUSDT-metrics-2024-08-08.zip",
             ["create_time,symbol,sum_open_interest,sum_open_interest_value,"
              "count_toptrader_long_short_ratio,sum_toptrader_long_short_ratio,"
              "count_long_short_ratio,sum_taker_long_short_vol_ratio",
              "2024-08-08 00:05:00,BTCUSDT,80000.1,4880000000.5,1.5,1.6,1.7,0.9"]),
    ]
    import_files("binance", files, tmp_path / "cat", progress=False)
    cat = open_catalog(tmp_path / "cat")
    k = cat.to_arrow("kline").to_pylist()[0]
    assert (k["interval"], k["open"], k["close"], k["trades"]) == ("1m", 61000.0, 61010.1, 321)
    assert k["ts_event"] == 1723075200000 * MS and k["ts_recv"] == 1723075259999 * MS
    depth = cat.to_arrow("book_depth").to_pylist()
    assert [(d["percentage"], d["depth"]) for d in depth] == [(-1.0, 1234.5), (1.0, 1100.0)]
    assert depth[0]["ts_event"] == (1723075200 + 8) * 10**9  # 2024-08-08 00:00:08 UTC
    m = cat.to_arrow("metrics").to_pylist()[0]
    assert m["open_interest"] == 80000.1 and m["taker_long_short_volume_ratio"] == 0.9
    with pytest.raises(Exception, match="no replayable data"):
        cat.load_store()  # none of these is replayed


def test_bad_binance_files_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    odd = tmp_path / "prices.zip"
    odd.write_bytes(b"PK\x03\x04junk")
    rowbad = _zip(tmp_path / "BTCUSDT-trades-2024-08-08.zip", ["1,abc,0.1,1,1723075200000,true"])
    empty_zip = tmp_path / "BTCUSDT-aggTrades-2024-08-08.zip"
    with zipfile.ZipFile(empty_zip, "w") as z:
        z.writestr("README.txt", "no csv here")
    for f, msg in ((odd, "not a Binance public-data file name"), (rowbad, "malformed trades row"),
                   (empty_zip, "holds no .csv file")):
        rc = data_cli.main(["import", "binance", str(f), "--venue", "binance-usdm", "--to",
                            str(tmp_path / "cat"), "--quiet"])
        err = capsys.readouterr().err
        assert rc == 2 and msg in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize(("dataset", "row", "what"), [
    ("trades", "2,nan,0.1,6000,1723075200001,true", "price 'nan' is not a finite number above 0"),
    ("trades", "2,60000,-0.1,6000,1723075200001,true", "size '-0.1' is not a finite number above 0"),
    ("trades", "2,0,0.1,0,1723075200001,true", "price '0' is not a finite number above 0"),
    ("trades", "2,60000,0.1", "3 fields, too few for the format"),
    ("aggTrades", "2,inf,0.1,1,1,1723075200001,true", "price 'inf' is not a finite number above 0"),
    ("bookTicker", "2,60000.0,-1.0,60000.1,1.0,1723075200001,1723075200001",
     "size '-1.0' is not a finite number >= 0"),
])
def test_a_trade_or_quote_no_venue_sends_is_a_malformed_row_not_data(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], dataset: str, row: str, what: str) -> None:
    """A trade at a NaN, infinite or zero price or of a negative size (or a quote of a negative
    size) was imported and replayed as if real; a short row said 'list index out of range'.
    Each is now one line naming the file and the row's line, nothing written."""
    first = {"trades": "1,60000,0.1,6000,1723075200000,true",
             "aggTrades": "1,60000,0.1,1,1,1723075200000,true",
             "bookTicker": "1,60000.0,1.0,60000.1,1.0,1723075200000,1723075200000"}[dataset]
    f = _zip(tmp_path / f"BTCUSDT-{dataset}-2024-08-08.zip", [first, row])
    cat = tmp_path / "cat"
    rc = data_cli.main(["import", "binance", str(f), "--venue", "binance-usdm", "--to", str(cat),
                        "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err == f"volta data: {f}:2: malformed {dataset} row: {what}", err
    assert not any(cat.rglob("*.parquet"))


@pytest.mark.skipif(not OKX_INSTRUMENTS.is_file(), reason=f"real data not present: {OKX_INSTRUMENTS}")
def test_instruments_from_the_venues_real_instrument_list(tmp_path: Path) -> None:
    """An OKX symbol the built-in rules do not know, resolved by the venue's own instrument list
    (a real `GET /api/v5/public/instruments` body, decoded by the OKX codec)."""
    with gzip.open(OKX_INSTRUMENTS, "rt") as f:
        records = [json.loads(line) for line in f]
    body = next(r["data"] for r in records if "instType=SWAP" in r["url"])
    inst_file = tmp_path / "okx-swap-instruments.json"
    inst_file.write_text(body)
    sym = next(d["instId"] for d in json.loads(body)["data"] if d["instId"].startswith("LTC-USDT"))
    trades = tmp_path / f"okex-swap_trades_2022-05-13_{sym}.csv.gz"
    with gzip.open(trades, "wt") as g:
        g.write("exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n"
                f"okex-swap,{sym},1652400000000000,1652400000100000,1,buy,70.1,5\n")
    with pytest.raises(DataImportError, match=f"unknown symbol '{sym}'"):
        import_files("tardis", [trades], tmp_path / "cat", progress=False)
    import_files("tardis", [trades], tmp_path / "cat", venue="okx", instruments=inst_file,
                 progress=False)
    inst = open_catalog(tmp_path / "cat").instruments()[0]
    listed = next(d for d in json.loads(body)["data"] if d["instId"] == sym)
    assert inst.symbol == sym and inst.tick_size == float(listed["tickSz"])
    assert inst.contract_size == float(listed["ctVal"])
    with pytest.raises(DataImportError, match="not a okx instrument list|no okx instruments"):
        bad = tmp_path / "bad.json"
        bad.write_text('{"code": "0", "data": []}')
        import_files("tardis", [trades], tmp_path / "cat2", venue="okx", instruments=bad,
                     progress=False)


def test_plain_csv_and_progress_line(tmp_path: Path) -> None:
    f = tmp_path / "data" / "spot" / "daily" / "aggTrades" / "ETHUSDT" / "ETHUSDT-aggTrades-2024-08-08.csv"
    f.parent.mkdir(parents=True)
    f.write_text("".join(f"{i},2600.{i % 100:02d},0.1,{i},{i},{1723075200000 + i},true,true\n"
                         for i in range(5000)))
    err = io.StringIO()
    from backtest.importers.stream import Progress

    p = Progress(True, stream=err)
    res = import_files("binance", [f], tmp_path / "cat", progress=False)
    assert res.rows == 5000
    p.start("x", 1, lambda: 1)
    p.tick(5000)
    p.done()
    assert "100%" in err.getvalue() and "5,000 lines" in err.getvalue() and "lines/s" in err.getvalue()
    p.start("y", 1, lambda: 1)  # the next file's line counts its own lines (not 5,010)
    p.tick(10)
    p.done()
    last = err.getvalue().rstrip("\n").split("\r")[-1].split()
    assert last[:5] == ["import", "y", "100%", "10", "lines"], last


def test_a_truncated_download_is_named_as_such_not_as_a_malformed_row(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    full = _zip(tmp_path / "full" / "BTCUSDT-trades-2024-08-08.zip",
                [f"{i},6{i % 1000:03d}0.1,0.01,{i},{1723075200000 + i},true" for i in range(20000)])
    cut = tmp_path / full.name
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    rc = data_cli.main(["import", "binance", str(cut), "--venue", "binance-usdm", "--to",
                        str(tmp_path / "cat"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith(f"volta data: {cut}: unreadable: "), err
    assert "malformed" not in err and err.count(str(cut)) == 1, err


BUY_ONCE = '''
import msgspec
from engine import Quote, Side, Strategy


class Cfg(msgspec.Struct, kw_only=True, frozen=True):
    instrument: str


class BuyOnce(Strategy[Cfg]):
    Config = Cfg

    def on_start(self) -> None:
        self.iid = self.ctx.instrument_id(self.config.instrument)
        self.done = False
        self.ctx.subscribe_ticker(self.iid)

    def on_ticker(self, ev: object) -> None:
        if not self.done and isinstance(ev, Quote) and ev.ask_price == ev.ask_price:
            self.done = True
            self.ctx.submit_limit(self.iid, Side.BUY, 0.01, ev.ask_price)
'''

BUY_ONCE_CONFIG = '''
[deployment]
name = "buy-once"
mode = "paper"
journal = "var/j.sqlite"
[logging]
level = "warning"
[venues.binance-usdm]
adapter = "backtest.exchange:ReplayExchange"
[venues.binance-usdm.params]
order_latency = { kind = "constant", ms = 1.0 }
response_latency = { kind = "constant", ms = 1.0 }
maker_fee = 0.0
taker_fee = 0.0004
[risk]
max_order_qty = 1.0
max_position_qty = 1.0
[books]
stale_after_s = 0.0
[[strategies]]
id = "buy"
class = "buy_once_strategy:BuyOnce"
venue = "binance-usdm"
[strategies.params]
instrument = "BTCUSDT"
[backtest]
seed = 1
[backtest.data]
catalog = "cat"
[backtest.report]
sample_interval_s = 60.0
'''


def _buy_once_backtest(tmp_path: Path, files: list[Path]) -> dict:
    """The files imported into tmp_path/cat, then a backtest that buys 0.01 BTCUSDT at the
    first quote's ask and holds it; returns summary.json."""
    from backtest import cli as backtest_cli

    import_files("binance", files, tmp_path / "cat", venue="binance-usdm", progress=False)
    (tmp_path / "buy_once_strategy.py").write_text(BUY_ONCE)
    (tmp_path / "bt.toml").write_text(BUY_ONCE_CONFIG)
    assert backtest_cli.main([str(tmp_path / "bt.toml"), "--output", str(tmp_path / "out"),
                              "--quiet"]) == 0
    return json.loads((tmp_path / "out" / "summary.json").read_text())


def test_a_backtest_trades_on_binance_book_ticker_data(tmp_path: Path) -> None:
    """bookTicker is the only book Binance public data has: a strategy can trade on it (the
    best bid and ask are the book, as the options chain's top of book is), not be denied
    BOOK_NOT_LIVE for every order."""
    t0 = 1722470400000  # 2024-08-01T00:00:00Z, ms
    book = _zip(tmp_path / "BTCUSDT-bookTicker-2024-08-01.zip",
                ["update_id,best_bid_price,best_bid_qty,best_ask_price,best_ask_qty,"
                 "transaction_time,event_time"]
                + [f"{i + 1},60000.0,1.0,60000.1,1.0,{t0 + i * 60_000},{t0 + i * 60_000}"
                   for i in range(30)])
    s = _buy_once_backtest(tmp_path, [book])
    assert s["orders"]["by_status"] == {"filled": 1}, s["orders"]
    assert s["fills"] == {"count": 1, "maker": 0, "taker": 1, "quantity": 0.01}
    # 0.01 BTC taken at 60,000.1, marked at the mid 60,000.05; taker fee 4 bps of 600.001 USD
    assert s["pnl"]["fees_usd"] == pytest.approx(0.01 * 60000.1 * 0.0004, abs=1e-4)
    assert s["pnl"]["total_usd"] == pytest.approx(0.01 * (60000.05 - 60000.1)
                                                  - 0.01 * 60000.1 * 0.0004, abs=1e-4)


def test_funding_from_the_funding_rate_file_is_paid_at_each_calc_time_at_its_rate(
        tmp_path: Path) -> None:
    """A fundingRate row is the rate settled at its calc_time: a long 0.01 BTC held from
    23:00 pays rate x mark x 0.01 at 00:00, 08:00 and 16:00 with 1, 2 and 3 bp (by hand:
    0.06, 0.12 and 0.18 USDT at a mark of 60,000.05), not the previous interval's rate one
    interval late."""
    t0 = 1722470400000  # 2024-08-01T00:00:00Z, ms
    book = _zip(tmp_path / "BTCUSDT-bookTicker-2024-08-01.zip",
                [f"{i + 1},60000.0,1.0,60000.1,1.0,{t0 + (i - 60) * 60_000},"
                 f"{t0 + (i - 60) * 60_000}" for i in range(20 * 60)])
    rates = _zip(tmp_path / "BTCUSDT-fundingRate-2024-08.zip",
                 ["calc_time,funding_interval_hours,last_funding_rate"]
                 + [f"{t0 + k * 8 * 3_600_000},8,{r}" for k, r in enumerate(("0.0001", "0.0002",
                                                                           "0.0003"))])
    s = _buy_once_backtest(tmp_path, [book, rates])
    paid = [(e["ts"] // MS, e["rate"], round(e["amount"], 8)) for e in s["funding"]["events"]]
    mark = 60000.05
    assert paid == [(t0 + k * 8 * 3_600_000, r, round(-0.01 * mark * r, 8))
                    for k, r in enumerate((0.0001, 0.0002, 0.0003))], paid
    assert s["pnl"]["funding_usd"] == pytest.approx(-0.01 * mark * 0.0006, abs=1e-4)


def test_a_day_with_no_data_inside_the_run_is_said_not_jumped_in_silence(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """bookTicker files for 2024-08-01 and 08-03, none for 08-02: the replay went from the
    first day's last quote to the third day's first as if the market had been quiet for a day.
    The gap is in summary.json (data.missing_days), on stderr and in the report."""
    files = []
    for day in (1, 3):
        t0 = 1722470400000 + (day - 1) * 86_400_000  # 2024-08-0<day>T00:00:00Z, ms
        files.append(_zip(tmp_path / f"BTCUSDT-bookTicker-2024-08-0{day}.zip",
                          [f"{i + 1},60000.0,1.0,60000.1,1.0,{t0 + i * 60_000},{t0 + i * 60_000}"
                           for i in range(5)]))
    s = _buy_once_backtest(tmp_path, files)
    assert s["data"]["days"] == ["2024-08-01", "2024-08-03"]
    assert s["data"]["missing_days"] == {"binance-usdm:BTCUSDT": ["2024-08-02"]}
    err = capsys.readouterr().err
    assert ("volta backtest: warning: no data for binance-usdm:BTCUSDT on 2024-08-02: the "
            "replay jumps that gap") in err, err
    assert "NO DATA for binance-usdm:BTCUSDT on 2024-08-02" in (
        tmp_path / "out" / "report.html").read_text()


def _book_ticker(path: Path, minutes: int = 5) -> Path:
    t0 = 1722470400000  # 2024-08-01T00:00:00Z, ms
    return _zip(path, [f"{i + 1},60000.0,1.0,60000.1,1.0,{t0 + i * 60_000},{t0 + i * 60_000}"
                       for i in range(minutes)])


def test_data_of_an_instrument_with_no_definition_is_a_config_error_not_a_silent_0(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With the catalog's instrument.json gone (and none in the config), the run replayed the
    book, denied the strategy's every order (unknown instrument) and ended 'PnL 0.0 USD', exit 0.
    When no instrument of the data has a definition it is a config error now, naming the
    instrument and where a definition goes (some undefined: logged, listed in the summary)."""
    from backtest import cli as backtest_cli

    import_files("binance", [_book_ticker(tmp_path / "BTCUSDT-bookTicker-2024-08-01.zip")],
                 tmp_path / "cat", venue="binance-usdm", progress=False)
    (inst,) = (tmp_path / "cat").rglob("instrument.json")
    inst.unlink()
    (tmp_path / "buy_once_strategy.py").write_text(BUY_ONCE)
    (tmp_path / "bt.toml").write_text(BUY_ONCE_CONFIG)
    out = tmp_path / "out"
    assert backtest_cli.main([str(tmp_path / "bt.toml"), "--output", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("volta backtest: venues.binance-usdm.params.instruments: no "
                              "definition of binance-usdm:BTCUSDT: "), err
    assert not out.exists()


def test_data_of_a_venue_the_config_does_not_replay_is_listed_not_dropped_in_silence(
        tmp_path: Path) -> None:
    spot = tmp_path / "spot"
    spot.mkdir()
    import_files("binance", [_book_ticker(spot / "BTCUSDT-bookTicker-2024-08-01.zip")],
                 tmp_path / "cat", venue="binance-spot", progress=False)
    s = _buy_once_backtest(tmp_path, [_book_ticker(tmp_path / "BTCUSDT-bookTicker-2024-08-01.zip")])
    assert s["data"]["not_replayed"] == {"venue binance-spot": ["binance-spot:BTCUSDT"]}
    assert s["fills"]["count"] == 1  # the configured venue's data is replayed as before


def test_venue_contradicting_the_download_path_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A spot file (data/spot/... in its path) imported with --venue binance-usdm would become
    USD-M trades; the two disagree, so the import stops and says so."""
    f = _zip(tmp_path / "data" / "spot" / "daily" / "trades" / "BTCUSDT" /
             "BTCUSDT-trades-2024-08-08.zip", ["1,61000.0,0.1,6100.0,1723075200123,True,True"])
    rc = data_cli.main(["import", "binance", str(f), "--venue", "binance-usdm", "--to",
                        str(tmp_path / "cat"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err == (f"volta data: {f}: its path is binance-spot data, --venue says "
                               "binance-usdm: drop --venue or fix it"), err
    assert not (tmp_path / "cat").exists() or not list((tmp_path / "cat").rglob("*.parquet"))
    assert data_cli.main(["import", "binance", str(f), "--venue", "binance-spot", "--to",
                          str(tmp_path / "cat"), "--quiet"]) == 0
