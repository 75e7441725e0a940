"""Typed settings: the validated configuration as frozen dataclasses, built once at the CLI edge.

``config/schema.yaml`` stays the single source of keys, defaults and descriptions
(``ganlee.config.validate`` fills the defaults); this module gives the validated mapping a type.
Every section of the schema is one frozen dataclass whose fields are the section's keys, in the
schema's spelling, so ``settings.toys.dnn.lr`` is ``config["toys"]["dnn"]["lr"]``. Values keep
the types the validated config has (lists become tuples, mappings read-only), so
``Settings.to_dict()`` gives back the validated mapping exactly: ``config_hash``,
``inline_config`` and the rules' params are computed from the same values as before.

Derived values are computed here, once, and nowhere else: the histogram edges and the mass grid
of the fits (``FitSettings.edges``, ``masses``), the candidate list of the background choice
(``SpuriousSettings.candidates``), the DNN input columns (``ToysSettings.feature_index``), the
signal injection with its width resolved (``Settings.injection``) and the toy sizes resolved
against the MC or the observed dataset (``Settings.toy_sizes``). A derived value that the config
cannot give raises ``ConfigError`` naming the key when it is first asked for, so a step fails
only on the settings it uses.

Why dataclasses and not pydantic or msgspec (docs/design.md, "Configuration"): the JSON schema
already validates, documents and fills defaults for Snakemake and the CLI alike; a second
validating library would hold a second copy of the defaults. Frozen dataclasses add only the
types, for mypy and for the reader, at no dependency.

Example:
    >>> s = Settings.from_config({"toys": {"selections": [0.1, 1.0]}})
    >>> s.toys.selections, s.fit.masses[:3].tolist()
    ((0.1, 1.0), [135.0, 136.0, 137.0])
    >>> s.to_dict()["toys"]["selections"]
    [0.1, 1.0]
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np

from ganlee.errors import ConfigError
from ganlee.features import FEATURE_NAMES, check_feature_names

__all__ = [
    "FIT_FAMILIES",
    "AmplificationSettings",
    "ClosureSettings",
    "CompareSettings",
    "DnnSettings",
    "FidelitySettings",
    "FitSettings",
    "FlowSettings",
    "GanSettings",
    "InjectSettings",
    "Injection",
    "LeeSettings",
    "McGenerateSettings",
    "McSelectionSettings",
    "McSettings",
    "ObservedSettings",
    "PseudoDataSettings",
    "SculptingSettings",
    "Section",
    "Settings",
    "SpuriousSettings",
    "ToySizes",
    "ToysSettings",
    "ValidationInjectionSettings",
    "ValidationSettings",
    "load_settings",
]

S = TypeVar("S", bound="Section")

#: The background families the fits know and the highest order of each
#: (``ganlee.stats.fit.families.FAMILIES``, tested equal); the schema's ``fit.spurious.families``
#: enum and ``fit.background`` pattern name the same.
FIT_FAMILIES: dict[str, int] = {
    "exp_poly": 10,
    "bernstein": 10,
    "exp_chebyshev": 16,
    "bernstein_free": 16,
}


def _freeze(value: Any) -> Any:
    """Lists as tuples and mappings as read-only views, recursively (values are immutable)."""
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, Mapping):
        return types.MappingProxyType({k: _freeze(v) for k, v in value.items()})
    return value


def _thaw(value: Any) -> Any:
    """The inverse of ``_freeze``: tuples as lists, mappings as dicts, sections as dicts."""
    if isinstance(value, Section):
        return value.to_dict()
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    return value


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    """The resolved field types of a section class (cached)."""
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


class Section:
    """A section of the configuration: built from its validated mapping, and back to it."""

    #: The section's key path in the configuration (for error messages), e.g. ``toys.dnn``.
    KEY: ClassVar[str] = ""

    @classmethod
    def from_mapping(cls: type[S], data: Mapping[str, Any]) -> S:
        """The section of a validated mapping; a missing or unknown key is a ``ConfigError``."""
        where = cls.KEY or "<top level>"
        if not isinstance(data, Mapping):
            msg = f"config key '{where}' must be a mapping, got {type(data).__name__}"
            raise ConfigError(msg)
        names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
        unknown = sorted(set(data) - set(names))
        missing = [n for n in names if n not in data]
        if unknown or missing:
            what = f"unknown key(s) {unknown}" if unknown else f"missing key(s) {missing}"
            msg = f"config section '{where}': {what} (validate the config first)"
            raise ConfigError(msg)
        hints = _hints(cls)
        kwargs: dict[str, Any] = {}
        for name in names:
            hint = hints[name]
            if isinstance(hint, type) and issubclass(hint, Section):
                kwargs[name] = hint.from_mapping(data[name])
            else:
                kwargs[name] = _freeze(data[name])
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """The validated mapping this section was built from (lists, dicts, plain values)."""
        return {
            f.name: _thaw(getattr(self, f.name))
            for f in dataclasses.fields(self)  # type: ignore[arg-type]
        }


# ------------------------------------------------------------------------------------------ mc
@dataclass(frozen=True)
class McGenerateSettings(Section):
    """``mc.generate``: Pythia 8 generation jobs (rule mc_generate)."""

    KEY: ClassVar[str] = "mc.generate"
    n_jobs: int
    events_per_job: int
    batch_size: int
    realism: str
    sqrt_s: float
    m_hat_min: float
    m_hat_max: float
    pt_hat_min: float
    extra_settings: tuple[str, ...]


@dataclass(frozen=True)
class McSelectionSettings(Section):
    """``mc.selection``: the Z-gamma event selection and jet definitions (GeV)."""

    KEY: ClassVar[str] = "mc.selection"
    lep_pt_lead: float
    lep_pt_sublead: float
    el_eta_max: float
    mu_eta_max: float
    ph_pt_min: float
    ph_eta_max: float
    dr_lep_ph_min: float
    m_ll_min: float
    m_llg_min: float
    m_llg_max: float
    jet_pt_min: float
    jet_eta_max: float
    central_jet_eta_max: float
    jet_overlap_dr_min: float

    @property
    def window(self) -> tuple[float, float]:
        """The m_llg analysis window ``(m_llg_min, m_llg_max)``."""
        return float(self.m_llg_min), float(self.m_llg_max)


@dataclass(frozen=True)
class McSettings(Section):
    """``mc``: the MC input files or their generation, and the selection."""

    KEY: ClassVar[str] = "mc"
    input_files: tuple[str, ...]
    tree: str | None
    layout: str
    branches: Mapping[str, str]
    step_size: str | int
    generate: McGenerateSettings
    selection: McSelectionSettings


# ----------------------------------------------------------------------------------------- gan
@dataclass(frozen=True)
class FlowSettings(Section):
    """``gan.flow``: the coupling neural spline flow of ``gan.kind: flow``."""

    KEY: ClassVar[str] = "gan.flow"
    transforms: int
    bins: int
    hidden_features: tuple[int, ...]
    epochs: int
    batch_size: int
    lr: float
    grad_clip: float


@dataclass(frozen=True)
class FidelitySettings(Section):
    """``gan.fidelity``: the fidelity gate of gan_validate."""

    KEY: ClassVar[str] = "gan.fidelity"
    auc_max: float
    ks_pvalue_min: float
    mllg_pvalue_min: float
    mllg_bin_width: float
    n_null: int


@dataclass(frozen=True)
class GanSettings(Section):
    """``gan``: the toy generator (rules gan_train, gan_validate)."""

    KEY: ClassVar[str] = "gan"
    kind: str
    latent_dim: int
    generator_layers: tuple[int, ...]
    critic_layers: tuple[int, ...]
    batch_size: int
    epochs: int
    lr: float
    betas: tuple[float, float]
    n_critic: int
    gp_weight: float
    clip_value: float
    holdout_fraction: float
    ema_decay: float
    monitor_every: int
    monitor_fraction: float
    divergence_threshold: float
    quantile_knots: int
    mllg_smoothing: float | None
    derived_features: bool
    recalibrate: bool
    flow: FlowSettings
    require_fidelity: bool
    fidelity: FidelitySettings
    checkpoint_every: int
    fast_path: str
    validation_events: int | None
    tf32: bool
    preprocessing: str

    @property
    def n_epochs(self) -> int:
        """Training epochs of the configured kind (``flow.epochs`` for a flow)."""
        return int(self.flow.epochs if self.kind == "flow" else self.epochs)


# ---------------------------------------------------------------------------------------- toys
@dataclass(frozen=True)
class DnnSettings(Section):
    """``toys.dnn``: the semi-supervised classifier (arXiv:2404.07822)."""

    KEY: ClassVar[str] = "toys.dnn"
    layers: tuple[int, ...]
    lr: float
    decay: float
    epochs: int
    batch_size: int
    dtype: str


@dataclass(frozen=True)
class InjectSettings(Section):
    """``toys.inject`` as configured (``Settings.injection`` resolves the width and checks it)."""

    KEY: ClassVar[str] = "toys.inject"
    n_signal: int
    mass: float
    width: float | None
    source: str


@dataclass(frozen=True)
class ToysSettings(Section):
    """``toys``: the background-only toy experiments (rule toys_chunk)."""

    KEY: ClassVar[str] = "toys"
    n_toys: int
    chunk_size: int
    source: str
    sample1_size: int | None
    sample2_size: int | None
    scoring: str
    k_folds: int
    selections: tuple[float, ...]
    features: tuple[str, ...] | None
    models_per_batch: int | None
    pad_passes: bool
    dnn: DnnSettings
    inject: InjectSettings
    diagnostics: bool

    @functools.cached_property
    def feature_index(self) -> tuple[int, ...]:
        """Columns of the DNN inputs (``toys.features``, null = all 18) in ``FEATURE_NAMES``."""
        names = list(self.features) if self.features is not None else list(FEATURE_NAMES)
        if not names:
            msg = "config key 'toys.features' is empty: the DNN needs at least one input"
            raise ConfigError(msg)
        check_feature_names(names, "toys.features")
        return tuple(FEATURE_NAMES.index(n) for n in names)

    @property
    def models_per_toy(self) -> int:
        """DNNs trained per toy: ``k_folds`` with k-fold scoring, else one."""
        return int(self.k_folds) if self.scoring == "kfold" else 1


# ----------------------------------------------------------------------------------------- fit
@dataclass(frozen=True)
class SpuriousSettings(Section):
    """``fit.spurious``: the spurious-signal test and the background choice (rule fit_model)."""

    KEY: ClassVar[str] = "fit.spurious"
    families: tuple[str, ...]
    min_order: int
    max_order: int
    criterion: str
    max_ratio: float
    penalty: float
    relax: float
    on_fail: str
    template_factor: int
    pilot_toys: int
    mc_template: bool

    @functools.cached_property
    def candidates(self) -> tuple[str, ...]:
        """The candidate models, simplest first: orders ``min_order .. max_order`` (each family
        up to its own highest order, ``FIT_FAMILIES``; an order-N member has N + 1 parameters in
        every family), within an order in the order ``families`` lists them."""
        lo, hi = int(self.min_order), int(self.max_order)
        if hi < lo:
            msg = (
                f"config key 'fit.spurious.max_order' ({hi}) is below 'fit.spurious.min_order' "
                f"({lo}): no candidate model"
            )
            raise ConfigError(msg)
        fams = list(dict.fromkeys(self.families))
        unknown = [f for f in fams if f not in FIT_FAMILIES]
        if unknown:
            msg = (
                f"config key 'fit.spurious.families': unknown family {unknown} "
                f"(known: {sorted(FIT_FAMILIES)})"
            )
            raise ConfigError(msg)
        return tuple(
            f"{fam}{n}" for n in range(lo, hi + 1) for fam in fams if n <= FIT_FAMILIES[fam]
        )


@dataclass(frozen=True)
class FitSettings(Section):
    """``fit``: binning, mass scan, signal width, background model and solver of the fits."""

    KEY: ClassVar[str] = "fit"
    hist_low: float
    hist_high: float
    bin_width: float
    mass_low: float
    mass_high: float
    mass_step: float
    sigma: float
    t_center: float
    t_scale: float
    backend: str
    min_events: int
    max_iterations: int
    tolerance: float
    max_fits_per_pass: int
    background: str
    spurious: SpuriousSettings

    @functools.cached_property
    def edges(self) -> np.ndarray:
        """Histogram bin edges (nbins + 1,) in GeV, read-only; ``ConfigError`` naming the key
        when the range is empty or the width does not divide it."""
        lo, hi, width = float(self.hist_low), float(self.hist_high), float(self.bin_width)
        if not width > 0:
            msg = f"config key 'fit.bin_width' must be > 0, got {width}"
            raise ConfigError(msg)
        if not hi > lo:
            msg = f"config key 'fit.hist_high' ({hi}) must be above 'fit.hist_low' ({lo})"
            raise ConfigError(msg)
        nb_float = (hi - lo) / width
        nb = round(nb_float)
        if abs(nb_float - nb) > 1e-6 * max(1.0, nb_float):
            msg = (
                f"config key 'fit.bin_width' ({width}) must divide the histogram range "
                f"[{lo}, {hi}] into a whole number of bins, got {nb_float:.6g} bins"
            )
            raise ConfigError(msg)
        edges = lo + width * np.arange(nb + 1, dtype=np.float64)
        edges[-1] = hi
        edges.setflags(write=False)
        return edges

    @functools.cached_property
    def masses(self) -> np.ndarray:
        """The signal masses of the scan (M,) in GeV, read-only: ``mass_low`` to ``mass_high``
        in ``mass_step`` steps."""
        m_lo, m_hi, step = float(self.mass_low), float(self.mass_high), float(self.mass_step)
        if not step > 0:
            msg = f"config key 'fit.mass_step' must be > 0, got {step}"
            raise ConfigError(msg)
        if m_hi < m_lo:
            msg = f"config key 'fit.mass_high' ({m_hi}) must be >= 'fit.mass_low' ({m_lo})"
            raise ConfigError(msg)
        n_m = math.floor((m_hi - m_lo) / step + 1e-9) + 1
        masses = m_lo + step * np.arange(n_m, dtype=np.float64)
        masses.setflags(write=False)
        return masses

    @property
    def window(self) -> tuple[float, float]:
        """The histogram range ``(hist_low, hist_high)``."""
        return float(self.hist_low), float(self.hist_high)


# ----------------------------------------------------------------------------------------- lee
@dataclass(frozen=True)
class PseudoDataSettings(Section):
    """``lee.observed.generate``: the pseudo-data of ``lee.observed.features: generate``."""

    KEY: ClassVar[str] = "lee.observed.generate"
    n_jobs: int
    events_per_job: int
    events: int | None


@dataclass(frozen=True)
class ObservedSettings(Section):
    """``lee.observed``: the dataset the toys calibrate, analysed once with their procedure."""

    KEY: ClassVar[str] = "lee.observed"
    enabled: bool
    features: str | None
    generate: PseudoDataSettings

    #: ``features`` value of the pseudo-data, and the file the pipeline writes it to.
    GENERATE: ClassVar[str] = "generate"
    PSEUDO_DATA: ClassVar[str] = "results/mc/pseudo_data.root"
    #: ``mc-generate`` job index of the pseudo-data's job j: ``FIRST_JOB + j`` (the training MC
    #: uses 0 .., the validation samples 100000 .. and 200000 ..: independent seeds).
    FIRST_JOB: ClassVar[int] = 400000

    def path(self, mc_features: str) -> str:
        """The features file of the dataset: the user's file, the pseudo-data's
        (``PSEUDO_DATA``) or, for null, the MC's (``mc_features``)."""
        if self.features == self.GENERATE:
            return self.PSEUDO_DATA
        return str(self.features) if self.features else str(mc_features)


