"""The experiment config: schema, defaults, validation and `key=value` overrides. Torch-free.

A config is a nested dict (YAML or JSON). `validate(cfg)` fills defaults and returns a new
dict, or raises `ConfigError` naming every offending dotted key. The server turns those into
HTTP 422 responses; the CLI prints them.
"""
from lipcore.config.schema import (
    SCHEMA,
    ConfigError,
    Field,
    Issue,
    default_config,
    known_keys,
    validate,
)
from lipcore.config.overrides import apply_overrides, get_key, load_config, parse_scalar, set_key
from lipcore.config import sweep_section  # noqa: F401  (registers the `sweep:` section's check)

__all__ = [
    "SCHEMA",
    "ConfigError",
    "Field",
    "Issue",
    "apply_overrides",
    "default_config",
    "get_key",
    "known_keys",
    "load_config",
    "parse_scalar",
    "set_key",
    "validate",
]
