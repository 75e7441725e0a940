"""Typed settings (ganlee.settings): the schema's keys exactly, the validated config back exactly,
and the derived values computed in one place against known answers."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from ganlee.config import ConfigError, config_hash, load_config, schema
from ganlee.settings import Section, Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]


def _check_fields(cls: type[Section], sch: dict, path: str) -> None:
    hints = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    props = sch["properties"]
    assert set(hints) == set(props), f"{path or '<top>'}: fields and schema keys differ"
    for name in props:
        sub = props[name]
        hint = cls.__dataclass_fields__[name].type  # type: ignore[attr-defined]
        nested = sub.get("type") == "object" and "properties" in sub
        assert nested == (isinstance(hint, str) and hint.endswith("Settings")), f"{path}.{name}"
        if nested:
            import typing

            sub_cls = typing.get_type_hints(cls)[name]
            _check_fields(sub_cls, sub, f"{path}.{name}".strip("."))


def test_every_schema_key_is_a_field_and_every_field_a_schema_key():
    _check_fields(Settings, schema(), "")


@pytest.mark.parametrize(
    "path",
    [
        "config/config.yaml",
        "config/cluster.yaml",
        "config/validation.yaml",
        "tests/config_test.yaml",
    ],
)
def test_to_dict_gives_back_the_validated_config_and_its_hash(path):
    raw = load_config(str(ROOT / path))
    s = Settings.from_mapping(raw)
    assert s.to_dict() == raw
    assert config_hash(s.to_dict()) == config_hash(raw)
    assert isinstance(s.toys.selections, tuple)  # immutable values
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.toys.n_toys = 3  # type: ignore[misc]


def test_a_mapping_that_is_not_validated_is_refused():
    raw = load_config(None)
    del raw["toys"]["chunk_size"]
    with pytest.raises(
        ConfigError, match=r"config section 'toys': missing key\(s\) \['chunk_size'\]"
    ):
        Settings.from_mapping(raw)
    raw = load_config(None)
    raw["fit"]["bogus"] = 1
    with pytest.raises(ConfigError, match=r"config section 'fit': unknown key\(s\) \['bogus'\]"):
        Settings.from_mapping(raw)


def test_unknown_keys_are_named_by_their_full_path():
    with pytest.raises(ConfigError, match=r"config key 'fit\.spurious\.famlies' is not a setting"):
        Settings.from_config({"fit": {"spurious": {"famlies": ["exp_poly"]}}})


def test_the_mass_grid_and_the_edges():
    s = Settings.from_config({"fit": {"mass_low": 131.0, "mass_high": 169.0, "mass_step": 0.5}})
    np.testing.assert_array_equal(s.fit.masses, 131.0 + 0.5 * np.arange(77))
    np.testing.assert_array_equal(s.fit.edges, np.arange(130.0, 171.0))
    assert not s.fit.masses.flags.writeable
    assert s.fit.masses is s.fit.masses  # computed once
    bad = Settings.from_config({"fit": {"bin_width": 3.0}})  # 40 GeV / 3 GeV
    with pytest.raises(ConfigError, match=r"fit\.bin_width.*13\.3333 bins"):
        _ = bad.fit.edges
    with pytest.raises(ConfigError, match=r"fit\.mass_high"):
        _ = Settings.from_config({"fit": {"mass_low": 160.0, "mass_high": 150.0}}).fit.masses


def test_candidates_are_simplest_first_in_the_listed_family_order():
    spur = Settings.from_config(
        {
            "fit": {
                "spurious": {"families": ["bernstein", "exp_poly"], "min_order": 2, "max_order": 3}
            }
        }
    ).fit.spurious
    assert spur.candidates == ("bernstein2", "exp_poly2", "bernstein3", "exp_poly3")
    default = Settings.from_config({}).fit.spurious
    assert default.candidates[:3] == ("exp_chebyshev1", "bernstein_free1", "exp_chebyshev2")
    assert len(default.candidates) == 2 * default.max_order
    capped = Settings.from_config(
        {"fit": {"spurious": {"families": ["exp_poly", "exp_chebyshev"], "max_order": 12}}}
    ).fit.spurious
    assert capped.candidates[-3:] == ("exp_chebyshev10", "exp_chebyshev11", "exp_chebyshev12")
    with pytest.raises(ConfigError, match="max_order"):
        _ = Settings.from_config(
            {"fit": {"spurious": {"min_order": 5, "max_order": 3}}}
        ).fit.spurious.candidates


def test_feature_index_and_models_per_toy():
    s = Settings.from_config({"toys": {"features": ["met", "m_llg"], "scoring": "kfold"}})
    assert s.toys.feature_index == (11, 0)
    assert s.toys.models_per_toy == 5
    with pytest.raises(ConfigError, match=r"toys\.features.*bogus"):
        _ = Settings.from_config({"toys": {"features": ["bogus"]}}).toys.feature_index


def test_the_injection_is_resolved_against_the_fit():
    s = Settings.from_config({"fit": {"sigma": 3.5}, "toys": {"inject": {"n_signal": 4}}})
    assert (s.injection.width, s.injection.window, s.injection.enabled) == (
        3.5,
        (130.0, 170.0),
        True,
    )
    with pytest.raises(ConfigError, match=r"toys\.inject\.mass"):
        _ = Settings.from_config({"toys": {"inject": {"n_signal": 1, "mass": 200.0}}}).injection


@pytest.mark.parametrize(
    ("toys", "lee", "n_mc", "n_obs", "want"),
    [
        ({"sample1_size": 100, "sample2_size": 300}, {}, 5000, 900, (100, 300)),
        ({}, {}, 5000, 900, (900, 900)),  # the observed dataset's size, sample 1 as sample 2
        ({"sample1_size": 50}, {}, 5000, 900, (50, 900)),
        ({}, {"observed": {"enabled": False}}, 5000, 900, (5000, 5000)),  # no data: the MC's
        ({}, {}, 5000, None, (5000, 5000)),
    ],
)
def test_toy_sizes(toys, lee, n_mc, n_obs, want):
    s = Settings.from_config({"toys": toys, "lee": lee})
    sizes = s.toy_sizes(n_mc=n_mc, n_observed=n_obs)
    assert (sizes.sample1, sizes.sample2) == want


def test_toy_sizes_need_something_to_come_from():
    with pytest.raises(ConfigError, match=r"toys\.sample2_size"):
        Settings.from_config({}).toy_sizes()
    with pytest.raises(ConfigError, match=r"toys\.sample1_size' must be >= 1"):
        Settings.from_config({"toys": {"sample1_size": 0}}).toy_sizes(n_mc=10)


def test_load_settings_reads_files_inline_and_overrides(tmp_path):
    from ganlee.config import ConfigSpec

    f = tmp_path / "c.yaml"
    f.write_text("toys:\n  n_toys: 7\n")
    assert load_settings(str(f)).toys.n_toys == 7
    assert load_settings(ConfigSpec(str(f), ("toys.n_toys=9",))).toys.n_toys == 9
    assert load_settings('{"seed": 3}').seed == 3


def test_the_candidates_are_those_of_the_fit_package():
    """ganlee.settings knows the families and their highest orders as the fits do: the same
    candidate list, simplest first, for every family combination."""
    from itertools import combinations

    from ganlee.settings import FIT_FAMILIES
    from ganlee.stats.fit.families import FAMILIES, candidates

    assert {f: c.max_order for f, c in FAMILIES.items()} == FIT_FAMILIES
    for k in (1, 2, 4):
        for fams in combinations(FIT_FAMILIES, k):
            cfg = {"fit": {"spurious": {"families": list(fams), "min_order": 2, "max_order": 16}}}
            spur = Settings.from_config(cfg).fit.spurious
            assert list(spur.candidates) == candidates(list(fams), 16, 2)