@dataclass(frozen=True)
class LeeSettings(Section):
    """``lee``: the look-elsewhere aggregation (rules lee_aggregate, lee_plots)."""

    KEY: ClassVar[str] = "lee"
    z0: float
    observed_z: float | None
    observed: ObservedSettings
    zmax_bins: int
    zmax_range: tuple[float, float]
    n_scan_plots: int
    cl: float
    table_z: tuple[float, ...]
    allow_size_mismatch: bool


# ---------------------------------------------------------------------------------- validation
@dataclass(frozen=True)
class ValidationInjectionSettings(Section):
    """``validation.injection``: the injection studies."""

    KEY: ClassVar[str] = "validation.injection"
    n_signal: tuple[int, ...]
    mass: float
    width: float | None
    source: str
    window_sigmas: float


@dataclass(frozen=True)
class SculptingSettings(Section):
    """``validation.sculpting``: the sculpting diagnostics (study nomllg)."""

    KEY: ClassVar[str] = "validation.sculpting"
    drop_features: tuple[str, ...]
    rebin: int


@dataclass(frozen=True)
class CompareSettings(Section):
    """``validation.compare``: two-sample comparisons of z_max distributions."""

    KEY: ClassVar[str] = "validation.compare"
    quantiles: tuple[float, ...]
    n_bootstrap: int
    n_permutations: int
    z_local: tuple[float, ...]


