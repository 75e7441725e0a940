"""Identity checks of the LEE inputs and the summary blocks of the observed data and of the
background model: same configuration, GAN and background choice for every chunk and the
observed file; the observed significance with its goodness of fit (docs/design.md, "LEE")."""

from __future__ import annotations

import json
import math
import os
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ganlee.chunks import Chunk
from ganlee.io import InputError, file_hash
from ganlee.stats.lee_formulas import global_significance

__all__ = [
    "STUDY_HASHES",
    "background_summary",
    "check_complete",
    "check_model_hash",
    "check_observed",
    "check_same_sizes",
    "fmt_range",
    "observed_summary",
    "raise_duplicates",
    "ranges",
    "size_mismatch",
    "toy_sizes",
]


STUDY_HASHES = {
    "config_hash": "toy configuration",
    "model_hash": "GAN model",
    "background_hash": "background-model choice (results/fit/background.json)",
}


def check_same_study(ch: Chunk, ref: Chunk, label: str, other: str, hint: str) -> None:
    """Raise ``InputError`` when ``ch`` (named ``label``) and ``ref`` (named ``other``) differ in
    a ``STUDY_HASHES`` hash or in the mass / selection grid; ``hint`` ends the hash message."""
    for name in STUDY_HASHES:
        if getattr(ch, name) != getattr(ref, name):
            msg = (
                f"{label} has {name} '{getattr(ch, name)}' but {other} has "
                f"'{getattr(ref, name)}': {hint.format(what=STUDY_HASHES[name])}"
            )
            raise InputError(msg)
    for name in ("masses", "selections"):
        a, b = getattr(ch, name), getattr(ref, name)
        if a.shape != b.shape or not np.allclose(a, b, rtol=0, atol=1e-9):
            msg = f"{label}: '{name}' {a.tolist()} differ from {other}: {b.tolist()}"
            raise InputError(msg)


def toy_sizes(ch: Chunk) -> dict[str, int | None]:
    """``{"sample1", "sample2"}`` events of a chunk's toys (None in files older than the keys)."""
    return {"sample1": ch.sample1_size, "sample2": ch.sample2_size}


def check_same_sizes(ch: Chunk, ref: Chunk) -> None:
    """Every toy chunk of one aggregation has the same toy sizes (``InputError`` naming both)."""
    if toy_sizes(ch) != toy_sizes(ref):
        msg = (
            f"toy chunk '{ch.path}' has toys of {_sizes_text(toy_sizes(ch))} events but "
            f"'{ref.path}' of {_sizes_text(toy_sizes(ref))}: rerun the toys of the current config"
        )
        raise InputError(msg)


def _sizes_text(sizes: dict[str, int | None]) -> str:
    a, b = sizes["sample1"], sizes["sample2"]
    return "unknown sizes" if a is None or b is None else f"{a:,} + {b:,}"


def size_mismatch(ob: Chunk, ref: Chunk) -> str | None:
    """Why the observed analysis and the toys ran at different sizes (sample 1, sample 2), or
    None when they match (or a file predates the size keys)."""
    toys, obs = toy_sizes(ref), toy_sizes(ob)
    if None in toys.values() or None in obs.values() or toys == obs:
        return None
    return (
        f"the observed analysis ran at {_sizes_text(obs)} events (sample 1 + sample 2), the "
        f"toys at {_sizes_text(toys)}: toys of another size calibrate nothing (the z_max "
        "distribution depends on the size)"
    )


def check_observed(ob: Chunk, ref: Chunk) -> None:
    """The observed file must come from the toys' configuration, model and background choice."""
    check_same_study(
        ob,
        ref,
        f"observed file '{ob.path}'",
        f"the toy chunk '{ref.path}'",
        "the observed data must be analysed with the same configuration and GAN model as the "
        "toys, and with the same background choice",
    )


def observed_summary(
    ob: Chunk,
    ref: Chunk,
    cl: float,
    zs: NDArray[np.float64],
    gv: dict[str, Any],
    gv_scan: dict[str, Any],
    allow_size_mismatch: bool = False,
) -> dict[str, Any]:
    """Global significance of the observed z_max (against the toys' sorted ``zs``; ``ref`` a toy
    chunk, ``cl`` the intervals' level) and the goodness of fit of each selection.

    When the observed analysis ran at other sizes than the toys (``size_mismatch``) no global
    significance is quoted (``toys`` and the Gross-Vitells blocks are None and ``not_quoted``
    says why) unless ``allow_size_mismatch`` (``lee.allow_size_mismatch``): then it is, and
    ``size_warning`` says what it compares."""
    check_observed(ob, ref)
    zobs = float(ob.z_max[0])
    if not math.isfinite(zobs):
        msg = f"observed file '{ob.path}': z_max is not finite (every fit failed)"
        raise InputError(msg)
    sig = global_significance(zobs, zs, gv, cl, gv_scan)
    mismatch = size_mismatch(ob, ref)
    sig["sizes"] = toy_sizes(ob)
    sig["not_quoted"] = None
    sig["size_warning"] = None
    if mismatch is not None and not allow_size_mismatch:
        for key in ("toys", "gross_vitells", "gross_vitells_scan"):
            sig[key] = None
        sig["not_quoted"] = (
            f"no global significance: {mismatch}; make the toys the size of the dataset "
            "(toys.sample1_size and sample2_size null, or equal to it), or set "
            "lee.allow_size_mismatch: true to quote it anyway"
        )
    elif mismatch is not None:
        sig["size_warning"] = (
            f"global significance quoted although {mismatch} (lee.allow_size_mismatch: true)"
        )
    sig.update(
        {
            "source": str(ob.path),
            "mass_at_max": float(ob.mass_at_max[0]),
            "selection_at_max": float(ob.selection_at_max[0]),
            "n_fits": int(ob.n_fits[0]),
            "n_failed": int(ob.n_failed[0]),
            "goodness_of_fit": _goodness_of_fit(ob),
        }
    )
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


