import math
import os
import sys

from snakemake.utils import validate

# ganlee.config from the checkout when ganlee is not installed where Snakemake runs
sys.path.append(os.path.join(workflow.basedir, "src"))
from ganlee import report as report_spec
from ganlee import resources
from ganlee.config import check_input_paths, coerce_types, inline_config

# Strings where the schema wants numbers (YAML 1.1 `1e-4`, `--config toys='{n_toys: 30}'`)
# become numbers, as in the ganlee CLI; then every configured input file must exist.
config.update(coerce_types(config))
validate(config, schema="../config/schema.yaml")
check_input_paths(config)


wildcard_constraints:
    i=r"\d+",
    chunk=r"\d+",


def cfg_json(*sections, drop=()):
    """Config keys a step depends on, inline (ganlee.config.inline_config: a YAML flow mapping,
    readable in the report); Snakemake reruns a step when they change."""
    return inline_config(_cfg_sections(*sections, drop=drop))


def _cfg_sections(*sections, drop=()):
    cfg = {"seed": config["seed"], "device": config["device"]}
    for section in sections:
        head, _, tail = section.partition(".")
        value = config[head] if not tail else {tail: config[head][tail]}
        cfg.setdefault(head, {}).update(value)
    for key in drop:
        head, _, tail = key.partition(".")
        cfg.get(head, {}).pop(tail, None)
    return cfg


def mc_generated_files():
    return expand(
        "results/mc/generated_{i}.root", i=range(config["mc"]["generate"]["n_jobs"])
    )


def mc_input_files():
    return config["mc"]["input_files"] or mc_generated_files()


def n_chunks():
    return math.ceil(config["toys"]["n_toys"] / config["toys"]["chunk_size"])


def toy_chunk_files():
    return expand("results/toys/chunk_{chunk}.npz", chunk=range(n_chunks()))


def _chunking(wildcards):
    """(n_toys, chunk_size) of a toy job: a validation study's, or the main toys'."""
    if hasattr(wildcards, "study"):
        return _vstudies().sizes(config)
    return config["toys"]["n_toys"], config["toys"]["chunk_size"]


def chunk_first(wildcards):
    return resources.chunk_span(*_chunking(wildcards), int(wildcards.chunk))[0]


def chunk_count(wildcards):
    return resources.chunk_span(*_chunking(wildcards), int(wildcards.chunk))[1]


def observed_features():
    return config["lee"]["observed"]["features"] or "results/mc/features.root"


def lee_observed_input():
    return ["results/lee/observed.npz"] if config["lee"]["observed"]["enabled"] else []


def print_headline():
    """The run's answer on the console at the end (ganlee.stats.headline), when the LEE exists."""
    from ganlee.stats.headline import format_headline, headline_from_files

    h = headline_from_files(
        "results/lee/summary.json",
        "results/gan/validation.json",
        "results/fit/background.json",
    )
    if h is not None:
        print(format_headline(h))


def final_outputs():
    """The default targets, the toy chunks among them (Snakemake remakes a deleted target, not a
    deleted intermediate file whose consumers are up to date)."""
    return [
        "results/mc/features.root",
        "results/gan/validation.json",
        *toy_chunk_files(),
        "results/lee/summary.json",
        "results/lee/plots/pglobal.pdf",
        "results/report/front_page.rst",
    ]


def figure_outputs(kind):
    """Named outputs of a plotting step (ganlee.report.figure_outputs): PDF and PNG of each
    figure, the PNG marked for the report with its caption."""
    return {k: _figure_output(f) for k, f in report_spec.figure_outputs(kind).items()}


def _figure_output(f):
    if f.in_report:
        return report(f.path, caption=f.caption, category=f.category)
    return f.path


def report_front_page():
    """The report's front page (written by the report_front_page step), as an absolute path:
    Snakemake would read a relative one from the Snakefile's directory."""
    return os.path.abspath("results/report/front_page.rst")


# LEE stage helpers.
def lee_chunk_dir(wildcards, input):
    """The directory of the toy chunks: passed instead of thousands of paths (shell limits)."""
    return os.path.dirname(input.chunks[0])


def lee_chunk_args(wildcards, input):
    """The chunk files of the current config, exactly: chunks left by another chunk_size are
    not read. They go on one command line (at most 128 KiB in Linux)."""
    args = " ".join(input.chunks)
    if len(args) > 120000:
        raise ValueError(
            f"{len(input.chunks)} toy chunk paths do not fit on one command line: raise config "
            f"key 'toys.chunk_size' (now {config['toys']['chunk_size']})"
        )
    return args