@dataclass(frozen=True)
class AmplificationSettings(Section):
    """``validation.amplification``: GAN amplification of the m_llg shape (arXiv:2008.06545)."""

    KEY: ClassVar[str] = "validation.amplification"
    reference: str
    reference_jobs: int
    n_quantiles: int
    sizes: tuple[int, ...]
    n_repeats: int
    n_bootstrap: int


@dataclass(frozen=True)
class ClosureSettings(Section):
    """``validation.closure``: generator toys against independent-MC pool toys."""

    KEY: ClassVar[str] = "validation.closure"
    enabled: bool
    pool: str
    pool_jobs: int | None
    min_pvalue: float
    max_median_shift: float


@dataclass(frozen=True)
class ValidationSettings(Section):
    """``validation``: the physics-validation studies (rules/validation.smk)."""

    KEY: ClassVar[str] = "validation"
    enabled: bool
    n_toys: int | None
    chunk_size: int | None
    n_gans: int
    scorings: tuple[str, ...]
    injection: ValidationInjectionSettings
    sculpting: SculptingSettings
    compare: CompareSettings
    amplification: AmplificationSettings
    closure: ClosureSettings


# ------------------------------------------------------------------------------- derived values
@dataclass(frozen=True)
class Injection:
    """The signal injection of the toys, resolved: ``width`` a number, ``window`` the histogram
    range (``toys.inject`` with ``fit.sigma`` and ``fit.hist_low/high``).

    Example:
        >>> Injection(n_signal=0).enabled
        False
    """

    n_signal: int = 0
    mass: float = 150.0
    width: float = 2.5
    source: str = "background_mllg"
    window: tuple[float, float] = (130.0, 170.0)

    #: The signal feature sources ``toys.inject.source`` knows (``ganlee.toys.inject``).
    SOURCES: ClassVar[tuple[str, ...]] = ("background_mllg",)

    @property
    def enabled(self) -> bool:
        return self.n_signal > 0

    def describe(self) -> str:
        """One line for logs and the ``toy`` CLI."""
        return (
            f"{self.n_signal} signal event(s) injected into sample 2 only, m_llg ~ "
            f"N({self.mass:g}, {self.width:g}) GeV truncated to [{self.window[0]:g}, "
            f"{self.window[1]:g}], features: {self.source}"
        )


