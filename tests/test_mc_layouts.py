"""Round trips through real ROOT files written with uproot in every supported layout."""

from __future__ import annotations

import io
import json

import pytest
import uproot
from mc_helpers import (
    REFERENCE,
    expected_cutflow,
    expected_features,
    objects,
    sample,
    write_cartesian,
    write_delphes,
    write_nanoaod,
)

from ganlee.config import ConfigError
from ganlee.features import FEATURE_NAMES
from ganlee.io import InputError, read_features
from ganlee.mc.convert import convert, parse_step_size
from ganlee.mc.generate import write_objects
from ganlee.mc.layouts import PRESETS, resolve_layout
from ganlee.settings import Settings


def write_generated(path, events):
    """The generator's own writer, fed with constructed detector-level objects."""
    write_objects(
        path, [objects(events)], {"events": len(events), "sigma_gen_pb": 2.0, "realism": "no_mpi"}
    )
    return path


WRITERS = {
    "generated": write_generated,
    "delphes": write_delphes,
    "nanoaod": write_nanoaod,
    "cartesian": write_cartesian,
}


def _convert(tmp_path, inputs, **mc):
    cfg = Settings.from_config({"mc": mc})
    out, prov = tmp_path / "features.root", tmp_path / "features.json"
    record = convert([str(p) for p in inputs], cfg, out, prov, stream=io.StringIO())
    return read_features(out), json.loads(prov.read_text()), record


def _check_reference(x):
    assert x.shape == (len(REFERENCE), len(FEATURE_NAMES))
    for i, ref in enumerate(REFERENCE):
        want = expected_features(*ref)
        got = dict(zip(FEATURE_NAMES, x[i], strict=True))
        for name in FEATURE_NAMES:
            # float32 on disk (inputs and features): relative 1e-5 or 1e-5 absolute near zero.
            assert got[name] == pytest.approx(want[name], rel=2e-5, abs=2e-5), (i, name)


@pytest.mark.parametrize("layout", sorted(WRITERS))
def test_round_trip_auto_detected(tmp_path, layout):
    path = WRITERS[layout](tmp_path / f"in_{layout}.root", sample())
    x, prov, _ = _convert(tmp_path, [path])
    _check_reference(x)
    assert prov["inputs"][0]["layout"] == layout
    assert prov["cutflow"] == expected_cutflow()
    assert prov["selected_events"] == len(REFERENCE)


@pytest.mark.parametrize("layout", sorted(WRITERS))
def test_round_trip_named_layout_in_small_chunks(tmp_path, layout):
    path = WRITERS[layout](tmp_path / f"in_{layout}.root", sample())
    x, prov, _ = _convert(tmp_path, [path], layout=layout, step_size=2)
    _check_reference(x)
    assert prov["cutflow"] == expected_cutflow()


def test_generated_files_are_ttrees_with_delphes_names(tmp_path):
    path = write_generated(tmp_path / "gen.root", sample())
    with uproot.open(path) as f:
        assert f.classnames()["Delphes;1"] == "TTree"
        keys = set(f["Delphes"].keys())
        assert {
            "Electron_size",
            "Electron.PT",
            "Electron.Charge",
            "Muon.Charge",
            "Photon.Phi",
            "Jet.Eta",
        } <= keys
        assert {"MissingET.MET", "MissingET.Phi"} <= keys
        assert f["Delphes"]["Muon_size"].array(library="np").tolist() == [
            len(e["muons"]) for e in sample()
        ]
        assert json.loads(str(f["ganlee_generation"]))["events"] == len(sample())


def test_several_files_mixed_layouts(tmp_path):
    events = sample()
    a = write_delphes(tmp_path / "a.root", events[:5])
    b = write_nanoaod(tmp_path / "b.root", events[5:])
    x, prov, _ = _convert(tmp_path, [a, b])
    _check_reference(x)
    assert [i["layout"] for i in prov["inputs"]] == ["delphes", "nanoaod"]
    assert [i["entries"] for i in prov["inputs"]] == [5, 5]
    assert prov["cutflow"] == expected_cutflow()
    total = {
        k: prov["inputs"][0]["cutflow"][k] + prov["inputs"][1]["cutflow"][k]
        for k in prov["cutflow"]
    }
    assert total == prov["cutflow"]


def test_branch_override(tmp_path):
    path = write_nanoaod(tmp_path / "renamed.root", sample(), rename={"Muon_pt": "mu_pt_corrected"})
    with pytest.raises(InputError, match="Muon_pt"):
        _convert(tmp_path, [path], layout="nanoaod")
    x, _, _ = _convert(tmp_path, [path], layout="nanoaod", branches={"Muon.pt": "mu_pt_corrected"})
    _check_reference(x)


def test_provenance_records_generation_and_config(tmp_path):
    path = write_generated(tmp_path / "gen.root", sample())
    _, prov, _ = _convert(tmp_path, [path], selection={"jet_pt_min": 30.0})
    assert prov["generation"]["events"] == len(sample())
    assert prov["generation"]["sigma_pb"] == 2.0
    # 3 of 10 events selected at 2 pb: 0.6 pb = 600 fb.
    assert prov["generation"]["selected_sigma_fb"] == pytest.approx(600.0)
    assert prov["selection"]["jet_pt_min"] == 30.0
    assert prov["config"]["mc"]["selection"]["jet_pt_min"] == 30.0
    assert list(prov["cutflow"]) == list(expected_cutflow())


def test_layout_presets_and_bad_overrides():
    assert PRESETS["delphes"].fields("Muon") == {
        "pt": "Muon.PT",
        "eta": "Muon.Eta",
        "phi": "Muon.Phi",
        "charge": "Muon.Charge",
    }
    assert PRESETS["nanoaod"].fields("MissingET") == {"met": "MET_pt", "phi": "MET_phi"}
    assert PRESETS["cartesian"].kind("Muon") == "cartesian"
    with pytest.raises(ConfigError, match=r"mc\.branches\.Muon\.px"):
        resolve_layout("nanoaod", {"Muon.px": "x"})
    with pytest.raises(ConfigError, match=r"mc\.layout"):
        resolve_layout("lhe", {})


@pytest.mark.parametrize(
    ("value", "expected"), [("100 MB", "100 MB"), ("5000", 5000), (7, 7), ("1.5 GiB", "1.5 GiB")]
)
def test_step_size(value, expected):
    assert parse_step_size(value) == expected


@pytest.mark.parametrize("value", ["lots", "0", 0, -3])
def test_bad_step_size(value):
    with pytest.raises(ConfigError, match=r"mc\.step_size"):
        parse_step_size(value)
