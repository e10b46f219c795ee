"""A real paper node (simulated venue, example quoter) with its operator surface on 127.0.0.1:0."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from engine.clock import LiveClock
from engine.config import load_config_text
from engine.operator import Operator, make_operator
from engine.runtime import Node, build_node

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "test-operator-token-0123456789"


def paper_config_text(journal: Path, extra: str = "") -> str:
    text = (ROOT / "config" / "paper.toml").read_text()
    text = text.replace('journal = "var/paper.journal.sqlite"', f'journal = "{journal}"')
    assert str(journal) in text
    return text + "\n[operator]\nport = 0\n" + extra


@dataclass
class Running:
    node: Node
    op: Operator
    url: str
    session: aiohttp.ClientSession

    async def get(self, path: str, **kw: Any) -> Any:
        async with self.session.get(self.url + path, **kw) as resp:
            assert resp.status == 200, (path, resp.status, await resp.text())
            return await resp.json()

    async def post(self, path: str, body: dict[str, Any] | None = None,
                   token: str | None = TOKEN) -> tuple[int, dict[str, Any]]:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        async with self.session.post(self.url + path, json=body or {}, headers=headers) as resp:
            return resp.status, await resp.json()

    async def wait_for(self, predicate: Any, timeout: float = 10.0, what: str = "") -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out waiting for {what or predicate}")
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def running_node(tmp_path: Path, extra: str = "", token: str | None = TOKEN,
                       monkeypatch: pytest.MonkeyPatch | None = None) -> AsyncIterator[Running]:
    if monkeypatch is not None:
        if token is None:
            monkeypatch.delenv("VOLTA_OPERATOR_TOKEN", raising=False)
        else:
            monkeypatch.setenv("VOLTA_OPERATOR_TOKEN", token)
    config = load_config_text(paper_config_text(tmp_path / "j.sqlite", extra))
    node = build_node(config, LiveClock())
    op = make_operator(node.kernel, config, node.journal_path)
    assert op is not None
    node.operator = op
    url = await op.start()
    await node.start()
    tasks = [asyncio.get_running_loop().create_task(a.run()) for a in node.kernel.adapters.values()]
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
    try:
        yield Running(node, op, url, session)
    finally:
        await session.close()
        await node.stop()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await op.stop()
