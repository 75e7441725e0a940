"""Configuration: JSON-schema validation with defaults, and the CLI's ``--config``/``--set``.

The schema (``config/schema.yaml``, draft 2020-12) gives every key a description and a default,
so a user's config file only states what differs. Snakemake validates the same schema in
``rules/common.smk``; the CLI validates again so that every subcommand is usable by hand.

Both read numbers the same way: ``coerce_types`` turns a string where the schema wants a number,
integer, boolean or null into that type by the YAML 1.2 core rules (PyYAML, which Snakemake uses,
reads ``1e-4`` as a string, and ``snakemake --config toys='{n_toys: 30}'`` delivers ``"30"``).
Overrides of nested keys: ``snakemake --config toys='{n_toys: 30}'`` (merged into the section)
and ``ganlee <step> --set toys.n_toys=30``. Without ``--config`` a step reads
``config/config.yaml`` (the embedded default) when it exists in the working directory.
See docs/design.md, "Configuration".
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from ganlee.errors import ConfigError

__all__ = [
    "DEFAULT_CONFIG",
    "ConfigError",
    "ConfigSpec",
    "add_config_argument",
    "add_observed_argument",
    "apply_overrides",
    "coerce_types",
    "config_hash",
    "inline_config",
    "load_config",
    "load_yaml",
    "schema",
    "validate",
]

#: The embedded default configuration, relative to the project root (the Snakefile's configfile).
DEFAULT_CONFIG = Path("config/config.yaml")


class _Loader(yaml.SafeLoader):
    """YAML loader that also reads ``1e-4`` (no dot, as written in Python) as a float."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+$"),
    list("-+0123456789."),
)


_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_SPECIAL_FLOAT = {".inf": math.inf, "+.inf": math.inf, "-.inf": -math.inf, ".nan": math.nan}
_INT = re.compile(r"^[-+]?[0-9]+$")
_BOOL = {"true": True, "false": False}
_NULL = ("null", "~", "")


def load_yaml(text: str) -> Any:
    """Parse YAML with ``1e-4`` read as a float (YAML 1.2 core schema), as the CLI does."""
    return yaml.load(text, _Loader)


def inline_config(cfg: dict[str, Any]) -> str:
    """``cfg`` as a one-line YAML flow mapping (``{fit: {sigma: 2.5}, seed: 1}``, keys sorted),
    the form the rules pass to ``--config``: ``load_config`` reads it back to ``cfg`` exactly,
    and it holds no double quotes, so Snakemake's report shows it as written."""
    return yaml.safe_dump(cfg, default_flow_style=True, sort_keys=True, width=math.inf).strip()


def _scalar(value: str, types: list[str]) -> Any:
    """``value`` as the first schema type (``integer``, ``number``, ``boolean``, ``null``) that
    reads it by the YAML 1.2 core rules; unchanged when none does."""
    text = value.strip()
    low = text.lower()
    for t in types:
        if t == "integer" and _INT.match(text):
            return int(text)
        if t == "number" and (_FLOAT.match(text) or low in _SPECIAL_FLOAT):
            return float(text) if _FLOAT.match(text) else _SPECIAL_FLOAT[low]
        if t == "boolean" and low in _BOOL:
            return _BOOL[low]
        if t == "null" and low in _NULL:
            return None
    return value


def coerce_types(instance: Any, sch: dict[str, Any] | None = None) -> Any:
    """A copy of ``instance`` with strings converted where the schema wants another scalar type.

    Used by ``validate`` and by ``rules/common.smk`` before Snakemake's validation, so that
    ``lr: 1e-4`` and ``--config toys='{n_toys: 30}'`` mean the same to both. A string is kept
    where the schema allows strings (``mc.step_size: "100"`` stays a string).
    """
    sch = schema() if sch is None else sch
    if isinstance(instance, dict):
        props = sch.get("properties", {})
        extra = sch.get("additionalProperties")
        out = {}
        for key, value in instance.items():
            sub = props.get(key, extra if isinstance(extra, dict) else {})
            out[key] = coerce_types(value, sub)
        return out
    if isinstance(instance, list):
        items = sch.get("items", {})
        return [coerce_types(v, items if isinstance(items, dict) else {}) for v in instance]
    if isinstance(instance, str):
        types = sch.get("type", [])
        types = [types] if isinstance(types, str) else list(types)
        if types and "string" not in types:
            return _scalar(instance, types)
        if "null" in types and instance.strip().lower() in ("null", "~"):
            return None
    return instance


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
    out = coerce_types(out)
    _fill_defaults(out, schema())
    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(out), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"  {line}" for err in errors for line in _error_lines(err)]
        msg = f"{source}: invalid configuration\n" + "\n".join(lines)
        raise ConfigError(msg)
    return out


def _error_lines(err: jsonschema.ValidationError) -> list[str]:
    """One ``config key '<path>': <what>`` line per problem of a schema error; an unknown key
    is named by its full path, with the known keys of its section."""
    path = [str(p) for p in err.absolute_path]
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        known = sorted(err.schema.get("properties", {}))
        unknown = sorted(k for k in err.instance if k not in known)
        if unknown:
            return [
                f"config key '{'.'.join([*path, k])}' is not a setting (known in "
                f"'{'.'.join(path) or '<top level>'}': {', '.join(known)})"
                for k in unknown
            ]
    key = ".".join(path) or "<top level>"
    return [f"config key '{key}': {err.message}"]