def lee_plot_dir(wildcards, output):
    return os.path.dirname(output[0])


def lee_observed_arg(wildcards, input):
    return f"--observed {input.observed}" if input.observed else ""


def lee_scan_chunk_files():
    """The first chunks, enough to hold lee.n_scan_plots toys for the Z(mass) scan plot."""
    per_chunk = config["toys"]["chunk_size"]
    wanted = max(1, math.ceil(config["lee"]["n_scan_plots"] / per_chunk))
    return toy_chunk_files()[: min(wanted, n_chunks())]


# Cluster resources (runtime [min], mem_mb [MB]): ganlee.resources.
def _toy_job(wildcards):
    """(toys section, hardware, number of toys) of a toy job: a validation study's or the main."""
    toys = config["toys"]
    if hasattr(wildcards, "study"):
        toys = _vstudies().study_toy_config(config, wildcards.study)["toys"]
    return toys, resources.hardware(config), chunk_count(wildcards)


def mc_generate_runtime(wildcards, attempt):
    return resources.mc_generate_runtime(config, attempt)


def gan_train_runtime(wildcards, input, attempt):
    return resources.gan_train_runtime(config, input[0], attempt)


def gan_train_mem_mb(wildcards, input, attempt):
    return resources.gan_train_mem_mb(config, input[0], attempt)


def toys_chunk_runtime(wildcards, input, attempt):
    return resources.toys_runtime(*_toy_job(wildcards), input.features, attempt)


def toys_chunk_mem_mb(wildcards, input, attempt):
    return resources.toys_mem_mb(*_toy_job(wildcards), input.features, attempt)


def fit_model_runtime(wildcards, input, attempt):
    """The pilot toys of rule fit_model, counted twice for scoring the template sample."""
    pilots = 2 * config["fit"]["spurious"]["pilot_toys"]
    hw = resources.hardware(config)
    return resources.toys_runtime(config["toys"], hw, pilots, input.features, attempt)


def fit_model_mem_mb(wildcards, input, attempt):
    hw = resources.hardware(config)
    return resources.toys_mem_mb(config["toys"], hw, 1, input.features, attempt) + 2000


def fit_plot_dir(wildcards, output):
    return os.path.dirname(output.spurious_signal_pdf)


def lee_observed_runtime(wildcards, input, attempt):
    hw = resources.hardware(config)
    return resources.toys_runtime(config["toys"], hw, 1, input.features, attempt)


def lee_observed_mem_mb(wildcards, input, attempt):
    hw = resources.hardware(config)
    return resources.toys_mem_mb(config["toys"], hw, 1, input.features, attempt)


# Validation helpers (rules/validation.smk).
# The study logic (names, per-study toy config, which studies coincide) is ganlee.validation.studies.
# Independent MC samples: mc-generate job indices offset + j (the training MC uses 0..n_jobs-1).
VALIDATION_MC_INDEX = {"reference": 100000, "pool": 200000}


def _vstudies():
    import ganlee.validation.studies as studies

    return studies


def validation_study_pattern():
    return _vstudies().STUDY_PATTERN


def validation_studies():
    return _vstudies().study_names(config)


def _validation_chunks(study):
    s = _vstudies()
    source = s.alias(config, study)
    if source == s.MAIN:
        return toy_chunk_files()
    n, size = s.sizes(config)
    return expand(
        "results/validation/{study}/chunk_{chunk}.npz",
        study=source,
        chunk=range(math.ceil(n / size)),
    )


def validation_aggregate_chunks(wildcards):
    return _validation_chunks(wildcards.study)


def _validation_model(study):
    st = _vstudies().parse_study(study)
    if st.source != "gan":
        return None
    if st.kind == "ensemble":
        return f"results/validation/gan_ens{st.member}/model.pt"
    return "results/gan/model.pt"


def validation_toys_inputs(wildcards):
    model = _validation_model(wildcards.study)
    pool = _vstudies().parse_study(wildcards.study).source == "mc_pool"
    inputs = {
        "features": validation_pool_input() if pool else "results/mc/features.root",
        "background": "results/fit/background.json",
    }
    if model:
        inputs["model"] = model
    return inputs


def validation_model_arg(wildcards, input):
    model = input.get("model")
    return f"--model {model}" if model else ""


