"""Bad input: a clear error naming the file / tree / branch / config key, and no output file."""

from __future__ import annotations

import io
import json

import pytest
import uproot
from mc_helpers import REFERENCE, event, sample, write_delphes

from ganlee.cli import main
from ganlee.config import ConfigError, load_config
from ganlee.io import InputError
from ganlee.mc.convert import convert
from ganlee.settings import Settings


@pytest.fixture
def outputs(tmp_path):
    out, prov = tmp_path / "out" / "features.root", tmp_path / "out" / "features.json"
    yield out, prov
    # Nothing may be left behind: neither the outputs nor a temporary file beside them.
    leftovers = list((tmp_path / "out").glob("*")) if (tmp_path / "out").exists() else []
    assert leftovers == []


def _run(inputs, outputs, **mc):
    settings = Settings.from_config({"mc": mc})
    convert([str(p) for p in inputs], settings, *outputs, stream=io.StringIO())


def test_missing_file(tmp_path, outputs):
    with pytest.raises(InputError, match=r"input file '.*nope\.root' does not exist"):
        _run([tmp_path / "nope.root"], outputs)


def test_non_root_file(tmp_path, outputs):
    bad = tmp_path / "notes.root"
    bad.write_text("this is not a ROOT file\n" * 20)
    with pytest.raises(InputError, match=r"notes\.root' is not a readable ROOT file"):
        _run([bad], outputs)


@pytest.mark.parametrize("fraction", [0.02, 0.5, 0.95])
def test_truncated_file(tmp_path, outputs, fraction):
    good = write_delphes(tmp_path / "good.root", sample() * 200)
    cut = tmp_path / "cut.root"
    data = good.read_bytes()
    cut.write_bytes(data[: int(len(data) * fraction)])
    # The good file first: an error in a later file must not leave the first one's output.
    with pytest.raises(InputError, match=r"cut\.root'.*(truncated|corrupt)"):
        _run([good, cut], outputs)


def test_missing_tree(tmp_path, outputs):
    path = write_delphes(tmp_path / "t.root", sample(), tree="Other")
    with pytest.raises(InputError, match=r"t\.root' has no tree 'Delphes'.*Other"):
        _run([path], outputs, layout="delphes")
    with pytest.raises(InputError, match=r"no layout preset matches.*no tree 'Delphes'"):
        _run([path], outputs)
    with pytest.raises(InputError, match=r"has no tree 'Events'"):
        _run([path], outputs, tree="Events", layout="delphes")


def test_named_tree_is_used(tmp_path, outputs):
    path = write_delphes(tmp_path / "t.root", sample(), tree="Other")
    _run([path], outputs, tree="Other")
    out, prov = outputs
    assert json.loads(prov.read_text())["selected_events"] == len(REFERENCE)
    out.unlink()
    prov.unlink()


def test_missing_branch(tmp_path, outputs):
    path = write_delphes(tmp_path / "b.root", sample(), drop=("Photon.PT",))
    with pytest.raises(
        InputError, match=r"b\.root', tree 'Delphes': missing branch\(es\) \['Photon\.PT'\]"
    ):
        _run([path], outputs, layout="delphes")
    with pytest.raises(InputError, match=r"lacks branch\(es\) \['Photon\.PT'\]"):
        _run([path], outputs)


def test_zero_events_after_selection(tmp_path, outputs):
    path = write_delphes(tmp_path / "z.root", [event(muons=[(50.0, 0.5, 0.1, 1)])] * 5)
    with pytest.raises(
        InputError, match=r"no event of 1 input file\(s\) \(5 events\) passed the selection"
    ):
        _run([path], outputs)


def test_empty_tree(tmp_path, outputs):
    path = tmp_path / "empty.root"
    with uproot.recreate(path) as f:
        f.mktree("Delphes", {"x": "float32"})
    with pytest.raises(InputError, match=r"empty\.root', tree 'Delphes': missing branch"):
        _run([path], outputs, layout="delphes")


@pytest.mark.parametrize(
    ("cfg", "key"),
    [
        ({"mc": {"selection": {"lep_pt_lead": "thirty"}}}, "mc.selection.lep_pt_lead"),
        ({"mc": {"step_size": 2.5}}, "mc.step_size"),
        ({"mc": {"layout": "lhe"}}, "mc.layout"),
        ({"mc": {"generate": {"events_per_job": "many"}}}, "mc.generate.events_per_job"),
        ({"mc": {"input_files": "a.root"}}, "mc.input_files"),
    ],
)
def test_config_key_of_wrong_type(cfg, key):
    with pytest.raises(ConfigError, match=f"config key '{key}'"):
        load_config(json.dumps(cfg))


def test_unknown_branch_override_key(tmp_path, outputs):
    path = write_delphes(tmp_path / "d.root", sample())
    with pytest.raises(ConfigError, match=r"mc\.branches\.Muon\.pT"):
        _run([path], outputs, layout="delphes", branches={"Muon.pT": "x"})


def test_cli_exit_code_2_and_no_output(tmp_path, capsys):
    path = write_delphes(tmp_path / "d.root", sample())
    out, prov = tmp_path / "out" / "f.root", tmp_path / "out" / "f.json"
    args = ["mc-convert", "--out", str(out), "--provenance", str(prov)]
    bad_cfg = json.dumps({"mc": {"selection": {"ph_pt_min": "30 GeV"}}})
    assert main([*args, "--config", bad_cfg, str(path)]) == 2
    assert "config key 'mc.selection.ph_pt_min'" in capsys.readouterr().err
    assert main([*args, str(tmp_path / "missing.root")]) == 2
    assert "missing.root' does not exist" in capsys.readouterr().err
    assert not out.exists()
    assert not prov.exists()
    assert main([*args, str(path)]) == 0
    assert out.exists()
    assert prov.exists()
