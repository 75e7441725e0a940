"""Look-elsewhere effect: toy chunks -> global p-values, trials factors and Gross-Vitells.

Definitions (docs/design.md, "LEE"):

* ``p_local(Z) = 1 - Phi(Z)``: one-sided local p-value. At fixed mass, with the signal yield
  constrained to ``n1 >= 0``, ``q = Z^2`` follows half a chi-square with one degree of freedom
  (Chernoff / Wilks), so ``P(q > c) = P(chi2_1 > c) / 2 = 1 - Phi(sqrt(c))``.
* ``p_global(Z)``: fraction of background-only toys whose ``z_max`` (maximum over selections and
  masses) is ``>= Z``; central Clopper-Pearson interval (Clopper & Pearson, Biometrika 26 (1934)
  404) from beta quantiles.
* trials factor ``= p_global / p_local`` (its interval is the Clopper-Pearson interval divided by
  the exact ``p_local``).
* Gross-Vitells (arXiv:1005.1891): ``P(max q > c) <= P(q(theta_first) > c) + <N(c)>`` with, for
  one degree of freedom, ``<N(c)> = <N(c0)> exp(-(c - c0) / 2)``::

      p_global(c) ~= P(q(theta_first) > c) + <N(c0)> exp(-(c - c0) / 2),   c = Z^2

  where ``<N(c0)>`` is the mean number of upcrossings of the ``q = Z^2`` scan above a low level
  ``c0 = Z0^2`` in the toys. The first term is the probability that the scan already starts
  above ``c`` at the first mass (which no upcrossing counts). With ``n1 >= 0`` it is the
  *half* chi-square tail ``P(chi2_1 > c) / 2 = 1 - Phi(Z)``: the Gaussian process behind the
  scan is the signed signal strength ``Y(m)``, ``Z = max(Y, 0)``, and ``Z^2`` crosses ``c``
  upwards exactly when ``Y`` crosses ``sqrt(c)`` upwards. Rice's formula gives
  ``E[N_u] proportional to exp(-u^2 / 2)`` for ``Y``'s upcrossings of ``u``, i.e.
  ``exp(-c / 2)`` -- the same scaling as for the two-sided chi2_1 field, whose upcrossings are
  twice as many (``Y`` above ``+u`` and below ``-u``). Measuring ``<N(c0)>`` on the one-sided
  scans therefore makes the formula consistent without any extra factor 1/2 on the second term.
  Its uncertainty is ``std(N) / sqrt(n_toys)`` and propagates linearly.

  The formula holds per selection (one scanned parameter). The toy ``z_max`` is the maximum
  over S selections as well, for which two extrapolations are given:

  * ``union`` (the headline): the sum over selections of the per-selection formula,
    ``S P(chi2_1 > c)/2 + sum_s <N_s(c0)> exp(-(c - c0)/2)``. It is an upper bound (Bonferroni)
    that becomes exact at high ``c`` whenever the selections are not fully correlated, because
    excursions of different selections then stop coinciding.
  * ``scan``: the formula applied to the selection-maximised scan ``max_s Z_s(m)`` itself, i.e.
    ``P(chi2_1 > c)/2 + <N_max(c0)> exp(-(c - c0)/2)``. At a low ``c0`` excursions of correlated
    selections overlap and are counted once, so ``<N_max(c)> exp(c/2)`` grows with ``c`` towards
    the union's sum and this curve is anti-conservative: for nested selections (top 1 %, 2 %,
    ..., 100 %, neighbour correlation ~0.7) it is about 3x low at Z = 3-4, where the union is
    within 15-30 % of the toys. It is kept as a diagnostic (the ``upcrossings`` plot shows the
    growth).

Aggregation streams the chunk files: it keeps per-toy scalars (``z_max`` and friends, the
per-selection maxima) and running sums of upcrossing counts, never the full ``[K, S, M]`` scans
of more than one chunk.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ganlee.chunks import Chunk, read_chunk
from ganlee.io import InputError, atomic_path, file_hash
from ganlee.progress import Progress

__all__ = [
    "GV_FORM",
    "LeeAccumulator",
    "LeeResult",
    "aggregate",
    "check_model_hash",
    "clopper_pearson",
    "count_upcrossings",
    "global_significance",
    "gv_p_global",
    "load_hist",
    "p_local",
    "read_zmax_csv",
    "save_hist",
    "selection_max_scan",
    "write_zmax_csv",
    "z_from_p",
]


GV_FORM = (
    "per scan: p_global(c) = P(chi2_1 > c)/2 + <N(c0)> * exp(-(c - c0)/2), c = Z^2, c0 = Z0^2; "
    "<N(c0)> = mean number of upcrossings of the Z^2 mass scan above c0 in the toys "
    "(Gross & Vitells, arXiv:1005.1891; half chi2 because n1 >= 0). "
    "union (headline, for z_max over S selections): S P(chi2_1 > c)/2 + sum_s <N_s(c0)> exp(-(c - c0)/2), "
    "an upper bound exact at high c; scan: the per-scan formula on max_s Z_s(m) (anti-conservative "
    "when selections are partly correlated)"
)

GV_BOUNDS = (
    "Gross-Vitells p-values are clipped to [0, 1]. The per-scan formula and the union over "
    "selections are upper bounds on p_global (p_global_is: upper_bound; their z_global a lower "
    "bound); the selection-maximised scan ('scan') is an approximation. 'clipped': the formula "
    "exceeded 1 there (p_global_unclipped)."
)

#: Z levels at which upcrossings are always counted (besides Z0), to check the exp(-c/2) scaling.
DIAGNOSTIC_Z_LEVELS: tuple[float, ...] = (0.5, 1.0, 1.5, 2.0, 2.5, 3.0)


# ----------------------------------------------------------------------------------------------
# Formulas
# ----------------------------------------------------------------------------------------------


def p_local(z: ArrayLike) -> NDArray[np.float64]:
    """One-sided local p-value ``1 - Phi(Z)`` (``scipy.stats.norm.sf``, exact in the tail)."""
    from scipy.stats import norm

    return np.asarray(norm.sf(np.asarray(z, dtype=np.float64)), dtype=np.float64)


def z_from_p(p: ArrayLike) -> NDArray[np.float64]:
    """One-sided significance ``Phi^-1(1 - p)``, clipped at 0 (``p >= 0.5`` gives ``Z = 0``).

    ``p = 0`` gives ``+inf`` (written as null in JSON).
    """
    from scipy.stats import norm

    p = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)
    with np.errstate(divide="ignore"):
        z = norm.isf(p)
    return np.maximum(np.asarray(z, dtype=np.float64), 0.0)


def clopper_pearson(
    k: ArrayLike, n: ArrayLike, cl: float = 0.6827
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Central Clopper-Pearson interval for ``k`` successes in ``n`` trials at confidence ``cl``.

    ``lo = B^-1(a/2; k, n-k+1)`` (0 when ``k = 0``), ``hi = B^-1(1-a/2; k+1, n-k)`` (1 when
    ``k = n``), ``a = 1 - cl``; Clopper & Pearson, Biometrika 26 (1934) 404.
    """
    from scipy.stats import beta

    if not 0.0 < cl < 1.0:
        msg = f"clopper_pearson: confidence level must be in (0, 1), got {cl}"
        raise ValueError(msg)
    k_arr = np.asarray(k, dtype=np.float64)
    n_arr = np.broadcast_to(np.asarray(n, dtype=np.float64), k_arr.shape)
    if np.any(k_arr < 0) or np.any(k_arr > n_arr) or np.any(n_arr <= 0):
        msg = f"clopper_pearson: need 0 <= k <= n and n > 0, got k={k}, n={n}"
        raise ValueError(msg)
    alpha = 1.0 - cl
    # Where a beta parameter would be 0 the limit is fixed: substitute a valid dummy, then overwrite.
    lo = beta.ppf(alpha / 2, np.where(k_arr > 0, k_arr, 1.0), n_arr - k_arr + 1)
    hi = beta.ppf(1 - alpha / 2, k_arr + 1, np.where(k_arr < n_arr, n_arr - k_arr, 1.0))
    lo = np.where(k_arr > 0, lo, 0.0)
    hi = np.where(k_arr < n_arr, hi, 1.0)
    return np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)