def _injection(inject: InjectSettings, fit: FitSettings) -> Injection:
    """``toys.inject`` resolved against the ``fit`` section; checked only when it is on."""
    lo, hi = fit.window
    n = int(inject.n_signal)
    if n < 0:
        msg = f"config key 'toys.inject.n_signal' must be >= 0, got {n}"
        raise ConfigError(msg)
    mass = float(inject.mass)
    width = float(fit.sigma if inject.width is None else inject.width)
    source = str(inject.source)
    if n == 0:
        return Injection(n_signal=0, mass=mass, width=width, source=source, window=(lo, hi))
    if not hi > lo:
        msg = f"config key 'fit.hist_high' ({hi}) must be above 'fit.hist_low' ({lo})"
        raise ConfigError(msg)
    if not (math.isfinite(width) and width > 0):
        msg = f"config key 'toys.inject.width' must be a number > 0 or null, got {width}"
        raise ConfigError(msg)
    if not (lo <= mass <= hi):
        msg = (
            f"config key 'toys.inject.mass' = {mass} GeV is outside the m_llg histogram "
            f"range [{lo}, {hi}] (fit.hist_low, fit.hist_high)"
        )
        raise ConfigError(msg)
    if source not in Injection.SOURCES:
        msg = f"config key 'toys.inject.source' must be one of {Injection.SOURCES}, got {source!r}"
        raise ConfigError(msg)
    return Injection(n_signal=n, mass=mass, width=width, source=source, window=(lo, hi))


