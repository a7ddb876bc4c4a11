"""Load, merge and validate the study configuration.

The workflow validates ``config`` with :func:`snakemake.utils.validate`; the command-line tools
use :func:`load_config` with the same schema (``workflow/schemas/config.schema.yaml``), so a wrong
key or value gets the same one-line message everywhere.
"""

from __future__ import annotations

import argparse
import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = REPO_ROOT / "workflow" / "schemas" / "config.schema.yaml"
DEFAULT_CONFIG = REPO_ROOT / "config" / "config.yaml"


class ConfigError(ValueError):
    """A configuration that does not match the schema; the message names the key."""


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``base`` updated recursively with ``override`` (Snakemake's configfile semantics)."""
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def validate_config(config: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigError` with one line naming the offending key and the allowed values."""
    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(dict(config)), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        where = ".".join(str(p) for p in err.absolute_path) or "(top level)"
        raise ConfigError(f"config key {where}: {err.message}")


def load_config(*paths: str | Path, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Deep-merge the YAML files ``paths`` in order (the first is usually config/config.yaml).

    A file that is not the default config is merged over the default, as Snakemake does with
    ``--configfile``. The result is validated.
    """
    files = [Path(p) for p in paths] or [DEFAULT_CONFIG]
    if files[0].resolve() != DEFAULT_CONFIG.resolve() and DEFAULT_CONFIG.exists():
        files.insert(0, DEFAULT_CONFIG)
    config: dict[str, Any] = {}
    for path in files:
        if not path.exists():
            raise ConfigError(f"config file {path} does not exist")
        loaded = yaml.safe_load(path.read_text()) or {}
        if not isinstance(loaded, Mapping):
            raise ConfigError(f"config file {path} must hold a mapping at the top level")
        config = deep_merge(config, loaded)
    if overrides:
        config = deep_merge(config, overrides)
    validate_config(config)
    return config


def config_from_args(
    config_files: list[str] | None,
    config_json: str | None,
    needed: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Config for a CLI call: ``--config-json`` (what the workflow passes) or ``--config`` files.

    The workflow passes only the sections a command reads (``needed``), each whole: every section
    given is validated against its part of the schema, nothing is filled in from config.yaml, so a
    command depends on exactly what its rule's params hold. A full config is validated whole.
    """
    if not config_json:
        return load_config(*(config_files or []))
    try:
        config = json.loads(config_json)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--config-json is not valid JSON: {exc}") from exc
    if not isinstance(config, Mapping):
        raise ConfigError("--config-json must hold a JSON object")
    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    if set(schema.get("required", [])) <= set(config):
        validate_config(config)
        return dict(config)
    for key in needed:
        if key not in config:
            raise ConfigError(f"config key {key}: missing from --config-json")
    for key, value in config.items():
        if key not in schema.get("properties", {}):
            raise ConfigError(f"config key {key}: not a section of the config schema")
        validator = jsonschema.Draft202012Validator(schema["properties"][key])
        errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
        if errors:
            err = errors[0]
            where = ".".join([key, *(str(q) for q in err.absolute_path)])
            raise ConfigError(f"config key {where}: {err.message}")
    return dict(config)


def add_config_args(parser: argparse.ArgumentParser) -> None:
    """``--config-json`` (what the workflow passes) or ``--config FILE ...`` for a sub-command."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--config-json", help="config as JSON (what the workflow passes)")
    group.add_argument(
        "--config",
        nargs="+",
        metavar="FILE",
        help="YAML config files merged over config/config.yaml",
    )
