"""The toy chunk file format: key lists, the ``Chunk`` record, write, read and path resolution.

One ``.npz`` per chunk of toys (``results/toys/chunk_{c}.npz``, rule toys_chunk) and one for the
observed data (``results/lee/observed.npz``, rule lee_observed); docs/design.md, "Chunk files".
No other module opens these files.

Keys of a toy chunk (K toys, S selections, M masses): ``CHUNK_KEYS``, ``z`` float32 (K, S, M)
(NaN = failed fit), per toy ``toy_index``, ``seed``, ``n_fits``, ``n_failed`` int64 and
``z_max``, ``mass_at_max``, ``selection_at_max`` float64, per file ``masses`` (M,),
``selections`` (S,) float64 and the 0-d strings ``config_hash``, ``model_hash``,
``config_json``. The observed file has K = 1 and adds ``edges`` (nbins + 1,) and ``counts``
(S, nbins). Optional keys, present only when their option is on:

* ``toys.diagnostics``: ``DIAGNOSTIC_KEYS`` -- ``counts`` float32 (K, S, nbins), ``counts_all``
  float32 (K, nbins), ``edges``, ``response_mllg_corr`` and ``auc`` float64 (K,), and with
  injection ``n_injected_selected`` int64 (K, S). The observed file keeps its own ``counts``
  and ``edges``.
* ``toys.inject``: ``INJECT_KEYS`` -- ``n_injected`` int64 (K,), ``inject_mass`` and
  ``inject_width`` float64 0-d.

Keys of the background model (``BACKGROUND_KEYS``, written by every toy job and the observed
run; absent in files written before them): ``background_hash`` 0-d string (the hash of rule
fit_model's choice file, or ``fit.background:<model>`` without one), ``background_models``
(S,) strings (the model of each selection) and ``background_warnings`` (n,) strings (selections
for which no candidate passed the spurious-signal test). The observed file adds ``GOF_KEYS``,
the goodness of fit of each selection's background-only fit, float64 (1, S):
``gof_deviance``, ``gof_ndf``, ``gof_p_value``, ``gof_chi2``, ``gof_chi2_ndf``.

Every file carries ``format_version`` (0-d int64, ``FORMAT_VERSION``). A file without it has
the layout of version 1 (files written before the key existed), so it stays readable; any other
version is refused with an error naming the file.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ganlee.io import InputError, atomic_path

__all__ = [
    "BACKGROUND_KEYS",
    "CHUNK_KEYS",
    "DIAGNOSTIC_KEYS",
    "FILE_LEVEL_KEYS",
    "FORMAT_KEY",
    "FORMAT_VERSION",
    "GOF_KEYS",
    "INJECT_KEYS",
    "OBSERVED_KEYS",
    "SIZE_KEYS",
    "Chunk",
    "chunk_paths",
    "read_chunk",
    "read_toy_index",
    "resolve_chunk_paths",
    "write_chunk",
]

FORMAT_KEY = "format_version"
FORMAT_VERSION = 1

#: Keys of every toy chunk, in the order ``ganlee toys`` writes them.
CHUNK_KEYS: tuple[str, ...] = (
    "toy_index",
    "seed",
    "z",
    "z_max",
    "mass_at_max",
    "selection_at_max",
    "n_fits",
    "n_failed",
    "masses",
    "selections",
    "config_hash",
    "model_hash",
    "config_json",
)
#: Keys of the observed-data file.
OBSERVED_KEYS: tuple[str, ...] = (*CHUNK_KEYS, "edges", "counts")
#: Keys added by ``toys.diagnostics: true`` (``n_injected_selected`` only with injection).
DIAGNOSTIC_KEYS: tuple[str, ...] = (
    "counts",
    "counts_all",
    "edges",
    "response_mllg_corr",
    "auc",
    "n_injected_selected",
)
#: Keys added by ``toys.inject.n_signal > 0``.
INJECT_KEYS: tuple[str, ...] = ("n_injected", "inject_mass", "inject_width")
#: The background model the fits used (``ganlee.background.choice``).
BACKGROUND_KEYS: tuple[str, ...] = ("background_hash", "background_models", "background_warnings")
#: Goodness of fit of the observed data's background-only fits (``ganlee.stats.fit.gof``).
GOF_KEYS: tuple[str, ...] = ("gof_deviance", "gof_ndf", "gof_p_value", "gof_chi2", "gof_chi2_ndf")
#: The events of sample 1 and sample 2 of every toy in the file (the observed file: sample 1
#: drawn from the generator, sample 2 the observed events); int64 0-d, absent in older files.
SIZE_KEYS: tuple[str, ...] = ("sample1_size", "sample2_size")
#: Optional keys that describe the whole file, not one toy each.
FILE_LEVEL_KEYS: tuple[str, ...] = ("edges", "inject_mass", "inject_width", *SIZE_KEYS)

_PER_TOY = ("seed", "z_max", "mass_at_max", "selection_at_max", "n_fits", "n_failed")
_OPTIONAL = tuple(dict.fromkeys((*DIAGNOSTIC_KEYS, *INJECT_KEYS)))
_ALLOWED = (*_OPTIONAL, *BACKGROUND_KEYS, *GOF_KEYS, *SIZE_KEYS)


@dataclass
class Chunk:
    """One toy chunk (or the observed-data file) as read from its ``.npz``.

    The optional fields are None when the file lacks the key. ``counts`` is (S, nbins) float64
    in the observed file and (K, S, nbins) float32 in a chunk written with diagnostics.
    """

    path: str
    toy_index: NDArray[np.int64]
    seed: NDArray[np.int64]
    z: NDArray[np.float32]
    z_max: NDArray[np.float64]
    mass_at_max: NDArray[np.float64]
    selection_at_max: NDArray[np.float64]
    n_fits: NDArray[np.int64]
    n_failed: NDArray[np.int64]
    masses: NDArray[np.float64]
    selections: NDArray[np.float64]
    config_hash: str
    model_hash: str
    config_json: str
    edges: NDArray[np.float64] | None = None
    counts: NDArray[Any] | None = None
    counts_all: NDArray[np.float32] | None = None
    response_mllg_corr: NDArray[np.float64] | None = None
    auc: NDArray[np.float64] | None = None
    n_injected_selected: NDArray[np.int64] | None = None
    n_injected: NDArray[np.int64] | None = None
    inject_mass: NDArray[np.float64] | None = None
    inject_width: NDArray[np.float64] | None = None
    background_hash: str | None = None
    background_models: NDArray[np.str_] | None = None
    background_warnings: NDArray[np.str_] | None = None
    gof_deviance: NDArray[np.float64] | None = None
    gof_ndf: NDArray[np.float64] | None = None
    gof_p_value: NDArray[np.float64] | None = None
    gof_chi2: NDArray[np.float64] | None = None
    gof_chi2_ndf: NDArray[np.float64] | None = None
    sample1_size: int | None = None
    sample2_size: int | None = None

    @property
    def n(self) -> int:
        """Number of toys in the file."""
        return int(self.toy_index.size)

    def optional(self) -> dict[str, NDArray[Any]]:
        """The optional arrays the file holds (diagnostics, injection), by key."""
        return {k: getattr(self, k) for k in _OPTIONAL if getattr(self, k) is not None}


def write_chunk(
    path: str | os.PathLike[str], arrays: Mapping[str, Any], observed: bool = False
) -> None:
    """Atomically write a toy chunk (or, ``observed=True``, the observed-data file).

    ``arrays`` must hold every key of ``CHUNK_KEYS`` (``OBSERVED_KEYS``) and nothing but the
    optional keys besides; ``format_version`` is added. Readable with ``allow_pickle=False``.
    """
    required = OBSERVED_KEYS if observed else CHUNK_KEYS
    missing = [k for k in required if k not in arrays]
    unknown = [k for k in arrays if k not in required and k not in _ALLOWED]
    if missing or unknown:
        msg = f"chunk '{path}': missing key(s) {missing}, unknown key(s) {unknown}"
        raise ValueError(msg)
    out = {FORMAT_KEY: np.array(FORMAT_VERSION, dtype=np.int64), **arrays}
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **out)


def _load(p: Path, kind: str, required: tuple[str, ...]) -> dict[str, NDArray[Any]]:
    """The arrays of ``p``: the required keys and the optional ones present; version checked."""
    if not p.is_file():
        msg = f"{kind} '{p}' does not exist"
        raise InputError(msg)
    try:
        with np.load(p, allow_pickle=False) as f:
            files = set(f.files)
            version = f[FORMAT_KEY] if FORMAT_KEY in files else np.array(1)
            if (
                version.shape != ()
                or version.dtype.kind not in "iu"
                or int(version) != FORMAT_VERSION
            ):
                msg = (
                    f"{kind} '{p}' has chunk format version {version.tolist()!r}; this ganlee "
                    f"reads version {FORMAT_VERSION}: rerun the step that wrote it"
                )
                raise InputError(msg)
            missing = [k for k in required if k not in files]
            if missing:
                msg = f"{kind} '{p}' lacks key(s) {missing} (has {sorted(files)})"
                raise InputError(msg)
            return {k: f[k] for k in (*required, *_ALLOWED) if k in files}
    except InputError:
        raise
    except Exception as exc:
        msg = f"{kind} '{p}' is not a readable .npz file: {exc}"
        raise InputError(msg) from exc


def _vector(d: Mapping[str, Any], name: str, dtype: Any, where: str) -> NDArray[Any]:
    arr = np.asarray(d[name])
    if arr.ndim != 1:
        msg = f"{where}: '{name}' must be 1-d, got shape {arr.shape}"
        raise InputError(msg)
    return arr.astype(dtype, copy=False)


def _check_shapes(chunk: Chunk, where: str) -> None:
    k, s, m = chunk.n, chunk.selections.size, chunk.masses.size
    if chunk.z.shape != (k, s, m):
        msg = (
            f"{where}: 'z' has shape {chunk.z.shape}, expected (toys, selections, masses) = "
            f"({k}, {s}, {m}) from 'toy_index', 'selections' and 'masses'"
        )
        raise InputError(msg)
    for name in _PER_TOY:
        if getattr(chunk, name).size != k:
            msg = f"{where}: '{name}' has {getattr(chunk, name).size} entries, 'toy_index' has {k}"
            raise InputError(msg)


def _check_observed(chunk: Chunk, where: str) -> None:
    assert chunk.edges is not None
    assert chunk.counts is not None
    if chunk.n != 1:
        msg = f"{where}: expected exactly one entry (K=1), got {chunk.n}"
        raise InputError(msg)
    s, nb = chunk.selections.size, chunk.edges.size - 1
    if chunk.counts.shape != (s, nb):
        msg = (
            f"{where}: 'counts' has shape {chunk.counts.shape}, expected (selections, bins) = "
            f"({s}, {nb}) from 'selections' and 'edges'"
        )
        raise InputError(msg)


def read_chunk(path: str | os.PathLike[str], observed: bool = False) -> Chunk:
    """Read and check one toy chunk (``observed=False``, keys ``CHUNK_KEYS``) or the observed-data
    file (``observed=True``, ``OBSERVED_KEYS``: K = 1 plus ``edges`` and ``counts``).

    Raises ``InputError`` naming the file and the missing key, the inconsistent shape or the
    unknown format version.
    """
    p = Path(path)
    kind = "observed file" if observed else "toy chunk"
    where = f"{kind} '{p}'"
    d = _load(p, kind, OBSERVED_KEYS if observed else CHUNK_KEYS)
    vectors = {
        "toy_index": np.int64,
        "seed": np.int64,
        "z_max": np.float64,
        "mass_at_max": np.float64,
        "selection_at_max": np.float64,
        "n_fits": np.int64,
        "n_failed": np.int64,
        "masses": np.float64,
        "selections": np.float64,
    }
    vector_fields: dict[str, Any] = {k: _vector(d, k, dt, where) for k, dt in vectors.items()}
    optional: dict[str, Any] = {k: np.asarray(d[k]) for k in _ALLOWED if k in d}
    if "background_hash" in optional:
        optional["background_hash"] = str(optional["background_hash"])
    for key in SIZE_KEYS:
        if key in optional:
            size = optional[key]
            if size.shape != () or size.dtype.kind not in "iu" or int(size) < 1:
                msg = f"{where}: '{key}' must be a positive integer, got {size.tolist()!r}"
                raise InputError(msg)
            optional[key] = int(size)
    if "edges" in optional:
        optional["edges"] = _vector(d, "edges", np.float64, where)
    if observed:
        optional["counts"] = np.asarray(d["counts"], dtype=np.float64)
    chunk = Chunk(
        path=str(p),
        z=np.asarray(d["z"]),
        config_hash=str(d["config_hash"]),
        model_hash=str(d["model_hash"]),
        config_json=str(d["config_json"]),
        **vector_fields,
        **optional,
    )
    _check_shapes(chunk, where)
    if observed:
        _check_observed(chunk, where)
    return chunk


def chunk_paths(n_toys: int, chunk_size: int, directory: str = "results/toys") -> list[str]:
    """The chunk files of a plan of ``n_toys`` toys in chunks of ``chunk_size``:
    ``<directory>/chunk_{c}.npz`` for ``c = 0 .. ceil(n_toys / chunk_size) - 1``.

    >>> chunk_paths(5, 3)
    ['results/toys/chunk_0.npz', 'results/toys/chunk_1.npz']
    """
    n = math.ceil(int(n_toys) / int(chunk_size))
    return [f"{directory}/chunk_{c}.npz" for c in range(n)]


def read_toy_index(path: str | os.PathLike[str]) -> NDArray[np.int64]:
    """The ``toy_index`` of a chunk alone (cheap: the other arrays are not decompressed)."""
    p = Path(path)
    d = _load(p, "toy chunk", ("toy_index",))
    return _vector(d, "toy_index", np.int64, f"toy chunk '{p}'")


def resolve_chunk_paths(items: Sequence[str | os.PathLike[str]]) -> tuple[list[Path], bool]:
    """Expand CLI chunk arguments: ``.npz`` files, directories (all non-hidden ``*.npz`` inside,
    sorted naturally) and text files listing one path per line (``#`` comments allowed).

    Returns the paths and whether any came from a directory (then chunks lying wholly beyond
    ``toys.n_toys`` are skipped as stale rather than refused).
    """
    out: list[Path] = []
    from_dir = False
    for item in items:
        p = Path(item)
        if p.is_dir():
            # hidden files are partial writes of ganlee.io.atomic_path: never chunks
            found = [q for q in p.glob("*.npz") if not q.name.startswith(".")]
            if not found:
                msg = f"chunk directory '{p}' holds no .npz files"
                raise InputError(msg)
            out.extend(sorted(found, key=_natural_key))
            from_dir = True
        elif p.suffix == ".npz":
            out.append(p)
        elif p.is_file():
            out.extend(_list_file(p))
        else:
            msg = f"chunk argument '{p}' is neither a .npz file, a directory nor a list file"
            raise InputError(msg)
    if not out:
        msg = "no toy chunk files given"
        raise InputError(msg)
    return out, from_dir


def _list_file(p: Path) -> list[Path]:
    """The paths listed in ``p``, one per line; relative ones that do not exist from the current
    directory are taken relative to the list file."""
    out = []
    for line in p.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            q = Path(line)
            out.append(q if q.is_absolute() or q.exists() else p.parent / q)
    return out


def _natural_key(p: Path) -> tuple[Any, ...]:
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name))