def validation_toys_cfg(wildcards):
    return inline_config(_vstudies().study_toy_config(config, wildcards.study))


def validation_gan_cfg(wildcards):
    cfg = _cfg_sections("gan")
    cfg["seed"] = _vstudies().ensemble_seed(config, int(wildcards.g))
    return inline_config(cfg)


def validation_lee_cfg(wildcards):
    cfg = _cfg_sections("lee")
    cfg["toys"] = {"n_toys": _vstudies().sizes(config)[0]}
    return inline_config(cfg)


def _validation_mc_jobs(sample):
    """Jobs of an independent MC sample; its job indices must not reach the next sample's."""
    v = config["validation"]
    if sample == "pool":
        jobs = v["closure"]["pool_jobs"]
        jobs = jobs if jobs is not None else 3 * config["mc"]["generate"]["n_jobs"]
    else:
        jobs = v["amplification"]["reference_jobs"]
    gap = VALIDATION_MC_INDEX["pool"] - VALIDATION_MC_INDEX["reference"]
    if max(jobs, config["mc"]["generate"]["n_jobs"]) > gap:
        raise ValueError(
            f"more than {gap} mc-generate jobs in one sample: the job indices (seeds) of the "
            "training MC, validation reference and pool would overlap"
        )
    return jobs


def validation_reference_files(wildcards):
    jobs = _validation_mc_jobs(wildcards.sample)
    return expand(
        "results/validation/{sample}/generated_{j}.root",
        sample=wildcards.sample,
        j=range(jobs),
    )


def validation_reference_index(wildcards):
    return VALIDATION_MC_INDEX[wildcards.sample] + int(wildcards.j)


def _independent_mc(key, value, sample):
    if value != "generate":
        return value
    if config["mc"]["input_files"]:
        raise ValueError(
            f"config key '{key}' is 'generate' but mc.input_files is set (the MC is not "
            "generated here): give a features ROOT file of an independent sample of the "
            "same process"
        )
    return f"results/validation/{sample}/features.root"


def validation_reference_input():
    ref = config["validation"]["amplification"]["reference"]
    if ref == "holdout":
        return []
    return [_independent_mc("validation.amplification.reference", ref, "reference")]


def validation_pool_input():
    pool = config["validation"]["closure"]["pool"]
    return _independent_mc("validation.closure.pool", pool, "pool")


def validation_reference_arg(wildcards, input):
    return input.reference if input.get("reference") else "holdout"


def _validation_lee_dir(study):
    return f"results/validation/{study}/lee"


def validation_summary_inputs(wildcards):
    studies = validation_studies()
    return {
        "lee": [f"{_validation_lee_dir(s)}/summary.json" for s in studies],
        "chunks": sorted({c for s in studies for c in _validation_chunks(s)}),
        "main_lee": ["results/lee/summary.json", "results/lee/zmax.csv"],
        "amplification": "results/validation/amplification.json",
        "features": "results/mc/features.root",
    }


def validation_study_args(wildcards, input):
    args = []
    for s in validation_studies():
        chunk_dir = os.path.dirname(_validation_chunks(s)[0])
        args.append(f"--study {s} {chunk_dir} {_validation_lee_dir(s)}")
    return " ".join(args)


def validation_main_lee_dir(wildcards, input):
    return os.path.dirname(input.main_lee[0])


def validation_plot_files():
    return report_spec.figure_paths("validation")


def validation_closure_inputs(wildcards):
    vs = _vstudies()
    names = [*vs.closure_studies(config), vs.SELECTION_CONTROL]
    return {
        **{s: _validation_chunks(s) for s in names},
        "model": "results/gan/model.pt",
        "pool": validation_pool_input(),
    }


def validation_closure_args(wildcards, input):
    vs = _vstudies()
    studies = vs.closure_studies(config)
    control = vs.SELECTION_CONTROL
    args = [f"--study {s} {os.path.dirname(input[s][0])}" for s in studies]
    args.append(f"--control {control} {os.path.dirname(input[control][0])}")
    args.append(f"--model {input.model} --pool {input.pool}")
    return " ".join(args)


def validation_closure_outputs():
    if not config["validation"]["closure"]["enabled"]:
        return []
    return ["results/validation/closure.json", *report_spec.figure_paths("closure")]


def validation_outputs():
    if not config["validation"]["enabled"]:
        return []
    return [
        "results/validation/summary.json",
        *validation_plot_files(),
        *validation_closure_outputs(),
    ]
