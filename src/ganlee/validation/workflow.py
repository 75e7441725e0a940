"""The validation DAG's inputs, outputs and arguments (``rules/validation.smk``), as functions of
the settings.

``rules/validation.smk`` wraps each of these in a one-line input or params function of the rule's
wildcards; keeping the logic here makes it testable and keeps ``rules/common.smk`` to what every
run needs (docs/design.md, "Layers": the workflow glue). Paths are the pipeline's
(``results/...``); the study logic itself (names, per-study settings, aliases) is
``ganlee.validation.studies``.

Independent MC samples are ``mc-generate`` jobs with the job indices ``MC_INDEX[sample] + j``, so
their Pythia and detector seeds never meet the training MC's (jobs ``0 .. mc.generate.n_jobs-1``).
"""

from __future__ import annotations

import os
from typing import Any

from ganlee.chunks import chunk_paths
from ganlee.errors import ConfigError
from ganlee.settings import Settings
from ganlee.validation import studies as st

__all__ = [
    "MC_INDEX",
    "closure_args",
    "closure_inputs",
    "gan_config",
    "independent_mc",
    "lee_config",
    "lee_dir",
    "mc_jobs",
    "mc_reference_files",
    "model_path",
    "outputs",
    "pool_input",
    "reference_input",
    "study_args",
    "study_chunk_files",
    "summary_inputs",
    "toys_inputs",
]

#: First ``mc-generate`` job index of each independent MC sample (jobs ``MC_INDEX[s] + j``).
MC_INDEX = {"reference": 100000, "pool": 200000}


def study_chunk_files(settings: Settings, study: str) -> list[str]:
    """The chunk files study ``study`` reads: the main toys' when it coincides with them
    (``studies.alias``), else those of the study it aliases (or its own)."""
    source = st.alias(settings, study)
    if source == st.MAIN:
        return chunk_paths(settings.toys.n_toys, settings.toys.chunk_size)
    n, size = st.sizes(settings)
    return chunk_paths(n, size, f"results/validation/{source}")


def model_path(study: str) -> str | None:
    """The GAN checkpoint of a study's toys (None for the MC sources)."""
    s = st.parse_study(study)
    if s.source != "gan":
        return None
    if s.kind == "ensemble":
        return f"results/validation/gan_ens{s.member}/model.pt"
    return "results/gan/model.pt"


def toys_inputs(settings: Settings, study: str) -> dict[str, str]:
    """Inputs of a validation toy job: the events' source (the MC, or the pool for
    ``mc_pool``), the background choice and, for a GAN study, its model."""
    pool = st.parse_study(study).source == "mc_pool"
    inputs = {
        "features": pool_input(settings) if pool else "results/mc/features.root",
        "background": "results/fit/background.json",
    }
    model = model_path(study)
    if model:
        inputs["model"] = model
    return inputs


def gan_config(settings: Settings, member: int) -> dict[str, Any]:
    """The config a GAN ensemble member is trained with: the ``gan`` section and its seed."""
    return {
        "seed": st.ensemble_seed(settings, member),
        "device": settings.device,
        "gan": settings.gan.to_dict(),
    }


def lee_config(settings: Settings) -> dict[str, Any]:
    """The config of a study's LEE aggregation: the ``lee`` section and the study's toy count."""
    return {
        "seed": settings.seed,
        "device": settings.device,
        "lee": settings.lee.to_dict(),
        "toys": {"n_toys": st.sizes(settings)[0]},
    }


def mc_jobs(settings: Settings, sample: str) -> int:
    """Jobs of an independent MC sample (``reference`` or ``pool``); ``ConfigError`` when its
    job indices would reach the next sample's."""
    v = settings.validation
    if sample == "pool":
        jobs = v.closure.pool_jobs
        jobs = jobs if jobs is not None else 3 * settings.mc.generate.n_jobs
    else:
        jobs = v.amplification.reference_jobs
    gap = MC_INDEX["pool"] - MC_INDEX["reference"]
    if max(jobs, settings.mc.generate.n_jobs) > gap:
        msg = (
            f"more than {gap} mc-generate jobs in one sample: the job indices (seeds) of the "
            "training MC, validation reference and pool would overlap"
        )
        raise ConfigError(msg)
    return int(jobs)


