"""Binned Poisson fits of the m_llg spectrum: background only, and background + a Gaussian bump.

docs/design.md, "Fits and background model". The package:

* ``spec``: ``FitSpec`` (binning, mass grid, model constants, background model, solver settings);
* ``families``: the background families (``exp_polyN``, ``bernsteinN``, ``exp_chebyshevN``,
  ``bernstein_freeN``), pluggable by name;
* ``model``: expected counts, the Gaussian signal shape, the likelihood and ``Z``
  (arXiv:1007.1727);
* ``results``: ``ScanResult`` and the status codes;
* ``batched``: the fast path, torch float64, vectorised over histograms and masses
  (``newton``, ``exppoly_torch``, ``bernstein_torch``, ``exp_chebyshev``, ``bernstein_free``);
* ``minuit``: the reference, MINUIT's MIGRAD per histogram and mass;
* ``api``: ``scan`` and ``fit_point``; ``gof``: goodness of fit;
  ``spurious``: the spurious-signal test and the automatic choice of the background model.

Two backends give the same numbers (tested to ``|dZ| < 0.01``). Sparse histograms (below ~1
event per bin) can have several local maxima of the signal+background likelihood: with
``a_N << 0`` an exp-polynomial is itself a bump. Each backend then returns the maximum its start
leads to (batched: the one reached from the background fit; iminuit: from the previous mass),
which may differ. From ~100 events in 40 bins up they agree to ``|dZ| < 1e-3``. Toys calibrate
whichever statistic is used, provided the observed data goes through the same backend.
"""

from __future__ import annotations

from ganlee.stats.fit.api import fit_point, scan
from ganlee.stats.fit.batched import scan_batched
from ganlee.stats.fit.families import (
    BackgroundFamily,
    Bernstein,
    ExpPoly,
    background_family,
    candidates,
)
from ganlee.stats.fit.gof import goodness_of_fit
from ganlee.stats.fit.minuit import scan_iminuit
from ganlee.stats.fit.model import expected_counts, signal_shape
from ganlee.stats.fit.results import (
    STATUS_EMPTY,
    STATUS_NAMES,
    STATUS_NON_FINITE,
    STATUS_NOT_CONVERGED,
    STATUS_OK,
    STATUS_TOO_FEW,
    ScanResult,
    status_counts,
)
from ganlee.stats.fit.spec import FitSpec, histogram_torch, validate_spec

__all__ = [
    "STATUS_EMPTY",
    "STATUS_NAMES",
    "STATUS_NON_FINITE",
    "STATUS_NOT_CONVERGED",
    "STATUS_OK",
    "STATUS_TOO_FEW",
    "BackgroundFamily",
    "Bernstein",
    "ExpPoly",
    "FitSpec",
    "ScanResult",
    "background_family",
    "candidates",
    "expected_counts",
    "fit_point",
    "goodness_of_fit",
    "histogram_torch",
    "scan",
    "scan_batched",
    "scan_iminuit",
    "signal_shape",
    "status_counts",
    "validate_spec",
]