def count_upcrossings(z_scan: ArrayLike, z_level: float) -> NDArray[np.int64]:
    """Upcrossings of ``c = Z^2`` above ``c0 = z_level^2`` along the last (mass) axis.

    An upcrossing is a step ``m-1 -> m`` with ``c[m-1] <= c0 < c[m]``. A scan starting above
    ``c0`` has no upcrossing there (the ``P(chi2_1 > c)/2`` term of Gross-Vitells covers it).
    NaN points (failed fits) neither start nor end an upcrossing.
    """
    z = np.asarray(z_scan, dtype=np.float64)
    return _upcrossings_sq(z * z, float(z_level) ** 2)


def _upcrossings_sq(c: NDArray[Any], c0: float) -> NDArray[np.int64]:
    """Upcrossings of already squared scans ``c`` above ``c0`` (see ``count_upcrossings``)."""
    c0 = c.dtype.type(c0)
    up = (c[..., :-1] <= c0) & (c[..., 1:] > c0)
    return np.count_nonzero(up, axis=-1).astype(np.int64)


def selection_max_scan(z: ArrayLike) -> NDArray[np.float64]:
    """``max_s Z_s(m)``: the selection-maximised scan of ``z[..., S, M]`` (NaN ignored)."""
    arr = np.asarray(z)
    return np.fmax.reduce(arr, axis=-2)