def background_summary(ref: Chunk | None, choice: str | os.PathLike[str] | None) -> dict[str, Any]:
    """The background model the toys used: hash, model per selection, warnings, and with the
    choice file its spurious-signal result per selection."""
    assert ref is not None
    models = None if ref.background_models is None else [str(m) for m in ref.background_models]
    warnings = [] if ref.background_warnings is None else [str(w) for w in ref.background_warnings]
    out: dict[str, Any] = {
        "hash": ref.background_hash,
        "models": models,
        "warnings": warnings,
        "choice": None,
    }
    if choice is None:
        return out
    if ref.background_hash is None or ref.background_hash.startswith("fit.background:"):
        out["warnings"].append(
            f"the toys were fitted with {ref.background_hash or 'fit.background'} for every "
            f"selection, not with the background choice '{choice}'"
        )
        return out
    from ganlee.background_choice import choice_summary, read_choice

    ch = read_choice(choice, ref.selections)
    if ch.hash != ref.background_hash:
        msg = (
            f"background choice '{choice}' has hash '{ch.hash}' but the toy chunks (e.g. "
            f"'{ref.path}') were fitted with '{ref.background_hash}': rerun the toys"
        )
        raise InputError(msg)
    out["choice"] = choice_summary(choice)
    return out


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


def ranges(idx: NDArray[np.int64]) -> list[tuple[int, int]]:
    """Consecutive runs of sorted integers as (first, last) pairs."""
    if idx.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(idx) != 1)
    starts = np.r_[idx[0], idx[breaks + 1]]
    ends = np.r_[idx[breaks], idx[-1]]
    return [(int(a), int(b)) for a, b in zip(starts, ends, strict=True)]


def fmt_range(a: int, b: int) -> str:
    return str(a) if a == b else f"{a}-{b}"


def _chunk_size_from(config_json: str) -> int | None:
    try:
        job = json.loads(config_json)
        return int(job["toys"]["chunk_size"])
    except Exception:
        return None


def raise_duplicates(duplicates: list[tuple[int, str, str]]) -> None:
    """Raise ``InputError`` listing (up to 10) toys found in two chunks."""
    lines = [f"  toy {i}: in '{a}' and in '{b}'" for i, a, b in duplicates[:10]]
    msg = (
        "duplicated toy indices (each toy must appear in exactly one chunk; did the chunk size "
        "change between runs?):\n" + "\n".join(lines)
    )
    raise InputError(msg)


def check_complete(owner: NDArray[np.int32], paths: list[str], ref: Chunk | None) -> None:
    """Raise ``InputError`` naming the missing toy ranges and where they were expected (``owner``:
    the chunk index of every toy, -1 where none holds it; ``paths``: the chunks read)."""
    missing = np.flatnonzero(owner < 0)
    if missing.size == 0:
        return
    chunk_size = _chunk_size_from(ref.config_json) if ref else None
    lines = []
    for a, b in ranges(missing)[:10]:
        before = paths[owner[a - 1]] if a > 0 else None
        after = paths[owner[b + 1]] if b + 1 < owner.size else None
        where = []
        if chunk_size:
            c0, c1 = a // chunk_size, b // chunk_size
            where.append(f"expected in chunk {fmt_range(c0, c1)} (toys.chunk_size={chunk_size})")
        if before:
            where.append(f"after '{before}'")
        if after:
            where.append(f"before '{after}'")
        lines.append(f"  toys {fmt_range(a, b)}: " + ", ".join(where))
    more = len(ranges(missing)) - 10
    if more > 0:
        lines.append(f"  ... and {more} more range(s)")
    msg = (
        f"{missing.size} of {owner.size} toys are missing (toys.n_toys={owner.size}; "
        f"{len(paths)} chunk file(s) read):\n" + "\n".join(lines)
    )
    raise InputError(msg)
