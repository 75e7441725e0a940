"""Golden toys: the full Z table of fixed toys, bit for bit, on the CPU that recorded them.

Training amplifies float rounding (a 1e-7 relative change of the initial weights moves z_max by
~0.5), so another CPU, torch version or thread count may legitimately give other toys: there is
no tolerance that is guaranteed across machines, and the test is skipped with the recorded
machine named. On the recording machine every refactoring of the toy engine must reproduce the
arrays exactly.

The toys' events themselves (from a tiny GAN trained here, or from the MC bootstrap) are pinned
by a hash: when the GAN's training or sampling changes, the toy engine is not what changed, and
the GAN case is skipped with that reason (re-record after an intended change).

Record (only from a known-good engine): ``python tests/test_toys_golden.py --record``.
"""

from __future__ import annotations

import hashlib
import io
import json
import platform
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from synthetic import synthetic_events
from toy_helpers import train_tiny_gan

from ganlee.features import FEATURE_NAMES
from ganlee.io import write_features
from ganlee.settings import Settings, load_settings
from ganlee.toys.run import ToyEngine
from ganlee.toys.sources import make_source

GOLDEN = Path(__file__).parent / "data" / "toys_golden.npz"
THREADS = 1
#: (name, toys section, first toy, number of toys)
CASES: dict[str, tuple[dict[str, Any], int, int]] = {
    "gan_train": ({"source": "gan", "scoring": "train"}, 3, 2),
    "bootstrap_kfold": ({"source": "mc_bootstrap", "scoring": "kfold", "k_folds": 3}, 5, 1),
}
PINNED = ("z", "z_max", "mass_at_max", "selection_at_max", "n_failed", "seed", "toy_index")


def fingerprint() -> dict[str, str]:
    """What decides float rounding on a CPU: torch version, architecture, CPU model, threads."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "torch": torch.__version__,
        "machine": platform.machine(),
        "cpu": model,
        "threads": str(torch.get_num_threads()),
    }


def _cfg(toys: dict[str, Any]) -> Settings:
    section = {
        "sample1_size": 300,
        "sample2_size": 300,
        "selections": [0.1, 0.5, 1.0],
        "dnn": {"layers": [32, 16], "epochs": 2, "batch_size": 64},
        **toys,
    }
    return load_settings(json.dumps({"seed": 7, "device": "cpu", "toys": section}))


def _sample_hash(engine: ToyEngine, index: int) -> str:
    h = hashlib.sha256()
    for v in engine.draw_samples(index).values():
        h.update(np.ascontiguousarray(v).tobytes())
    return h.hexdigest()[:16]


def run_cases(workdir: Path) -> dict[str, np.ndarray]:
    """Every case's pinned arrays (``<case>/<key>``) and the hash of its first toy's events."""
    mc = synthetic_events(600, 3)
    features = workdir / "features.root"
    write_features(features, {name: mc[:, j] for j, name in enumerate(FEATURE_NAMES)})
    model = train_tiny_gan(mc, workdir / "model.pt")
    out: dict[str, np.ndarray] = {}
    for name, (toys, first, count) in CASES.items():
        cfg = _cfg(toys)
        source = make_source(cfg, features, model, torch.device("cpu"))
        engine = ToyEngine(cfg, source, stream=io.StringIO())
        result = engine.run_toys(first, count)
        for key in PINNED:
            out[f"{name}/{key}"] = np.asarray(result[key])
        out[f"{name}/events"] = np.array(_sample_hash(engine, first))
    return out


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, np.ndarray]]:
    before = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        yield run_cases(tmp_path_factory.mktemp("golden"))
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="module")
def golden() -> dict[str, np.ndarray]:
    with np.load(GOLDEN, allow_pickle=False) as f:
        data = {k: f[k] for k in f.files}
    recorded = json.loads(str(data["fingerprint"]))
    here = {**fingerprint(), "threads": str(THREADS)}
    if recorded != here:
        pytest.skip(
            f"golden toys recorded on {recorded}, this machine is {here}: training amplifies "
            "rounding, so no tolerance across machines is guaranteed"
        )
    return data


@pytest.mark.parametrize("case", list(CASES))
def test_toys_reproduce_the_golden_z_table_bit_for_bit(case, results, golden):
    if str(results[f"{case}/events"]) != str(golden[f"{case}/events"]):
        if case.startswith("gan"):
            pytest.skip(
                f"the tiny GAN's events changed (hash {results[f'{case}/events']} vs recorded "
                f"{golden[f'{case}/events']}): GAN training or sampling changed, not the toy "
                "engine; re-record with `python tests/test_toys_golden.py --record`"
            )
        pytest.fail(f"{case}: the toys' events changed (the MC bootstrap draws differ)")
    for key in PINNED:
        got, want = results[f"{case}/{key}"], golden[f"{case}/{key}"]
        assert got.dtype == want.dtype, key
        np.testing.assert_array_equal(got, want, err_msg=f"{case}: {key} differs")
    assert np.isfinite(results[f"{case}/z_max"]).all()


def _record() -> None:
    torch.set_num_threads(THREADS)
    with tempfile.TemporaryDirectory() as tmp:
        data = run_cases(Path(tmp))
    data["fingerprint"] = np.array(json.dumps(fingerprint(), sort_keys=True))
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(GOLDEN, **data)
    print(f"wrote {GOLDEN}: fingerprint {fingerprint()}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--record"]:
        sys.exit(f"usage: python {sys.argv[0]} --record")
    _record()