def gv_p_global(
    z: ArrayLike,
    n_mean: float,
    z0: float,
    n_err: float = 0.0,
    n_local: int = 1,
    clip: bool = True,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Gross-Vitells global p-value and its uncertainty at local significance ``z``.

    ``p = n_local P(chi2_1 > c)/2 + n_mean exp(-(c - c0)/2)``, ``c = z^2``, ``c0 = z0^2``;
    ``sigma_p = n_err exp(-(c - c0)/2)`` (arXiv:1005.1891, see the module docstring).
    ``n_local`` > 1 is the union over that many scans (``n_mean`` then their summed upcrossings).
    Meaningful for ``z >= z0``. The formula is an upper bound on ``P(max q > c)`` that exceeds
    1 at low ``z``; ``clip`` (default) returns ``min(p, 1)``, a probability.
    """
    zz = np.asarray(z, dtype=np.float64)
    c = zz * zz
    c0 = float(z0) ** 2
    factor = np.exp(-(c - c0) / 2.0)
    p = n_local * p_local(zz) + n_mean * factor
    if clip:
        p = np.minimum(p, 1.0)
    return p, n_err * factor


def _gv_block(
    z_local: float, gv: dict[str, Any], pl: float, toys: dict[str, Any] | None,
    bound: bool = True,
) -> dict[str, Any]:
    """Gross-Vitells numbers at ``z_local``; ``bound``: the formula is an upper bound on the
    global p-value there (the union over selections and the per-scan formula are; the
    selection-maximised scan is an approximation), so ``Z`` is a lower bound."""
    p_arr, s_arr = gv_p_global(
        z_local, gv["n_mean"], gv["z0"], gv["n_err"], gv.get("n_local", 1), clip=False
    )
    p_raw, s_gv = float(p_arr), float(s_arr)
    p_gv = p_raw if p_raw < 1.0 else 1.0
    out: dict[str, Any] = {
        "valid": z_local >= gv["z0"],
        "p_global": p_gv,
        "p_global_err": s_gv,
        "p_global_is": "upper_bound" if bound else "approximation",
        "clipped": p_raw > 1.0,
        "p_global_unclipped": p_raw,
        "z_global": float(z_from_p(p_gv)),
        "z_global_is": "lower_bound" if bound else "approximation",
        "z_global_lo": float(z_from_p(min(p_gv + s_gv, 1.0))),
        "z_global_hi": float(z_from_p(max(p_gv - s_gv, 0.0))),
        "trials_factor": p_gv / pl,
        "trials_factor_err": s_gv / pl,
        "pull_toys_vs_gv": None,
    }
    if toys and toys["reachable"]:
        n = toys["n_toys"]
        sig_toys = math.sqrt(max(toys["p_global"] * (1 - toys["p_global"]), 1.0 / n) / n)
        denom = math.hypot(sig_toys, s_gv)
        out["pull_toys_vs_gv"] = (toys["p_global"] - p_gv) / denom
    return out


def global_significance(
    z_local: float,
    zmax_sorted: NDArray[np.float64],
    gv: dict[str, Any],
    cl: float,
    gv_scan: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Global p-value / significance of one local ``z_local``, from the toys and from Gross-Vitells.

    ``zmax_sorted``: the finite toy ``z_max`` values, sorted. ``gv``: ``{"z0", "n_mean",
    "n_err", "n_local"}`` of the Gross-Vitells extrapolation to compare (for ``z_max``: the union
    over selections); ``gv_scan``: optionally a second one (the selection-maximised scan).
    From the toys: ``k`` toys with ``z_max >= z_local`` out of ``n``; the toy estimate is
    reachable when ``k >= 1``; otherwise only the Clopper-Pearson upper limit on ``p`` (a lower
    limit on the global significance) is quoted.
    """
    n = int(zmax_sorted.size)
    z_local = float(z_local)
    pl = float(p_local(z_local))
    out: dict[str, Any] = {"z_local": z_local, "p_local": pl}
    if n:
        k = n - int(np.searchsorted(zmax_sorted, z_local, side="left"))
        lo, hi = clopper_pearson(k, n, cl)
        p = k / n
        out["toys"] = {
            "n_toys": n,
            "n_above": k,
            "reachable": k >= 1,
            "p_global": p,
            "p_global_lo": float(lo),
            "p_global_hi": float(hi),
            "z_global": float(z_from_p(p)) if k >= 1 else None,
            "z_global_lo": float(z_from_p(hi)),  # larger p -> smaller Z
            "z_global_hi": float(z_from_p(lo)) if k >= 1 else None,
            "trials_factor": p / pl if k >= 1 else None,
            "trials_factor_lo": float(lo) / pl,
            "trials_factor_hi": float(hi) / pl,
        }
    out["gross_vitells"] = _gv_block(z_local, gv, pl, out.get("toys"))
    if gv_scan is not None:
        out["gross_vitells_scan"] = _gv_block(z_local, gv_scan, pl, out.get("toys"), bound=False)
    return out


# ----------------------------------------------------------------------------------------------
# Aggregation of chunks
# ----------------------------------------------------------------------------------------------


def _ranges(idx: NDArray[np.int64]) -> list[tuple[int, int]]:
    """Consecutive runs of sorted integers as (first, last) pairs."""
    if idx.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(idx) != 1)
    starts = np.r_[idx[0], idx[breaks + 1]]
    ends = np.r_[idx[breaks], idx[-1]]
    return [(int(a), int(b)) for a, b in zip(starts, ends, strict=True)]


def _fmt_range(a: int, b: int) -> str:
    return str(a) if a == b else f"{a}-{b}"


# ----------------------------------------------------------------------------------------------
# Streaming accumulation
# ----------------------------------------------------------------------------------------------


@dataclass
class LeeResult:
    """Everything aggregated from the toys (per-toy arrays ordered by toy index)."""

    summary: dict[str, Any]
    toy_index: NDArray[np.int64]
    seed: NDArray[np.int64]
    z_max: NDArray[np.float64]
    mass_at_max: NDArray[np.float64]
    selection_at_max: NDArray[np.float64]
    n_failed: NDArray[np.int64]
    hist: Any


