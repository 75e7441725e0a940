"""Look-elsewhere effect: toy chunks -> global p-values, trials factors and Gross-Vitells.

docs/design.md, "LEE". The formulas (local and global p-values, Clopper-Pearson intervals,
upcrossings and the Gross-Vitells extrapolation, arXiv:1005.1891) are in
``ganlee.stats.lee_formulas``, the input identity checks and the observed-data and
background-model blocks in ``ganlee.stats.lee_checks``, the z_max table and histogram files in
``ganlee.stats.lee_io``; their public names are importable from here too.

Aggregation streams the chunk files: it keeps per-toy scalars (``z_max`` and friends, the
per-selection maxima) and running sums of upcrossing counts, never the full ``[K, S, M]`` scans
of more than one chunk.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ganlee.chunks import Chunk, read_chunk
from ganlee.io import InputError, file_hash
from ganlee.progress import Progress
from ganlee.settings import Settings
from ganlee.stats.lee_checks import (
    background_summary,
    check_complete,
    check_model_hash,
    check_same_sizes,
    check_same_study,
    fmt_range,
    observed_summary,
    raise_duplicates,
    ranges,
    toy_sizes,
)
from ganlee.stats.lee_formulas import (
    GV_BOUNDS,
    GV_FORM,
    clopper_pearson,
    count_upcrossings,
    global_significance,
    gv_args,
    gv_p_global,
    p_global_curve,
    p_local,
    selection_max_scan,
    z_from_p,
)
from ganlee.stats.lee_grid import LevelCounts, gv_cross_check
from ganlee.stats.lee_io import ZMAX_COLUMNS, load_hist, read_zmax_csv, save_hist, write_zmax_csv

__all__ = [
    "GV_BOUNDS",
    "GV_FORM",
    "ZMAX_COLUMNS",
    "LeeAccumulator",
    "LeeResult",
    "aggregate",
    "check_model_hash",
    "clopper_pearson",
    "count_upcrossings",
    "global_significance",
    "gv_args",
    "gv_p_global",
    "load_hist",
    "p_local",
    "read_zmax_csv",
    "save_hist",
    "selection_max_scan",
    "write_zmax_csv",
    "z_from_p",
]

#: Z levels at which upcrossings are always counted (besides Z0), to check the exp(-c/2) scaling.
DIAGNOSTIC_Z_LEVELS: tuple[float, ...] = (0.5, 1.0, 1.5, 2.0, 2.5, 3.0)


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
        self.counts: LevelCounts | None = None
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
        check_same_study(
            ch,
            ref,
            f"toy chunk '{ch.path}'",
            f"'{ref.path}'",
            "the chunks come from different {what}s (stale chunks from an earlier run?). "
            "Delete or regenerate the odd chunk(s).",
        )
        check_same_sizes(ch, ref)

    def add(self, ch: Chunk) -> None:
        """Fold one chunk into the running totals (checks indices and study identity)."""
        n = self.owner.size
        idx = ch.toy_index
        out_of_range = (idx < 0) | (idx >= n)
        if out_of_range.any():
            if self.skip_beyond and ch.n and np.all(idx >= n):
                self.skipped.append(ch.path)
                print(
                    f"[lee] skipping '{ch.path}': toys "
                    f"{fmt_range(int(idx.min()), int(idx.max()))} lie "
                    f"beyond toys.n_toys={n} (chunk left over from a run with more toys)",
                    file=sys.stderr,
                )
                return
            bad = np.sort(idx[out_of_range])
            shown = ", ".join(fmt_range(a, b) for a, b in ranges(bad)[:10])
            msg = (
                f"toy chunk '{ch.path}' holds toy indices outside 0..{n - 1} (toys.n_toys={n}): "
                f"{shown}. Is toys.n_toys the one the chunks were made with?"
            )
            raise InputError(msg)
        if self.ref is None:
            self.ref = ch
            s = ch.selections.size
            self.sel_max = np.full((n, s), np.nan, dtype=np.float32)
            self.counts = LevelCounts(self.levels, s)
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
            raise_duplicates(self.duplicates)
        self.owner[idx] = cid
        self.seed[idx] = ch.seed
        self.z_max[idx] = ch.z_max
        self.mass_at_max[idx] = ch.mass_at_max
        self.selection_at_max[idx] = ch.selection_at_max
        self.n_failed_toy[idx] = ch.n_failed
        self.n_fits_total += int(ch.n_fits.sum())

        z = ch.z
        assert self.sel_max is not None
        assert self.counts is not None
        self.sel_max[idx] = np.fmax.reduce(z, axis=2)
        valid = np.isfinite(ch.z_max)
        # Z^2 once per chunk (float32: the contract's precision)
        self.counts.add(np.square(z, dtype=np.float32), valid)
        self.hist.fill(z_max=ch.z_max[valid])

    # -- results -------------------------------------------------------------------------------
    def finish(self, table_z: Sequence[float] = (1, 2, 3, 4, 5)) -> LeeResult:
        """Check completeness and build the summary (curves, Gross-Vitells, table)."""
        if self.ref is None:
            msg = "no toy chunks were aggregated"
            raise InputError(msg)
        if not self.partial:
            check_complete(self.owner, self.paths, self.ref)
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
        z_top = max(6.0, float(self.zmax_range[1]))
        summary["curve"] = p_global_curve(zs, gv_union, gv_scan, self.cl, z_top)
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
        assert self.counts is not None
        assert self.ref is not None
        li = self.level0 if li is None else li
        mean, err = self.counts.mean_err(li, col, int(np.isfinite(self.z_max).sum()))
        return {
            "z0": float(self.levels[li]),
            "n_mean": mean,
            "n_err": err,
            "n_local": n_local,
            "n_steps": int(self.ref.masses.size) - 1,
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
            out.append(
                {
                    "selection": float(frac),
                    "n_toys": int(col.size),
                    "gross_vitells": g,
                    "table": rows,
                }
            )
        return out

    def _upcrossings_by_level(self) -> dict[str, Any]:
        """Mean upcrossings at every diagnostic level (checks the exp(-c/2) scaling), with the
        clump factors and local tails of ``LevelCounts.diagnostics`` (docs/design.md, "LEE")."""
        assert self.ref is not None
        assert self.counts is not None
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
            **self.counts.diagnostics(),
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
            "toy_sizes": toy_sizes(ref),
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


def aggregate(
    chunks: Iterable[str | os.PathLike[str]],
    settings: Settings,
    observed: str | os.PathLike[str] | None = None,
    observed_z: float | None = None,
    skip_beyond: bool = False,
    progress: bool = True,
    partial: bool = False,
    background: str | os.PathLike[str] | None = None,
    model: str | os.PathLike[str] | None = None,
) -> LeeResult:
    """Aggregate toy chunk files (streamed) into a ``LeeResult``.

    ``settings``: the configuration (``toys.n_toys`` and the ``lee`` section are used).
    ``observed``: the observed-data ``.npz`` (same keys, K=1, plus ``edges``/``counts``); its
    local ``z_max`` gets a global significance. ``observed_z``: a further local Z to convert
    (default ``lee.observed_z``). ``partial``: aggregate the toys the chunks hold even when
    some of ``0..toys.n_toys-1`` are missing (the summary says ``partial: true``). ``model``:
    the GAN checkpoint the toys must come from; every chunk (and the observed file) made with
    another GAN is refused (``check_model_hash``).
    ``background``: rule fit_model's choice file the toys were fitted with (its hash must be the
    chunks' ``background_hash``); its choice and spurious-signal ratios go into the summary.
    """
    lee = settings.lee
    paths = list(chunks)
    acc = LeeAccumulator(
        n_toys=int(settings.toys.n_toys),
        z0=float(lee.z0),
        cl=float(lee.cl),
        zmax_bins=int(lee.zmax_bins),
        zmax_range=(float(lee.zmax_range[0]), float(lee.zmax_range[1])),
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
    res = acc.finish(table_z=[float(z) for z in lee.table_z])
    zs = np.sort(res.z_max[np.isfinite(res.z_max)])
    gv = res.summary["gross_vitells"]["union"]
    gv_scan = res.summary["gross_vitells"]["scan"]
    res.summary["background"] = background_summary(acc.ref, background)
    check = gv_cross_check(
        res.summary["table"], res.summary["gross_vitells"]["upcrossings_by_level"]
    )
    res.summary["gross_vitells"]["cross_check"] = check
    res.summary["warnings"] = list(res.summary["background"]["warnings"]) + check["warnings"]
    res.summary["observed"] = None
    if observed is not None:
        ob = read_chunk(observed, observed=True)
        if model is not None:
            check_model_hash(ob, model, model_hash)
        assert acc.ref is not None
        obs = observed_summary(
            ob, acc.ref, acc.cl, zs, gv, gv_scan, settings.lee.allow_size_mismatch
        )
        res.summary["observed"] = obs
        for note in (obs["not_quoted"], obs["size_warning"]):
            if note:
                res.summary["warnings"].append(f"observed: {note}")
    zq = observed_z if observed_z is not None else lee.observed_z
    if zq is not None and not (math.isfinite(float(zq)) and float(zq) >= 0):
        msg = (
            f"observed local Z must be a finite number >= 0, got {zq} "
            "(--observed-z / lee.observed_z)"
        )
        raise InputError(msg)
    if zq is not None:
        sig = global_significance(float(zq), zs, gv, acc.cl, gv_scan)
        sig["source"] = (
            "command line --observed-z" if observed_z is not None else "config lee.observed_z"
        )
        res.summary["given_z"] = sig
    else:
        res.summary["given_z"] = None
    return res
