"""The 18 event features: names, order and the physical constraints generated events must obey.

Order and branch names are the contract of ``results/mc/features.root`` (docs/design.md,
"File contracts between rules"). The computation from reconstructed objects lives in
``ganlee.mc.features``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "ANGLE_FEATURES",
    "FEATURE_LABELS",
    "FEATURE_NAMES",
    "INTEGER_FEATURES",
    "POSITIVE_FEATURES",
    "check_feature_names",
    "feature_shape_problem",
]

FEATURE_NAMES: tuple[str, ...] = (
    "m_llg",
    "phi_llg",
    "eta_llg",
    "pt_llg",
    "e_llg",
    "m_ll",
    "phi_ll",
    "eta_ll",
    "pt_ll",
    "e_ll",
    "dr_ll",
    "met",
    "phi_met",
    "dphi_ll",
    "dphi_met_llg",
    "pt_ll_over_m_llg",
    "n_jets",
    "n_central_jets",
)

#: Azimuthal angles and azimuthal differences, valid in [-pi, pi].
ANGLE_FEATURES: tuple[str, ...] = ("phi_llg", "phi_ll", "phi_met", "dphi_ll", "dphi_met_llg")
#: Counts: non-negative integers.
INTEGER_FEATURES: tuple[str, ...] = ("n_jets", "n_central_jets")
#: Strictly positive quantities (masses, energies, momenta, DeltaR, ratios; MET >= 0).
POSITIVE_FEATURES: tuple[str, ...] = (
    "m_llg",
    "pt_llg",
    "e_llg",
    "m_ll",
    "pt_ll",
    "e_ll",
    "dr_ll",
    "met",
    "pt_ll_over_m_llg",
)

#: Axis labels with units for plots.
FEATURE_LABELS: dict[str, str] = {
    "m_llg": r"$m_{\ell\ell\gamma}$ [GeV]",
    "phi_llg": r"$\phi_{\ell\ell\gamma}$",
    "eta_llg": r"$\eta_{\ell\ell\gamma}$",
    "pt_llg": r"$p_{T}^{\ell\ell\gamma}$ [GeV]",
    "e_llg": r"$E_{\ell\ell\gamma}$ [GeV]",
    "m_ll": r"$m_{\ell\ell}$ [GeV]",
    "phi_ll": r"$\phi_{\ell\ell}$",
    "eta_ll": r"$\eta_{\ell\ell}$",
    "pt_ll": r"$p_{T}^{\ell\ell}$ [GeV]",
    "e_ll": r"$E_{\ell\ell}$ [GeV]",
    "dr_ll": r"$\Delta R_{\ell\ell}$",
    "met": r"$E_{T}^{miss}$ [GeV]",
    "phi_met": r"$\phi(E_{T}^{miss})$",
    "dphi_ll": r"$\Delta\phi_{\ell\ell}$",
    "dphi_met_llg": r"$\Delta\phi(E_{T}^{miss}, \ell\ell\gamma)$",
    "pt_ll_over_m_llg": r"$p_{T}^{\ell\ell} / m_{\ell\ell\gamma}$",
    "n_jets": r"$N_{jets}$",
    "n_central_jets": r"$N_{jets}^{central}$",
}


def check_feature_names(names: Sequence[str], key: str) -> None:
    """Raise ``ConfigError`` naming config key ``key`` if ``names`` holds a non-feature.

    >>> check_feature_names(["m_llg", "met"], "toys.features")
    """
    unknown = [n for n in names if n not in FEATURE_NAMES]
    if unknown:
        from ganlee.errors import ConfigError

        msg = (
            f"config key '{key}': unknown feature(s) {unknown} (choose from {list(FEATURE_NAMES)})"
        )
        raise ConfigError(msg)


def feature_shape_problem(arr: Any) -> str | None:
    """Why ``arr`` is not an (n, 18) feature array ("must be an (n, 18) ..."), or None.

    >>> feature_shape_problem([[0.0] * 3])
    'must be an (n, 18) feature array, got (1, 3)'
    """
    import numpy as np

    shape = np.shape(arr)
    if len(shape) == 2 and shape[1] == len(FEATURE_NAMES):
        return None
    return f"must be an (n, {len(FEATURE_NAMES)}) feature array, got {tuple(shape)}"
