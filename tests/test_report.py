"""The Snakemake report's contents: figure outputs from the plotting code's own name lists, each
figure once, every caption present, and a front page that carries the summary's numbers."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
from test_lee import cfg_for, write_chunks

from ganlee import report
from ganlee.cli import main
from ganlee.io import write_json
from ganlee.stats import lee

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("kind", sorted(report.FIGURE_SETS))
def test_figure_outputs_follow_the_plot_name_lists(kind):
    fs = report.FIGURE_SETS[kind]
    names = getattr(importlib.import_module(fs.module), fs.attr)
    outs = report.figure_outputs(kind)
    assert sorted(outs) == sorted(f"{n}_{e}" for n in names for e in ("pdf", "png"))
    shown = [f.path for f in outs.values() if f.in_report]
    assert sorted(shown) == sorted(f"{fs.outdir}/{n}.png" for n in names)  # each figure once
    for f in outs.values():
        assert (ROOT / "rules" / f.caption).resolve().is_file(), f.caption
    assert report.figure_paths(kind) == [f.path for f in outs.values()]


def test_rules_take_their_figures_from_ganlee_report():
    """No figure list is written out by hand in the workflow."""
    text = "\n".join(p.read_text() for p in (ROOT / "rules").glob("*.smk"))
    for kind in report.FIGURE_SETS:
        assert f'figure_outputs("{kind}")' in text or f'figure_paths("{kind}")' in text
    assert not re.search(r"plots/\w+\.(pdf|png)\"", text.replace("pglobal.pdf", ""))


def _docutils_messages(text: str) -> str:
    """What docutils reports (info level and above) while rendering ``text`` to HTML."""
    import io

    from docutils.core import publish_parts

    stream = io.StringIO()
    publish_parts(text, writer="html", settings_overrides={"warning_stream": stream})
    return stream.getvalue()


@pytest.mark.parametrize("path", sorted((ROOT / "report").glob("*.rst")), ids=lambda p: p.name)
def test_every_caption_is_clean_restructuredtext(path):
    """Snakemake renders each caption with docutils: no error, no warning (``|x|`` would be
    read as an undefined substitution, for example)."""
    assert _docutils_messages(path.read_text()) == ""


def _summary(tmp_path):
    rng = np.random.default_rng(5)
    n = 200
    z = np.maximum(rng.standard_normal((n, 2, 9)) * 1.3, 0.0)
    paths = write_chunks(tmp_path, z, 50)
    res = lee.aggregate(paths, cfg_for(n), progress=False)
    return res.summary, z.reshape(n, -1).max(axis=1)


def test_front_page_carries_the_headline_numbers(tmp_path):
    from docutils.core import publish_parts

    summary, zmax = _summary(tmp_path)
    gan = {"classifier": {"auc": 0.5734}, "fpd": {"value": 0.0123}}
    text = report.front_page("Title\n=====\n\nThe workflow.\n", summary, gan, "MC as data")
    p3 = np.mean(zmax >= 3.0)  # p_global at Z_local = 3: the fraction of toys at or above
    assert f"p_global at Z_local = 3, toys\n     - {p3:.3g} [" in text
    assert "Toys used\n     - 200 of 200\n" in text
    n_fits = summary["fit_failures"]["n_fits"]
    assert f"Fit failures\n     - 0 of {n_fits:,} fits (0 toys)" in text
    assert "0.573" in text
    assert "0.0123" in text
    html = publish_parts(text, writer="html", settings_overrides={"report_level": 2})
    assert "<table" in html["html_body"]
    assert "System Message" not in html["html_body"]  # valid reStructuredText


def test_front_page_with_observed_data_and_checks(tmp_path):
    summary, _ = _summary(tmp_path)
    obs = summary["table"][2]  # a local Z of 3 treated as the observed one
    summary["observed"] = {
        **obs,
        "mass_at_max": 151.0,
        "selection_at_max": 0.05,
        "gross_vitells": {"z_global": 1.23},
    }
    gan = {"fidelity": {"passed": False, "message": "AUC 0.9 above 0.6"}}
    bkg = {"passed": True, "model": "exp_poly2"}
    text = report.front_page("T\n=\n", summary, gan, "Observed", bkg)
    assert _docutils_messages(text) == ""
    assert "GAN fidelity check\n     - FAILED: AUC 0.9 above 0.6" in text
    assert "background model check\n     - passed" in text
    assert "Local significance Z_local\n     - 3.00 at m = 151 GeV, selection top 5%" in text
    zg = obs["toys"]["z_global"]
    assert f"Global significance Z_global, toys\n     - {zg:.2f} [" in text
    assert "Gross-Vitells\n     - 1.23" in text


def test_front_page_step_and_its_errors(tmp_path, capsys):
    summary, _ = _summary(tmp_path)
    write_json(tmp_path / "summary.json", summary)
    desc = tmp_path / "workflow.rst"
    desc.write_text("W\n=\n\n{{ not a template }}\n")
    out = tmp_path / "front.rst"
    args = ["report-front-page", "--config", json.dumps({}), "--description", str(desc)]
    assert main([*args, "--summary", str(tmp_path / "summary.json"), "--out", str(out)]) == 0
    text = out.read_text()
    assert "Headline numbers" in text
    assert "{{" not in text  # Snakemake renders the page with Jinja
    rc = main([*args, "--summary", str(tmp_path / "none.json"), "--out", str(out)])
    assert rc == 2
    assert "none.json' does not exist" in capsys.readouterr().err


def test_rule_params_are_readable_and_read_back_exactly():
    """Rules pass their config as a YAML flow mapping (inline_config): the report shows it as
    written (no double quotes to escape) and ``ganlee --config`` reads back the same values."""
    from ganlee.config import inline_config, load_config, validate

    cfg = validate(
        {"fit": {"tolerance": 1e-10}, "lee": {"observed": {"features": "a b/c:d#e.root"}}}
    )
    cfg["toys"]["sample1_size"] = None
    text = inline_config(cfg)
    assert "\n" not in text
    assert '"' not in text
    assert load_config(text) == validate(cfg)
    assert load_config(text)["fit"]["tolerance"] == 1e-10


def test_front_page_of_a_given_local_z(tmp_path):
    """Without observed data the summary's ``given_z`` (lee.observed_z) is quoted as such."""
    summary, _ = _summary(tmp_path)
    summary["given_z"] = {**summary["table"][3], "source": "config lee.observed_z"}
    summary["given_z"]["gross_vitells"] = {"z_global": 2.0}
    text = report.front_page("T\n=\n", summary, None, "MC as data")
    assert "Dataset analysed\n     - none: Z_local given by the config lee.observed_z" in text
    assert "Local significance Z_local\n     - 4.00\n" in text


def test_front_page_states_both_sizes_and_an_unquoted_global_z(tmp_path):
    summary, _ = _summary(tmp_path)
    summary["toy_sizes"] = {"sample1": 2000, "sample2": 2000}
    obs = summary["table"][2]
    summary["observed"] = {
        **obs,
        "toys": None,
        "gross_vitells": None,
        "sizes": {"sample1": 2000, "sample2": 20192},
        "not_quoted": "no global significance: the observed analysis ran at 2,000 + 20,192 events",
        "size_warning": None,
    }
    text = report.front_page("T\n=\n", summary, None, "MC as data")
    assert _docutils_messages(text) == ""
    assert "Toy size\n     - 2,000 + 2,000 events (sample 1 + sample 2)" in text
    assert "Observed analysis size\n     - 2,000 + 20,192 events" in text
    assert (
        "Global significance Z_global, toys\n     - not quoted: the observed analysis ran" in text
    )
