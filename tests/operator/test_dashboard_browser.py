"""The dashboard in a real browser: Playwright driving Debian's chromium against a paper daemon.

The daemon is a real ``volta run`` process on 127.0.0.1 (port 0). The page must show the smile
and positions updating live, survive a kill-level-1 click with its confirmation (the state
badge turns to "halted"), log no console error and make no request outside 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.operator.conftest import ROOT, TOKEN, paper_config_text

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@contextlib.contextmanager
def paper_daemon(tmp_path: Path) -> Iterator[tuple[str, Path, float]]:
    """A real ``volta run`` paper daemon on 127.0.0.1:0; yields (url, its log file, start time)."""
    cfg = tmp_path / "paper.toml"
    cfg.write_text(paper_config_text(tmp_path / "paper.journal.sqlite"))
    err = tmp_path / "daemon.err"
    env = {**os.environ, "VOLTA_OPERATOR_TOKEN": TOKEN, "PYTHONUNBUFFERED": "1"}
    started = time.monotonic()
    with open(err, "wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "engine", "run", str(cfg), "--duration", "120",
                                 "--log-format", "json"], cwd=tmp_path, env=env, stdout=fh, stderr=fh)
    try:
        deadline = time.monotonic() + 60
        url = None
        while url is None:
            if proc.poll() is not None:
                pytest.fail(f"daemon exited: {err.read_text()[-2000:]}")
            m = re.search(r"dashboard (http://127\.0\.0\.1:\d+/)", err.read_text())
            if m:
                url = m.group(1)
            elif time.monotonic() > deadline:
                pytest.fail("the daemon printed no dashboard URL within 60 s")
            else:
                time.sleep(0.1)
        yield url, err, started
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it with apt-get)")
def test_dashboard_live_smile_positions_and_kill(tmp_path: Path) -> None:
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright (dev extra) is not installed")
    console_errors: list[str] = []
    outside: list[str] = []
    # the newcomer's browser is open first; the clock for "smile within 10 s" starts at `volta run`
    with playwright.sync_playwright() as p, contextlib.ExitStack() as stack:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        # bypass_csp: the page's own CSP forbids eval, which Playwright's wait_for_function uses
        page = browser.new_context(viewport={"width": 1500, "height": 1300}, bypass_csp=True).new_page()
        url, err, started = stack.enter_context(paper_daemon(tmp_path))
        page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: console_errors.append(str(e)))
        page.on("request", lambda r: outside.append(r.url)
                if urlsplit(r.url).hostname not in ("127.0.0.1",) and not r.url.startswith("data:") else None)
        page.goto(url)
        # the smile: one uPlot canvas per expiry, redrawn as the chain is refitted
        page.wait_for_selector("#smiles .smile canvas", timeout=15_000)
        # the bar: a newcomer sees the live smile within 10 s of starting the daemon
        smile_after_s = time.monotonic() - started
        print(f"smile visible {smile_after_s:.1f} s after the daemon started")
        assert smile_after_s < 10.0, f"smile visible {smile_after_s:.1f} s after start"
        page.wait_for_function("Number(document.body.dataset.surfaceUpdates || 0) >= 2", timeout=15_000)
        assert page.locator("#smiles .smile").count() >= 2
        assert "ATM" in page.locator("#smiles .chart-title").first.inner_text()
        # positions update live (the quoter trades against the simulated market)
        page.wait_for_function("Number(document.body.dataset.positionsUpdates || 0) >= 3", timeout=15_000)
        page.wait_for_function("document.querySelectorAll('#positions tbody tr').length >= 1", timeout=20_000)
        first = page.evaluate("document.body.dataset.positionsQty")
        page.wait_for_function(f"document.body.dataset.positionsQty !== {first!r}", timeout=30_000)
        fills_before = int(page.locator("#fills-count").inner_text())
        page.wait_for_function(f"Number(document.querySelector('#fills-count').textContent) > {fills_before}",
                               timeout=30_000)
        assert "sim:BTC-PERP" in page.locator("#positions tbody").inner_text()
        assert page.locator("#state").inner_text() == "active"
        # kill level 1 with its confirmation; a wrong token is refused first
        page.click("#kill-1")
        assert page.locator("#confirm").is_visible()
        page.fill("#confirm-token", "wrong-token-wrong-token")
        page.click("#confirm-ok")
        page.wait_for_function("document.querySelector('#confirm-error').textContent.includes('403')")
        assert page.locator("#state").inner_text() == "active"
        page.fill("#confirm-token", TOKEN)
        page.click("#confirm-ok")
        page.wait_for_function("document.querySelector('#state').textContent === 'halted'", timeout=5_000)
        assert page.locator("#confirm").is_hidden()
        assert page.locator("#kill-level").inner_text() == "1"
        page.wait_for_function("document.querySelector('#alerts').textContent.includes('kill switch level 1')",
                               timeout=5_000)
        shots = ROOT / "docs" / "img"
        if os.environ.get("VOLTA_SCREENSHOTS"):
            shots.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shots / "dashboard.png"), full_page=True)
        browser.close()
    # 403 is the expected answer to the wrong token above; anything else is a page error
    assert [e for e in console_errors if "403" not in e] == []
    assert outside == []
    assert TOKEN not in err.read_text()