@dataclass
class LeeAccumulator:
    """Streams toy chunks; ``add(chunk)`` per chunk, then ``finish()``.

    Memory: per-toy scalars (``O(n_toys * selections)``) and running sums; each chunk's ``z``
    array is dropped after ``add``.
    """

    n_toys: int
    z0: float = 1.0
    cl: float = 0.6827
    zmax_bins: int = 50
    zmax_range: tuple[float, float] = (0.0, 10.0)
    skip_beyond: bool = False
    partial: bool = False
    owner: NDArray[np.int32] = field(init=False)
    paths: list[str] = field(default_factory=list, init=False)
    skipped: list[str] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        import hist

        n = int(self.n_toys)
        if n < 1:
            msg = f"toys.n_toys must be >= 1, got {n}"
            raise InputError(msg)
        self.owner = np.full(n, -1, dtype=np.int32)
        self.seed = np.zeros(n, dtype=np.int64)
        self.z_max = np.full(n, np.nan)
        self.mass_at_max = np.full(n, np.nan)
        self.selection_at_max = np.full(n, np.nan)
        self.n_failed_toy = np.zeros(n, dtype=np.int64)
        self.n_fits_total = 0
        self.sel_max: NDArray[np.float32] | None = None
        self.levels = np.unique(np.r_[np.asarray(DIAGNOSTIC_Z_LEVELS, dtype=np.float64), self.z0])
        self.level0 = int(np.flatnonzero(self.levels == self.z0)[0])
        self.up_sum: NDArray[np.float64] | None = None  # [L, S+2]: selections, max scan, sum
        self.up_sumsq: NDArray[np.float64] | None = None
        self.ref: Chunk | None = None
        self.duplicates: list[tuple[int, str, str]] = []
        self.hist = hist.Hist(
            hist.axis.Regular(
                int(self.zmax_bins),
                float(self.zmax_range[0]),
                float(self.zmax_range[1]),
                name="z_max",
                label=r"$Z_{\max}$ (local significance, max over masses and selections)",
            ),
            storage=hist.storage.Int64(),
        )

    # -- consistency ---------------------------------------------------------------------------
    def _check_same_study(self, ch: Chunk) -> None:
        ref = self.ref
        assert ref is not None
        for name, what in _STUDY_HASHES.items():
            if getattr(ch, name) != getattr(ref, name):
                msg = (
                    f"toy chunk '{ch.path}' has {name} '{getattr(ch, name)}' but '{ref.path}' has "
                    f"'{getattr(ref, name)}': the chunks come from different {what}s "
                    f"(stale chunks from an earlier run?). Delete or regenerate the odd chunk(s)."
                )
                raise InputError(msg)
        for name in ("masses", "selections"):
            a, b = getattr(ch, name), getattr(ref, name)
            if a.shape != b.shape or not np.allclose(a, b, rtol=0, atol=1e-9):
                msg = f"toy chunk '{ch.path}': '{name}' {a.tolist()} differ from '{ref.path}': {b.tolist()}"
                raise InputError(msg)

    def add(self, ch: Chunk) -> None:
        """Fold one chunk into the running totals (checks indices and study identity)."""
        n = self.owner.size
        idx = ch.toy_index
        out_of_range = (idx < 0) | (idx >= n)
        if out_of_range.any():
            if self.skip_beyond and ch.n and np.all(idx >= n):
                self.skipped.append(ch.path)
                print(
                    f"[lee] skipping '{ch.path}': toys {_fmt_range(int(idx.min()), int(idx.max()))} lie "
                    f"beyond toys.n_toys={n} (chunk left over from a run with more toys)",
                    file=sys.stderr,
                )
                return
            bad = np.sort(idx[out_of_range])
            shown = ", ".join(_fmt_range(a, b) for a, b in _ranges(bad)[:10])
            msg = (
                f"toy chunk '{ch.path}' holds toy indices outside 0..{n - 1} (toys.n_toys={n}): "
                f"{shown}. Is toys.n_toys the one the chunks were made with?"
            )
            raise InputError(msg)
        if self.ref is None:
            self.ref = ch
            s = ch.selections.size
            self.sel_max = np.full((n, s), np.nan, dtype=np.float32)
            self.up_sum = np.zeros((self.levels.size, s + 2))
            self.up_sumsq = np.zeros((self.levels.size, s + 2))
        else:
            self._check_same_study(ch)
        cid = len(self.paths)
        self.paths.append(ch.path)
        # duplicates inside this chunk
        uniq, counts = np.unique(idx, return_counts=True)
        for i in uniq[counts > 1][:10]:
            self.duplicates.append((int(i), ch.path, ch.path))
        # duplicates with earlier chunks
        prev = self.owner[idx]
        for j in np.flatnonzero(prev >= 0)[:10]:
            self.duplicates.append((int(idx[j]), self.paths[prev[j]], ch.path))
        if self.duplicates:
            self._raise_duplicates()
        self.owner[idx] = cid
        self.seed[idx] = ch.seed
        self.z_max[idx] = ch.z_max
        self.mass_at_max[idx] = ch.mass_at_max
        self.selection_at_max[idx] = ch.selection_at_max
        self.n_failed_toy[idx] = ch.n_failed
        self.n_fits_total += int(ch.n_fits.sum())

        z = ch.z
        assert self.sel_max is not None and self.up_sum is not None and self.up_sumsq is not None
        self.sel_max[idx] = np.fmax.reduce(z, axis=2)
        c = np.square(z, dtype=np.float32)  # Z^2 once per chunk (float32: the contract's precision)
        c_comb = np.fmax.reduce(c, axis=1)  # [K, M]: max over selections (Z >= 0, so of Z^2 too)
        valid = np.isfinite(ch.z_max)
        for li, lev in enumerate(self.levels):
            per_sel = _upcrossings_sq(c, float(lev) ** 2)  # [K, S]
            comb = _upcrossings_sq(c_comb, float(lev) ** 2)  # [K]
            total = per_sel.sum(axis=1)  # [K]: for the union over selections
            counts_l = np.concatenate([per_sel, comb[:, None], total[:, None]], axis=1)
            counts_l = counts_l[valid].astype(np.float64)
            self.up_sum[li] += counts_l.sum(axis=0)
            self.up_sumsq[li] += (counts_l * counts_l).sum(axis=0)
        self.hist.fill(z_max=ch.z_max[valid])

    def _raise_duplicates(self) -> None:
        lines = [f"  toy {i}: in '{a}' and in '{b}'" for i, a, b in self.duplicates[:10]]
        msg = (
            "duplicated toy indices (each toy must appear in exactly one chunk; did the chunk size "
            "change between runs?):\n" + "\n".join(lines)
        )
        raise InputError(msg)

    def _check_complete(self) -> None:
        missing = np.flatnonzero(self.owner < 0)
        if missing.size == 0:
            return
        chunk_size = _chunk_size_from(self.ref.config_json) if self.ref else None
        lines = []
        for a, b in _ranges(missing)[:10]:
            before = self.paths[self.owner[a - 1]] if a > 0 else None
            after = self.paths[self.owner[b + 1]] if b + 1 < self.owner.size else None
            where = []
            if chunk_size:
                c0, c1 = a // chunk_size, b // chunk_size
                where.append(f"expected in chunk {_fmt_range(c0, c1)} (toys.chunk_size={chunk_size})")
            if before:
                where.append(f"after '{before}'")
            if after:
                where.append(f"before '{after}'")
            lines.append(f"  toys {_fmt_range(a, b)}: " + ", ".join(where))
        more = len(_ranges(missing)) - 10
        if more > 0:
            lines.append(f"  ... and {more} more range(s)")
        msg = (
            f"{missing.size} of {self.owner.size} toys are missing (toys.n_toys={self.owner.size}; "
            f"{len(self.paths)} chunk file(s) read):\n" + "\n".join(lines)
        )
        raise InputError(msg)

    # -- results -------------------------------------------------------------------------------
    def finish(self, table_z: Sequence[float] = (1, 2, 3, 4, 5)) -> LeeResult:
        """Check completeness and build the summary (curves, Gross-Vitells, table)."""
        if self.ref is None:
            msg = "no toy chunks were aggregated"
            raise InputError(msg)
        if not self.partial:
            self._check_complete()
        n = self.owner.size
        valid = np.isfinite(self.z_max)
        if not valid.any():
            msg = f"all {n} toys have a non-finite z_max (every fit failed): nothing to aggregate"
            raise InputError(msg)
        zs = np.sort(self.z_max[valid])
        s = self.ref.selections.size
        gv_union = self._gv_params(s + 1, n_local=s)
        gv_scan = self._gv_params(s)
        summary = self._summary_head(zs, valid)
        summary["gross_vitells"] = {
            "form": GV_FORM,
            "z0": float(self.z0),
            "c0": float(self.z0) ** 2,
            "union": gv_union,
            "scan": gv_scan,
            "headline": "union",
            "bounds": GV_BOUNDS,
            "per_selection": self._per_selection(table_z),
            "upcrossings_by_level": self._upcrossings_by_level(),
        }
        summary["table"] = [
            global_significance(zt, zs, gv_union, self.cl, gv_scan) for zt in table_z
        ]
        summary["curve"] = self._curve(zs, gv_union, gv_scan)
        done = self.owner >= 0
        if self.partial:
            # only the toys whose chunks exist: a p_global so far, labelled as such
            n_done = int(done.sum())
            summary.update(
                partial=True,
                n_toys=n_done,
                n_toys_expected=n,
                n_toys_no_finite_z=n_done - zs.size,
            )
        return LeeResult(
            summary=summary,
            toy_index=np.flatnonzero(done),
            seed=self.seed[done],
            z_max=self.z_max[done],
            mass_at_max=self.mass_at_max[done],
            selection_at_max=self.selection_at_max[done],
            n_failed=self.n_failed_toy[done],
            hist=self.hist,
        )

    def _gv_params(self, col: int, li: int | None = None, n_local: int = 1) -> dict[str, Any]:
        """Mean upcrossings (and error) of column ``col`` at level ``li`` (default ``z0``)."""
        assert self.up_sum is not None
        assert self.up_sumsq is not None
        li = self.level0 if li is None else li
        n_valid = int(np.isfinite(self.z_max).sum())
        s1 = self.up_sum[li, col]
        s2 = self.up_sumsq[li, col]
        mean = s1 / n_valid
        var = (s2 - n_valid * mean * mean) / (n_valid - 1) if n_valid > 1 else 0.0
        return {
            "z0": float(self.levels[li]),
            "n_mean": float(mean),
            "n_err": math.sqrt(max(var, 0.0) / n_valid),
            "n_local": n_local,
        }

    def _curve(
        self, zs: NDArray[np.float64], gv_union: dict[str, Any], gv_scan: dict[str, Any]
    ) -> dict[str, Any]:
        """p_global and trials factor from the toys and from Gross-Vitells on a Z grid."""
        n_valid = zs.size
        zgrid = np.round(np.arange(0.0, max(6.0, float(self.zmax_range[1])) + 1e-9, 0.05), 10)
        k = n_valid - np.searchsorted(zs, zgrid, side="left")
        lo, hi = clopper_pearson(k, n_valid, self.cl)
        pl = p_local(zgrid)
        pg = k / n_valid
        u, sc = gv_union, gv_scan
        p_gv, s_gv = gv_p_global(zgrid, u["n_mean"], u["z0"], u["n_err"], u["n_local"])
        p_sc, s_sc = gv_p_global(zgrid, sc["n_mean"], sc["z0"], sc["n_err"])
        return {
            "z_local": zgrid,
            "p_local": pl,
            "n_above": k,
            "p_global": pg,
            "p_global_lo": lo,
            "p_global_hi": hi,
            "trials_factor": pg / pl,
            "trials_factor_lo": lo / pl,
            "trials_factor_hi": hi / pl,
            "p_global_gv": p_gv,
            "p_global_gv_err": s_gv,
            "trials_factor_gv": p_gv / pl,
            "trials_factor_gv_err": s_gv / pl,
            "p_global_gv_scan": p_sc,
            "p_global_gv_scan_err": s_sc,
            "trials_factor_gv_scan": p_sc / pl,
            "trials_factor_gv_scan_err": s_sc / pl,
        }

    def _per_selection(self, table_z: Sequence[float]) -> list[dict[str, Any]]:
        """Per selection: its own z_max table and Gross-Vitells parameters."""
        assert self.ref is not None
        assert self.sel_max is not None
        out = []
        for j, frac in enumerate(self.ref.selections):
            col = self.sel_max[:, j].astype(np.float64)
            col = np.sort(col[np.isfinite(col)])
            g = self._gv_params(j)
            rows = [global_significance(zt, col, g, self.cl) for zt in table_z] if col.size else []
            out.append({
                "selection": float(frac),
                "n_toys": int(col.size),
                "gross_vitells": g,
                "table": rows,
            })
        return out

    def _upcrossings_by_level(self) -> dict[str, Any]:
        """Mean upcrossings at every diagnostic level (checks the exp(-c/2) scaling)."""
        assert self.ref is not None
        s = self.ref.selections.size
        levels = range(self.levels.size)

        def col(c: int, key: str) -> list[float]:
            return [self._gv_params(c, li)[key] for li in levels]

        return {
            "z_levels": self.levels,
            "selection_max": col(s, "n_mean"),
            "selection_max_err": col(s, "n_err"),
            "sum_over_selections": col(s + 1, "n_mean"),
            "sum_over_selections_err": col(s + 1, "n_err"),
            "per_selection": [col(j, "n_mean") for j in range(s)],
        }

    def _summary_head(self, zs: NDArray[np.float64], valid: NDArray[np.bool_]) -> dict[str, Any]:
        """Counts, study identity, fit failures and the z_max distribution."""
        ref = self.ref
        assert ref is not None
        n, n_valid = self.owner.size, zs.size
        n_failed = int(self.n_failed_toy.sum())
        return {
            "n_toys": n,
            "n_toys_used": n_valid,
            "n_toys_no_finite_z": n - n_valid,
            "n_chunks": len(self.paths),
            "skipped_chunks": self.skipped,
            "config_hash": ref.config_hash,
            "model_hash": ref.model_hash,
            "background_hash": ref.background_hash,
            "masses": ref.masses,
            "selections": ref.selections,
            "cl": self.cl,
            "fit_failures": {
                "n_fits": int(self.n_fits_total),
                "n_failed": n_failed,
                "fraction": n_failed / self.n_fits_total if self.n_fits_total else None,
                "toys_with_failures": int(np.count_nonzero(self.n_failed_toy > 0)),
            },
            "z_max": {
                "mean": float(zs.mean()),
                "std": float(zs.std(ddof=1)) if n_valid > 1 else None,
                "median": float(np.median(zs)),
                "max": float(zs[-1]),
                "max_toy_index": int(np.flatnonzero(valid)[np.argmax(self.z_max[valid])]),
                "quantiles": {q: float(np.quantile(zs, float(q))) for q in ("0.5", "0.9", "0.99")},
                "underflow": int(self.hist.view(flow=True)[0]),
                "overflow": int(self.hist.view(flow=True)[-1]),
            },
        }


