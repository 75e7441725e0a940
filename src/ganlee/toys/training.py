"""One stacked pass of toys: draw and standardise the events, train the DNNs, score sample 2.

The steps of a toy before its histograms (docs/design.md, "Toys"; arXiv:2404.07822 for the
procedure, arXiv:1805.02664 for k-fold scoring), for T toys at once:

1. ``draw_batch``: sample 1 (label 0) and sample 2 (label 1) of every toy, standardised with the
   mean and standard deviation of the toy's own events; replicas of the last toy pad the pass;
2. ``train_models``: one model per toy (``scoring: train``) or ``k_folds`` per toy, fold j keyed
   ``(*key, "fold", j)`` and trained on the events outside its fold, initialised from
   ``derive_seed(seed, *model_key, "init")`` and shuffled in epoch e by
   ``derive_seed(seed, *model_key, "shuffle", e)``;
3. ``score``: the logits of sample 2 (and optionally sample 1), each event scored by its toy's
   model, or by the one model of the event's fold, which never saw it.

``scoring: random`` skips steps 2-3: ``random_scores`` gives every event an independent
standard-normal score from ``derive_seed(seed, *key, "random_score")``, so each selection is a
uniformly random subset of sample 2 of the same size: the control toys that tell the DNN's
sculpting apart from the fluctuations of any subset (docs/design.md, "Validation: closure test").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TextIO

import torch

from ganlee.features import FEATURE_NAMES
from ganlee.progress import Progress
from ganlee.seeds import derive_seed
from ganlee.settings import ToysSettings
from ganlee.toys.classifier import StackedMLP, hash_permutation, predict_logits, train_stacked
from ganlee.toys.tensor_ops import fold_events, kfold_split

__all__ = [
    "Batch",
    "Key",
    "Models",
    "draw_batch",
    "pad_keys",
    "random_scores",
    "score",
    "standardisation",
    "train_models",
]

#: A toy's seed path, e.g. ``("toy", 3)`` or ``("observed",)``.
Key = tuple[int | str, ...]
#: ``draw(key) -> (sample 1, sample 2)``, both ``(n, 18)`` float32 on the device.
DrawPair = Callable[[Key], tuple[torch.Tensor, torch.Tensor]]

_M_LLG = FEATURE_NAMES.index("m_llg")


def pad_keys(keys: Sequence[Key], pad_to: int | None) -> list[Key]:
    """``keys`` followed by replicas of the last one up to ``pad_to`` toys (fixed pass width)."""
    keys = list(keys)
    if pad_to is not None and pad_to > len(keys):
        keys += [keys[-1]] * (pad_to - len(keys))
    return keys


@dataclass
class Batch:
    """The events of one pass, T toys stacked: ``data`` ``(T*n, f)`` the standardised DNN inputs
    (toy t at rows ``t*n ..``, sample 1 first), ``labels`` ``(T*n,)``, ``m2`` ``(T, n2)`` float64
    the m_llg of sample 2."""

    keys: list[Key]
    n1: int
    n2: int
    data: torch.Tensor
    labels: torch.Tensor
    m2: torch.Tensor

    @property
    def T(self) -> int:
        return len(self.keys)

    @property
    def offsets(self) -> torch.Tensor:
        """``(T, 1)``: the first row of each toy in ``data``."""
        return (torch.arange(self.T, device=self.m2.device) * (self.n1 + self.n2))[:, None]


def standardisation(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and population standard deviation per column (constant columns: std 1)."""
    mean = x.mean(0)
    std = x.std(0, correction=0)
    return mean, torch.where(std > 0, std, torch.ones_like(std))


def _standardise(x: torch.Tensor) -> torch.Tensor:
    """``(x - mean) / std`` per column (``standardisation``)."""
    mean, std = standardisation(x)
    return (x - mean) / std


def draw_batch(
    keys: list[Key],
    n_real: int,
    draw: DrawPair,
    sizes: tuple[int, int],
    feature_index: Sequence[int],
    dtype: str,
    device: torch.device,
) -> Batch:
    """Draw the toys ``keys[:n_real]`` (``sizes`` = (n1, n2) events); toys ``n_real ..`` are
    replicas of the last real one (same events, not drawn again)."""
    n1, n2 = sizes
    T, n, fi = len(keys), n1 + n2, list(feature_index)
    x_dtype = torch.bfloat16 if dtype == "bfloat16" else torch.float32
    data = torch.empty(T, n, len(fi), dtype=x_dtype, device=device)
    m2 = torch.empty(T, n2, dtype=torch.float64, device=device)
    for t, key in enumerate(keys):
        if t >= n_real:
            data[t] = data[n_real - 1]
            m2[t] = m2[n_real - 1]
            continue
        a, b = draw(key)
        data[t] = _standardise(torch.cat([a, b])[:, fi]).to(x_dtype)
        m2[t] = b[:, _M_LLG].to(torch.float64)
    labels = torch.cat([torch.zeros(n1, device=device), torch.ones(n2, device=device)]).repeat(T)
    return Batch(list(keys), n1, n2, data.reshape(T * n, len(fi)), labels, m2)


