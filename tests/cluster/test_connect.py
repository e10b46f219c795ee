"""Connecting: refused credentials and unreachable servers are one clear line, no secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.nats.connect import NatsUnavailable, connect
from cluster.server import NatsServer, free_port


async def test_refused_credentials_say_so_without_the_secret(tmp_path: Path) -> None:
    with NatsServer(tmp_path, extra_args=["--user", "volta", "--pass", "right-pass-123"]) as server:
        with pytest.raises(NatsUnavailable) as exc:
            await connect([server.url], name="t", user="volta", password="wrong-pass-456",
                          connect_timeout_s=1.0)
        assert str(exc.value) == f"NATS at {server.url} refused the credentials"
        assert "wrong-pass-456" not in repr(exc.value) and exc.value.__cause__ is None
        nc = await connect([server.url], name="t", user="volta", password="right-pass-123")
        assert nc.is_connected
        await nc.close()


async def test_no_server_listening_is_unreachable() -> None:
    url = f"nats://127.0.0.1:{free_port()}"
    with pytest.raises(NatsUnavailable, match=f"cannot reach NATS at {url}$"):
        await connect([url], name="t", connect_timeout_s=0.5)
