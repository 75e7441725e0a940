"""Background-only toys: sample, train the semi-supervised DNN, select, histogram, fit.

One toy (DESIGN.md; arXiv:2404.07822 for the procedure, arXiv:1805.02664 for k-fold scoring):

1. draw sample 1 (labelled background, label 0) and sample 2 (unlabelled data, label 1) from the
   source with seeds ``derive_seed(seed, "toy", i, "sample1" | "sample2")``;
2. standardise the DNN inputs with the mean and standard deviation of the toy's own events;
3. train the reference-analysis DNN to separate them (``ganlee.toys.classifier``), initialised from
   ``derive_seed(seed, "toy", i, "init")`` and shuffled in epoch e by
   ``derive_seed(seed, "toy", i, "shuffle", e)``; with ``scoring: kfold`` the toy trains
   ``k_folds`` models, fold j keyed ``("toy", i, "fold", j, ...)``, each on the events outside
   its fold, and each event of sample 2 is scored by the one model that never saw it;
4. for each fraction f of ``toys.selections`` keep the ``round(f * n2)`` events of sample 2 with
   the highest response, histogram their m_llg with the fit's binning;
5. one batched scan (``ganlee.stats.fit.scan``) over every (toy, selection) histogram gives
   Z(selection, mass); ``z_max`` is the largest finite Z.

The models of many toys are trained together (``toys.models_per_batch``, else as many as fit in
memory); toy i's result does not depend on which toys share its pass or its chunk. Each model's
arithmetic is its own, but BLAS and reduction kernels (CUDA, multi-threaded CPU) round
differently for different numbers of stacked models, and training amplifies rounding (a 1e-7
relative change of the initial weights moves z_max by ~0.5). So every pass is padded to a fixed
width W (``toys.pad_passes``; W = ``models_per_batch`` toys, or ``chunk_size``): the kernels see
the same shapes whichever toys share a pass, and toy i reproduces bit for bit.

Chunk files (``write_results``, contract in DESIGN.md / issue 4): ``CHUNK_KEYS``; the observed
file adds ``edges`` and ``counts``. ``config_hash`` hashes ``toy_config(cfg)`` (what defines a
toy's result); ``config_json`` is what the job ran with (seed, device, toys and fit sections).

Validation options (issue 7), both off by default; off, the files and every Z are what they were
without them:

* ``toys.inject`` (``ganlee.toys.inject``): ``n_signal`` signal events appended to sample 2 only
  (sample 2 then holds ``sample2_size + n_signal`` events; the selections are fractions of that).
  Files add ``INJECT_KEYS``: ``n_injected`` int64 (K,), ``inject_mass`` and ``inject_width``
  float64 0-d.
* ``toys.diagnostics``: files add ``DIAGNOSTIC_KEYS``: ``counts`` float32 (K, S, nbins) the m_llg
  histogram of every selection, ``counts_all`` float32 (K, nbins) that of all of sample 2,
  ``edges`` float64 (nbins + 1,), ``response_mllg_corr`` float64 (K,) the Pearson correlation of
  the DNN response (sigmoid of the logit used for the selection) with m_llg over sample 2, and
  ``auc`` float64 (K,) the DNN's sample-1 vs sample-2 ROC AUC on the scored events (every event
  of both samples; with ``scoring: kfold`` each scored by the model of its own fold, which never
  saw it). With injection also ``n_injected_selected`` int64 (K, S), the injected events each
  selection keeps. The observed file keeps its ``counts`` (S, nbins) float64 and ``edges`` and
  adds the others with K = 1. Computing them changes no Z (scoring sample 1 comes after training).

Conditions decided up front, before any training: a selection that keeps no event
(``round(f * n2) == 0``) or more events than sample 2 holds, a mass grid outside the histogram,
an unknown input feature, samples too small for the folds are configuration errors
(``ConfigError``, exit 2); nothing is written. A fit that fails is not an error: its Z is NaN,
it is counted in ``n_failed`` per toy and summed in the log.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from typing import Any, TextIO

import numpy as np
import torch

from ganlee.config import ConfigError, config_hash
from ganlee.features import FEATURE_NAMES
from ganlee.io import CHUNK_KEYS, atomic_path
from ganlee.progress import Progress
from ganlee.seeds import derive_seed
from ganlee.toys.classifier import (
    DNNConfig,
    StackedMLP,
    hash_permutation,
    predict_logits,
    train_stacked,
)
from ganlee.toys.inject import InjectSettings, draw_signal
from ganlee.toys.sources import SampleSource

__all__ = [
    "CHUNK_KEYS",
    "DIAGNOSTIC_KEYS",
    "INJECT_KEYS",
    "Timing",
    "ToyEngine",
    "ToySettings",
    "batched_histogram",
    "fold_events",
    "kfold_split",
    "pearson_rows",
    "roc_auc",
    "selection_sizes",
    "toy_config",
    "write_results",
]


#: Keys added by ``toys.diagnostics: true`` (``n_injected_selected`` only with injection; the
#: observed file has ``counts`` (S, nbins) float64 and ``edges`` already).
DIAGNOSTIC_KEYS = (
    "counts",
    "counts_all",
    "edges",
    "response_mllg_corr",
    "auc",
    "n_injected_selected",
)
#: Keys added by ``toys.inject.n_signal > 0``.
INJECT_KEYS = ("n_injected", "inject_mass", "inject_width")

_M_LLG = FEATURE_NAMES.index("m_llg")


def toy_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """The part of the config that defines a toy's result (hashed into every chunk file).

    The master seed, the ``toys`` section without ``n_toys``, ``chunk_size``,
    ``models_per_batch`` and ``pad_passes`` (they only decide how toys are grouped into jobs and
    passes), and the ``fit`` section. The device is not part of it.
    """
    grouping = ("n_toys", "chunk_size", "models_per_batch", "pad_passes")
    toys = {k: v for k, v in cfg["toys"].items() if k not in grouping}
    return {"seed": int(cfg["seed"]), "toys": toys, "fit": cfg["fit"]}


def selection_sizes(
    fractions: tuple[float, ...] | list[float], n: int, what: str = "sample 2"
) -> np.ndarray:
    """Events kept by each selection fraction: ``round(f * n)`` (half up), checked.

    A fraction that keeps no event or more than ``n`` is a ``ConfigError`` naming
    ``toys.selections``.
    """
    if len(fractions) == 0:
        msg = "config key 'toys.selections' is empty: give at least one fraction in (0, 1]"
        raise ConfigError(msg)
    sizes = np.floor(np.asarray(fractions, dtype=np.float64) * n + 0.5).astype(np.int64)
    for f, s in zip(fractions, sizes, strict=True):
        if not (0.0 < f <= 1.0) or s > n:
            msg = (
                f"config key 'toys.selections': fraction {f} of {what} ({n} events) "
                "is not in (0, 1]"
            )
            raise ConfigError(msg)
        if s < 1:
            msg = (
                f"config key 'toys.selections': fraction {f} of {what} ({n} events) keeps no event "
                f"(empty selection); use fractions >= {0.5 / n:.3g} or a larger sample"
            )
            raise ConfigError(msg)
    return sizes


def batched_histogram(values: torch.Tensor, sizes: np.ndarray, edges: np.ndarray) -> torch.Tensor:
    """Histograms of the first ``sizes[s]`` entries of each row of ``values``: ``(T, S, nbins)``.

    ``values`` ``(T, n)`` is ordered by decreasing classifier response, so the first
    ``sizes[s]`` entries are selection s. Bins follow ``numpy.histogram``: ``[e_i, e_{i+1})``,
    the last bin closed; entries outside ``[e_0, e_nbins]`` are not counted. Returns float64.
    """
    T, n = values.shape
    dev = values.device
    nb = len(edges) - 1
    sizes = np.asarray(sizes, dtype=np.int64)
    order = np.argsort(sizes, kind="stable")
    sorted_sizes = torch.as_tensor(sizes[order], device=dev)
    S = len(sizes)
    e = torch.tensor(np.array(edges, dtype=np.float64), device=dev)
    v = values.to(torch.float64)
    b = torch.bucketize(v, e, right=True) - 1
    b = torch.where(v == e[-1], torch.full_like(b, nb - 1), b)
    b = torch.where((b < 0) | (b >= nb), torch.full_like(b, nb), b)
    # group of rank r: index of the smallest selection that contains it (S = none)
    ranks = torch.arange(n, device=dev)
    group = torch.searchsorted(sorted_sizes, ranks, right=True)[None, :].expand(T, n)
    flat = (torch.arange(T, device=dev)[:, None] * (S + 1) + group) * (nb + 1) + b
    counts = torch.bincount(flat.reshape(-1), minlength=T * (S + 1) * (nb + 1))
    counts = counts.reshape(T, S + 1, nb + 1)[:, :S, :nb].cumsum(dim=1).to(torch.float64)
    out = torch.empty_like(counts)
    out[:, torch.as_tensor(order, device=dev)] = counts
    return out


def kfold_split(p1: torch.Tensor, p2: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Fold assignment of k-fold scoring (arXiv:1805.02664) for T toys.

    Arguments:
        p1, p2: ``(T, n1)``, ``(T, n2)`` one permutation per toy of sample 1 and of sample 2;
            event ``p[t, q]`` belongs to fold ``q % k``.
        k: number of folds.

    Returns:
        rows: ``(T*k, n1_tr + n2_tr)`` training rows of model (toy t, fold j) at index
            ``t*k + j``, as row numbers of the toy's own events (sample 1 = ``0..n1-1``,
            sample 2 = ``n1..n1+n2-1``): every event outside fold j. All models keep the same
            number, ``n - ceil(n / k)`` per sample, so when k does not divide n at most one event
            per sample is left out of a model's training set (lockstep training needs equal sizes).
        events: ``(T, k, ceil(n2 / k))`` the sample-2 events (``0..n2-1``) of fold j, scored by
            model (t, j); short folds are padded by repeating their first event.
    """
    T, n1 = p1.shape
    n2 = p2.shape[1]
    dev = p1.device
    parts = []
    for p, n, base in ((p1, n1, 0), (p2, n2, n1)):
        n_tr = n - math.ceil(n / k)
        q = torch.arange(n, device=dev)
        pos = torch.stack([q[q % k != j][:n_tr] for j in range(k)])  # (k, n_tr)
        parts.append(p[:, pos] + base)  # (T, k, n_tr)
    rows = torch.cat(parts, dim=2).reshape(T * k, -1)
    return rows, fold_events(p2, k)