_STUDY_HASHES = {
    "config_hash": "toy configuration",
    "model_hash": "GAN model",
    "background_hash": "background-model choice (results/fit/background.json)",
}


def _check_observed(ob: Chunk, ref: Chunk) -> None:
    """The observed file must come from the toys' configuration, model and background choice."""
    for name in _STUDY_HASHES:
        if getattr(ob, name) != getattr(ref, name):
            msg = (
                f"observed file '{ob.path}' has {name} '{getattr(ob, name)}' but the toy chunks "
                f"(e.g. '{ref.path}') have '{getattr(ref, name)}': the observed data must "
                "be analysed with the same configuration and GAN model as the toys, and with the "
                "same background choice"
            )
            raise InputError(msg)
    for name in ("masses", "selections"):
        a, b = getattr(ob, name), getattr(ref, name)
        if a.shape != b.shape or not np.allclose(a, b, rtol=0, atol=1e-9):
            msg = f"observed file '{ob.path}': '{name}' {a.tolist()} differ from the toys' {b.tolist()}"
            raise InputError(msg)


def _observed_summary(
    ob: Chunk, acc: LeeAccumulator, zs: NDArray[np.float64], gv: dict[str, Any],
    gv_scan: dict[str, Any],
) -> dict[str, Any]:
    """Global significance of the observed z_max and the goodness of fit of each selection."""
    assert acc.ref is not None
    _check_observed(ob, acc.ref)
    zobs = float(ob.z_max[0])
    if not math.isfinite(zobs):
        msg = f"observed file '{ob.path}': z_max is not finite (every fit failed)"
        raise InputError(msg)
    sig = global_significance(zobs, zs, gv, acc.cl, gv_scan)
    sig.update({
        "source": str(ob.path),
        "mass_at_max": float(ob.mass_at_max[0]),
        "selection_at_max": float(ob.selection_at_max[0]),
        "n_fits": int(ob.n_fits[0]),
        "n_failed": int(ob.n_failed[0]),
        "goodness_of_fit": _goodness_of_fit(ob),
    })
    return sig


