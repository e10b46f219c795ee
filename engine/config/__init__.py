"""Deployment configuration: TOML files decoded into typed, validated msgspec structs.

A leaf package (standard library and msgspec only) so that every layer can import it.
"""

from engine.config.loader import (
    ConfigError,
    ConfigProblem,
    check_config,
    decode_params,
    default_config_path,
    find_problems,
    load_config,
    load_config_text,
    print_problems,
)
from engine.config.schema import (
    Deployment,
    InstrumentRisk,
    LoggingConfig,
    RiskConfig,
    StrategyConfig,
    VenueConfig,
    VoltaConfig,
)
from engine.config.secrets import (
    Secret,
    is_secret_key,
    known_secret_values,
    register_secret,
    secret_enc_hook,
)

__all__ = [
    "ConfigError",
    "ConfigProblem",
    "Deployment",
    "InstrumentRisk",
    "LoggingConfig",
    "RiskConfig",
    "Secret",
    "StrategyConfig",
    "VenueConfig",
    "VoltaConfig",
    "check_config",
    "decode_params",
    "default_config_path",
    "find_problems",
    "is_secret_key",
    "known_secret_values",
    "load_config",
    "load_config_text",
    "print_problems",
    "register_secret",
    "secret_enc_hook",
]