def fold_events(p: torch.Tensor, k: int) -> torch.Tensor:
    """Events of each fold, ``(T, k, ceil(n / k))``: fold j holds ``p[t, q]`` for ``q % k == j``
    (``kfold_split``'s assignment); short folds are padded by repeating their first event."""
    n = p.shape[1]
    width = math.ceil(n / k)
    pos = torch.empty(k, width, dtype=torch.int64, device=p.device)
    for j in range(k):
        q = torch.arange(j, n, k, device=p.device)
        pos[j, : q.numel()] = q
        pos[j, q.numel() :] = j
    return p[:, pos]


def roc_auc(s1: torch.Tensor, s2: torch.Tensor) -> torch.Tensor:
    """ROC AUC of scores ``s2`` (positives) against ``s1`` (negatives), row by row: float64 (T,).

    The Mann-Whitney form, ``AUC = (R2 - n2 (n2 + 1) / 2) / (n1 n2)`` with ``R2`` the rank sum of
    ``s2`` in the pooled scores and ties given their average rank, i.e.
    ``P(s2 > s1) + P(s2 = s1) / 2`` (Hanley & McNeil, Radiology 143 (1982) 29). 0.5 when the two
    samples cannot be told apart.
    """
    if s1.dim() != 2 or s2.dim() != 2 or s1.shape[0] != s2.shape[0]:
        msg = f"roc_auc: need (T, n1) and (T, n2) scores, got {tuple(s1.shape)}, {tuple(s2.shape)}"
        raise ValueError(msg)
    n1, n2 = s1.shape[1], s2.shape[1]
    pooled = torch.cat([s1, s2], dim=1).to(torch.float64)
    values, order = torch.sort(pooled, dim=1, stable=True)
    left = torch.searchsorted(values, values, right=False)
    right = torch.searchsorted(values, values, right=True)
    rank = 0.5 * (left + right + 1).to(torch.float64)  # average 1-based rank of each tie group
    r2 = torch.where(order >= n1, rank, torch.zeros_like(rank)).sum(dim=1)
    return (r2 - 0.5 * n2 * (n2 + 1)) / (float(n1) * float(n2))