def _goodness_of_fit(ob: Chunk) -> list[dict[str, Any]] | None:
    """Per selection: model, saturated-likelihood deviance, ndf, p-value, Pearson chi2/ndf."""
    if ob.gof_p_value is None:
        return None
    models = ob.background_models
    rows = []
    for j, frac in enumerate(ob.selections):
        row: dict[str, Any] = {"selection": float(frac)}
        row["background"] = None if models is None else str(models[j])
        for key in ("deviance", "ndf", "p_value", "chi2", "chi2_ndf"):
            arr = getattr(ob, f"gof_{key}")
            row[key] = None if arr is None else float(np.asarray(arr).reshape(-1)[j])
        rows.append(row)
    return rows


def _background_summary(ref: Chunk | None, choice: str | os.PathLike[str] | None) -> dict[str, Any]:
    """The background model the toys used: hash, model per selection, warnings, and with the
    choice file its spurious-signal result per selection."""
    assert ref is not None
    models = None if ref.background_models is None else [str(m) for m in ref.background_models]
    warnings = [] if ref.background_warnings is None else [str(w) for w in ref.background_warnings]
    out: dict[str, Any] = {
        "hash": ref.background_hash, "models": models, "warnings": warnings, "choice": None,
    }
    if choice is None:
        return out
    if ref.background_hash is None or ref.background_hash.startswith("fit.background:"):
        out["warnings"].append(
            f"the toys were fitted with {ref.background_hash or 'fit.background'} for every "
            f"selection, not with the background choice '{choice}'"
        )
        return out
    from ganlee.background.choice import choice_summary, read_choice

    ch = read_choice(choice, ref.selections)
    if ch.hash != ref.background_hash:
        msg = (
            f"background choice '{choice}' has hash '{ch.hash}' but the toy chunks (e.g. "
            f"'{ref.path}') were fitted with '{ref.background_hash}': rerun the toys"
        )
        raise InputError(msg)
    out["choice"] = choice_summary(choice)
    return out


