"""Features-file contract and atomic writes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from ganlee.features import FEATURE_NAMES
from ganlee.io import InputError, atomic_path, read_features, write_features


def _features(n=50, seed=0):
    rng = np.random.default_rng(seed)
    data = {name: rng.uniform(1, 2, n) for name in FEATURE_NAMES}
    data["n_jets"] = rng.integers(0, 4, n)
    data["n_central_jets"] = np.minimum(data["n_jets"], rng.integers(0, 4, n))
    return data


def test_round_trip(tmp_path):
    data = _features()
    path = tmp_path / "f.root"
    write_features(path, data)
    arr = read_features(path)
    assert arr.shape == (50, 18)
    for j, name in enumerate(FEATURE_NAMES):
        np.testing.assert_allclose(arr[:, j], np.asarray(data[name], dtype=np.float32), rtol=1e-6)


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.txt"

    def write_half_then_fail() -> None:
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        write_half_then_fail()
    assert not target.exists()
    assert os.listdir(tmp_path) == []


def test_missing_and_non_root_files(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_features(tmp_path / "nope.root")
    junk = tmp_path / "junk.root"
    junk.write_bytes(b"not a root file at all" * 10)
    with pytest.raises(InputError, match=r"junk\.root.*not a readable ROOT file"):
        read_features(junk)


def test_missing_branch_and_tree(tmp_path):
    path = tmp_path / "f.root"
    write_features(path, _features())
    with pytest.raises(InputError, match="no tree 'other'"):
        read_features(path, tree="other")
    with pytest.raises(InputError, match="missing branch"):
        read_features(path, names=("m_llg", "not_a_branch"))


def test_nan_is_refused_with_column_named(tmp_path):
    data = _features()
    data["met"][7] = np.nan
    path = tmp_path / "f.root"
    write_features(path, data)
    with pytest.raises(InputError, match=r"branch 'met'.*row 7"):
        read_features(path)


def test_atomic_outputs_respect_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "x.txt") as tmp:
            tmp.write_text("done")
    finally:
        os.umask(old)
    assert (tmp_path / "x.txt").stat().st_mode & 0o777 == 0o644


def test_write_json_is_strict_with_non_finite_as_null(tmp_path):
    import json

    from ganlee.io import write_json

    obj = {
        "nan": float("nan"),
        "inf": np.float32(np.inf),
        1: np.array([1.5, np.nan, -np.inf]),
        "t": (np.int64(3), np.bool_(True), Path("a/b")),
        "ok": 0.25,
    }
    path = tmp_path / "x.json"
    write_json(path, obj)

    def refuse(token):
        raise AssertionError(f"non-standard JSON token {token}")

    back = json.loads(path.read_text(), parse_constant=refuse)
    want = {"nan": None, "inf": None, "1": [1.5, None, None], "t": [3, True, "a/b"], "ok": 0.25}
    assert back == want
    with pytest.raises(TypeError):
        write_json(tmp_path / "y.json", {"x": object()})
    assert not (tmp_path / "y.json").exists()