@dataclass(frozen=True)
class ToySizes:
    """The events of sample 1 (labelled background) and sample 2 (unlabelled data) of every toy,
    and where each number came from (for logs, summaries and the headline)."""

    sample1: int
    sample2: int
    origin1: str
    origin2: str

    def describe(self) -> str:
        return (
            f"sample 1 {self.sample1} events ({self.origin1}), "
            f"sample 2 {self.sample2} events ({self.origin2})"
        )


# ---------------------------------------------------------------------------------------- root
@dataclass(frozen=True)
class Settings(Section):
    """The whole validated configuration, typed (module docstring)."""

    KEY: ClassVar[str] = ""
    seed: int
    device: str
    mc: McSettings
    gan: GanSettings
    toys: ToysSettings
    fit: FitSettings
    lee: LeeSettings
    validation: ValidationSettings

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None, source: str = "config") -> Settings:
        """Validate ``cfg`` (a possibly partial raw mapping: the schema fills the rest) and type
        it; ``ConfigError`` naming the offending key."""
        from ganlee.config import validate

        return cls.from_mapping(validate(dict(cfg or {}), source))

    @functools.cached_property
    def injection(self) -> Injection:
        """The toys' signal injection, resolved and checked (``toys.inject``, ``fit``)."""
        return _injection(self.toys.inject, self.fit)

    def toy_sizes(self, n_mc: int | None = None, n_observed: int | None = None) -> ToySizes:
        """The toy sizes: ``toys.sample2_size``, else the events of the dataset the toys
        calibrate (``n_observed``, the observed dataset, when ``lee.observed.enabled``; else the
        MC, ``n_mc``); ``toys.sample1_size``, else the same number as sample 2 (the observed
        analysis draws as many labelled-background events from the generator as the data holds).

        ``ConfigError`` when a size is set below 1, or is null and nothing defines it.
        """
        t = self.toys
        for key in ("sample1_size", "sample2_size"):
            v = getattr(t, key)
            if v is not None and int(v) < 1:
                msg = f"config key 'toys.{key}' must be >= 1 or null, got {v}"
                raise ConfigError(msg)
        if t.sample2_size is not None:
            n2, origin2 = int(t.sample2_size), "toys.sample2_size"
        elif self.lee.observed.enabled and n_observed is not None:
            n2, origin2 = int(n_observed), "the observed dataset"
        elif n_mc is not None:
            n2, origin2 = int(n_mc), "the MC"
        else:
            msg = (
                "config key 'toys.sample2_size' is null and no dataset defines it: set "
                "toys.sample2_size (and toys.sample1_size)"
            )
            raise ConfigError(msg)
        if t.sample1_size is not None:
            n1, origin1 = int(t.sample1_size), "toys.sample1_size"
        else:
            n1, origin1 = n2, f"as sample 2, {origin2}"
        return ToySizes(n1, n2, origin1, origin2)

    def observed_dataset(self, given: str | Path | None, mc_features: str | Path) -> str | None:
        """The observed dataset of a step: ``given`` (``--observed``), else the config's
        (``lee.observed.features``: the user's file, the pseudo-data's, or the MC's
        ``mc_features``); None when ``lee.observed.enabled`` is off and nothing is given."""
        if given is not None:
            return str(given)
        if not self.lee.observed.enabled:
            return None
        return self.lee.observed.path(str(mc_features))

    def toy_sizes_from(
        self,
        mc: str | Path | None = None,
        observed: str | Path | None = None,
        n_mc: int | None = None,
    ) -> ToySizes:
        """``toy_sizes`` with the event counts read from the files that define them: the
        observed dataset's ``observed`` (a features file; read only when the sizes need it and
        ``lee.observed.enabled``) and the MC's (``n_mc``, else counted in the features file
        ``mc``). A file the sizes need that does not exist is an ``InputError`` naming it."""
        from ganlee.io import count_events

        t = self.toys
        need = t.sample2_size is None
        n_obs = None
        if need and self.lee.observed.enabled and observed is not None:
            n_obs = count_events(observed)
        if need and n_obs is None and n_mc is None and mc is not None:
            n_mc = count_events(mc)
        return self.toy_sizes(n_mc=n_mc, n_observed=n_obs)

    def input_paths(self) -> list[tuple[str, str]]:
        """``(config key, path)`` of every user input file the config names: each of
        ``mc.input_files``, ``lee.observed.features`` (when enabled) and
        ``validation.amplification.reference`` and ``validation.closure.pool`` (when validation,
        and the closure for the pool, are on and they are paths)."""
        return _input_paths(self)

    def check_input_paths(self, root: str | Path = ".") -> None:
        """Raise ``ConfigError`` naming the key and the path of the first configured input
        file that is missing or not a regular file (relative paths from ``root``, the
        workflow's directory)."""
        from ganlee.io import path_problem

        for key, path in self.input_paths():
            p = Path(path) if Path(path).is_absolute() else Path(root) / path
            problem = path_problem(p)
            if problem is not None:
                msg = f"config key '{key}': input file '{path}' {problem}"
                raise ConfigError(msg)


def _input_paths(s: Settings) -> list[tuple[str, str]]:
    out = [(f"mc.input_files[{i}]", str(p)) for i, p in enumerate(s.mc.input_files)]
    observed = s.lee.observed
    if observed.enabled and observed.features and observed.features != observed.GENERATE:
        out.append(("lee.observed.features", str(observed.features)))
    v = s.validation
    ref = v.amplification.reference
    if v.enabled and ref not in ("generate", "holdout"):
        out.append(("validation.amplification.reference", str(ref)))
    if v.enabled and v.closure.enabled and v.closure.pool != "generate":
        out.append(("validation.closure.pool", str(v.closure.pool)))
    return out


def load_settings(spec: str | Path | Any | None = None) -> Settings:
    """``ganlee.config.load_config(spec)`` typed: a file, inline JSON, a ``ConfigSpec`` (file
    plus ``--set`` overrides) or None (``config/config.yaml`` here, else the schema defaults)."""
    from ganlee.config import load_config

    return Settings.from_mapping(load_config(spec))