def _chunk_size_from(config_json: str) -> int | None:
    try:
        cfg = json.loads(config_json)
        return int(cfg["toys"]["chunk_size"])
    except Exception:
        return None


def check_model_hash(
    ch: Chunk, model: str | os.PathLike[str], model_hash: str | None = None
) -> None:
    """``InputError`` naming the chunk and the model file when the chunk's toys were drawn from
    another GAN than ``model`` (``model_hash``: its ``ganlee.io.file_hash``, computed when not
    given). Chunks of the MC sources carry ``<source>:<hash of the MC file>`` and no GAN."""
    if ":" in ch.model_hash:
        return
    want = file_hash(model) if model_hash is None else model_hash
    if ch.model_hash != want:
        msg = (
            f"'{ch.path}' was made with the GAN model of hash '{ch.model_hash}', but the model "
            f"file '{model}' has hash '{want}': it is stale (delete it and rerun, or give the "
            "model file it was made with)"
        )
        raise InputError(msg)


def aggregate(
    chunks: Iterable[str | os.PathLike[str]],
    cfg: dict[str, Any],
    observed: str | os.PathLike[str] | None = None,
    observed_z: float | None = None,
    skip_beyond: bool = False,
    progress: bool = True,
    partial: bool = False,
    background: str | os.PathLike[str] | None = None,
    model: str | os.PathLike[str] | None = None,
) -> LeeResult:
    """Aggregate toy chunk files (streamed) into a ``LeeResult``.

    ``cfg`` is a validated ganlee config (``toys.n_toys`` and the ``lee`` section are used).
    ``observed``: the observed-data ``.npz`` (same keys, K=1, plus ``edges``/``counts``); its
    local ``z_max`` gets a global significance. ``observed_z``: a further local Z to convert
    (default ``lee.observed_z``). ``partial``: aggregate the toys the chunks hold even when
    some of ``0..toys.n_toys-1`` are missing (the summary says ``partial: true``). ``model``:
    the GAN checkpoint the toys must come from; every chunk (and the observed file) made with
    another GAN is refused (``check_model_hash``).
    ``background``: rule fit_model's choice file the toys were fitted with (its hash must be the
    chunks' ``background_hash``); its choice and spurious-signal ratios go into the summary.
    """
    lee = cfg["lee"]
    paths = list(chunks)
    acc = LeeAccumulator(
        n_toys=int(cfg["toys"]["n_toys"]),
        z0=float(lee["z0"]),
        cl=float(lee["cl"]),
        zmax_bins=int(lee["zmax_bins"]),
        zmax_range=(float(lee["zmax_range"][0]), float(lee["zmax_range"][1])),
        skip_beyond=skip_beyond,
        partial=partial,
    )
    prog = Progress("lee-aggregate", total=len(paths), unit="chunk") if progress else None
    model_hash = None if model is None else file_hash(model)
    for p in paths:
        ch = read_chunk(p)
        if model is not None and not (skip_beyond and ch.n and ch.toy_index.min() >= acc.n_toys):
            check_model_hash(ch, model, model_hash)
        acc.add(ch)
        if prog:
            prog.update(1)
    res = acc.finish(table_z=[float(z) for z in lee["table_z"]])
    zs = np.sort(res.z_max[np.isfinite(res.z_max)])
    gv = res.summary["gross_vitells"]["union"]
    gv_scan = res.summary["gross_vitells"]["scan"]
    res.summary["background"] = _background_summary(acc.ref, background)
    res.summary["warnings"] = list(res.summary["background"]["warnings"])
    res.summary["observed"] = None
    if observed is not None:
        ob = read_chunk(observed, observed=True)
        if model is not None:
            check_model_hash(ob, model, model_hash)
        res.summary["observed"] = _observed_summary(ob, acc, zs, gv, gv_scan)
    zq = observed_z if observed_z is not None else lee.get("observed_z")
    if zq is not None and not (math.isfinite(float(zq)) and float(zq) >= 0):
        msg = f"observed local Z must be a finite number >= 0, got {zq} (--observed-z / lee.observed_z)"
        raise InputError(msg)
    if zq is not None:
        sig = global_significance(float(zq), zs, gv, acc.cl, gv_scan)
        sig["source"] = "command line --observed-z" if observed_z is not None else "config lee.observed_z"
        res.summary["given_z"] = sig
    else:
        res.summary["given_z"] = None
    return res


