"""Validation studies (ganlee.validation.studies): names, per-study toy configs, coinciding runs."""

from __future__ import annotations

import json
import re

import pytest

from ganlee.config import ConfigError, load_config
from ganlee.features import FEATURE_NAMES
from ganlee.settings import Settings, load_settings
from ganlee.toys.run import toy_config
from ganlee.validation import studies as st


def _cfg(**sections) -> Settings:
    return load_settings(json.dumps(sections))


def test_default_study_list_and_pattern():
    names = st.study_names(_cfg())
    assert names == [
        "gan",
        "mc_bootstrap",
        "gan_ens1",
        "gan_ens2",
        "inject_0_train",
        "inject_20_train",
        "inject_40_train",
        "inject_80_train",
        "inject_0_kfold",
        "inject_20_kfold",
        "inject_40_kfold",
        "inject_80_kfold",
        "nomllg",
    ]
    for n in [*names, "mc_pool", "gan_random", "inject_0_random"]:
        assert re.fullmatch(st.STUDY_PATTERN, n)
    for bad in ("gan_ens0", "inject_5_other", "gan/x", "chunk_0"):
        assert not re.fullmatch(st.STUDY_PATTERN, bad)
        with pytest.raises(ConfigError, match="unknown validation study"):
            st.parse_study(bad)


def test_every_study_config_is_a_valid_toy_config_with_its_override():
    cfg = _cfg(toys={"n_toys": 50, "chunk_size": 10}, validation={"n_toys": 30, "chunk_size": 5})
    assert st.sizes(cfg) == (30, 5)
    for name in st.study_names(cfg):
        sc = load_config(json.dumps(st.study_toy_config(cfg, name)))  # schema-valid
        t = sc["toys"]
        assert t["diagnostics"] is True
        assert t["chunk_size"] == 5
        assert sc["seed"] == cfg.seed  # every study keeps the main toy seeds
        s = st.parse_study(name)
        assert t["source"] == ("mc_bootstrap" if name == "mc_bootstrap" else "gan")
        if s.kind == "inject":
            assert t["scoring"] == s.scoring
            assert t["inject"]["n_signal"] == s.n_signal
            if s.n_signal:
                assert t["inject"]["mass"] == 150.0
                assert t["inject"]["width"] == cfg.fit.sigma
        else:
            assert t["inject"]["n_signal"] == 0
            assert t["scoring"] == cfg.toys.scoring
        if name == "nomllg":
            assert t["features"] == [
                f for f in FEATURE_NAMES if f not in ("m_llg", "e_llg", "pt_ll_over_m_llg")
            ]
        else:
            assert t["features"] == cfg.toys.to_dict()["features"]


def test_studies_differ_only_by_their_override():
    cfg = _cfg()
    gan = toy_config(load_settings(json.dumps(st.study_toy_config(cfg, "gan"))))
    ens = toy_config(load_settings(json.dumps(st.study_toy_config(cfg, "gan_ens2"))))
    assert gan == ens  # same toys; only the GAN (model file) differs
    boot = toy_config(load_settings(json.dumps(st.study_toy_config(cfg, "mc_bootstrap"))))
    gan["toys"]["source"] = "mc_bootstrap"
    assert boot == gan
    pool = toy_config(load_settings(json.dumps(st.study_toy_config(cfg, "mc_pool"))))
    gan["toys"]["source"] = "mc_pool"
    assert pool == gan


def test_closure_studies_need_explicit_toy_sizes():
    sized = _cfg(toys={"sample1_size": 100, "sample2_size": 200, "diagnostics": True})
    assert st.closure_studies(sized) == ("gan", "mc_pool")
    assert st.parse_study("mc_pool").source == "mc_pool"
    assert st.alias(sized, "mc_pool") == "mc_pool"  # never the main toys, never another study
    with pytest.raises(ConfigError, match=r"toys\.sample2_size"):
        st.closure_studies(_cfg(toys={"sample1_size": 100}))
    control = st.SELECTION_CONTROL
    t = st.study_toy_config(sized, control)["toys"]
    assert (t["source"], t["scoring"]) == ("gan", "random")
    assert st.alias(sized, control) == control
    with_random = _cfg(toys=sized.toys.to_dict(), validation={"scorings": ["train", "random"]})
    assert "inject_0_random" in st.study_names(with_random)
    assert st.alias(with_random, control) == "inject_0_random"  # the same toys, run once


def test_coinciding_studies_are_run_once():
    cfg = _cfg()  # main toys without diagnostics: the gan study runs itself
    assert st.alias(cfg, "gan") == "gan"
    assert st.alias(cfg, "inject_0_train") == "gan"  # background-only with the main scoring
    assert st.alias(cfg, "inject_0_kfold") == "inject_0_kfold"
    assert st.alias(cfg, "gan_ens1") == "gan_ens1"  # another GAN
    reuse = _cfg(toys={"diagnostics": True})
    assert st.alias(reuse, "gan") == st.MAIN  # results/toys already holds these toys
    assert st.alias(reuse, "inject_0_train") == st.MAIN
    sized = _cfg(toys={"diagnostics": True}, validation={"n_toys": 7})
    assert st.alias(sized, "gan") == "gan"  # other sizes: rerun


def test_ensemble_members_and_bad_drop_list():
    assert st.ensemble_members(_cfg(validation={"n_gans": 1})) == ["gan"]
    assert st.ensemble_members(_cfg(validation={"n_gans": 3})) == ["gan", "gan_ens1", "gan_ens2"]
    with pytest.raises(ConfigError, match=r"validation\.sculpting\.drop_features"):
        st.study_toy_config(_cfg(validation={"sculpting": {"drop_features": ["m_lgg"]}}), "nomllg")
    with pytest.raises(ConfigError, match="removes every DNN input"):
        st.study_toy_config(
            _cfg(
                toys={"features": ["m_llg"]}, validation={"sculpting": {"drop_features": ["m_llg"]}}
            ),
            "nomllg",
        )
