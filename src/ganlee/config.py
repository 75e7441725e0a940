"""Configuration: JSON-schema validation with defaults, and the CLI's ``--config`` argument.

The schema (``config/schema.yaml``, draft 2020-12) gives every key a description and a default,
so a user's config file only states what differs. Snakemake validates the same schema in
``rules/common.smk``; the CLI validates again so that every subcommand is usable by hand.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import re
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

__all__ = [
    "ConfigError",
    "add_config_argument",
    "config_hash",
    "load_config",
    "schema",
    "validate",
]


class ConfigError(ValueError):
    """A configuration value is missing, of the wrong type or out of range."""


class _Loader(yaml.SafeLoader):
    """YAML loader that also reads ``1e-4`` (no dot, as written in Python) as a float."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+$"),
    list("-+0123456789."),
)


@cache
def schema() -> dict[str, Any]:
    """The packaged JSON schema (``config/schema.yaml``)."""
    text = resources.files("ganlee").joinpath("schema.yaml").read_text()
    return yaml.safe_load(text)


def _fill_defaults(instance: Any, sch: dict[str, Any]) -> None:
    if not isinstance(instance, dict) or sch.get("type") != "object":
        return
    for key, sub in sch.get("properties", {}).items():
        if key not in instance and "default" in sub:
            instance[key] = copy.deepcopy(sub["default"])
        if key in instance:
            _fill_defaults(instance[key], sub)


def validate(cfg: dict[str, Any] | None, source: str = "config") -> dict[str, Any]:
    """Return a validated copy of ``cfg`` with every missing key set to its default.

    Raises ``ConfigError`` naming the offending key path (e.g. ``gan.batch_size``).
    """
    out = copy.deepcopy(cfg) if cfg else {}
    if not isinstance(out, dict):
        msg = f"{source}: the configuration must be a mapping, got {type(out).__name__}"
        raise ConfigError(msg)
    _fill_defaults(out, schema())
    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(out), key=lambda e: list(e.absolute_path))
    if errors:
        lines = []
        for err in errors:
            key = ".".join(str(p) for p in err.absolute_path) or "<top level>"
            lines.append(f"  config key '{key}': {err.message}")
        msg = f"{source}: invalid configuration\n" + "\n".join(lines)
        raise ConfigError(msg)
    return out


def load_config(spec: str | Path | None) -> dict[str, Any]:
    """Load a config from a YAML/JSON file path or an inline JSON object string.

    Rules pass the sections they depend on as inline JSON (so that Snakemake reruns a rule
    exactly when those sections change); by hand one passes ``config/config.yaml``.
    """
    if spec is None:
        return validate({}, "defaults")
    text = str(spec).strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            msg = f"--config: inline JSON is not valid: {exc}"
            raise ConfigError(msg) from exc
        return validate(data, "--config (inline JSON)")
    path = Path(text)
    if not path.is_file():
        msg = f"config file '{path}' does not exist"
        raise ConfigError(msg)
    try:
        data = json.loads(path.read_text()) if path.suffix == ".json" else yaml.load(path.read_text(), _Loader)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        msg = f"config file '{path}' is not valid YAML: {exc}"
        raise ConfigError(msg) from exc
    return validate(data, str(path))


def config_hash(obj: Any) -> str:
    """Short SHA-256 of the canonical JSON of ``obj`` (used to tie outputs to their config)."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        default=None,
        help="config YAML/JSON file, or an inline JSON object (default: all schema defaults)",
    )
