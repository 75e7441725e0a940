"""The chunk-file format (ganlee.chunks): round trip, missing keys, versions, optional fields."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ganlee.chunks import (
    CHUNK_KEYS,
    DIAGNOSTIC_KEYS,
    FORMAT_KEY,
    FORMAT_VERSION,
    INJECT_KEYS,
    OBSERVED_KEYS,
    read_chunk,
    read_toy_index,
    resolve_chunk_paths,
    write_chunk,
)
from ganlee.io import InputError

K, S, M, NB = 4, 3, 5, 8


def arrays(first: int = 0, k: int = K) -> dict[str, np.ndarray]:
    """A toy chunk's arrays with consistent maxima (the z_max of each toy is its largest Z)."""
    rng = np.random.default_rng(first)
    z = rng.uniform(0.0, 3.0, size=(k, S, M)).astype(np.float32)
    z[0, 1, 2] = np.nan
    flat = np.where(np.isfinite(z), z, -np.inf).reshape(k, -1)
    best = flat.argmax(axis=1)
    masses = np.linspace(135.0, 145.0, M)
    sel = np.array([0.1, 0.5, 1.0])
    return {
        "toy_index": np.arange(first, first + k, dtype=np.int64),
        "seed": np.arange(first, first + k, dtype=np.int64) * 31 + 7,
        "z": z,
        "z_max": flat.max(axis=1).astype(np.float64),
        "mass_at_max": masses[best % M],
        "selection_at_max": sel[best // M],
        "n_fits": np.full(k, S * M, dtype=np.int64),
        "n_failed": np.isnan(z).reshape(k, -1).sum(axis=1).astype(np.int64),
        "masses": masses,
        "selections": sel,
        "config_hash": np.array("cfg"),
        "model_hash": np.array("model"),
        "config_json": np.array(json.dumps({"seed": 1})),
    }


def observed_arrays() -> dict[str, np.ndarray]:
    a = arrays(k=1)
    a["toy_index"] = np.array([-1], dtype=np.int64)
    a["edges"] = np.linspace(130.0, 170.0, NB + 1)
    a["counts"] = np.arange(S * NB, dtype=np.float64).reshape(S, NB)
    return a


def test_round_trip_keeps_every_array_and_adds_the_version(tmp_path):
    a = arrays(10)
    path = tmp_path / "chunk_1.npz"
    write_chunk(path, a)
    with np.load(path, allow_pickle=False) as f:
        assert sorted(f.files) == sorted((FORMAT_KEY, *CHUNK_KEYS))
        assert int(f[FORMAT_KEY]) == FORMAT_VERSION
    ch = read_chunk(path)
    assert ch.path == str(path)
    assert ch.n == K
    for key in CHUNK_KEYS:
        got = getattr(ch, key)
        if a[key].shape == ():
            assert got == str(a[key])
        else:
            np.testing.assert_array_equal(got, a[key])
            assert got.dtype == a[key].dtype
    assert ch.optional() == {}
    assert ch.edges is None
    assert ch.auc is None
    np.testing.assert_array_equal(read_toy_index(path), np.arange(10, 10 + K))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temporary file left"


def test_files_without_a_version_key_are_version_1(tmp_path):
    path = tmp_path / "old.npz"
    np.savez(path, **arrays())  # the layout written before the version key existed
    assert read_chunk(path).n == K


@pytest.mark.parametrize("version", [np.array(2), np.array("1"), np.array([1, 1])])
def test_other_versions_are_refused_naming_the_file(tmp_path, version):
    path = tmp_path / "future.npz"
    np.savez(path, **arrays(), **{FORMAT_KEY: version})
    with pytest.raises(InputError, match=r"future\.npz' has chunk format version .* version 1"):
        read_chunk(path)


def test_missing_keys_are_refused_by_writer_and_reader(tmp_path):
    a = arrays()
    del a["z_max"]
    with pytest.raises(ValueError, match=r"missing key\(s\) \['z_max'\]"):
        write_chunk(tmp_path / "w.npz", a)
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['bogus'\]"):
        write_chunk(tmp_path / "w.npz", {**arrays(), "bogus": np.zeros(1)})
    assert not (tmp_path / "w.npz").exists()
    np.savez(tmp_path / "r.npz", **a)
    with pytest.raises(InputError, match=r"r.npz' lacks key\(s\) \['z_max'\]"):
        read_chunk(tmp_path / "r.npz")
    with pytest.raises(InputError, match="does not exist"):
        read_chunk(tmp_path / "absent.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip file")
    with pytest.raises(InputError, match=r"junk\.npz' is not a readable \.npz"):
        read_chunk(tmp_path / "junk.npz")


def test_inconsistent_shapes_are_refused(tmp_path):
    a = arrays()
    a["z_max"] = a["z_max"][:2]
    np.savez(tmp_path / "a.npz", **a)
    with pytest.raises(InputError, match="'z_max' has 2 entries, 'toy_index' has 4"):
        read_chunk(tmp_path / "a.npz")
    b = arrays()
    b["z"] = b["z"][:, :2]
    np.savez(tmp_path / "b.npz", **b)
    with pytest.raises(InputError, match=r"'z' has shape \(4, 2, 5\), expected"):
        read_chunk(tmp_path / "b.npz")


def test_optional_diagnostic_and_injection_fields(tmp_path):
    extra = {
        "counts": np.ones((K, S, NB), dtype=np.float32),
        "counts_all": np.ones((K, NB), dtype=np.float32),
        "edges": np.linspace(130.0, 170.0, NB + 1),
        "response_mllg_corr": np.zeros(K),
        "auc": np.full(K, 0.5),
        "n_injected_selected": np.ones((K, S), dtype=np.int64),
        "n_injected": np.full(K, 20, dtype=np.int64),
        "inject_mass": np.array(150.0),
        "inject_width": np.array(2.5),
    }
    assert set(extra) == {*DIAGNOSTIC_KEYS, *INJECT_KEYS}
    path = tmp_path / "chunk.npz"
    write_chunk(path, {**arrays(), **extra})
    ch = read_chunk(path)
    assert set(ch.optional()) == set(extra)
    for key, want in extra.items():
        np.testing.assert_array_equal(getattr(ch, key), want)
    assert ch.counts is not None
    assert ch.counts.dtype == np.float32  # a toy chunk keeps its (K, S, nbins) float32 counts


def test_observed_file(tmp_path):
    obs = observed_arrays()
    path = tmp_path / "observed.npz"
    with pytest.raises(ValueError, match="missing key"):
        write_chunk(path, arrays(k=1), observed=True)  # no edges / counts
    write_chunk(path, obs, observed=True)
    ch = read_chunk(path, observed=True)
    assert set(OBSERVED_KEYS) - set(CHUNK_KEYS) == {"edges", "counts"}
    np.testing.assert_array_equal(ch.counts, obs["counts"])
    np.testing.assert_array_equal(ch.edges, obs["edges"])
    two = {**obs, **{k: v for k, v in arrays(k=2).items() if k != "toy_index"}}
    two["toy_index"] = np.array([-1, -2])
    np.savez(tmp_path / "two.npz", **two)
    with pytest.raises(InputError, match=r"two.npz': expected exactly one entry \(K=1\), got 2"):
        read_chunk(tmp_path / "two.npz", observed=True)
    bad = {**obs, "counts": np.zeros((S, NB - 1))}
    np.savez(tmp_path / "bad.npz", **bad)
    with pytest.raises(InputError, match=r"'counts' has shape \(3, 7\), expected"):
        read_chunk(tmp_path / "bad.npz", observed=True)


def test_resolve_paths_directory_list_file_and_errors(tmp_path):
    d = tmp_path / "toys"
    d.mkdir()
    for c in (10, 2, 1):
        write_chunk(d / f"chunk_{c}.npz", arrays(c * K))
    (d / ".chunk_3.npz.part.npz").write_bytes(b"partial")  # an unfinished atomic write
    found, from_dir = resolve_chunk_paths([d])
    assert from_dir
    assert [p.name for p in found] == ["chunk_1.npz", "chunk_2.npz", "chunk_10.npz"]
    lst = tmp_path / "list.txt"
    lst.write_text("# chunks\ntoys/chunk_2.npz\n\n" + str(d / "chunk_1.npz") + "  # first\n")
    found, from_dir = resolve_chunk_paths([lst, d / "chunk_10.npz"])
    assert not from_dir
    assert found == [d / "chunk_2.npz", d / "chunk_1.npz", d / "chunk_10.npz"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match=r"holds no \.npz files"):
        resolve_chunk_paths([empty])
    with pytest.raises(InputError, match=r"neither a \.npz file"):
        resolve_chunk_paths([tmp_path / "nothing"])
