"""File helpers shared by every step: atomic outputs and the features-file contract.

A step writes to a temporary file beside its output and renames it into place only when the
write completed, so a killed job never leaves a file that Snakemake would take as done.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import struct
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ganlee.errors import InputError
from ganlee.features import FEATURE_NAMES

__all__ = [
    "InputError",
    "atomic_path",
    "check_root_file",
    "count_events",
    "features_fingerprint",
    "file_hash",
    "json_safe",
    "read_features",
    "write_features",
    "write_json",
]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it to ``path`` only on success."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{final.name}.", suffix=".part" + final.suffix, dir=final.parent
    )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600; give the result the permissions a plain open() would (umask),
        # so collaborators on a shared cluster file system can read it.
        umask = os.umask(0)
        os.umask(umask)
        with contextlib.suppress(FileNotFoundError):
            os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()


def json_safe(obj: Any) -> Any:
    """``obj`` with numpy scalars and arrays as Python values, tuples as lists, mapping keys as
    strings and every non-finite float (NaN, +-inf) as ``None``.

    This is the project's one NaN policy for JSON (docs/design.md, "File contracts between
    rules"): a value that is not a number is written as ``null``, so every JSON output is strict
    (RFC 8259) and readable by any parser; readers turn ``null`` back into NaN where they need
    arrays (``ganlee.plotstyle.json_array``).
    """
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        f = float(obj)
        return f if np.isfinite(f) else None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Atomically write ``obj`` as indented strict JSON, non-finite floats as ``null``
    (``json_safe``); a value JSON cannot hold raises ``TypeError``."""
    text = json.dumps(json_safe(obj), indent=1, allow_nan=False)
    with atomic_path(path) as tmp:
        tmp.write_text(text + "\n")


def write_features(
    path: str | os.PathLike[str], data: dict[str, np.ndarray], tree: str = "events"
) -> None:
    """Atomically write a flat TTree ``tree``: one branch per feature (jet counts int32)."""
    import uproot

    missing = [n for n in FEATURE_NAMES if n not in data]
    if missing:
        msg = f"cannot write features to {path}: missing {missing}"
        raise ValueError(msg)
    cols = {}
    for name in FEATURE_NAMES:
        arr = np.asarray(data[name])
        cols[name] = (
            arr.astype(np.int32) if name in ("n_jets", "n_central_jets") else arr.astype(np.float32)
        )
    with atomic_path(path) as tmp, uproot.recreate(tmp) as f:
        f.mktree(tree, {k: v.dtype for k, v in cols.items()})
        f[tree].extend(cols)


def read_json_object(path: str | os.PathLike[str], what: str, rule: str = "") -> dict[str, Any]:
    """The JSON object in ``path``; ``InputError`` naming ``what`` (and the ``rule`` that writes
    it) when the file is missing, not JSON, or not an object."""
    p = Path(path)
    made_by = f" (rule {rule})" if rule else ""
    if not p.is_file():
        msg = f"{what} '{p}' does not exist{made_by}"
        raise InputError(msg)
    try:
        data = json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        msg = f"{what} '{p}' is not valid JSON: {exc}"
        raise InputError(msg) from exc
    if not isinstance(data, dict):
        msg = f"{what} '{p}' does not hold a JSON object"
        raise InputError(msg)
    return data


def path_problem(p: Path) -> str | None:
    """Why ``p`` cannot be read as a ROOT file ("is a directory, ...", "does not exist"), or None.

    >>> path_problem(Path("/no/such/file.root"))
    'does not exist'
    """
    if p.is_dir():
        return "is a directory, not a ROOT file"
    if not p.is_file():
        return "does not exist"
    return None


