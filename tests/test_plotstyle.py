"""The shared plotting style: files written, points outside a ratio panel marked, axis ranges
that follow the data."""

from __future__ import annotations

import numpy as np
import pytest

from ganlee import plotstyle as ps


@pytest.fixture
def plt():
    return ps.use_style()


def test_save_figure_writes_pdf_and_png_atomically(plt, tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    paths = ps.save_figure(fig, tmp_path / "sub", "line")
    assert [p.name for p in paths] == ["line.pdf", "line.png"]
    assert paths[0].read_bytes()[:5] == b"%PDF-"
    png = paths[1].read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width = int.from_bytes(png[16:20], "big")  # IHDR width in pixels
    assert width >= 6.4 * ps.PNG_DPI * 0.9  # the default 6.4-inch figure at PNG_DPI (tight box)
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["line.pdf", "line.png"]
    assert not plt.get_fignums()  # closed


def test_ratio_panel_marks_points_outside_with_arrows(plt):
    fig, rax = plt.subplots()
    x = np.arange(5.0)
    ratio = np.array([1.0, 1.75, 0.2, np.nan, 1.4])
    n_out = ps.ratio_panel(rax, x, ratio, np.full(5, 0.05), ylim=(0.5, 1.5))
    assert n_out == 2
    arrows = [c for c in rax.get_children() if type(c).__name__ == "Annotation"]
    tips = sorted((a.xy for a in arrows), key=lambda t: t[0])
    assert tips == [(1.0, 1.5), (2.0, 0.5)]  # at the edge the point left through
    assert rax.get_ylim() == (0.5, 1.5)
    plt.close(fig)


def test_log_ylim_spans_the_positive_finite_values():
    lo, hi = ps.log_ylim([np.array([2.0, np.nan, -1.0]), [1e3, np.inf]], below=2.0, above=10.0)
    assert (lo, hi) == (1.0, 1e4)
    assert ps.log_ylim([[0.0, np.nan]]) == (0.1, 10.0)


def test_count_ylim_follows_the_number_of_toys():
    lo, hi = ps.count_ylim(20, log=True)
    assert lo == 0.5
    assert 20 < hi < 200  # not 1e3 for 20 toys
    assert ps.count_ylim(20, log=False) == (0.0, 30.0)


def test_key_legend_names_each_colour_and_style_once(plt):
    fig, ax = plt.subplots()
    colors = {"train": "tab:red", "kfold": "tab:blue"}
    styles = {"toys": {"marker": "o", "ls": "none"}, "GV": {"marker": "x", "ls": "none"}}
    leg = ps.key_legend(ax, colors, styles)
    assert [t.get_text() for t in leg.get_texts()] == ["train", "kfold", "toys", "GV"]
    plt.close(fig)


def test_colorbar_carries_its_label(plt):
    fig, ax = plt.subplots()
    im = ax.imshow(np.eye(3), vmin=-1, vmax=1)
    cb = ps.colorbar(fig, im, ax, "Pearson correlation")
    assert cb.ax.get_ylabel() == "Pearson correlation"
    plt.close(fig)


def test_json_array_and_selection_label():
    np.testing.assert_array_equal(ps.json_array([1, None, 2.5]), [1.0, np.nan, 2.5])
    assert ps.selection_label(0.05) == "top 5%"
    assert ps.selection_label(1.0) == "all events"
