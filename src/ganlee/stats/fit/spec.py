"""The fit specification: binning, mass grid, model constants, background family, solver settings.

docs/design.md, "Fits and background model".
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ganlee.errors import ConfigError
from ganlee.settings import FitSettings
from ganlee.stats.fit.families import BackgroundFamily, background_family

__all__ = ["BACKENDS", "FitSpec", "validate_spec"]

BACKENDS = ("batched", "iminuit")


@dataclass(frozen=True, eq=False)
class FitSpec:
    """Histogram binning, mass grid, model constants and solver settings of the fits.

    Build it with ``FitSpec.from_settings(settings.fit)`` (``ganlee.settings.FitSettings``, where
    the edges and the mass grid are derived); direct construction is checked by
    ``validate_spec`` too. ``edges`` (nbins + 1,) and ``masses`` (M,) are in GeV.
    ``background`` names the background family member (``exp_poly2``, ``bernstein3``, ...;
    ``ganlee.stats.fit.families``).
    """

    edges: np.ndarray
    masses: np.ndarray
    sigma: float = 2.5
    t_center: float = 150.0
    t_scale: float = 20.0
    min_events: int = 0
    max_iterations: int = 30
    tolerance: float = 1e-9
    max_fits_per_pass: int = 1 << 20
    backend: str = "batched"
    background: str = "exp_poly2"

    def __post_init__(self) -> None:
        object.__setattr__(self, "edges", np.array(self.edges, dtype=np.float64).reshape(-1))
        object.__setattr__(self, "masses", np.array(self.masses, dtype=np.float64).reshape(-1))
        self.edges.setflags(write=False)
        self.masses.setflags(write=False)
        validate_spec(self)

    @classmethod
    def from_settings(cls, fit: FitSettings) -> FitSpec:
        """The spec of the ``fit`` settings (edges and masses derived there)."""
        return cls(
            edges=fit.edges,
            masses=fit.masses,
            sigma=float(fit.sigma),
            t_center=float(fit.t_center),
            t_scale=float(fit.t_scale),
            min_events=int(fit.min_events),
            max_iterations=int(fit.max_iterations),
            tolerance=float(fit.tolerance),
            max_fits_per_pass=int(fit.max_fits_per_pass),
            backend=str(fit.backend),
            background=str(fit.background),
        )

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None = None) -> FitSpec:
        """The spec of a (possibly partial) config mapping: ``{"fit": {...}}`` or the ``fit``
        section alone, the schema filling the rest (a convenience for scripts and tests;
        the steps build ``Settings`` once and use ``from_settings``)."""
        from ganlee.settings import Settings

        cfg = dict(cfg or {})
        if (
            cfg
            and "fit" not in cfg
            and set(cfg) <= {f.name for f in dataclasses.fields(FitSettings)}
        ):
            cfg = {"fit": cfg}
        return cls.from_settings(Settings.from_config(cfg).fit)

    @property
    def nbins(self) -> int:
        return int(self.edges.size - 1)

    @functools.cached_property
    def centers(self) -> np.ndarray:
        return _frozen(0.5 * (self.edges[1:] + self.edges[:-1]))

    @functools.cached_property
    def widths(self) -> np.ndarray:
        return _frozen(np.diff(self.edges))

    @functools.cached_property
    def t(self) -> np.ndarray:
        """``t`` at the bin centres."""
        return _frozen((self.centers - self.t_center) / self.t_scale)

    @property
    def family(self) -> BackgroundFamily:
        """The background family member named by ``background``."""
        return background_family(self.background)

    def with_masses(self, masses: Sequence[float] | np.ndarray) -> FitSpec:
        """The same spec with another mass grid (checked against the histogram range)."""
        return dataclasses.replace(self, masses=np.atleast_1d(np.asarray(masses, np.float64)))

    def with_background(self, background: str) -> FitSpec:
        """The same spec with another background family member."""
        return dataclasses.replace(self, background=str(background))

    def histogram(self, m_llg: Any, weights: Any = None) -> Any:
        """Counts of ``m_llg`` in the bins (values outside ``[edges[0], edges[-1]]`` dropped).

        A numpy array gives int64 counts (nbins,), as ``numpy.histogram``. A torch tensor of shape
        ``(..., N)`` gives float64 counts ``(..., nbins)`` on its device; ``weights`` (same
        shape, e.g. a 0/1 selection mask) weight each value. The last edge is included in the
        last bin, as in numpy.
        """
        if isinstance(m_llg, torch.Tensor):
            return histogram_torch(m_llg, self.edges, weights)
        values = np.asarray(m_llg, dtype=np.float64).reshape(-1)
        w = None if weights is None else np.asarray(weights, dtype=np.float64).reshape(-1)
        values_ok = np.isfinite(values)
        counts, _ = np.histogram(
            values[values_ok], bins=self.edges, weights=None if w is None else w[values_ok]
        )
        return counts if w is not None else counts.astype(np.int64)


def _frozen(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def histogram_torch(m: torch.Tensor, edges_np: np.ndarray, weights: Any = None) -> torch.Tensor:
    """Float64 counts ``(..., nbins)`` of the values ``m`` ``(..., N)`` in ``edges_np`` bins."""
    dtype = m.dtype if m.is_floating_point() else torch.float64
    edges = torch.as_tensor(edges_np.copy(), dtype=dtype, device=m.device)
    nb = edges.numel() - 1
    x = m.to(edges.dtype)
    idx = torch.bucketize(x, edges, right=True) - 1
    idx = torch.where(x == edges[-1], torch.full_like(idx, nb - 1), idx)
    inside = (idx >= 0) & (idx < nb)
    if weights is None:
        w = torch.ones_like(x, dtype=torch.float64)
    else:
        w = torch.as_tensor(weights, device=m.device).to(torch.float64)
    w = torch.where(inside, w, torch.zeros_like(w))
    idx = torch.where(inside, idx, torch.full_like(idx, nb))
    out = torch.zeros((*x.shape[:-1], nb + 1), dtype=torch.float64, device=m.device)
    out.scatter_add_(-1, idx, w)
    return out[..., :nb]


def _fail(key: str, what: str) -> None:
    msg = f"config key 'fit.{key}': {what}"
    raise ConfigError(msg)


def validate_spec(spec: FitSpec) -> None:
    """Raise ``ConfigError`` naming the ``fit.*`` key when the spec cannot be fitted."""
    edges, masses = spec.edges, spec.masses
    try:
        n_par = background_family(spec.background).n_par
    except ValueError as exc:
        _fail("background", str(exc))
    if edges.ndim != 1 or edges.size < 2 or not np.all(np.isfinite(edges)):
        _fail(
            "bin_width", f"histogram edges must be a finite 1-d array of >= 2 values, got {edges}"
        )
    if np.any(np.diff(edges) <= 0):
        _fail("bin_width", "bin widths must be > 0 (edges strictly increasing)")
    if edges.size - 1 < n_par + 2:
        _fail(
            "bin_width",
            f"the fits need at least {n_par + 2} bins ({n_par + 1} signal+background parameters "
            f"of background {spec.background!r}), got {edges.size - 1}",
        )
    if masses.size == 0 or not np.all(np.isfinite(masses)):
        _fail("mass_low", "the mass grid is empty or not finite")
    if masses.min() < edges[0]:
        _fail(
            "mass_low",
            f"signal mass {masses.min():g} GeV is below the histogram range "
            f"[{edges[0]:g}, {edges[-1]:g}] (fit.hist_low)",
        )
    if masses.max() > edges[-1]:
        _fail(
            "mass_high",
            f"signal mass {masses.max():g} GeV is above the histogram range "
            f"[{edges[0]:g}, {edges[-1]:g}] (fit.hist_high)",
        )
    for key in ("sigma", "t_scale", "tolerance"):
        val = float(getattr(spec, key))
        if not (math.isfinite(val) and val > 0):
            _fail(key, f"must be a finite number > 0, got {val}")
    if not math.isfinite(float(spec.t_center)):
        _fail("t_center", f"must be finite, got {spec.t_center}")
    for key, least in (("min_events", 0), ("max_iterations", 1), ("max_fits_per_pass", 1)):
        if int(getattr(spec, key)) < least:
            _fail(key, f"must be >= {least}, got {getattr(spec, key)}")
    if spec.backend not in BACKENDS:
        _fail("backend", f"must be one of {BACKENDS}, got {spec.backend!r}")
