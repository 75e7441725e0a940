"""Hold-out monitoring during training, and the best checkpoint.

docs/design.md, "Generator (GAN and flow): preprocessing, training, fidelity".

Every ``gan.monitor_every`` epochs the sampled network (the EMA generator, or the flow) draws the
same latent vectors (a fixed seed, so that successive scores differ by the model only), the
events are decoded and compared with the monitor events - MC events split off the training set
and never trained on, distinct from the validation hold-out - by

* ``w1_m_llg``: the 1-D Wasserstein-1 distance of m_llg in units of the MC standard deviation;
* ``auc``: the ROC AUC of a small gradient-boosted classifier separating monitor MC from
  generated events, trained on half of each and evaluated on the other half (arXiv:1610.06545);

and ``score = (auc - 0.5) + w1_m_llg``; the lowest score's weights are kept and saved.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from scipy import stats
from torch import nn

from ganlee.gan.metrics import one_thread
from ganlee.gan.preprocess import Preprocessor
from ganlee.gan.wgan import cpu_state

__all__ = ["MONITOR_COLUMNS", "Monitor"]

MONITOR_COLUMNS = ("monitor_auc", "monitor_w1_m_llg", "monitor_score")
_CLASSIFIER_ITER = 40


class Monitor:
    """Scores the sampled network on the monitor events and keeps the best weights.

    Arguments:
        mc: monitor MC events (n, d) in physical units.
        pre: the fitted preprocessor (decoding).
        latent_dim: width of the latent vectors.
        seed: seeds the latent vectors and the classifier.
    """

    def __init__(self, mc: np.ndarray, pre: Preprocessor, latent_dim: int, seed: int) -> None:
        self.mc = np.asarray(mc, dtype=np.float64)
        self.pre = pre
        self.seed = int(seed)
        gen = torch.Generator().manual_seed(self.seed & ((1 << 63) - 1))
        self.z = torch.randn((len(self.mc), latent_dim), generator=gen)
        self.col = pre.names.index("m_llg") if "m_llg" in pre.names else 0
        self.mu = self.mc.mean(axis=0)
        self.sd = np.where(self.mc.std(axis=0) > 0, self.mc.std(axis=0), 1.0)
        self.best_score = float("inf")
        self.best_epoch = 0
        self.best_state: dict[str, Any] | None = None
        self.best_metrics: dict[str, float] = {}

    def generate(self, net: nn.Module) -> np.ndarray:
        """Decoded events of ``net`` for the fixed latent vectors (invalid rows dropped)."""
        dev = next(net.parameters()).device
        with torch.inference_mode():
            dec = self.pre.decode(net(self.z.to(dev)))
        return dec.x[dec.valid].double().cpu().numpy()

    def evaluate(self, net: nn.Module) -> dict[str, float]:
        """The monitor metrics of ``net`` (module docstring); NaN when nothing valid is produced."""
        from sklearn.ensemble import HistGradientBoostingClassifier
        from sklearn.metrics import roc_auc_score

        gen = self.generate(net)
        if len(gen) < 10:
            return dict.fromkeys(MONITOR_COLUMNS, float("nan"))
        c = self.col
        w1 = float(stats.wasserstein_distance(self.mc[:, c], gen[:, c]) / self.sd[c])
        rng = np.random.default_rng(self.seed)
        n = min(len(gen), len(self.mc))
        a = (self.mc[rng.permutation(len(self.mc))[:n]] - self.mu) / self.sd
        b = (gen[rng.permutation(len(gen))[:n]] - self.mu) / self.sd
        h = n // 2
        clf = HistGradientBoostingClassifier(
            max_iter=_CLASSIFIER_ITER, random_state=self.seed % 2**32
        )
        y_te = np.r_[np.zeros(n - h), np.ones(n - h)]
        with one_thread():
            clf.fit(np.concatenate([a[:h], b[:h]]), np.r_[np.zeros(h), np.ones(h)])
            auc = float(
                roc_auc_score(y_te, clf.predict_proba(np.concatenate([a[h:], b[h:]]))[:, 1])
            )
        return {"monitor_auc": auc, "monitor_w1_m_llg": w1, "monitor_score": auc - 0.5 + w1}

    def update(self, epoch: int, net: nn.Module) -> dict[str, float]:
        """Evaluate ``net`` at ``epoch``; keep a CPU copy of its weights when it is the best."""
        m = self.evaluate(net)
        score = m["monitor_score"]
        if np.isfinite(score) and score < self.best_score:
            self.best_score, self.best_epoch = float(score), int(epoch)
            self.best_state = cpu_state(net)
            self.best_metrics = dict(m)
        return m

    def state(self) -> dict[str, Any]:
        return {
            "best_score": self.best_score,
            "best_epoch": self.best_epoch,
            "best_state": copy.deepcopy(self.best_state),
            "best_metrics": dict(self.best_metrics),
        }

    def load(self, s: Mapping[str, Any]) -> None:
        self.best_score = float(s["best_score"])
        self.best_epoch = int(s["best_epoch"])
        self.best_state = s["best_state"]
        self.best_metrics = dict(s["best_metrics"])
