"""Feature transforms between physical events and the GAN's scaled space, and the validity rules.

Three modes (config key ``gan.preprocessing``):

``quantile`` (default)
    Jet counts dequantised (``n_jets`` learnt as ``n_jets - n_central_jets``), positive features
    in log, azimuthal angles rotated so that their cut at +-pi falls where the MC density is
    lowest, then each column Gaussianised by ``ganlee.gan.transforms.QuantileMap``: m_llg keeps
    a finite density at the window edges, angles stay inside [-pi, pi], counts non-negative. With
    ``gan.derived_features`` the generator sees the 14 independent quantities and e_llg, e_ll,
    pt_ll_over_m_llg and phi_met are computed exactly (``ganlee.gan.transforms``).
``physical``
    Each feature is first mapped so that every finite generator output decodes to a valid
    event, then min-max scaled to [-1, 1] as in the reference analysis (arXiv:2404.07822):
    m_llg -> logit of its position inside the analysis window (decoded with a sigmoid, so it can
    never leave the window); masses, momenta, DeltaR, MET -> log (decoded with exp, always > 0);
    jet counts -> uniformly dequantised ``n + u, u ~ U[0, 1)``, decoded with ``floor(|y|)``:
    outputs spilling below zero are reflected (the standard boundary correction of a density
    on [0, inf); for |y| < 1 this is the zero bin the spill came from), with ``n_jets`` learnt
    as ``n_jets - n_central_jets`` so that ``n_central_jets <= n_jets`` holds by construction;
    azimuthal angles are decoded modulo 2 pi (a repair that is exact for periodic variables;
    folded into [0, pi] when the MC angle is never negative). Dequantisation: arXiv:1511.01844
    (sec. 3.1), as used for discrete data in normalising flows (arXiv:1605.08803).
``minmax``
    The reference analysis's plain min-max scaling; integers are rounded, and events outside
    the physical bounds are rejected (resampled) by the sampler.

Validity of an event (``valid_mask``): all features finite; jet counts non-negative integers;
angles inside [-pi, pi]; positive features > 0; m_llg inside the analysis window;
``n_central_jets <= n_jets`` where the MC obeys it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ganlee.features import ANGLE_FEATURES, INTEGER_FEATURES, POSITIVE_FEATURES
from ganlee.gan import quantile_mode
from ganlee.gan.preprocess_state import PI32, PreprocessorState, f32_inside
from ganlee.gan.transforms import QuantileMap

__all__ = [
    "KINDS",
    "PI32",
    "Decoded",
    "Preprocessor",
    "feature_kinds",
    "valid_mask",
]

KINDS = ("window", "positive", "angle", "integer", "plain")
MODES = ("quantile", "physical", "minmax")
_LOGIT_EPS = 1e-6
_WINDOW_FEATURE = "m_llg"
_JET_PAIR = ("n_central_jets", "n_jets")


def feature_kinds(
    names: Sequence[str],
    window: tuple[float, float] | None = None,
    overrides: Mapping[str, str] | None = None,
) -> list[str]:
    """The kind of each feature from its name (``ganlee.features`` lists), ``overrides`` winning.

    ``m_llg`` is of kind ``window`` when a window is given, else ``positive``; names in no list
    are ``plain``.
    """
    overrides = dict(overrides or {})
    kinds = []
    for name in names:
        if name in overrides:
            kind = overrides[name]
        elif name == _WINDOW_FEATURE and window is not None:
            kind = "window"
        elif name in INTEGER_FEATURES:
            kind = "integer"
        elif name in ANGLE_FEATURES:
            kind = "angle"
        elif name in POSITIVE_FEATURES:
            kind = "positive"
        else:
            kind = "plain"
        if kind not in KINDS:
            msg = f"feature '{name}': unknown kind '{kind}' (expected one of {KINDS})"
            raise ValueError(msg)
        kinds.append(kind)
    if "window" in kinds and window is None:
        msg = "a feature of kind 'window' needs the analysis window (lo, hi)"
        raise ValueError(msg)
    return kinds


@dataclass
class Decoded:
    """Events decoded from generator outputs: values, and which rows are valid / were repaired."""

    x: torch.Tensor
    valid: torch.Tensor
    repaired: torch.Tensor


@dataclass
class Preprocessor(PreprocessorState):
    """Fitted transform ``events <-> scaled space`` (min-max to [-1, 1] after the mode's maps);
    its fields are ``ganlee.gan.preprocess_state.PreprocessorState``'s."""

    # ---------------------------------------------------------------- fitting and (de)serialising
    @classmethod
    def fit(
        cls,
        x: np.ndarray,
        names: Sequence[str],
        *,
        mode: str = "physical",
        window: tuple[float, float] | None = None,
        kinds: Mapping[str, str] | None = None,
        rng: np.random.Generator | None = None,
        knots: int = 256,
        derived: bool = False,
        smooth_window: float | None = None,
    ) -> Preprocessor:
        """Fit on training events ``x`` (n, d). ``rng`` draws the dequantisation used for the fit;
        ``knots``, ``derived`` and ``smooth_window`` (the knot spacing in GeV of the smooth
        m_llg marginal, ``gan.mllg_smoothing``; None = empirical quantiles) apply to the
        quantile mode."""
        if mode not in MODES:
            msg = f"config key 'gan.preprocessing': unknown mode '{mode}' (expected one of {MODES})"
            raise ValueError(msg)
        x = np.asarray(x, dtype=np.float64)
        names = tuple(names)
        if x.ndim != 2 or x.shape[1] != len(names):
            msg = (
                f"features have shape {x.shape}, expected (n, {len(names)}) for {len(names)} names"
            )
            raise ValueError(msg)
        klist = feature_kinds(names, window, kinds)
        d = len(names)
        shift = np.zeros(d)
        folded = np.zeros(d, dtype=bool)
        allow_zero = np.zeros(d, dtype=bool)
        for j, kind in enumerate(klist):
            col = x[:, j]
            if kind == "window":
                assert window is not None
                lo, hi = window
                if col.min() < lo or col.max() > hi:
                    msg = (
                        f"feature '{names[j]}' has values in [{col.min():.6g}, "
                        f"{col.max():.6g}], outside "
                        f"the analysis window [{lo}, {hi}] (config keys mc.selection.m_llg_min/max)"
                    )
                    raise ValueError(msg)
            elif kind == "positive":
                if col.min() < 0:
                    msg = f"feature '{names[j]}' must be >= 0, has minimum {col.min():.6g}"
                    raise ValueError(msg)
                if col.min() == 0:
                    allow_zero[j] = True
                    pos = col[col > 0]
                    shift[j] = 0.5 * pos.min() if pos.size else 1.0
            elif kind == "angle":
                if np.abs(col).max() > math.pi + 1e-5:
                    msg = f"angle feature '{names[j]}' has |value| {np.abs(col).max():.6g} > pi"
                    raise ValueError(msg)
                folded[j] = bool(col.min() >= 0)
            elif kind == "integer" and (col.min() < 0 or np.any(col != np.round(col))):
                msg = f"integer feature '{names[j]}' has non-integer or negative values"
                raise ValueError(msg)
        pairs: tuple[tuple[int, int], ...] = ()
        if all(n in names for n in _JET_PAIR):
            sub, tot = names.index(_JET_PAIR[0]), names.index(_JET_PAIR[1])
            if klist[sub] == klist[tot] == "integer" and np.all(x[:, sub] <= x[:, tot]):
                pairs = ((sub, tot),)
        pre = cls(
            names=names,
            kinds=tuple(klist),
            mode=mode,
            window=None if window is None else (float(window[0]), float(window[1])),
            mid=np.zeros(d),
            half=np.ones(d),
            shift=shift,
            folded=folded,
            allow_zero=allow_zero,
            pairs=pairs,
        )
        rng = rng if rng is not None else np.random.default_rng(0)
        if mode == "quantile":
            quantile_mode.fit(pre, x, rng, knots, derived, smooth_window)
            return pre
        y = pre._forward(x, rng)
        lo, hi = y.min(axis=0), y.max(axis=0)
        pre.mid = 0.5 * (lo + hi)
        pre.half = np.where(hi > lo, 0.5 * (hi - lo), 1.0)
        return pre

    @property
    def dim(self) -> int:
        """Number of generated columns (the generator's output width)."""
        return len(self.model_cols) if self.mode == "quantile" else len(self.names)

    def state(self) -> dict[str, Any]:
        """Plain Python values and tensors (loadable with ``torch.load(weights_only=True)``)."""
        extra: dict[str, Any] = {}
        if self.mode == "quantile":
            assert self.qmap is not None
            assert self.offset is not None
            extra = {
                "offset": torch.from_numpy(self.offset.copy()),
                "qmap": self.qmap.state(),
                "model_cols": list(self.model_cols),
            }
            if self.recal is not None:
                extra["recal"] = self.recal.state()
            if self.smoothing is not None:
                extra["smoothing"] = dict(self.smoothing)
        return {
            **extra,
            "names": list(self.names),
            "kinds": list(self.kinds),
            "mode": self.mode,
            "window": None if self.window is None else list(self.window),
            "mid": torch.from_numpy(self.mid.copy()),
            "half": torch.from_numpy(self.half.copy()),
            "shift": torch.from_numpy(self.shift.copy()),
            "folded": torch.from_numpy(self.folded.copy()),
            "allow_zero": torch.from_numpy(self.allow_zero.copy()),
            "pairs": [list(p) for p in self.pairs],
        }

    @classmethod
    def from_state(cls, s: Mapping[str, Any]) -> Preprocessor:
        return cls(
            names=tuple(s["names"]),
            kinds=tuple(s["kinds"]),
            mode=str(s["mode"]),
            window=None if s["window"] is None else (float(s["window"][0]), float(s["window"][1])),
            mid=s["mid"].numpy().astype(np.float64),
            half=s["half"].numpy().astype(np.float64),
            shift=s["shift"].numpy().astype(np.float64),
            folded=s["folded"].numpy().astype(bool),
            allow_zero=s["allow_zero"].numpy().astype(bool),
            pairs=tuple((int(a), int(b)) for a, b in s["pairs"]),
            offset=s["offset"].numpy().astype(np.float64) if "offset" in s else None,
            qmap=QuantileMap.from_state(s["qmap"]) if "qmap" in s else None,
            model_cols=tuple(int(c) for c in s.get("model_cols", ())),
            recal=QuantileMap.from_state(s["recal"]) if "recal" in s else None,
            smoothing=dict(s["smoothing"]) if "smoothing" in s else None,
        )

    # ---------------------------------------------------------------- encoding (numpy, float64)
    def _forward(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Physical events -> unscaled transformed variables."""
        y = np.array(x, dtype=np.float64, copy=True)
        if self.mode != "physical":
            return y
        for sub, tot in self.pairs:
            y[:, tot] = x[:, tot] - x[:, sub]
        for j, kind in enumerate(self.kinds):
            if kind == "window":
                assert self.window is not None
                lo, hi = self.window
                s = np.clip((x[:, j] - lo) / (hi - lo), _LOGIT_EPS, 1 - _LOGIT_EPS)
                y[:, j] = np.log(s) - np.log1p(-s)
            elif kind == "positive":
                y[:, j] = np.log(x[:, j] + self.shift[j])
            elif kind == "integer":
                y[:, j] = y[:, j] + rng.random(len(y))
        return y

    def encode(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Events (n, d) -> scaled training inputs (float32); ``rng`` draws the dequantisation."""
        if self.mode == "quantile":
            return quantile_mode.encode(self, np.asarray(x, dtype=np.float64), rng)
        y = self._forward(np.asarray(x, dtype=np.float64), rng)
        return ((y - self.mid) / self.half).astype(np.float32)

    # ---------------------------------------------------------------- decoding (torch, on device)
    def _tensors(self, device: torch.device) -> dict[str, torch.Tensor]:
        key = str(device)
        if key not in self._cache:
            self._cache[key] = {
                "mid": torch.as_tensor(self.mid, dtype=torch.float32, device=device),
                "half": torch.as_tensor(self.half, dtype=torch.float32, device=device),
            }
        return self._cache[key]

    def decode(self, z: torch.Tensor) -> Decoded:
        """Generator outputs (n, d) float32 -> events, valid and repaired masks (same device).

        Decoding is deterministic; rows that are not valid must be rejected by the caller.
        """
        if self.mode == "quantile":
            xq = quantile_mode.decode(self, z)
            none = torch.zeros(len(z), dtype=torch.bool, device=z.device)
            return Decoded(x=xq, valid=valid_mask(xq, self), repaired=none)
        t = self._tensors(z.device)
        y = z.float() * t["half"] + t["mid"]
        x = y.clone()
        repaired = torch.zeros(len(z), dtype=torch.bool, device=z.device)
        for j, kind in enumerate(self.kinds):
            col = y[:, j]
            if kind == "integer":
                if self.mode == "physical":
                    x[:, j] = torch.floor(col.abs())
                    repaired |= col < 0
                else:
                    x[:, j] = torch.round(col)
            elif self.mode != "physical":
                continue
            elif kind == "window":
                assert self.window is not None
                lo, hi = self.window
                flo, fhi = f32_inside(lo, hi)
                x[:, j] = (lo + (hi - lo) * torch.sigmoid(col)).clamp(flo, fhi)
            elif kind == "positive":
                v = torch.exp(col) - float(self.shift[j])
                x[:, j] = v.clamp_min(0.0) if self.allow_zero[j] else v
            elif kind == "angle":
                low = 0.0 if self.folded[j] else -math.pi
                outside = (col < low) | (col > math.pi)
                w = torch.remainder(col + math.pi, 2 * math.pi) - math.pi
                if self.folded[j]:
                    w = w.abs()
                x[:, j] = torch.where(outside, w, col).clamp(-PI32, PI32)
                repaired |= outside
        if self.mode == "physical":
            for sub, tot in self.pairs:
                x[:, tot] = x[:, tot] + x[:, sub]
        valid = valid_mask(x, self)
        return Decoded(x=x, valid=valid, repaired=repaired & valid)


def valid_mask(x: np.ndarray | torch.Tensor, pre: Preprocessor) -> Any:
    """Boolean mask of the valid rows of ``x`` (numpy or torch; rules in the module docstring).

    float32 tensors are checked against float32 bounds that lie inside the float64 ones, so a
    row valid here stays valid after conversion to float64.
    """
    is_torch = isinstance(x, torch.Tensor)
    xt: torch.Tensor = (
        x if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x, dtype=np.float64))
    )
    if xt.ndim != 2 or xt.shape[1] != len(pre.names):
        msg = f"events have shape {tuple(xt.shape)}, expected (n, {len(pre.names)})"
        raise ValueError(msg)
    f32 = xt.dtype == torch.float32
    pi = PI32 if f32 else math.pi
    ok = torch.isfinite(xt).all(dim=1)
    for j, kind in enumerate(pre.kinds):
        col = xt[:, j]
        if kind == "integer":
            ok &= (col >= 0) & (col == torch.floor(col))
        elif kind == "angle":
            ok &= col.abs() <= pi
        elif kind == "positive":
            ok &= (col >= 0) if pre.allow_zero[j] else (col > 0)
        elif kind == "window":
            assert pre.window is not None
            lo, hi = f32_inside(*pre.window) if f32 else pre.window
            ok &= (col >= lo) & (col <= hi)
    for sub, tot in pre.pairs:
        ok &= xt[:, sub] <= xt[:, tot]
    return ok if is_torch else ok.numpy()