def mc_reference_files(settings: Settings, sample: str) -> list[str]:
    """The generated files of an independent MC sample."""
    return [
        f"results/validation/{sample}/generated_{j}.root" for j in range(mc_jobs(settings, sample))
    ]


def independent_mc(settings: Settings, key: str, value: str, sample: str) -> str:
    """The features file of an independent MC sample: ``value`` when it is a path, else
    (``generate``) the one the validation generates; ``ConfigError`` naming ``key`` when the MC
    is the user's (the pipeline cannot generate their process)."""
    if value != "generate":
        return value
    if settings.mc.input_files:
        msg = (
            f"config key '{key}' is 'generate' but mc.input_files is set (the MC is not "
            "generated here): give a features ROOT file of an independent sample of the "
            "same process"
        )
        raise ConfigError(msg)
    return f"results/validation/{sample}/features.root"


def reference_input(settings: Settings) -> list[str]:
    """The amplification study's reference features file (none for ``holdout``)."""
    ref = settings.validation.amplification.reference
    if ref == "holdout":
        return []
    return [independent_mc(settings, "validation.amplification.reference", ref, "reference")]


def pool_input(settings: Settings) -> str:
    """The closure's independent MC pool (features file)."""
    pool = settings.validation.closure.pool
    return independent_mc(settings, "validation.closure.pool", pool, "pool")


def lee_dir(study: str) -> str:
    """The LEE output directory of a study."""
    return f"results/validation/{study}/lee"


def summary_inputs(settings: Settings) -> dict[str, Any]:
    """Inputs of ``validation_summary``."""
    names = st.study_names(settings)
    return {
        "lee": [f"{lee_dir(s)}/summary.json" for s in names],
        "chunks": sorted({c for s in names for c in study_chunk_files(settings, s)}),
        "main_lee": ["results/lee/summary.json", "results/lee/zmax.csv"],
        "amplification": "results/validation/amplification.json",
        "features": "results/mc/features.root",
    }


def study_args(settings: Settings) -> str:
    """``--study NAME CHUNK_DIR LEE_DIR`` of every study (``validation-summary``)."""
    args = []
    for s in st.study_names(settings):
        chunk_dir = os.path.dirname(study_chunk_files(settings, s)[0])
        args.append(f"--study {s} {chunk_dir} {lee_dir(s)}")
    return " ".join(args)


def closure_inputs(settings: Settings) -> dict[str, Any]:
    """Inputs of ``validation_closure``: the chunks of its studies and of the selection
    control, the main model and the pool."""
    names = [*st.closure_studies(settings), st.SELECTION_CONTROL]
    return {
        **{s: study_chunk_files(settings, s) for s in names},
        "model": "results/gan/model.pt",
        "pool": pool_input(settings),
    }


def closure_args(settings: Settings, inputs: Any) -> str:
    """The ``--study``, ``--control``, ``--model`` and ``--pool`` arguments of
    ``validation-closure`` (``inputs``: the rule's named inputs)."""
    studies = st.closure_studies(settings)
    control = st.SELECTION_CONTROL
    args = [f"--study {s} {os.path.dirname(inputs[s][0])}" for s in studies]
    args.append(f"--control {control} {os.path.dirname(inputs[control][0])}")
    args.append(f"--model {inputs['model']} --pool {inputs['pool']}")
    return " ".join(args)


def outputs(settings: Settings) -> list[str]:
    """The validation targets of ``rule all`` but the figures (the rules add those of
    ``ganlee.report.FIGURE_SETS``): none when validation is off; the closure's only when
    ``validation.closure.enabled``."""
    if not settings.validation.enabled:
        return []
    out = ["results/validation/summary.json"]
    if settings.validation.closure.enabled:
        out.append("results/validation/closure.json")
    return out