def pearson_rows(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of ``x[t]`` and ``y[t]`` for every row t: float64 (T,); NaN where
    either row is constant."""
    x = x.to(torch.float64)
    y = y.to(device=x.device, dtype=torch.float64)
    dx = x - x.mean(dim=1, keepdim=True)
    dy = y - y.mean(dim=1, keepdim=True)
    den = torch.sqrt((dx * dx).sum(dim=1) * (dy * dy).sum(dim=1))
    num = (dx * dy).sum(dim=1)
    return torch.where(den > 0, num / torch.where(den > 0, den, 1.0), torch.nan)


@dataclass(frozen=True)
class ToySettings:
    """The ``toys`` section of a validated config, typed."""

    seed: int
    source: str
    sample1_size: int | None
    sample2_size: int | None
    scoring: str
    k_folds: int
    selections: tuple[float, ...]
    feature_index: tuple[int, ...]
    dnn: DNNConfig
    models_per_batch: int | None
    backend: str
    chunk_size: int = 10
    pad_passes: bool = True
    inject: InjectSettings = dataclasses.field(default_factory=InjectSettings)
    diagnostics: bool = False

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> ToySettings:
        t = cfg["toys"]
        names = t["features"] if t["features"] is not None else list(FEATURE_NAMES)
        unknown = [n for n in names if n not in FEATURE_NAMES]
        if unknown or not names:
            msg = (
                f"config key 'toys.features': unknown feature(s) {unknown} "
                f"(choose from {list(FEATURE_NAMES)})"
            )
            if not names:
                msg = "config key 'toys.features' is empty: the DNN needs at least one input"
            raise ConfigError(msg)
        for key in ("sample1_size", "sample2_size", "models_per_batch"):
            if t[key] is not None and t[key] < 1:
                msg = f"config key 'toys.{key}' must be >= 1 or null, got {t[key]}"
                raise ConfigError(msg)
        return cls(
            seed=int(cfg["seed"]),
            source=str(t["source"]),
            sample1_size=t["sample1_size"],
            sample2_size=t["sample2_size"],
            scoring=str(t["scoring"]),
            k_folds=int(t["k_folds"]),
            selections=tuple(float(f) for f in t["selections"]),
            feature_index=tuple(FEATURE_NAMES.index(n) for n in names),
            dnn=DNNConfig.from_config(t["dnn"]),
            models_per_batch=t["models_per_batch"],
            backend=str(cfg["fit"]["backend"]),
            chunk_size=int(t["chunk_size"]),
            pad_passes=bool(t["pad_passes"]),
            inject=InjectSettings.from_config(cfg),
            diagnostics=bool(t.get("diagnostics", False)),
        )

    @property
    def models_per_toy(self) -> int:
        return self.k_folds if self.scoring == "kfold" else 1


@dataclass
class Timing:
    """Wall-clock seconds per phase (synchronised with the device at phase boundaries)."""

    sampling: float = 0.0
    train: float = 0.0
    score: float = 0.0
    fit: float = 0.0
    toys: int = 0

    @property
    def total(self) -> float:
        return self.sampling + self.train + self.score + self.fit

    def summary(self) -> str:
        tot = self.total or float("nan")
        parts = [
            f"{name} {getattr(self, name):.2f} s ({100 * getattr(self, name) / tot:.0f}%)"
            for name in ("sampling", "train", "score", "fit")
        ]
        rate = 3600.0 * self.toys / tot if self.toys else float("nan")
        return f"{self.toys} toys in {tot:.2f} s ({rate:,.0f} toys/hour): " + ", ".join(parts)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class ToyEngine:
    """Runs toys (or the observed-data analysis) for one validated config and one source.

    Arguments:
        cfg: a validated config (``ganlee.config.load_config``).
        source: where events come from (``ganlee.toys.sources``).
        stream: where progress and summaries go (default stderr, the rule's log).
    """

    def __init__(
        self, cfg: dict[str, Any], source: SampleSource, stream: TextIO | None = None
    ) -> None:
        from ganlee.stats.fit import FitSpec

        self.cfg = cfg
        self.settings = ToySettings.from_config(cfg)
        self.source = source
        self.device = source.device
        self.stream = stream if stream is not None else sys.stderr
        self.spec = FitSpec.from_config(cfg)
        self.edges = np.asarray(self.spec.edges, dtype=np.float64)
        self.masses = np.asarray(self.spec.masses, dtype=np.float64)
        s = self.settings
        self.dtype = s.dnn.dtype
        if self.dtype == "bfloat16" and self.device.type != "cuda":
            print(
                "[toys] toys.dnn.dtype bfloat16 needs CUDA: training in float32 on CPU",
                file=self.stream,
            )
            self.dtype = "float32"
        self.n1 = int(s.sample1_size if s.sample1_size is not None else source.n_mc)
        #: background events drawn for sample 2; injection adds ``n_signal`` (``n2_total``)
        self.n2 = int(s.sample2_size if s.sample2_size is not None else source.n_mc)
        self.n_signal = s.inject.n_signal
        self.n2_total = self.n2 + self.n_signal
        what2 = f"sample 2 with {self.n_signal} injected events" if self.n_signal else "sample 2"
        self.sizes = selection_sizes(s.selections, self.n2_total, what2)
        self._check_folds(self.n1, "sample 1")
        self._check_folds(self.n2_total, "sample 2")
        self.config = toy_config(cfg)
        #: what the job ran with (config_json): seed, device and the whole toys and fit sections
        self.job_config = {k: cfg[k] for k in ("seed", "device", "toys", "fit")}
        self.config_hash = config_hash(self.config)
        self.timing = Timing()

    # ------------------------------------------------------------------ sizes and memory
    def _check_folds(self, n: int, what: str) -> None:
        k = self.settings.k_folds
        if self.settings.scoring == "kfold" and n < 2 * k:
            msg = (
                f"config key 'toys.k_folds' = {k}: {what} has {n} events, "
                f"need at least {2 * k} for k-fold scoring"
            )
            raise ConfigError(msg)

    def bytes_per_toy(self, n1: int, n2: int) -> int:
        """Rough device memory of one toy (its data and its ``models_per_toy`` models)."""
        s = self.settings
        n = n1 + n2
        f = len(s.feature_index)
        elt = 2 if self.dtype == "bfloat16" else 4
        widths = (f, *s.dnn.layers, 1)
        params = sum(a * b + b for a, b in zip(widths[:-1], widths[1:], strict=True))
        per_model = (
            16 * params  # weights, gradients, two Adam moments (float32)
            + 48 * n  # shuffle keys and permutation temporaries (int64)
            + 8 * n  # k-fold row table
            + 24 * s.dnn.batch_size * sum(widths)  # activations kept for backward
            + 4
            * 2**28
            // 1024  # scoring chunk (predict_logits: ~2**28 activations for ~1024 models)
        )
        return n * (f * elt + 4) + 8 * n2 + s.models_per_toy * per_model

    def pass_width(self) -> int:
        """Toys per stacked pass, W: ``models_per_batch // models_per_toy`` when set, else
        ``toys.chunk_size``; capped by free memory (device memory on CUDA, RAM on CPU)."""
        s = self.settings
        want = (
            max(1, s.models_per_batch // s.models_per_toy) if s.models_per_batch else s.chunk_size
        )
        if self.device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(self.device)
        else:
            try:
                free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
            except (ValueError, OSError, AttributeError):
                free = 8 << 30
        got = max(1, min(want, int(0.5 * free // self.bytes_per_toy(self.n1, self.n2_total))))
        if got < want and s.pad_passes:
            print(
                f"[toys] warning: only {got} of the {want} toys of a pass fit in memory: passes "
                f"are {got} toys wide; toy results reproduce (bit for bit) only in passes of the "
                "same width",
                file=self.stream,
            )
        return got

    # ------------------------------------------------------------------ one pass of toys
    def _scores(
        self,
        keys: list[tuple[int | str, ...]],
        draw_sample2: Any,
        n1: int,
        n2: int,
        role1: str = "sample1",
        pad_to: int | None = None,
        score_sample1: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Logits ``(T, n2)`` and m_llg ``(T, n2)`` of sample 2 for the toys keyed ``keys``.

        ``keys`` are seed paths such as ``("toy", i)``; ``draw_sample2(key)`` returns sample 2
        (with any injected events). ``pad_to``: train replicas of the last toy alongside so
        that ``pad_to`` toys share the pass (fixed kernel shapes); the replicas are discarded.
        ``score_sample1``: also return the logits ``(T, n1)`` of sample 1 (scored after training,
        as sample 2 is: by the model itself, or by the model of the event's fold), else None.
        """
        s, dev, seed = self.settings, self.device, self.settings.seed
        n_real = len(keys)
        if pad_to is not None and pad_to > n_real:
            keys = list(keys) + [keys[-1]] * (pad_to - n_real)
        T, n, fi = len(keys), n1 + n2, list(s.feature_index)
        x_dtype = torch.bfloat16 if self.dtype == "bfloat16" else torch.float32
        # 1. sampling and standardisation ------------------------------------------------
        _sync(dev)
        t0 = time.perf_counter()
        data = torch.empty(T, n, len(fi), dtype=x_dtype, device=dev)
        m2 = torch.empty(T, n2, dtype=torch.float64, device=dev)
        for t, key in enumerate(keys):
            if t >= n_real:  # a replica: same events, same seeds
                data[t] = data[n_real - 1]
                m2[t] = m2[n_real - 1]
                continue
            a, b = self._draw_pair(key, draw_sample2, n1, role1)
            x = torch.cat([a, b])[:, fi]
            mean = x.mean(0)
            std = x.std(0, correction=0)
            std = torch.where(std > 0, std, torch.ones_like(std))
            data[t] = ((x - mean) / std).to(x_dtype)
            m2[t] = b[:, _M_LLG].to(torch.float64)
        data = data.reshape(T * n, len(fi))
        labels = torch.cat([torch.zeros(n1, device=dev), torch.ones(n2, device=dev)]).repeat(T)
        _sync(dev)
        t1 = time.perf_counter()
        self.timing.sampling += t1 - t0
        # 2. training ---------------------------------------------------------------------
        offs = (torch.arange(T, device=dev) * n)[:, None]
        epochs = s.dnn.epochs
        if s.scoring == "train":
            model_keys = list(keys)
            rows = None
        else:
            k = s.k_folds
            model_keys = [(*key, "fold", j) for key in keys for j in range(k)]
            p1 = hash_permutation(
                [derive_seed(seed, *key, "folds", "sample1") for key in keys], n1, dev
            )
            p2 = hash_permutation(
                [derive_seed(seed, *key, "folds", "sample2") for key in keys], n2, dev
            )
            rows, events = kfold_split(p1, p2, k)
            rows = (rows.reshape(T, k, -1) + offs[:, :, None]).reshape(T * k, -1)
        net = StackedMLP(len(model_keys), len(fi), s.dnn.layers, device=dev)
        net.reset_parameters([derive_seed(seed, *mk, "init") for mk in model_keys])
        shuffle = [
            [derive_seed(seed, *mk, "shuffle", e) for e in range(epochs)] for mk in model_keys
        ]
        label = f"train {T} toy(s) x {len(model_keys) // T} model(s)"
        prog = Progress(label, total=epochs, unit="epoch", every=10.0, stream=self.stream)
        dnn = dataclasses.replace(s.dnn, dtype=self.dtype)
        train_stacked(net, data, labels, shuffle, dnn, rows=rows, progress=prog)
        _sync(dev)
        t2 = time.perf_counter()
        self.timing.train += t2 - t1
        # 3. scoring ----------------------------------------------------------------------
        logits1 = None
        if s.scoring == "train":
            score_rows = offs + n1 + torch.arange(n2, device=dev)[None, :]
            logits2 = predict_logits(net, data, score_rows, self.dtype)
            if score_sample1:
                rows1 = offs + torch.arange(n1, device=dev)[None, :]
                logits1 = predict_logits(net, data, rows1, self.dtype)
        else:
            # model (t, j) scores the sample-2 events of fold j, which it never trained on
            width = events.shape[2]
            score_rows = (events + n1 + offs[:, :, None]).reshape(T * k, width)
            scores = predict_logits(net, data, score_rows, self.dtype).reshape(T, k, width)
            logits2 = torch.empty(T, n2, dtype=torch.float32, device=dev)
            logits2.scatter_(1, events.reshape(T, -1), scores.reshape(T, -1))
            if score_sample1:
                events1 = fold_events(p1, k)  # the sample-1 events model (t, j) left out
                w1 = events1.shape[2]
                rows1 = (events1 + offs[:, :, None]).reshape(T * k, w1)
                scores1 = predict_logits(net, data, rows1, self.dtype).reshape(T, k, w1)
                logits1 = torch.empty(T, n1, dtype=torch.float32, device=dev)
                logits1.scatter_(1, events1.reshape(T, -1), scores1.reshape(T, -1))
        _sync(dev)
        self.timing.score += time.perf_counter() - t2
        if logits1 is not None:
            logits1 = logits1[:n_real]
        return logits2[:n_real], m2[:n_real], logits1

    def _histograms(
        self,
        keys: list[tuple[int | str, ...]],
        draw_sample2: Any,
        n1: int,
        n2: int,
        sizes: np.ndarray,
        role1: str = "sample1",
        pad_to: int | None = None,
        n_background: int | None = None,
    ) -> dict[str, torch.Tensor]:
        """The histograms of one pass: ``counts`` ``(T, S, nbins)``, the m_llg histograms of each
        selection of each toy, and with ``toys.diagnostics`` the other per-toy diagnostics
        (``counts_all``, ``response_mllg_corr``, ``auc``; ``n_injected_selected`` when sample 2
        holds injected events, its rows ``n_background ..``)."""
        diag = self.settings.diagnostics
        logits2, m2, logits1 = self._scores(
            keys, draw_sample2, n1, n2, role1, pad_to, score_sample1=diag
        )
        t0 = time.perf_counter()
        order = torch.sort(logits2, dim=1, descending=True, stable=True).indices
        out = {"counts": batched_histogram(m2.gather(1, order), sizes, self.edges)}
        if diag:
            assert logits1 is not None
            out["counts_all"] = batched_histogram(m2, np.array([n2]), self.edges)[:, 0]
            out["response_mllg_corr"] = pearson_rows(torch.sigmoid(logits2.double()), m2)
            out["auc"] = roc_auc(logits1, logits2)
            nb = n2 if n_background is None else n_background
            if nb < n2:
                injected = (order >= nb).to(torch.int64).cumsum(dim=1)
                pick = torch.as_tensor(np.asarray(sizes) - 1, device=order.device)
                out["n_injected_selected"] = injected[:, pick]
        _sync(self.device)
        self.timing.score += time.perf_counter() - t0
        return out

    def score_toys(self, first: int, count: int) -> tuple[np.ndarray, np.ndarray]:
        """Logits and m_llg of sample 2, toys ``first .. first+count-1``: ``(count, n2)`` each
        (``n2_total`` with injection: the injected events are the last ``n_signal``)."""
        keys = [("toy", i) for i in range(first, first + count)]
        pad_to = self.pass_width() if self.settings.pad_passes else None
        logits, m2, _ = self._scores(
            keys, self._draw_sample2, self.n1, self.n2_total, pad_to=pad_to
        )
        return logits.cpu().numpy(), m2.cpu().numpy()

    def draw_samples(self, index: int) -> dict[str, np.ndarray]:
        """The events toy ``index`` trains on (the draws of ``run_toys``): ``sample1``
        ``(n1, 18)``, ``sample2`` ``(n2_total, 18)`` and ``injected`` bool ``(n2_total,)``
        marking the injected events of sample 2 (its last ``n_signal`` rows)."""
        a, b = self._draw_pair(("toy", int(index)), self._draw_sample2, self.n1)
        injected = np.zeros(b.shape[0], dtype=bool)
        injected[self.n2 :] = True
        return {"sample1": a.cpu().numpy(), "sample2": b.cpu().numpy(), "injected": injected}

    def _draw_pair(
        self, key: tuple[int | str, ...], draw_sample2: Any, n1: int, role1: str = "sample1"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Sample 1 (from the source, never with injected events) and sample 2 of ``key``."""
        a = self.source.draw(role1, n1, derive_seed(self.settings.seed, *key, "sample1"))
        return a, draw_sample2(key)

    def _draw_sample2(self, key: tuple[int | str, ...]) -> torch.Tensor:
        b = self.source.draw(
            "sample2", self.n2, derive_seed(self.settings.seed, *key, "sample2")
        )
        return self._with_signal(key, b)

    def _with_signal(self, key: tuple[int | str, ...], b: torch.Tensor) -> torch.Tensor:
        """Sample 2 ``b`` with the injected events of ``key`` appended (``b`` itself without)."""
        inj = self.settings.inject
        if not inj.enabled:
            return b
        signal = draw_signal(self.source, inj, self.settings.seed, key)
        return torch.cat([b, signal.to(device=b.device, dtype=b.dtype)])

    # ------------------------------------------------------------------ fits and results
    def _fit(self, counts: torch.Tensor) -> dict[str, np.ndarray]:
        from ganlee.stats.fit import scan

        _sync(self.device)
        t0 = time.perf_counter()
        T, S, nb = counts.shape
        res = scan(
            counts.reshape(T * S, nb), self.spec, backend=self.settings.backend, device=self.device
        )
        _sync(self.device)
        self.timing.fit += time.perf_counter() - t0
        z = np.asarray(torch.as_tensor(res.z).cpu(), dtype=np.float64).reshape(T, S, -1)
        status = np.asarray(torch.as_tensor(res.status).cpu()).reshape(T, S, -1)
        failed = (status != 0) | ~np.isfinite(z)
        z = np.where(failed, np.nan, z)
        M = z.shape[2]
        zf = np.where(np.isfinite(z), z, -np.inf).reshape(T, S * M)
        best = zf.argmax(axis=1)
        zmax = zf[np.arange(T), best]
        ok = np.isfinite(zmax)
        sel = np.asarray(self.settings.selections, dtype=np.float64)
        return {
            "z": z.astype(np.float32),
            "z_max": np.where(ok, zmax, np.nan),
            "mass_at_max": np.where(ok, self.masses[best % M], np.nan),
            "selection_at_max": np.where(ok, sel[best // M], np.nan),
            "n_fits": np.full(T, S * M, dtype=np.int64),
            "n_failed": failed.reshape(T, -1).sum(axis=1).astype(np.int64),
        }

    def _common(self) -> dict[str, np.ndarray]:
        return {
            "masses": self.masses.copy(),
            "selections": np.asarray(self.settings.selections, dtype=np.float64),
            "config_hash": np.array(self.config_hash),
            "model_hash": np.array(str(self.source.model_hash)),
            "config_json": np.array(json.dumps(self.job_config, sort_keys=True)),
        }

    def _extras(
        self, passes: list[dict[str, torch.Tensor]], observed: bool = False
    ) -> dict[str, np.ndarray]:
        """The ``DIAGNOSTIC_KEYS`` and ``INJECT_KEYS`` arrays of the enabled options (none at the
        defaults). ``observed``: leave out ``counts`` and ``edges`` (the observed file has them)."""
        out: dict[str, np.ndarray] = {}
        K = sum(int(p["counts"].shape[0]) for p in passes)

        def cat(name: str) -> np.ndarray:
            return torch.cat([p[name] for p in passes]).cpu().numpy()

        if self.settings.diagnostics:
            if not observed:
                out["counts"] = cat("counts").astype(np.float32)
            out["counts_all"] = cat("counts_all").astype(np.float32)
            if not observed:
                out["edges"] = self.edges.copy()
            out["response_mllg_corr"] = cat("response_mllg_corr").astype(np.float64)
            out["auc"] = cat("auc").astype(np.float64)
            if self.n_signal:
                out["n_injected_selected"] = cat("n_injected_selected").astype(np.int64)
        if self.n_signal:
            inj = self.settings.inject
            out["n_injected"] = np.full(K, self.n_signal, dtype=np.int64)
            out["inject_mass"] = np.array(inj.mass, dtype=np.float64)
            out["inject_width"] = np.array(inj.width, dtype=np.float64)
        return out

    def _log_options(self, tag: str) -> None:
        s = self.settings
        if s.inject.enabled:
            print(f"[{tag}] {s.inject.describe()}", file=self.stream)
        if s.diagnostics:
            print(
                f"[{tag}] diagnostics on: selection and inclusive m_llg histograms, "
                "corr(response, m_llg), AUC sample 1 vs sample 2",
                file=self.stream,
            )

    def run_toys(self, first: int, count: int, progress: bool = True) -> dict[str, np.ndarray]:
        """Toys ``first, ..., first + count - 1``: the arrays of a chunk file (``CHUNK_KEYS``,
        plus ``DIAGNOSTIC_KEYS`` / ``INJECT_KEYS`` when those options are on)."""
        if first < 0 or count < 1:
            msg = f"toys: need --first >= 0 and --count >= 1, got first={first}, count={count}"
            raise ConfigError(msg)
        s = self.settings
        width = self.pass_width()
        per_pass = min(count, width)
        pad_to = width if s.pad_passes else None
        n_pad = -count % per_pass + (width - per_pass) if pad_to else 0
        samples = f"{self.n1} + {self.n2}"
        if self.n_signal:
            samples += f" (+ {self.n_signal} injected)"
        print(
            f"[toys] toys {first}..{first + count - 1} on {self.device}: source {s.source}, "
            f"samples {samples} events, scoring {s.scoring}, passes of "
            f"{pad_to or per_pass} toy(s) x {s.models_per_toy} model(s)"
            f"{f' ({n_pad} replica toy(s) padding the last pass)' if n_pad else ''}, "
            f"dtype {self.dtype}, fit backend {s.backend}",
            file=self.stream,
        )
        self._log_options("toys")
        prog = Progress(
            "toys", total=count, unit="toy", stream=self.stream, every=0.0 if progress else 1e9
        )
        passes = []
        for a in range(first, first + count, per_pass):
            idx = range(a, min(a + per_pass, first + count))
            keys = [("toy", i) for i in idx]
            passes.append(
                self._histograms(
                    keys,
                    self._draw_sample2,
                    self.n1,
                    self.n2_total,
                    self.sizes,
                    pad_to=pad_to,
                    n_background=self.n2,
                )
            )
            prog.update(len(idx))
        out = self._fit(torch.cat([p["counts"] for p in passes]))
        self.timing.toys += count
        index = np.arange(first, first + count, dtype=np.int64)
        nf, nfit = int(out["n_failed"].sum()), int(out["n_fits"].sum())
        print(
            f"[toys] fits: {nfit} signal+background fits, {nf} failed "
            f"({100.0 * nf / max(nfit, 1):.2f}%), "
            f"toys with a failure: {int((out['n_failed'] > 0).sum())}/{count}",
            file=self.stream,
        )
        print(f"[toys] time: {self.timing.summary()}", file=self.stream)
        seeds = np.array([derive_seed(s.seed, "toy", int(i)) for i in index], dtype=np.int64)
        return {
            "toy_index": index,
            "seed": seeds,
            **out,
            **self._common(),
            **self._extras(passes),
        }

    def run_observed(self, data: np.ndarray) -> dict[str, np.ndarray]:
        """The toy procedure once on observed data (sample 2 = ``data``; sample 1 from the source).

        Returns the chunk arrays with K = 1 and ``toy_index = [-1]``, plus ``edges`` and
        ``counts`` (S, nbins), plus the enabled options' keys (``_extras``). Seeds are keyed
        ``("observed", ...)``; with ``toys.inject`` the signal is added to the observed data too.
        """
        data = np.asarray(data)
        if data.ndim != 2 or data.shape[1] != len(FEATURE_NAMES):
            msg = (
                f"observed data must be an (n, {len(FEATURE_NAMES)}) feature array, "
                f"got {data.shape}"
            )
            raise ConfigError(msg)
        n_obs = data.shape[0]
        n2 = n_obs + self.n_signal
        what = "the observed data" + (
            f" with {self.n_signal} injected events" if self.n_signal else ""
        )
        sizes = selection_sizes(self.settings.selections, n2, what)
        self._check_folds(n2, "the observed data")
        obs = torch.as_tensor(data, dtype=torch.float32, device=self.device)
        print(
            f"[observe] {n_obs} observed events, sample 1: {self.n1} events "
            f"from {self.settings.source}",
            file=self.stream,
        )
        self._log_options("observe")
        passes = [
            self._histograms(
                [("observed",)],
                lambda key: self._with_signal(key, obs),
                self.n1,
                n2,
                sizes,
                role1="reference",
                n_background=n_obs,
            )
        ]
        counts = passes[0]["counts"]
        out = self._fit(counts)
        self.timing.toys += 1
        print(
            f"[observe] z_max {out['z_max'][0]:.3f} at m = {out['mass_at_max'][0]} GeV, selection "
            f"{out['selection_at_max'][0]}; failed fits "
            f"{int(out['n_failed'][0])}/{int(out['n_fits'][0])}",
            file=self.stream,
        )
        return {
            "toy_index": np.array([-1], dtype=np.int64),
            "seed": np.array([derive_seed(self.settings.seed, "observed")], dtype=np.int64),
            **out,
            **self._common(),
            "edges": self.edges.copy(),
            "counts": counts[0].cpu().numpy().astype(np.float64),
            **self._extras(passes, observed=True),
        }


def write_results(path: str | os.PathLike[str], arrays: dict[str, np.ndarray]) -> None:
    """Atomically write a chunk (or observed) file; readable with ``allow_pickle=False``."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)
