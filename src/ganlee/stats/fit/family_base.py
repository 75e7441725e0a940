"""The base class of the background families of the m_llg fits (``ganlee.stats.fit.families``).

docs/design.md, "Fits and background model". A family member is a frozen dataclass named
``<family><order>``; a family defines its shape (expected counts of public parameters), its
MINUIT start and the kind of batched solver that fits it (``ganlee.stats.fit.batched``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np

__all__ = ["MAX_ORDER", "BackgroundFamily", "Binning"]


class Binning(Protocol):
    """What a family and its solver read of the fit specification (``ganlee.stats.fit.spec.
    FitSpec`` has it): the bin edges, centres and widths in GeV and ``t`` at the centres."""

    @property
    def edges(self) -> np.ndarray: ...

    @property
    def centers(self) -> np.ndarray: ...

    @property
    def widths(self) -> np.ndarray: ...

    @property
    def t(self) -> np.ndarray: ...


#: Highest order of the families in the monomial and Bernstein bases (``exp_poly``,
#: ``bernstein``); the families in orthogonal bases go further (their ``max_order``).
MAX_ORDER = 10


@dataclass(frozen=True)
class BackgroundFamily:
    """One member (family and order) of a background family; subclasses define the shape."""

    order: int
    family: ClassVar[str] = ""
    #: ``exp_poly`` / ``exp_basis``: ln nu linear in the internal parameters (monomial or
    #: orthogonal basis); ``linear``: nu linear in them, each >= 0; ``linear_free``: nu linear
    #: in them, only nu > 0 required.
    kind: ClassVar[str] = ""
    #: highest order of the family (the name ``<family><order>`` is refused above it)
    max_order: ClassVar[int] = MAX_ORDER

    @property
    def name(self) -> str:
        return f"{self.family}{self.order}"

    @property
    def n_par(self) -> int:
        return self.order + 1

    @property
    def param_names(self) -> tuple[str, ...]:
        raise NotImplementedError

    @property
    def label(self) -> str:
        """The function as matplotlib mathtext, for figure legends."""
        raise NotImplementedError

    def counts(self, spec: Any, params: Sequence[float] | np.ndarray) -> np.ndarray:
        """Expected background counts per bin (nbins,) for public parameters ``params``."""
        raise NotImplementedError

    def minuit_start(self, y: np.ndarray, spec: Any) -> tuple[np.ndarray, np.ndarray, list[int]]:
        """Start values, step sizes and the indices of parameters bounded below by 0 (MINUIT)."""
        raise NotImplementedError

    def check(self, params: Sequence[float] | np.ndarray) -> np.ndarray:
        p = np.asarray(params, dtype=np.float64).reshape(-1)
        if p.size != self.n_par:
            msg = (
                f"background {self.name!r} has {self.n_par} parameters {self.param_names}, "
                f"got {p.size}"
            )
            raise ValueError(msg)
        return p
