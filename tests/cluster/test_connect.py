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


async def test_a_server_without_jetstream_is_said_so(tmp_path: Path) -> None:
    """nats-server started without -js: the services' start says what to change, not
    'ServiceUnavailableError: code=None err_code=None description=None'."""
    from cluster.connection import ensure_bucket, ensure_reports_stream
    from engine.config import load_config_text
    from tests.cluster.conftest import DEPLOY, cluster_table

    with NatsServer(tmp_path, jetstream=False) as server:
        cfg = load_config_text(DEPLOY.format(name="a") + cluster_table([server.url], "a", "aggregator")).cluster
        nc = await connect([server.url], name="t")
        try:
            js = nc.jetstream()
            with pytest.raises(NatsUnavailable) as exc:
                await ensure_reports_stream(js, cfg, timeout_s=0.5)
            assert str(exc.value) == ("JetStream cannot provide the stream VOLTA_RISK: the NATS server "
                                      "runs without JetStream (start nats-server with -js, or a "
                                      "jetstream block in its configuration)")
            with pytest.raises(NatsUnavailable, match="runs without JetStream"):
                await ensure_bucket(js, "b", 1, timeout_s=0.5)
        finally:
            await nc.close()


async def test_a_password_in_a_server_url_is_never_printed() -> None:
    """``nats://user:pass@host`` is valid NATS syntax: the error line names the server without
    the password (the service prints it to stderr, outside the log redactor)."""
    port = free_port()
    with pytest.raises(NatsUnavailable) as exc:
        await connect([f"nats://volta:pw-in-url-31@127.0.0.1:{port}", f"nats://tok-in-url-77@127.0.0.1:{port}"],
                      name="t", connect_timeout_s=0.5)
    assert str(exc.value) == (f"cannot reach NATS at nats://volta:***@127.0.0.1:{port}, "
                              f"nats://***@127.0.0.1:{port}")


async def test_replicas_above_one_on_a_single_server_is_said_at_once(tmp_path: Path) -> None:
    """replicas = 3 (the docs' example) against one nats-server: a configuration error that no
    retry fixes. Said at once, naming the key, for the stream and for a bucket (whose error
    was masked as 'BucketNotFoundError' by the fallback that reads a bucket created meanwhile)."""
    import time

    from cluster.connection import ensure_bucket, ensure_reports_stream
    from engine.config import load_config_text
    from tests.cluster.conftest import DEPLOY, cluster_table

    with NatsServer(tmp_path) as server:
        cfg = load_config_text(DEPLOY.format(name="a")
                               + cluster_table([server.url], "a", "aggregator", replicas=3)).cluster
        nc = await connect([server.url], name="t")
        try:
            js = nc.jetstream()
            expected = ("cluster.replicas = 3 needs a JetStream cluster, and this nats-server runs "
                        "alone: set replicas = 1, or run 3 servers with routes")
            for make in (lambda: ensure_reports_stream(js, cfg), lambda: ensure_bucket(js, "b", 3)):
                t0 = time.monotonic()
                with pytest.raises(NatsUnavailable) as exc:
                    await make()
                assert time.monotonic() - t0 < 3.0  # not 15 s of retries
                assert str(exc.value).endswith(expected), str(exc.value)
        finally:
            await nc.close()
