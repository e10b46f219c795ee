"""Suite-wide test set-up.

Recorded exchange data lives outside the repository (next to it in development and CI, or
wherever ``$VOLTA_MARKETDATA`` points). Backtest configs name it through ``${VOLTA_MARKETDATA}``,
so the variable is set for the tests when the folder exists beside the checkout; tests that need
the data skip with a reason when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

_BESIDE = Path(__file__).resolve().parents[1].parent / "shared" / "marketdata"
if "VOLTA_MARKETDATA" not in os.environ and _BESIDE.is_dir():
    os.environ["VOLTA_MARKETDATA"] = str(_BESIDE)
