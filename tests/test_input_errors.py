"""Bad input stops with one line naming the file or config key (exit 2), never a traceback.

Truncated and corrupt ROOT files (converter and features reader), a directory given as a file,
``mc.branches`` typos under ``mc.layout: auto``, and the injection settings when injection is off.
"""

from __future__ import annotations

import io
import json
import struct

import numpy as np
import pytest
import uproot
from mc_helpers import sample, write_delphes

from ganlee.cli import main
from ganlee.config import ConfigError
from ganlee.features import FEATURE_NAMES
from ganlee.io import InputError, check_root_file, read_features, write_features
from ganlee.mc.convert import convert
from ganlee.settings import Settings


def _features(path, n=20000, seed=0):
    rng = np.random.default_rng(seed)
    data = {name: rng.uniform(1, 2, n) for name in FEATURE_NAMES}
    data["n_jets"] = rng.integers(0, 4, n)
    data["n_central_jets"] = np.minimum(data["n_jets"], rng.integers(0, 4, n))
    write_features(path, data)
    return path


def _convert(inputs, tmp_path, **mc):
    out, prov = tmp_path / "out" / "f.root", tmp_path / "out" / "f.json"
    settings = Settings.from_config({"mc": mc})
    convert([str(p) for p in inputs], settings, out, prov, stream=io.StringIO())
    return out


def _root_end(path):
    """fEND from the ROOT header, read independently of ganlee (small-file layout)."""
    head = path.read_bytes()[:16]
    assert head[:4] == b"root"
    return struct.unpack(">i", head[12:16])[0]


# ------------------------------------------------------------------------------ truncated files
@pytest.mark.parametrize("fraction", [0.98, 0.99, 0.999])
def test_converter_refuses_a_nearly_complete_file(tmp_path, fraction):
    good = write_delphes(tmp_path / "good.root", sample() * 300)
    assert _root_end(good) == good.stat().st_size
    cut = tmp_path / "cut.root"
    cut.write_bytes(good.read_bytes()[: int(good.stat().st_size * fraction)])
    with pytest.raises(
        InputError, match=r"cut\.root' is truncated: \d+ bytes, but its ROOT header"
    ):
        _convert([cut], tmp_path)
    assert not (tmp_path / "out" / "f.root").exists()
    _convert([good], tmp_path)  # the intact file converts


def test_converter_refuses_a_generated_file_cut_at_98_percent(tmp_path):
    # uproot reads every event of this cut file (the end holds only metadata): before the header
    # check it converted with exit 0
    from ganlee.mc.generate import generate

    cfg = Settings.from_config({"mc": {"generate": {"events_per_job": 2000, "batch_size": 1000}}})
    good = tmp_path / "gen.root"
    generate(cfg, 0, good, stream=io.StringIO())
    cut = tmp_path / "cut.root"
    cut.write_bytes(good.read_bytes()[: int(good.stat().st_size * 0.98)])
    with pytest.raises(InputError, match=r"cut\.root' is truncated: .* \(98\.0% present\)"):
        _convert([cut], tmp_path)
    _convert([good], tmp_path)


@pytest.mark.parametrize("fraction", [0.98, 0.99])
def test_features_reader_refuses_a_truncated_file(tmp_path, fraction):
    good = _features(tmp_path / "good.root")
    cut = tmp_path / "cut.root"
    cut.write_bytes(good.read_bytes()[: int(good.stat().st_size * fraction)])
    with pytest.raises(InputError, match=r"features file '.*cut\.root' is truncated"):
        read_features(cut)
    assert read_features(good).shape == (20000, 18)


def test_large_file_header_is_read_as_64_bit(tmp_path):
    # fVersion >= 1000000: fEND is an int64 at byte 12 (ROOT TFile header, large-file format)
    path = tmp_path / "big.root"
    path.write_bytes(b"root" + struct.pack(">iiq", 1000000 + 63400, 100, 5000) + bytes(200))
    with pytest.raises(InputError, match=r"220 bytes, but its ROOT header says 5000"):
        check_root_file(path)


# ------------------------------------------------------------------------------ corrupt baskets
def test_corrupt_data_block_names_the_file(tmp_path, capsys):
    path = _features(tmp_path / "f.root")
    with uproot.open(path) as f:
        branch = f["events"]["m_llg"]
        seek = int(branch.member("fBasketSeek")[0])
        nbytes = int(branch.member("fBasketBytes")[0])
    data = bytearray(path.read_bytes())
    middle = seek + nbytes // 2  # inside the compressed payload of the first m_llg basket
    data[middle : middle + 64] = bytes(64)
    path.write_bytes(bytes(data))
    with pytest.raises(
        InputError, match=r"features file '.*f\.root', tree 'events': reading failed"
    ):
        read_features(path)
    # the CLI: exit 2, one line naming the file, no traceback
    out = tmp_path / "chunk.npz"
    code = main(
        [
            "toys",
            "--features",
            str(path),
            "--first",
            "0",
            "--count",
            "1",
            "--out",
            str(out),
            "--config",
            json.dumps({"toys": {"source": "mc_bootstrap"}}),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "f.root" in err
    assert "Traceback" not in err
    assert not out.exists()


# ------------------------------------------------------------------------------ paths and layouts
def test_directory_as_input_file(tmp_path):
    folder = tmp_path / "data.root"
    folder.mkdir()
    with pytest.raises(InputError, match=r"input file '.*data\.root' is a directory"):
        _convert([folder], tmp_path)
    with pytest.raises(InputError, match=r"features file '.*data\.root' is a directory"):
        read_features(folder)


def test_branch_typo_under_auto_layout_names_the_key_and_the_valid_ones(tmp_path):
    path = write_delphes(tmp_path / "d.root", sample())
    with pytest.raises(ConfigError, match=r"'mc\.branches\.Muon\.ptt'.*valid keys: \[.*'Muon\.pt'"):
        _convert([path], tmp_path, branches={"Muon.ptt": "x"})


def test_branch_key_of_another_layout_is_given_as_the_reason(tmp_path):
    # Muon.px exists only in the cartesian layout: the others are ruled out by name
    path = write_delphes(tmp_path / "d.root", sample())
    with pytest.raises(InputError, match=r"delphes: mc\.branches key\(s\) \['Muon\.px'\] not in"):
        _convert([path], tmp_path, branches={"Muon.px": "mu_px"})


# ------------------------------------------------------------------------------ injection settings
def _injection(**sections):
    return Settings.from_config(sections).injection


def test_disabled_injection_accepts_a_window_without_150_gev():
    fit = {"hist_low": 200.0, "hist_high": 260.0, "mass_low": 205.0, "mass_high": 255.0}
    s = _injection(fit=fit)
    assert not s.enabled
    assert s.window == (200.0, 260.0)
    # on, the same default mass (150 GeV) is outside the window and named
    with pytest.raises(ConfigError, match=r"'toys\.inject\.mass' = 150\.0 GeV is outside"):
        _injection(fit=fit, toys={"inject": {"n_signal": 5}})


def test_inverted_histogram_range_is_blamed_on_the_fit_keys():
    fit = {"hist_low": 170.0, "hist_high": 130.0}
    with pytest.raises(
        ConfigError, match=r"'fit\.hist_high' \(130\.0\) must be above 'fit\.hist_low'"
    ):
        _injection(fit=fit, toys={"inject": {"n_signal": 5}})
