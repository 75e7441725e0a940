"""The LEE figures show what they should: axes that span the data (not the formulas'
asymptotes), the toy count, the dataset named for what it is, the project label."""

from __future__ import annotations

import numpy as np
import pytest
from test_lee import cfg_for, write_chunks

from ganlee.settings import Settings
from ganlee.stats import lee
from ganlee.stats.plots import PLOT_NAMES, data_label, lee_figures
from ganlee.stats.plots_scan import first_toys

N_TOYS = 20


@pytest.fixture(scope="module")
def figures(tmp_path_factory):
    """The figures of 20 toys (as the embedded default), without observed data."""
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(11)
    z = np.maximum(rng.standard_normal((N_TOYS, 3, 31)) * 1.2, 0.0)
    paths = write_chunks(tmp_path_factory.mktemp("lee_plots"), z, 10)
    cfg = cfg_for(N_TOYS, n_scan_plots=2)
    res = lee.aggregate(paths, cfg, progress=False)
    table = {k: np.asarray(v) for k, v in _table(res).items()}
    toys = first_toys(paths, 2)
    figs = dict(lee_figures(cfg, _json(res.summary), table, res.hist, None, toys))
    yield figs, res.summary
    plt.close("all")


def _json(obj):
    import json

    from ganlee.io import json_safe

    return json.loads(json.dumps(json_safe(obj)))


def _table(res):
    return {
        "z_max": res.z_max,
        "mass_at_max": res.mass_at_max,
        "selection_at_max": res.selection_at_max,
    }


def test_every_figure_is_drawn_with_the_simulation_label(figures):
    figs, _ = figures
    assert list(figs) == list(PLOT_NAMES)
    for name, fig in figs.items():
        texts = [t.get_text() for ax in fig.axes for t in ax.texts]
        assert any("Simulation" in t for t in texts), name


def test_trials_factor_axis_spans_the_curves(figures):
    figs, summary = figures
    ax = figs["trials_factor"].axes[0]
    lo, hi = ax.get_ylim()
    shown = [
        row["toys"]["trials_factor_hi"]
        for row in summary["table"]
        if row["toys"]["n_above"] > 0 and row["toys"]["trials_factor_hi"] is not None
    ]
    assert lo < 1.0  # the "no look-elsewhere effect" line is in view
    assert hi >= max(shown)
    assert hi < 1e4 * max(shown)  # not up to the limits where no toy reaches (1e24 at Z = 10)


def test_zmax_histogram_axis_fits_the_toy_count(figures):
    figs, _ = figures
    _, hi = figs["zmax_hist"].axes[0].get_ylim()
    assert N_TOYS < hi < 10 * N_TOYS


def test_scans_without_toys_or_data_draw_nothing(figures):
    import matplotlib.pyplot as plt

    from ganlee.plotstyle import use_style
    from ganlee.stats.plots_scan import plot_scans

    _, summary = figures
    fig = plot_scans(use_style(), _json(summary), [], None, "MC as data")
    assert all(not ax.lines for ax in fig.axes)
    plt.close(fig)


def test_the_mc_is_not_called_observed():
    assert data_label(cfg_for(10)) == "MC as data"
    cfg = Settings.from_config({"lee": {"observed": {"features": "data.root"}}})
    assert data_label(cfg) == "Observed"
    pseudo = Settings.from_config({"lee": {"observed": {"features": "generate"}}})
    assert data_label(pseudo) == "Pseudo-data"
