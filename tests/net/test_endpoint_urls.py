"""Endpoint overrides in a deployment file are checked when it is loaded: a URL without its
scheme (``127.0.0.1:8767``) or with the wrong one (``http://`` for a websocket) is a config
error naming the key, not a start that fails later with an HTTP library's class name."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.binance.params import BinanceParams
from adapters.bybit.params import BybitParams
from adapters.deribit.params import DeribitParams
from adapters.derive.params import DeriveParams
from adapters.okx.params import OkxParams

CASES: list[tuple[type, dict[str, Any], str, str]] = [
    (OkxParams, {}, "rest_url", "127.0.0.1:8767"),
    (OkxParams, {}, "public_url", "http://127.0.0.1:8766/ws/v5/public"),
    (OkxParams, {}, "private_url", "127.0.0.1:8766/ws/v5/private"),
    (BinanceParams, {}, "ws_url", "127.0.0.1:8765"),
    (BinanceParams, {}, "rest_url", "ws://127.0.0.1:8766"),
    (BybitParams, {}, "ws_url", "https://stream.bybit.com"),
    (BybitParams, {}, "rest_url", "api.bybit.com"),
    (DeribitParams, {}, "ws_url", "127.0.0.1:8765/ws/api/v2"),
    (DeriveParams, {}, "ws_url", "localhost:8767/ws"),
]


@pytest.mark.parametrize("cls, base, field, url", CASES)
def test_an_endpoint_without_the_right_scheme_is_a_config_error(
        cls: type, base: dict[str, Any], field: str, url: str) -> None:
    with pytest.raises(ValueError, match=f"{field} must be an? .*URL.*{url}"):
        cls(**base, **{field: url})


@pytest.mark.parametrize("cls, field, url", [
    (OkxParams, "rest_url", "http://127.0.0.1:8767"),
    (OkxParams, "public_url", "wss://ws.okx.com:8443/ws/v5/public"),
    (BinanceParams, "ws_url", "ws://127.0.0.1:8765"),
    (BybitParams, "rest_url", "https://api-testnet.bybit.com"),
    (DeribitParams, "ws_url", "ws://127.0.0.1:8765/ws/api/v2"),
    (DeriveParams, "ws_url", "ws://127.0.0.1:8767/ws"),
])
def test_the_shipped_kinds_of_endpoint_are_accepted(cls: type, field: str, url: str) -> None:
    assert getattr(cls(**{field: url}), field) == url
