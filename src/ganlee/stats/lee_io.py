"""Outputs of the LEE aggregation besides the summary: the per-toy z_max table and the pickled
z_max histogram (docs/design.md, "LEE")."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from ganlee.io import InputError, atomic_path

__all__ = [
    "ZMAX_COLUMNS",
    "ZmaxTable",
    "load_hist",
    "read_zmax_csv",
    "save_hist",
    "write_zmax_csv",
]


ZMAX_COLUMNS = ("toy_index", "seed", "z_max", "mass_at_max", "selection_at_max", "n_failed")


class ZmaxTable(Protocol):
    """The per-toy columns of an aggregation (``ganlee.stats.lee.LeeResult`` has them)."""

    toy_index: NDArray[np.int64]
    seed: NDArray[np.int64]
    z_max: NDArray[np.float64]
    mass_at_max: NDArray[np.float64]
    selection_at_max: NDArray[np.float64]
    n_failed: NDArray[np.int64]


def write_zmax_csv(path: str | os.PathLike[str], res: ZmaxTable) -> None:
    """Atomically write one row per toy: ``ZMAX_COLUMNS`` (``toy_index, seed, z_max,
    mass_at_max, selection_at_max, n_failed``)."""
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