@dataclass(frozen=True)
class ConfigSpec:
    """What ``--config`` and ``--set`` asked for: a file, inline JSON or None (the default file),
    and ``KEY.PATH=VALUE`` overrides applied on top."""

    base: str | None = None
    overrides: tuple[str, ...] = ()

    def describe(self) -> str:
        base = self.base if self.base is not None else _default_source()
        if len(base) > 60:
            base = "--config (inline JSON)"
        return base + "".join(f" --set {o}" for o in self.overrides)


def _default_source() -> str:
    return str(DEFAULT_CONFIG) if DEFAULT_CONFIG.is_file() else "schema defaults"


def _read_raw(spec: str | Path | None) -> Any:
    """The unvalidated mapping of a file path, an inline JSON string or (None) the default."""
    if spec is None:
        return _read_raw(DEFAULT_CONFIG) if DEFAULT_CONFIG.is_file() else {}
    text = str(spec).strip()
    if text.startswith("{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            try:  # a YAML flow mapping (inline_config)
                return load_yaml(text)
            except yaml.YAMLError:
                msg = f"--config: inline JSON (or YAML flow mapping) is not valid: {exc}"
                raise ConfigError(msg) from exc
    path = Path(text)
    if not path.is_file():
        msg = f"config file '{path}' does not exist"
        raise ConfigError(msg)
    try:
        return (
            json.loads(path.read_text()) if path.suffix == ".json" else load_yaml(path.read_text())
        )
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        msg = f"config file '{path}' is not valid YAML: {exc}"
        raise ConfigError(msg) from exc


def apply_overrides(cfg: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """``cfg`` with each ``KEY.PATH=VALUE`` set; VALUE is YAML (``30``, ``1e-4``, ``[0.1, 1.0]``,
    ``{n_signal: 5}``, ``null``). A mapping value is merged into the section it names."""
    out = copy.deepcopy(cfg)
    for item in overrides:
        key, sep, text = item.partition("=")
        parts = key.strip().split(".")
        if not sep or not all(parts):
            msg = f"--set {item!r}: expected KEY.PATH=VALUE, e.g. --set toys.n_toys=30"
            raise ConfigError(msg)
        try:
            value = load_yaml(text) if text.strip() else None
        except yaml.YAMLError as exc:
            msg = f"--set {item!r}: the value is not valid YAML: {exc}"
            raise ConfigError(msg) from exc
        node = out
        for i, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                where = ".".join(parts[: i + 1])
                msg = f"--set {item!r}: config key '{where}' is not a section"
                raise ConfigError(msg)
            node = child
        old = node.get(parts[-1])
        node[parts[-1]] = _merge(old, value) if isinstance(old, dict) else value
    return out


def _merge(base: dict[str, Any], new: Any) -> Any:
    if not isinstance(new, dict):
        return new
    out = dict(base)
    for k, v in new.items():
        out[k] = _merge(out[k], v) if isinstance(out.get(k), dict) else v
    return out


def load_config(spec: str | Path | ConfigSpec | None) -> dict[str, Any]:
    """Load a config from a YAML/JSON file path, an inline JSON object string, or a
    ``ConfigSpec`` (file or inline JSON plus ``--set`` overrides); None = the default file
    ``config/config.yaml`` when it exists in the working directory, else the schema defaults.

    Rules pass the sections they depend on as inline JSON (so that Snakemake reruns a rule
    exactly when those sections change); inline JSON is completed from the schema defaults only.
    """
    if not isinstance(spec, ConfigSpec):
        spec = ConfigSpec(None if spec is None else str(spec))
    data = _read_raw(spec.base)
    if spec.overrides:
        if not isinstance(data, dict):
            data = {}
        data = apply_overrides(data, spec.overrides)
    return validate(data, spec.describe())


def config_hash(obj: Any) -> str:
    """Short SHA-256 of the canonical JSON of ``obj`` (used to tie outputs to their config)."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    """``--config FILE|JSON`` and repeatable ``--set KEY.PATH=VALUE``; ``ganlee.cli.main`` folds
    them into one ``ConfigSpec`` in ``args.config``."""
    parser.add_argument(
        "--config",
        default=None,
        help=(
            "config YAML/JSON file, or an inline JSON object completed from the schema defaults "
            f"(default: {DEFAULT_CONFIG} if it exists here, else the schema defaults)"
        ),
    )
    parser.add_argument(
        "--set",
        dest="set_overrides",
        action="append",
        default=[],
        metavar="KEY.PATH=VALUE",
        help="override one (nested) key after --config, VALUE in YAML: --set toys.n_toys=30 "
        "--set gan.lr=1e-4 (repeatable)",
    )


def add_observed_argument(parser: argparse.ArgumentParser) -> None:
    """``--observed FILE``: the dataset whose number of events is the toys' default size
    (``ganlee.settings.Settings.observed_dataset``)."""
    parser.add_argument(
        "--observed",
        default=None,
        help="features file of the dataset the toys calibrate: its number of events is the toy "
        "size when toys.sample2_size is null (default: config key lee.observed.features - "
        "your file, or results/mc/pseudo_data.root for 'generate' - or, for null, the "
        "--features file)",
    )
