"""Background-only toys: the orchestration that runs a chunk of toys (or the observed data).

One toy (docs/design.md, "Toys"; arXiv:2404.07822 for the procedure): draw sample 1 (labelled
background) and sample 2 (unlabelled data) from the source with seeds
``derive_seed(seed, "toy", i, "sample1" | "sample2")``; train the reference-analysis DNN to
separate them and score sample 2 (``ganlee.toys.training``); for each fraction f of
``toys.selections`` keep the ``round(f * n2)`` events of sample 2 with the highest response and
histogram their m_llg (``ganlee.toys.tensor_ops.selection_histograms``); one batched scan over
every (toy, selection) histogram gives Z(selection, mass) and ``z_max``
(``ganlee.toys.fits.fit_histograms``).

The models of many toys are trained together (``toys.models_per_batch``, else as many as fit in
memory); toy i's result does not depend on which toys share its pass or its chunk. Each model's
arithmetic is its own, but BLAS and reduction kernels (CUDA, multi-threaded CPU) round
differently for different numbers of stacked models, and training amplifies rounding (a 1e-7
relative change of the initial weights moves z_max by ~0.5). So every pass is padded to a fixed
width W (``toys.pad_passes``; W = ``models_per_batch`` toys, or ``chunk_size``): the kernels see
the same shapes whichever toys share a pass, and toy i reproduces bit for bit.

The arrays returned are those of a chunk file (``ganlee.chunks``). ``config_hash`` hashes
``toy_config(settings)`` (what defines a toy's result); ``config_json`` is what the job ran with.
Validation options, both off by default (off, the files and every Z are what they were without
them): ``toys.inject`` appends ``n_signal`` signal events to sample 2 only
(``ganlee.toys.inject``; the selections are fractions of ``sample2_size + n_signal``);
``toys.diagnostics`` adds the selection and inclusive m_llg histograms, the Pearson correlation
of the DNN response (sigmoid of the logit) with m_llg over sample 2 and the DNN's sample-1 vs
sample-2 ROC AUC on the scored events. Computing them changes no Z.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import TextIO

import numpy as np
import torch

from ganlee.background_choice import Choice, fixed_choice
from ganlee.config import config_hash
from ganlee.errors import ConfigError
from ganlee.features import feature_shape_problem
from ganlee.progress import Progress
from ganlee.seeds import derive_seed
from ganlee.settings import Settings, ToySizes
from ganlee.stats.fit import FitSpec
from ganlee.toys.fits import fit_histograms
from ganlee.toys.inject import draw_signal
from ganlee.toys.settings import (
    check_folds,
    pass_width,
    selection_sizes,
    toy_config,
    training_dtype,
)
from ganlee.toys.sources import SampleSource
from ganlee.toys.tensor_ops import pearson_rows, roc_auc, selection_histograms
from ganlee.toys.timing import Timing
from ganlee.toys.training import Key, draw_batch, pad_keys, random_scores, score, train_models

__all__ = [
    "Timing",
    "ToyEngine",
    "selection_sizes",
    "toy_config",
]

#: ``draw_sample2(key)``: sample 2 of the toy ``key`` (with any injected events).
DrawSample2 = Callable[[Key], torch.Tensor]


class ToyEngine:
    """Runs toys (or the observed-data analysis) for one configuration and one source.

    Arguments:
        settings: the typed configuration (``ganlee.settings``).
        source: where events come from (``ganlee.toys.sources``).
        sizes: the toy sizes resolved against the dataset the toys calibrate
            (``Settings.toy_sizes``); default: against the source's MC size.
        stream: where progress and summaries go (default stderr, the rule's log).
        background: the background model of each selection (rule fit_model's choice file,
            ``ganlee.background_choice``); default ``fit.background`` for every selection.
    """

    def __init__(
        self,
        settings: Settings,
        source: SampleSource,
        sizes: ToySizes | None = None,
        stream: TextIO | None = None,
        background: Choice | None = None,
    ) -> None:
        self.settings = settings
        #: the ``toys`` section and the resolved signal injection
        self.toys = t = settings.toys
        self.injection = settings.injection
        self.source = source
        self.device = source.device
        self.stream = stream if stream is not None else sys.stderr
        self.spec = FitSpec.from_settings(settings.fit)
        self.edges = np.asarray(self.spec.edges, dtype=np.float64)
        self.masses = np.asarray(self.spec.masses, dtype=np.float64)
        self.dtype = training_dtype(t, self.device, self.stream)
        self.toy_sizes = sizes if sizes is not None else settings.toy_sizes(n_mc=source.n_mc)
        self.n1 = int(self.toy_sizes.sample1)
        #: background events drawn for sample 2; injection adds ``n_signal`` (``n2_total``)
        self.n2 = int(self.toy_sizes.sample2)
        self.n_signal = self.injection.n_signal
        self.n2_total = self.n2 + self.n_signal
        what2 = f"sample 2 with {self.n_signal} injected events" if self.n_signal else "sample 2"
        self.sizes = selection_sizes(t.selections, self.n2_total, what2)
        check_folds(t, self.n1, "sample 1")
        check_folds(t, self.n2_total, "sample 2")
        #: what the job ran with (config_json): seed, device and the whole toys and fit sections
        self.job_config = {
            "seed": settings.seed,
            "device": settings.device,
            "toys": t.to_dict(),
            "fit": settings.fit.to_dict(),
        }
        self.config_hash = config_hash(toy_config(settings, self.toy_sizes))
        #: background model of each selection (rule fit_model's choice, else fit.background)
        self.background = background or fixed_choice(self.spec.background, len(t.selections))
        self.timing = Timing()

    def pass_width(self) -> int:
        """Toys per stacked pass (``ganlee.toys.settings.pass_width``)."""
        return pass_width(self.toys, self.device, self.dtype, self.n1, self.n2_total, self.stream)

    # ------------------------------------------------------------------ events
    def _draw_pair(
        self, key: Key, draw_sample2: DrawSample2, n1: int, role1: str = "sample1"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Sample 1 (from the source, never with injected events) and sample 2 of ``key``."""
        a = self.source.draw(role1, n1, derive_seed(self.settings.seed, *key, "sample1"))
        return a, draw_sample2(key)

    def draw_background_pair(self, key: Key) -> tuple[torch.Tensor, torch.Tensor]:
        """Samples 1 and 2 of ``key`` as a toy draws them, without injected events."""
        seed = self.settings.seed
        return self._draw_pair(
            key,
            lambda k: self.source.draw("sample2", self.n2, derive_seed(seed, *k, "sample2")),
            self.n1,
        )

    def _draw_sample2(self, key: Key) -> torch.Tensor:
        b = self.source.draw("sample2", self.n2, derive_seed(self.settings.seed, *key, "sample2"))
        return self._with_signal(key, b)

    def _with_signal(self, key: Key, b: torch.Tensor) -> torch.Tensor:
        """Sample 2 ``b`` with the injected events of ``key`` appended (``b`` itself without)."""
        inj = self.injection
        if not inj.enabled:
            return b
        signal = draw_signal(self.source, inj, self.settings.seed, key)
        return torch.cat([b, signal.to(device=b.device, dtype=b.dtype)])

    def draw_samples(self, index: int) -> dict[str, np.ndarray]:
        """The events toy ``index`` trains on (the draws of ``run_toys``): ``sample1``
        ``(n1, 18)``, ``sample2`` ``(n2_total, 18)`` and ``injected`` bool ``(n2_total,)``
        marking the injected events of sample 2 (its last ``n_signal`` rows)."""
        a, b = self._draw_pair(("toy", int(index)), self._draw_sample2, self.n1)
        injected = np.zeros(b.shape[0], dtype=bool)
        injected[self.n2 :] = True
        return {"sample1": a.cpu().numpy(), "sample2": b.cpu().numpy(), "injected": injected}

    # ------------------------------------------------------------------ one pass of toys
    def _scores(
        self,
        keys: list[Key],
        draw_sample2: DrawSample2,
        sizes: tuple[int, int],
        role1: str = "sample1",
        pad_to: int | None = None,
        score_sample1: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Logits ``(T, n2)`` and m_llg ``(T, n2)`` of sample 2 for the toys keyed ``keys``
        (``sizes`` = (n1, n2)), and with ``score_sample1`` the logits ``(T, n1)`` of sample 1.

        ``pad_to``: train replicas of the last toy alongside so that ``pad_to`` toys share the
        pass (fixed kernel shapes); the replicas are discarded.
        """
        t, dev, n_real = self.toys, self.device, len(keys)
        padded = pad_keys(keys, pad_to)
        with self.timing.phase("sampling", dev):
            batch = draw_batch(
                padded,
                n_real,
                lambda key: self._draw_pair(key, draw_sample2, sizes[0], role1),
                sizes,
                t.feature_index,
                self.dtype,
                dev,
            )
        if t.scoring == "random":
            with self.timing.phase("score", dev):
                logits2, logits1 = random_scores(batch, self.settings.seed, sample1=score_sample1)
        else:
            with self.timing.phase("train", dev):
                models = train_models(batch, t, self.settings.seed, self.dtype, self.stream)
            with self.timing.phase("score", dev):
                logits2, logits1 = score(models, batch, self.dtype, sample1=score_sample1)
        if logits1 is not None:
            logits1 = logits1[:n_real]
        return logits2[:n_real], batch.m2[:n_real], logits1

    def _histograms(
        self,
        keys: list[Key],
        draw_sample2: DrawSample2,
        sizes: tuple[int, int],
        selected: np.ndarray,
        role1: str = "sample1",
        pad_to: int | None = None,
        n_background: int | None = None,
    ) -> dict[str, torch.Tensor]:
        """The histograms of one pass: ``counts`` ``(T, S, nbins)``, the m_llg histograms of the
        selections (``selected`` events each) of each toy, and with ``toys.diagnostics`` the
        other per-toy diagnostics (``counts_all``, ``response_mllg_corr``, ``auc``;
        ``n_injected_selected`` when sample 2 holds injected events, its rows
        ``n_background ..``)."""
        diag = self.toys.diagnostics
        logits2, m2, logits1 = self._scores(keys, draw_sample2, sizes, role1, pad_to, diag)
        with self.timing.phase("score", self.device):
            order = torch.sort(logits2, dim=1, descending=True, stable=True).indices
            out = {"counts": selection_histograms(self.spec, m2.gather(1, order), selected)}
            if diag:
                assert logits1 is not None
                out.update(self._diagnostics(logits1, logits2, m2, order, selected, n_background))
        return out

    def _diagnostics(
        self,
        logits1: torch.Tensor,
        logits2: torch.Tensor,
        m2: torch.Tensor,
        order: torch.Tensor,
        selected: np.ndarray,
        n_background: int | None,
    ) -> dict[str, torch.Tensor]:
        """``toys.diagnostics`` of a pass (``ganlee.chunks.DIAGNOSTIC_KEYS``)."""
        out = {
            "counts_all": self.spec.histogram(m2.to(torch.float64)),
            "response_mllg_corr": pearson_rows(torch.sigmoid(logits2.double()), m2),
            "auc": roc_auc(logits1, logits2),
        }
        n2 = m2.shape[1]
        nb = n2 if n_background is None else n_background
        if nb < n2:
            injected = (order >= nb).to(torch.int64).cumsum(dim=1)
            pick = torch.as_tensor(np.asarray(selected) - 1, device=order.device)
            out["n_injected_selected"] = injected[:, pick]
        return out

    def score_toys(self, first: int, count: int) -> tuple[np.ndarray, np.ndarray]:
        """Logits and m_llg of sample 2, toys ``first .. first+count-1``: ``(count, n2)`` each
        (``n2_total`` with injection: the injected events are the last ``n_signal``)."""
        keys: list[Key] = [("toy", i) for i in range(first, first + count)]
        pad_to = self.pass_width() if self.toys.pad_passes else None
        logits, m2, _ = self._scores(
            keys, self._draw_sample2, (self.n1, self.n2_total), pad_to=pad_to
        )
        return logits.cpu().numpy(), m2.cpu().numpy()

    # ------------------------------------------------------------------ fits and results
    def _fit(self, counts: torch.Tensor, gof: bool = False) -> dict[str, np.ndarray]:
        with self.timing.phase("fit", self.device):
            return fit_histograms(
                counts,
                self.spec,
                self.toys.selections,
                self.device,
                models=self.background.models,
                gof=gof,
            )

    def _common(self, n2: int | None = None) -> dict[str, np.ndarray]:
        """The file-level arrays of a chunk; ``n2``: the sample-2 events (default the toys')."""
        return {
            "masses": self.masses.copy(),
            "selections": np.asarray(self.toys.selections, dtype=np.float64),
            "config_hash": np.array(self.config_hash),
            "model_hash": np.array(str(self.source.model_hash)),
            "config_json": np.array(json.dumps(self.job_config, sort_keys=True)),
            "background_hash": np.array(self.background.hash),
            "background_models": np.array(self.background.models, dtype=str),
            "background_warnings": np.array(self.background.warnings, dtype=str),
            "sample1_size": np.array(self.n1, dtype=np.int64),
            "sample2_size": np.array(self.n2 if n2 is None else n2, dtype=np.int64),
        }

    def _extras(
        self, passes: list[dict[str, torch.Tensor]], observed: bool = False
    ) -> dict[str, np.ndarray]:
        """The ``ganlee.chunks.DIAGNOSTIC_KEYS`` and ``INJECT_KEYS`` arrays of the enabled options
        (none at the defaults). ``observed``: leave out ``counts`` and ``edges`` (the observed
        file has them)."""
        out: dict[str, np.ndarray] = {}
        K = sum(int(p["counts"].shape[0]) for p in passes)

        def cat(name: str) -> np.ndarray:
            return torch.cat([p[name] for p in passes]).cpu().numpy()

        if self.toys.diagnostics:
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
            inj = self.injection
            out["n_injected"] = np.full(K, self.n_signal, dtype=np.int64)
            out["inject_mass"] = np.array(inj.mass, dtype=np.float64)
            out["inject_width"] = np.array(inj.width, dtype=np.float64)
        return out

    # ------------------------------------------------------------------ logs
    def _log_options(self, tag: str) -> None:
        if self.injection.enabled:
            print(f"[{tag}] {self.injection.describe()}", file=self.stream)
        if self.toys.diagnostics:
            print(
                f"[{tag}] diagnostics on: selection and inclusive m_llg histograms, "
                "corr(response, m_llg), AUC sample 1 vs sample 2",
                file=self.stream,
            )

    def _log_start(self, first: int, count: int, per_pass: int, pad_to: int | None) -> None:
        t = self.toys
        n_pad = -count % per_pass + (pad_to - per_pass) if pad_to else 0
        samples = f"{self.n1} + {self.n2}"
        if self.n_signal:
            samples += f" (+ {self.n_signal} injected)"
        print(
            f"[toys] toys {first}..{first + count - 1} on {self.device}: source {t.source}, "
            f"samples {samples} events, scoring {t.scoring}, passes of "
            f"{pad_to or per_pass} toy(s) x {t.models_per_toy} model(s)"
            f"{f' ({n_pad} replica toy(s) padding the last pass)' if n_pad else ''}, "
            f"dtype {self.dtype}, fit backend {self.spec.backend}",
            file=self.stream,
        )
        self._log_options("toys")

    def _log_fits(self, out: dict[str, np.ndarray], count: int) -> None:
        nf, nfit = int(out["n_failed"].sum()), int(out["n_fits"].sum())
        print(
            f"[toys] fits: {nfit} signal+background fits, {nf} failed "
            f"({100.0 * nf / max(nfit, 1):.2f}%), "
            f"toys with a failure: {int((out['n_failed'] > 0).sum())}/{count}",
            file=self.stream,
        )
        print(f"[toys] time: {self.timing.summary()}", file=self.stream)

    def _log_gof(self, out: dict[str, np.ndarray]) -> None:
        """Goodness of fit of the background-only fit of each observed selection."""
        for j, frac in enumerate(self.toys.selections):
            print(
                f"[observe] selection {frac:g}: background {self.background.models[j]}, "
                f"chi2/ndf {out['gof_chi2'][0, j]:.3g} "
                f"(ndf {out['gof_ndf'][0, j]:.0f}), saturated-likelihood p-value "
                f"{out['gof_p_value'][0, j]:.3g}",
                file=self.stream,
            )

    # ------------------------------------------------------------------ entry points
    def run_toys(self, first: int, count: int, progress: bool = True) -> dict[str, np.ndarray]:
        """Toys ``first, ..., first + count - 1``: the arrays of a chunk file
        (``ganlee.chunks.CHUNK_KEYS``, plus ``DIAGNOSTIC_KEYS`` / ``INJECT_KEYS`` when those
        options are on)."""
        if first < 0 or count < 1:
            msg = f"toys: need --first >= 0 and --count >= 1, got first={first}, count={count}"
            raise ConfigError(msg)
        width = self.pass_width()
        per_pass = min(count, width)
        pad_to = width if self.toys.pad_passes else None
        self._log_start(first, count, per_pass, pad_to)
        every = 0.0 if progress else 1e9
        prog = Progress("toys", total=count, unit="toy", stream=self.stream, every=every)
        passes = []
        for a in range(first, first + count, per_pass):
            keys: list[Key] = [("toy", i) for i in range(a, min(a + per_pass, first + count))]
            sizes = (self.n1, self.n2_total)
            passes.append(
                self._histograms(
                    keys, self._draw_sample2, sizes, self.sizes, pad_to=pad_to, n_background=self.n2
                )
            )
            prog.update(len(keys))
        out = self._fit(torch.cat([p["counts"] for p in passes]))
        self.timing.toys += count
        self._log_fits(out, count)
        index = np.arange(first, first + count, dtype=np.int64)
        seed = self.settings.seed
        seeds = np.array([derive_seed(seed, "toy", int(i)) for i in index], dtype=np.int64)
        return {"toy_index": index, "seed": seeds, **out, **self._common(), **self._extras(passes)}

    def _observed_input(self, data: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
        """The observed events on the device and the selection sizes of sample 2 (the data and
        any injected events); ``ConfigError`` for a wrong shape or too few events."""
        data = np.asarray(data)
        problem = feature_shape_problem(data)
        if problem is not None:
            msg = f"observed data {problem}"
            raise ConfigError(msg)
        n2 = data.shape[0] + self.n_signal
        what = "the observed data" + (
            f" with {self.n_signal} injected events" if self.n_signal else ""
        )
        sizes = selection_sizes(self.toys.selections, n2, what)
        check_folds(self.toys, n2, "the observed data")
        return torch.as_tensor(data, dtype=torch.float32, device=self.device), sizes

    def run_observed(self, data: np.ndarray) -> dict[str, np.ndarray]:
        """The toy procedure once on observed data (sample 2 = ``data``; sample 1 from the source).

        Returns the chunk arrays with K = 1 and ``toy_index = [-1]``, plus ``edges`` and
        ``counts`` (S, nbins), plus the enabled options' keys (``_extras``). Seeds are keyed
        ``("observed", ...)``; with ``toys.inject`` the signal is added to the observed data too.
        """
        obs, sizes = self._observed_input(data)
        n_obs, n2 = obs.shape[0], obs.shape[0] + self.n_signal
        print(
            f"[observe] {n_obs} observed events, sample 1: {self.n1} events "
            f"from {self.toys.source}",
            file=self.stream,
        )
        self._log_options("observe")
        passes = [
            self._histograms(
                [("observed",)],
                lambda key: self._with_signal(key, obs),
                (self.n1, n2),
                sizes,
                role1="reference",
                n_background=n_obs,
            )
        ]
        counts = passes[0]["counts"]
        out = self._fit(counts, gof=True)
        self.timing.toys += 1
        print(
            f"[observe] z_max {out['z_max'][0]:.3f} at m = {out['mass_at_max'][0]} GeV, selection "
            f"{out['selection_at_max'][0]}; failed fits "
            f"{int(out['n_failed'][0])}/{int(out['n_fits'][0])}",
            file=self.stream,
        )
        self._log_gof(out)
        return {
            "toy_index": np.array([-1], dtype=np.int64),
            "seed": np.array([derive_seed(self.settings.seed, "observed")], dtype=np.int64),
            **out,
            **self._common(n2=n_obs),
            "edges": self.edges.copy(),
            "counts": counts[0].cpu().numpy().astype(np.float64),
            **self._extras(passes, observed=True),
        }
