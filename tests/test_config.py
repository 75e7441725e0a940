"""Config schema: defaults, validation errors naming the key, inline JSON and files."""

from __future__ import annotations

import json

import pytest
import yaml
from conftest import REPO

from ganlee.config import ConfigError, config_hash, load_config, schema, validate


def _walk(node, path=""):
    """Yield (path, subschema) for every property in the schema."""
    for key, sub in node.get("properties", {}).items():
        p = f"{path}.{key}" if path else key
        yield p, sub
        yield from _walk(sub, p)


def test_every_key_has_description_and_default():
    missing = [p for p, sub in _walk(schema()) if "description" not in sub or "default" not in sub]
    assert missing == []


def test_defaults_fill_nested_sections():
    cfg = validate({})
    assert cfg["fit"]["sigma"] == 2.5
    assert cfg["toys"]["dnn"]["layers"] == [360, 180, 180, 90, 180]
    assert cfg["gan"]["generator_layers"] == [512, 1024, 512]
    assert cfg["mc"]["selection"]["m_llg_min"] == 130.0


def test_user_values_survive_and_input_is_not_mutated():
    user = {"gan": {"epochs": 3}}
    cfg = validate(user)
    assert cfg["gan"]["epochs"] == 3
    assert cfg["gan"]["n_critic"] == 5
    assert user == {"gan": {"epochs": 3}}


@pytest.mark.parametrize(
    ("cfg", "key"),
    [
        ({"gan": {"batch_size": "big"}}, "gan.batch_size"),
        ({"toys": {"n_toys": 0}}, "toys.n_toys"),
        ({"fit": {"backend": "minuit2"}}, "fit.backend"),
        ({"mc": {"generate": {"realism": "max"}}}, "mc.generate.realism"),
    ],
)
def test_wrong_type_names_the_key(cfg, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        validate(cfg)


def test_unknown_key_is_refused():
    with pytest.raises(ConfigError, match="gan"):
        validate({"gan": {"epochz": 3}})


def test_load_from_file_and_inline_json(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text(yaml.safe_dump({"seed": 7, "toys": {"n_toys": 5}}))
    a = load_config(str(f))
    b = load_config(json.dumps({"seed": 7, "toys": {"n_toys": 5}}))
    assert a == b
    assert a["seed"] == 7


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.yaml"):
        load_config(str(tmp_path / "nope.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("gan: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml"):
        load_config(str(bad))
    with pytest.raises(ConfigError, match="inline JSON"):
        load_config("{not json")


def test_embedded_default_config_is_valid():
    cfg = load_config(REPO / "config" / "config.yaml")
    assert cfg["toys"]["n_toys"] >= cfg["toys"]["chunk_size"]


def test_config_hash_is_order_independent_and_sensitive():
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})


def test_scientific_notation_and_json_files(tmp_path):
    y = tmp_path / "c.yaml"
    y.write_text("gan:\n  lr: 1e-4\nfit:\n  tolerance: 1e-09\n")
    cfg = load_config(str(y))
    assert cfg["gan"]["lr"] == 1e-4
    assert cfg["fit"]["tolerance"] == 1e-9
    j = tmp_path / "c.json"
    j.write_text(json.dumps({"fit": {"tolerance": 1e-9}}))
    assert load_config(str(j))["fit"]["tolerance"] == 1e-9
