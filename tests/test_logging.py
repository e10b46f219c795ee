"""Logging setup: JSON/console rendering and secret redaction everywhere in the output."""

from __future__ import annotations

import io
import json
import logging

import pytest

from engine.config import Secret, load_config_text
from engine.logging import configure_logging, get_logger
from tests.logging_state import _restore_logging  # noqa: F401 -- autouse

SECRET = "s3cr3t-Value-42"


@pytest.fixture
def secret() -> Secret:
    """A secret that reached the process the way production ones do: through the config."""
    cfg = load_config_text(
        '[deployment]\nname = "t"\nmode = "live"\njournal = "j"\n'
        '[venues.x]\nadapter = "a.b:C"\n[venues.x.params]\napi_secret = "${T_SECRET}"\n',
        env={"T_SECRET": SECRET},
    )
    value = cfg.venues["x"].params["api_secret"]
    assert isinstance(value, Secret)
    return value


def json_lines(buf: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buf.getvalue().splitlines()]


def raise_with_secret(secret: Secret) -> None:
    # Built at runtime so the value cannot show up through the traceback's source lines.
    local_marker = "LOCAL" + "-MARKER-" + "VALUE"
    raise RuntimeError(f"auth failed for key {secret.reveal()} ({len(local_marker)})")


def test_json_lines_are_parseable() -> None:
    buf = io.StringIO()
    configure_logging("info", "json", buf)
    log = get_logger("volta.test", strategy="mm-1")
    log.info("quote placed", px=101.5, qty=2, side="buy")
    log.debug("filtered out")
    (line,) = json_lines(buf)
    assert line["event"] == "quote placed" and line["level"] == "info"
    assert line["logger"] == "volta.test" and line["strategy"] == "mm-1"
    assert line["px"] == 101.5 and line["qty"] == 2
    assert str(line["timestamp"]).endswith("Z")


def test_auto_format_is_json_when_not_a_tty() -> None:
    buf = io.StringIO()
    configure_logging(stream=buf)
    get_logger().warning("hello")
    assert json_lines(buf)[0]["event"] == "hello"


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_secret_never_appears(fmt: str, secret: Secret) -> None:
    buf = io.StringIO()
    configure_logging("debug", fmt, buf)
    log = get_logger("volta.test")
    raw = secret.reveal()
    log.info("as value", value=raw)
    log.info(f"inside message {raw} here")
    log.info("as Secret", credential=secret, other=secret)
    log.info("under secret key", api_secret="not-registered-but-keyed")
    log.info("nested", req={"headers": {"Authorization": "Bearer xyz", "n": [raw, {"x": raw}]}})
    log.info("in tuple", t=(raw, 1), b=raw.encode())
    try:
        raise_with_secret(secret)
    except RuntimeError:
        log.error("request failed", exc_info=True)
    try:
        raise_with_secret(secret)
    except RuntimeError:
        log.exception("again")
    out = buf.getvalue()
    assert raw not in out
    assert "not-registered-but-keyed" not in out and "Bearer xyz" not in out
    assert "LOCAL-MARKER-VALUE" not in out  # no locals in tracebacks
    assert "auth failed for key ***" in out  # the exception is rendered, just scrubbed
    assert "***" in out
    assert "RuntimeError" in out and "raise_with_secret" in out


def test_json_redaction_details(secret: Secret) -> None:
    buf = io.StringIO()
    configure_logging("info", "json", buf)
    get_logger().info("x", api_key="abc", has_api_key=True, sigma=0.2, tokens_left=None,
                      nested={"password": "pw-value", "ok": "fine"})
    (line,) = json_lines(buf)
    assert line["api_key"] == "***" and line["has_api_key"] is True
    assert line["sigma"] == 0.2 and line["tokens_left"] is None
    assert line["nested"] == {"password": "***", "ok": "fine"}


def test_exception_rendered_as_structured_json(secret: Secret) -> None:
    buf = io.StringIO()
    configure_logging("info", "json", buf)
    try:
        raise_with_secret(secret)
    except RuntimeError:
        get_logger().error("boom", exc_info=True)
    (line,) = json_lines(buf)
    (exc,) = line["exception"]  # type: ignore[misc]
    assert exc["exc_type"] == "RuntimeError"
    assert exc["exc_value"].startswith("auth failed for key ***")
    assert all("locals" not in frame for frame in exc["frames"])


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_stdlib_logging_goes_through_redaction(fmt: str, secret: Secret) -> None:
    buf = io.StringIO()
    configure_logging("info", fmt, buf)
    std = logging.getLogger("websockets.client")
    std.info("> TEXT %s", f'{{"sig": "{secret.reveal()}"}}')
    try:
        raise_with_secret(secret)
    except RuntimeError:
        std.exception("connection failed")
    std.debug("below level")
    out = buf.getvalue()
    assert secret.reveal() not in out
    assert "websockets.client" in out and "connection failed" in out
    assert "below level" not in out
    if fmt == "json":
        assert len(json_lines(buf)) == 2


def test_console_mode_renders(secret: Secret) -> None:
    buf = io.StringIO()
    configure_logging("info", "console", buf)
    get_logger("volta.console").info("started", venue="sim", key=secret)
    out = buf.getvalue()
    assert "started" in out and "venue=sim" in out and "[volta.console]" in out
    assert "key=***" in out
    with pytest.raises(ValueError):
        json.loads(out)


def test_reconfigure_is_idempotent_and_switches_stream() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging("info", "json", first)
    log = get_logger("volta.cached")
    log.info("one")
    configure_logging("info", "json", second)
    configure_logging("info", "json", second)
    log.info("two")  # a logger cached under the first configuration follows the new stream
    logging.getLogger("std").warning("three")
    assert [line["event"] for line in json_lines(first)] == ["one"]
    assert [line["event"] for line in json_lines(second)] == ["two", "three"]  # no duplicates


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="log level"):
        configure_logging("loud")
    with pytest.raises(ValueError, match="log format"):
        configure_logging("info", "xml")


def test_reserved_keys_are_not_clobbered() -> None:
    """A caller's ``level=``/``timestamp=`` field survives next to the log level and time."""
    buf = io.StringIO()
    configure_logging("info", "json", buf)
    get_logger("volta.test").warning("something", level=2, timestamp="t0")
    (line,) = json_lines(buf)
    assert line["level"] == "warning" and line["level_value"] == 2
    assert line["timestamp"] != "t0" and line["timestamp_value"] == "t0"


def test_kill_switch_line_keeps_its_level() -> None:
    from engine.clock import VirtualClock
    from engine.kernel import Kernel
    from engine.risk import RiskLimits

    buf = io.StringIO()
    configure_logging("info", "json", buf)
    kernel = Kernel(VirtualClock(0), RiskLimits(), None)
    kernel.killswitch.trip(2, "test", "operator")
    (line,) = [ln for ln in json_lines(buf) if ln["event"] == "kill_switch"]
    assert line["level"] == "warning" and line["kill_level"] == 2 and line["name"] == "cancel_all"


def test_default_stream_follows_sys_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loggers cached under a configuration for stderr write to the stderr of each moment:
    a stream a test harness installed and closed since is never written to."""
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr("sys.stderr", first)
    configure_logging("info", "json")
    log = get_logger("volta.test")
    log.info("one")
    first.close()
    monkeypatch.setattr("sys.stderr", second)
    log.info("two")
    assert [line["event"] for line in json_lines(second)] == ["two"]
