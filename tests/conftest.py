"""Suite-wide test set-up.

Recorded exchange data lives outside the repository (next to it in development and CI, or
wherever ``$VOLTA_MARKETDATA`` points). Backtest configs name it through ``${VOLTA_MARKETDATA}``,
so the variable is set for the tests when the folder exists beside the checkout; tests that need
the data skip with a reason when it is absent.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import structlog

_BESIDE = Path(__file__).resolve().parents[1].parent / "shared" / "marketdata"
if "VOLTA_MARKETDATA" not in os.environ and _BESIDE.is_dir():
    os.environ["VOLTA_MARKETDATA"] = str(_BESIDE)

# A test process started with SIGINT ignored (a background job of a non-interactive shell, which
# is how some CI runners start it) would keep it ignored: Python maps SIGINT to KeyboardInterrupt
# only when it is not ignored at start. The Ctrl-C tests (and the children they start, which
# inherit the disposition) need what a user's terminal gives.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# Loggers are not cached in tests. ``engine.logging.configure_logging`` (called in-process by the
# CLI tests) caches each logger on first use with the processor list of that moment; once a
# later reset replaces the list, ``structlog.testing.capture_logs`` (which edits the current
# list) no longer reaches that logger, and a test capturing its lines sees none, depending on
# which tests ran before it.
_configure = structlog.configure


def _configure_uncached(*args: object, **kwargs: object) -> None:
    kwargs["cache_logger_on_first_use"] = False
    _configure(*args, **kwargs)  # type: ignore[arg-type]


structlog.configure = _configure_uncached  # type: ignore[assignment]


# Every test leaves logging as it found it (root handlers and level, structlog's configuration):
# a test that configures logging as the CLI does, or a benchmark helper that filters below
# ERROR, must not decide what a later test's ``capture_logs`` sees (an info line of the delta
# hedger went missing in the whole suite after such a test, while the file passed alone).
from tests.logging_state import _restore_logging  # noqa: E402,F401 -- autouse, suite-wide