@dataclass
class Models:
    """The trained stacked models of a pass. k-fold: ``rows`` the training rows of every model,
    ``events`` ``(T, k, w)`` the sample-2 events of each fold, ``p1`` ``(T, n1)`` the sample-1
    fold permutation; all None with ``scoring: train``."""

    net: StackedMLP
    keys: list[Key]
    rows: torch.Tensor | None = None
    events: torch.Tensor | None = None
    p1: torch.Tensor | None = None


def _fold_plan(
    batch: Batch, toys: ToysSettings, seed: int
) -> tuple[list[Key], torch.Tensor, torch.Tensor, torch.Tensor]:
    """k-fold scoring's model keys, training rows, sample-2 fold events and sample-1 permutation."""
    k, dev = toys.k_folds, batch.m2.device
    keys = [(*key, "fold", j) for key in batch.keys for j in range(k)]
    p1 = hash_permutation(
        [derive_seed(seed, *key, "folds", "sample1") for key in batch.keys], batch.n1, dev
    )
    p2 = hash_permutation(
        [derive_seed(seed, *key, "folds", "sample2") for key in batch.keys], batch.n2, dev
    )
    rows, events = kfold_split(p1, p2, k)
    rows = (rows.reshape(batch.T, k, -1) + batch.offsets[:, :, None]).reshape(batch.T * k, -1)
    return keys, rows, events, p1


def train_models(batch: Batch, toys: ToysSettings, seed: int, dtype: str, stream: TextIO) -> Models:
    """Build, initialise and train the models of a pass (module docstring, step 2); every
    model's initialisation and shuffles derive from the master ``seed`` and its key."""
    epochs = toys.dnn.epochs
    dev = batch.m2.device
    if toys.scoring == "train":
        keys, rows, events, p1 = list(batch.keys), None, None, None
    else:
        keys, rows, events, p1 = _fold_plan(batch, toys, seed)
    net = StackedMLP(len(keys), batch.data.shape[1], toys.dnn.layers, device=dev)
    net.reset_parameters([derive_seed(seed, *mk, "init") for mk in keys])
    shuffle = [[derive_seed(seed, *mk, "shuffle", e) for e in range(epochs)] for mk in keys]
    label = f"train {batch.T} toy(s) x {len(keys) // batch.T} model(s)"
    prog = Progress(label, total=epochs, unit="epoch", every=10.0, stream=stream)
    dnn = dataclasses.replace(toys.dnn, dtype=dtype)
    train_stacked(net, batch.data, batch.labels, shuffle, dnn, rows=rows, progress=prog)
    return Models(net, keys, rows, events, p1)


def _score_folds(
    models: Models, batch: Batch, events: torch.Tensor, base: int, n: int, dtype: str
) -> torch.Tensor:
    """Logits ``(T, n)`` of the events ``events`` ``(T, k, w)`` (rows ``base ..`` of each toy),
    model (t, j) scoring the events of fold j."""
    T, k, width = events.shape
    rows = (events + base + batch.offsets[:, :, None]).reshape(T * k, width)
    scores = predict_logits(models.net, batch.data, rows, dtype).reshape(T, k, width)
    out = torch.empty(T, n, dtype=torch.float32, device=batch.m2.device)
    out.scatter_(1, events.reshape(T, -1), scores.reshape(T, -1))
    return out


def score(
    models: Models, batch: Batch, dtype: str, sample1: bool = False
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Logits ``(T, n2)`` of sample 2 and, with ``sample1``, ``(T, n1)`` of sample 1 (else None),
    scored after training: by the toy's model, or by the model of the event's fold."""
    n1, n2, dev = batch.n1, batch.n2, batch.m2.device
    if models.events is None:
        rows2 = batch.offsets + n1 + torch.arange(n2, device=dev)[None, :]
        logits2 = predict_logits(models.net, batch.data, rows2, dtype)
        if not sample1:
            return logits2, None
        rows1 = batch.offsets + torch.arange(n1, device=dev)[None, :]
        return logits2, predict_logits(models.net, batch.data, rows1, dtype)
    k = models.events.shape[1]
    logits2 = _score_folds(models, batch, models.events, n1, n2, dtype)
    if not sample1:
        return logits2, None
    assert models.p1 is not None
    events1 = fold_events(models.p1, k)  # the sample-1 events model (t, j) left out
    return logits2, _score_folds(models, batch, events1, 0, n1, dtype)


def random_scores(
    batch: Batch, seed: int, sample1: bool = False
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Scores ``(T, n2)`` of sample 2 (and ``(T, n1)`` of sample 1 with ``sample1``) drawn
    independently of the events: toy ``key`` draws ``n1 + n2`` standard normals on the CPU from
    ``derive_seed(seed, *key, "random_score")`` (sample 1's first), so a toy's scores do not
    depend on the device, the pass it shares or its position in the pass."""
    n1, n2, dev = batch.n1, batch.n2, batch.m2.device
    rows = []
    for key in batch.keys:
        gen = torch.Generator().manual_seed(derive_seed(seed, *key, "random_score"))
        rows.append(torch.randn(n1 + n2, generator=gen))
    scores = torch.stack(rows).to(dev)
    return scores[:, n1:].contiguous(), (scores[:, :n1].contiguous() if sample1 else None)