# ----------------------------------------------------------------------------------------------
# Outputs
# ----------------------------------------------------------------------------------------------


ZMAX_COLUMNS = ("toy_index", "seed", "z_max", "mass_at_max", "selection_at_max", "n_failed")


def write_zmax_csv(path: str | os.PathLike[str], res: LeeResult) -> None:
    """Atomically write one row per toy: ``toy_index,seed,z_max,mass_at_max,selection_at_max,n_failed``."""
    import io

    buf = io.StringIO()
    buf.write(",".join(ZMAX_COLUMNS) + "\n")
    cols = [res.toy_index, res.seed, res.z_max, res.mass_at_max, res.selection_at_max, res.n_failed]
    fmts = ["%d", "%d", "%.8g", "%.8g", "%.8g", "%d"]
    body = np.empty((res.toy_index.size, len(cols)), dtype=object)
    for j, c in enumerate(cols):
        body[:, j] = c
    np.savetxt(buf, body, fmt=fmts, delimiter=",")
    with atomic_path(path) as tmp:
        tmp.write_text(buf.getvalue())


def read_zmax_csv(path: str | os.PathLike[str]) -> dict[str, NDArray[Any]]:
    """Read ``zmax.csv`` back as a dict of column arrays."""
    p = Path(path)
    if not p.is_file():
        msg = f"z_max table '{p}' does not exist"
        raise InputError(msg)
    header = p.read_text().split("\n", 1)[0].strip().split(",")
    if tuple(header) != ZMAX_COLUMNS:
        msg = f"z_max table '{p}': header {header}, expected {list(ZMAX_COLUMNS)}"
        raise InputError(msg)
    data = np.loadtxt(p, delimiter=",", skiprows=1, ndmin=2, dtype=np.float64)
    out: dict[str, NDArray[Any]] = {}
    for j, name in enumerate(ZMAX_COLUMNS):
        col = data[:, j]
        out[name] = col.astype(np.int64) if name in ("toy_index", "n_failed") else col
    # seeds need all 63 bits: re-read them as integers
    seeds = np.loadtxt(p, delimiter=",", skiprows=1, ndmin=2, usecols=1, dtype=np.int64)
    out["seed"] = seeds.reshape(-1)
    return out


def save_hist(path: str | os.PathLike[str], h: Any) -> None:
    """Atomically pickle a ``hist.Hist``."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        pickle.dump(h, f, protocol=pickle.HIGHEST_PROTOCOL)


def load_hist(path: str | os.PathLike[str]) -> Any:
    """Read a ``hist.Hist`` written by ``save_hist`` (refuses anything else)."""
    import hist

    p = Path(path)
    if not p.is_file():
        msg = f"histogram pickle '{p}' does not exist"
        raise InputError(msg)
    with open(p, "rb") as f:
        try:
            h = pickle.load(f)
        except Exception as exc:
            msg = f"histogram pickle '{p}' is not readable: {exc}"
            raise InputError(msg) from exc
    if not isinstance(h, hist.Hist):
        msg = f"histogram pickle '{p}' holds a {type(h).__name__}, expected hist.Hist"
        raise InputError(msg)
    return h
