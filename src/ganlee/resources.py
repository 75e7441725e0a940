"""Cluster resources of the heavy rules: runtime [min] and memory [MB] from the config's sizes.

Local runs ignore them; a cluster profile (``profiles/slurm``) uses them. The estimates are
generous by design (twice the expected time plus 5 minutes) and double on each retry
(``attempt``). Rates per job: Pythia events/s by realism, GAN generator steps/s and DNN
event-epochs/s for reference-size models on a GPU or a CPU core, fit seconds per toy. The size
of the features file bounds its number of events (float32 branches).

The rules in ``rules/common.smk`` call these functions with the settings (``ganlee.settings``;
for a validation study, the study's settings) and the rule's ``attempt``.
"""

from __future__ import annotations

import math
import os

from ganlee.features import FEATURE_NAMES
from ganlee.settings import Settings

__all__ = [
    "BASE_MEM_MB",
    "FEATURE_BYTES_PER_EVENT",
    "MAX_MEM_MB",
    "RESOURCE_RATES",
    "chunk_span",
    "gan_train_mem_mb",
    "gan_train_runtime",
    "hardware",
    "mc_generate_runtime",
    "n_events",
    "pseudo_data_runtime",
    "runtime_min",
    "toy_sizes",
    "toys_mem_mb",
    "toys_runtime",
    "toys_seconds",
]

RESOURCE_RATES: dict[str, dict[str, float]] = {
    "pythia_events_per_s": {"full": 50, "no_mpi": 300, "parton_shower": 300},
    "gan_steps_per_s": {"gpu": 100.0, "cpu": 2.0},
    "dnn_event_epochs_per_s": {"gpu": 2.0e6, "cpu": 5.0e3},
    "fit_seconds_per_toy": {"gpu": 0.01, "cpu": 0.2},
}
#: One float32 branch per feature: a features file's size bounds its number of events.
FEATURE_BYTES_PER_EVENT = 4 * len(FEATURE_NAMES)
#: python + torch (+ the CUDA context on a GPU node)
BASE_MEM_MB = {"gpu": 4000, "cpu": 2000}
#: No toy job asks for more than this (per attempt).
MAX_MEM_MB = 256000


def hardware(settings: Settings) -> str:
    """``cpu`` for ``device: cpu``, else ``gpu`` (``auto`` and ``cuda`` run on GPU nodes)."""
    return "cpu" if settings.device == "cpu" else "gpu"


def runtime_min(seconds: float, attempt: int, floor: int = 10) -> int:
    """Twice the estimate plus 5 minutes, at least ``floor``, times the attempt."""
    return attempt * max(floor, math.ceil(2 * seconds / 60) + 5)


def n_events(path: str | os.PathLike[str]) -> int:
    """Upper bound on the events of a features file (``FileNotFoundError`` before it exists:
    Snakemake then shows the resource as <TBD> in a dry run)."""
    return max(1, os.path.getsize(path) // FEATURE_BYTES_PER_EVENT)


def chunk_span(n_toys: int, chunk_size: int, chunk: int) -> tuple[int, int]:
    """First toy and number of toys of chunk ``chunk`` (the last chunk may be short; 0 toys
    for a chunk beyond ``n_toys``)."""
    first = chunk * chunk_size
    return first, max(0, min(chunk_size, n_toys - first))


def mc_generate_runtime(settings: Settings, attempt: int) -> int:
    gen = settings.mc.generate
    rate = RESOURCE_RATES["pythia_events_per_s"][gen.realism]
    return runtime_min(gen.events_per_job / rate, attempt)


def pseudo_data_runtime(settings: Settings, attempt: int) -> int:
    """A pseudo-data job (``lee.observed.generate``) at the MC's generation rate."""
    gen = settings.mc.generate
    rate = RESOURCE_RATES["pythia_events_per_s"][gen.realism]
    return runtime_min(settings.lee.observed.generate.events_per_job / rate, attempt)


def gan_train_runtime(settings: Settings, features: str | os.PathLike[str], attempt: int) -> int:
    gan = settings.gan
    n_train = n_events(features) * (1.0 - gan.holdout_fraction)
    steps = gan.epochs * n_train / (gan.batch_size * gan.n_critic)
    return runtime_min(steps / RESOURCE_RATES["gan_steps_per_s"][hardware(settings)], attempt)


def gan_train_mem_mb(settings: Settings, features: str | os.PathLike[str], attempt: int) -> int:
    """The base plus four float64 copies of the training data."""
    data_mb = math.ceil(n_events(features) * len(FEATURE_NAMES) * 8 * 4 / 1e6)
    return attempt * (BASE_MEM_MB[hardware(settings)] + data_mb)


def toy_sizes(settings: Settings, features: str | os.PathLike[str]) -> tuple[int, int, int]:
    """MC events (a bound from the file size), sample 1 and sample 2 sizes
    (``Settings.toy_sizes``)."""
    n = n_events(features)
    sizes = settings.toy_sizes(n_mc=n)
    return n, sizes.sample1, sizes.sample2


def toys_seconds(settings: Settings, n_toys: int, features: str | os.PathLike[str]) -> float:
    """Expected seconds of ``n_toys`` toys: DNN event-epochs (x k folds) and the fits."""
    toys, hw = settings.toys, hardware(settings)
    _, s1, s2 = toy_sizes(settings, features)
    passes = {"kfold": toys.k_folds, "random": 0}.get(toys.scoring, 1)
    work = n_toys * (s1 + s2) * toys.dnn.epochs * passes
    batch_factor = min(1.0, toys.dnn.batch_size / 128)
    rate = RESOURCE_RATES["dnn_event_epochs_per_s"][hw] * batch_factor
    return work / rate + n_toys * RESOURCE_RATES["fit_seconds_per_toy"][hw]


def toys_runtime(
    settings: Settings, n_toys: int, features: str | os.PathLike[str], attempt: int
) -> int:
    """Runtime of a job of ``n_toys`` toys (at least one: an empty chunk still starts)."""
    return runtime_min(toys_seconds(settings, max(1, n_toys), features), attempt)


def toys_mem_mb(
    settings: Settings, n_toys: int, features: str | os.PathLike[str], attempt: int
) -> int:
    """Memory of a job of ``n_toys`` toys: the samples of the toys trained together (in device
    memory on a GPU, a few copies on a CPU) and the MC, float64."""
    hw = hardware(settings)
    n, s1, s2 = toy_sizes(settings, features)
    n_toys = max(1, n_toys)
    together = min(n_toys, settings.toys.models_per_batch or n_toys)
    copies = 3 if hw == "cpu" else 1
    f = len(FEATURE_NAMES)
    sample_mb = math.ceil((together * (s1 + s2) * f * 4 * copies + n * f * 8) / 1e6)
    return attempt * min(MAX_MEM_MB, BASE_MEM_MB[hw] + sample_mb)