def check_root_file(path: str | os.PathLike[str], what: str = "file") -> None:
    """Refuse a missing path, a directory, a non-ROOT file or a ROOT file shorter than its header
    says (``fEND``, the end of the last record: a copy or transfer cut short).

    ROOT's file header: ``"root"``, fVersion (int32), fBEGIN (int32), then fEND, an int32 or, for
    fVersion >= 1000000 (large files), an int64; all big-endian.
    """
    p = Path(path)
    problem = path_problem(p)
    if problem is not None:
        msg = f"{what} '{p}' {problem}"
        raise InputError(msg)
    with p.open("rb") as fh:
        head = fh.read(20)
    if head[:4] != b"root":
        msg = f"{what} '{p}' is not a readable ROOT file (no 'root' header)"
        raise InputError(msg)
    version = struct.unpack(">i", head[4:8])[0] if len(head) >= 8 else 0
    large = version >= 1000000
    if len(head) < (20 if large else 16):
        msg = f"{what} '{p}' is truncated: {len(head)} bytes, shorter than a ROOT header"
        raise InputError(msg)
    end = struct.unpack(">q", head[12:20])[0] if large else struct.unpack(">i", head[12:16])[0]
    size = p.stat().st_size
    if size < end:
        msg = (
            f"{what} '{p}' is truncated: {size} bytes, but its ROOT header says {end} "
            f"({100.0 * size / end:.1f}% present); copy it again"
        )
        raise InputError(msg)


def file_hash(path: str | os.PathLike[str]) -> str:
    """First 16 hex digits of the SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def features_fingerprint(x: np.ndarray, names: Sequence[str] = FEATURE_NAMES) -> str:
    """16-hex SHA-256 of a features table as a features file holds it: the branch names, the
    number of events and the values at the file's float32 precision, so an array and the file
    written from it (``write_features``, read back by ``read_features``) agree."""
    arr = np.ascontiguousarray(np.asarray(x, dtype=np.float64).astype(np.float32))
    head = json.dumps({"names": list(names), "shape": list(arr.shape)}, sort_keys=True)
    h = hashlib.sha256(head.encode())
    h.update(arr.tobytes())
    return h.hexdigest()[:16]


def count_events(path: str | os.PathLike[str], tree: str = "events") -> int:
    """The number of events of a features file (its tree's entries; nothing else is read).

    Refuses what ``read_features`` refuses about the file and the tree, naming the file.
    """
    import uproot

    p = Path(path)
    check_root_file(p, "features file")
    try:
        f = uproot.open(p)
    except Exception as exc:
        msg = f"features file '{p}' is not a readable ROOT file: {exc}"
        raise InputError(msg) from exc
    with f:
        if tree not in f:
            msg = f"features file '{p}' has no tree '{tree}' (has: {list(f.keys())})"
            raise InputError(msg)
        return int(f[tree].num_entries)


def read_features(
    path: str | os.PathLike[str],
    names: list[str] | tuple[str, ...] = FEATURE_NAMES,
    tree: str = "events",
) -> np.ndarray:
    """Read the features file of ``mc_convert`` as a float64 array ``(n_events, len(names))``.

    Refuses missing, truncated and non-ROOT files (``check_root_file``), corrupt data blocks, a
    missing tree or branch, empty trees and non-finite values, naming the file, tree, branch (and
    row) involved.
    """
    import uproot

    p = Path(path)
    check_root_file(p, "features file")
    try:
        f = uproot.open(p)
    except Exception as exc:
        msg = f"features file '{p}' is not a readable ROOT file: {exc}"
        raise InputError(msg) from exc
    with f:
        if tree not in f:
            msg = f"features file '{p}' has no tree '{tree}' (has: {list(f.keys())})"
            raise InputError(msg)
        t = f[tree]
        have = set(t.keys())
        absent = [n for n in names if n not in have]
        if absent:
            msg = f"features file '{p}', tree '{tree}': missing branch(es) {absent}"
            raise InputError(msg)
        try:
            arrays = t.arrays(list(names), library="np")
        except Exception as exc:
            msg = (
                f"features file '{p}', tree '{tree}': reading failed (corrupt file?): "
                f"{type(exc).__name__}: {exc}"
            )
            raise InputError(msg) from exc
    out = (
        np.column_stack([np.asarray(arrays[n], dtype=np.float64) for n in names])
        if len(names)
        else np.empty((0, 0))
    )
    if out.shape[0] == 0:
        msg = f"features file '{p}', tree '{tree}' has no events"
        raise InputError(msg)
    bad = ~np.isfinite(out)
    if bad.any():
        col = int(np.argmax(bad.any(axis=0)))
        row = int(np.argmax(bad[:, col]))
        msg = (
            f"features file '{p}': branch '{names[col]}' has {int(bad[:, col].sum())} non-finite "
            f"value(s) (first at row {row})"
        )
        raise InputError(msg)
    return out
