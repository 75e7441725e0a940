"""One validation study's toy chunks and LEE summary, read into per-toy arrays (``StudyData``).

docs/design.md, "Validation: closure test".
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ganlee.io import InputError, read_json_object

__all__ = ["StudyData", "load_study"]


@dataclass
class StudyData:
    """What the summary needs of one study: per-toy arrays (ordered by toy index) and its LEE."""

    name: str
    toy_index: NDArray[np.int64]
    z_max: NDArray[np.float64]
    mass_at_max: NDArray[np.float64]
    selection_at_max: NDArray[np.float64]
    z: NDArray[np.float32]
    masses: NDArray[np.float64]
    selections: NDArray[np.float64]
    lee: dict[str, Any]
    diagnostics: dict[str, NDArray[Any]] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.toy_index.size)


def load_study(
    name: str,
    chunks: Sequence[str | os.PathLike[str]],
    lee_dir: str | os.PathLike[str] | None,
    n_toys: int,
) -> StudyData:
    """Read a study's chunks (toys ``0..n_toys-1``; chunks from other runs beyond it skipped) and
    its LEE summary (``lee_dir/summary.json``; ``lee_dir=None``: none, ``lee`` is empty)."""
    from ganlee.chunks import FILE_LEVEL_KEYS, read_chunk, resolve_chunk_paths

    lee: dict[str, Any] = {}
    if lee_dir is not None:
        lee = read_json_object(
            Path(lee_dir) / "summary.json", f"study '{name}': LEE summary", "validation_aggregate"
        )
    paths, _ = resolve_chunk_paths(chunks)
    parts: dict[str, list[Any]] = {
        k: [] for k in ("toy_index", "z_max", "mass_at_max", "selection_at_max", "z")
    }
    diag: dict[str, list[Any]] = {}
    ref = None
    for p in paths:
        ch = read_chunk(p)
        keep = ch.toy_index < n_toys
        if not keep.any():
            continue
        ref = ref or ch
        for k in parts:
            parts[k].append(np.asarray(getattr(ch, k))[keep])
        for k, a in ch.optional().items():
            if k in FILE_LEVEL_KEYS:
                diag[k] = [a]
            else:
                diag.setdefault(k, []).append(a[keep])
    if ref is None:
        msg = f"study '{name}': no toy with index < {n_toys} in {[str(p) for p in paths[:3]]}..."
        raise InputError(msg)
    idx = np.concatenate(parts["toy_index"])
    order = np.argsort(idx, kind="stable")
    if np.unique(idx).size != idx.size:
        msg = f"study '{name}': duplicated toy indices in its chunks"
        raise InputError(msg)

    def cat(lst: list[Any]) -> NDArray[Any]:
        return np.concatenate(lst)[order]

    diagnostics = {k: (v[0] if k in FILE_LEVEL_KEYS else cat(v)) for k, v in diag.items()}
    return StudyData(
        name=name,
        toy_index=idx[order],
        z_max=cat(parts["z_max"]).astype(np.float64),
        mass_at_max=cat(parts["mass_at_max"]).astype(np.float64),
        selection_at_max=cat(parts["selection_at_max"]).astype(np.float64),
        z=cat(parts["z"]),
        masses=ref.masses,
        selections=ref.selections,
        lee=lee,
        diagnostics=diagnostics,
    )
