import cProfile, pstats, sys, time, io
from pathlib import Path
import msgspec
from benchmarks.bench_backtest import _quiet, ROOT
from backtest import store as stores
from backtest.runner import run_backtest
from backtest.sweep import load_with_overrides
_quiet()
path = Path('/work/shared/marketdata/binance-usdm/binance-usdm-btcusdt-2024-08-08.jsonl.gz')
data = stores.from_captures([path])
config, _ = load_with_overrides(ROOT / "config" / "backtest-binance.toml", [("backtest.data.files", [str(path)])])
bare = msgspec.structs.replace(config, strategies=[])
which = sys.argv[1]
cfg = bare if which == 'bare' else config
for _ in range(2):
    t = time.process_time(); r = run_backtest(cfg, data=data, progress_every_s=0.0); print(which, time.process_time()-t, r.events)
if len(sys.argv) > 2:
    pr = cProfile.Profile(); pr.enable(); run_backtest(cfg, data=data, progress_every_s=0.0); pr.disable()
    s = pstats.Stats(pr); s.sort_stats('tottime').print_stats(25)
