import json
import math
import os
import sys

from snakemake.utils import validate

# ganlee.config from the checkout when ganlee is not installed where Snakemake runs
sys.path.append(os.path.join(workflow.basedir, "src"))
from ganlee.config import check_input_paths, coerce_types

# Strings where the schema wants numbers (YAML 1.1 `1e-4`, `--config toys='{n_toys: 30}'`)
# become numbers, as in the ganlee CLI; then every configured input file must exist.
config.update(coerce_types(config))
validate(config, schema="../config/schema.yaml")
check_input_paths(config)


wildcard_constraints:
    i=r"\d+",
    chunk=r"\d+",


def cfg_json(*sections, drop=()):
    """Config keys a step depends on, as JSON; Snakemake reruns a step when they change."""
    cfg = {"seed": config["seed"], "device": config["device"]}
    for section in sections:
        head, _, tail = section.partition(".")
        value = config[head] if not tail else {tail: config[head][tail]}
        cfg.setdefault(head, {}).update(value)
    for key in drop:
        head, _, tail = key.partition(".")
        cfg.get(head, {}).pop(tail, None)
    return json.dumps(cfg, sort_keys=True)


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


def chunk_first(wildcards):
    return int(wildcards.chunk) * config["toys"]["chunk_size"]


def chunk_count(wildcards):
    first = chunk_first(wildcards)
    return max(0, min(config["toys"]["chunk_size"], config["toys"]["n_toys"] - first))


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
    return [
        "results/mc/features.root",
        "results/gan/validation.json",
        "results/lee/summary.json",
        "results/lee/plots/pglobal.pdf",
    ]


# LEE stage helpers (appended by the LEE engineer).
def lee_chunk_dir(wildcards, input):
    """The directory of the toy chunks: passed instead of thousands of paths (shell limits)."""
    return os.path.dirname(input.chunks[0])


def lee_plot_dir(wildcards, output):
    return os.path.dirname(output[0])


def lee_observed_arg(wildcards, input):
    return f"--observed {input.observed}" if input.observed else ""


def lee_scan_chunk_files():
    """The first chunks, enough to hold lee.n_scan_plots toys for the Z(mass) scan plot."""
    per_chunk = config["toys"]["chunk_size"]
    wanted = max(1, math.ceil(config["lee"]["n_scan_plots"] / per_chunk))
    return toy_chunk_files()[: min(wanted, n_chunks())]


# Cluster resources (appended by the SLURM engineer). Runtime [min] and memory [MB]
# of the heavy rules, estimated from the config's sizes and the features file's size,
# generous by design and doubled on each retry (attempt). Local runs ignore them; a
# cluster profile uses them (profiles/slurm). Rates per job: Pythia events/s by realism,
# GAN generator steps/s and DNN event-epochs/s for reference-size models on a GPU (DESIGN.md
# figures / ~20) or a CPU core, fit seconds per toy.
RESOURCE_RATES = {
    "pythia_events_per_s": {"full": 50, "no_mpi": 300, "parton_shower": 300},
    "gan_steps_per_s": {"gpu": 100.0, "cpu": 2.0},
    "dnn_event_epochs_per_s": {"gpu": 2.0e6, "cpu": 5.0e3},
    "fit_seconds_per_toy": {"gpu": 0.01, "cpu": 0.2},
}
# 18 float32 branches per event: the file size bounds the number of events.
FEATURE_BYTES_PER_EVENT = 72
# python + torch (+ the CUDA context on a GPU node)
BASE_MEM_MB = {"gpu": 4000, "cpu": 2000}


def _hardware():
    return "cpu" if config["device"] == "cpu" else "gpu"


def _runtime_min(seconds, attempt, floor=10):
    """Twice the estimate plus 5 minutes, at least `floor`, times the attempt."""
    return attempt * max(floor, math.ceil(2 * seconds / 60) + 5)


def _n_events(path):
    """Upper bound on the events of a features file (FileNotFoundError before it exists:
    Snakemake then shows the resource as <TBD> in a dry run)."""
    return max(1, os.path.getsize(path) // FEATURE_BYTES_PER_EVENT)


def mc_generate_runtime(wildcards, attempt):
    gen = config["mc"]["generate"]
    rate = RESOURCE_RATES["pythia_events_per_s"][gen["realism"]]
    return _runtime_min(gen["events_per_job"] / rate, attempt)


def gan_train_runtime(wildcards, input, attempt):
    gan = config["gan"]
    n_train = _n_events(input[0]) * (1.0 - gan["holdout_fraction"])
    steps = gan["epochs"] * n_train / (gan["batch_size"] * gan["n_critic"])
    return _runtime_min(steps / RESOURCE_RATES["gan_steps_per_s"][_hardware()], attempt)


def gan_train_mem_mb(wildcards, input, attempt):
    data_mb = math.ceil(_n_events(input[0]) * 18 * 8 * 4 / 1e6)
    return attempt * (BASE_MEM_MB[_hardware()] + data_mb)


def _toy_sizes(features):
    toys = config["toys"]
    n = _n_events(features)
    return n, toys["sample1_size"] or n, toys["sample2_size"] or n


def _toys_seconds(n_toys, features):
    toys, hw = config["toys"], _hardware()
    _, s1, s2 = _toy_sizes(features)
    passes = toys["k_folds"] if toys["scoring"] == "kfold" else 1
    work = n_toys * (s1 + s2) * toys["dnn"]["epochs"] * passes
    batch_factor = min(1.0, toys["dnn"]["batch_size"] / 128)
    rate = RESOURCE_RATES["dnn_event_epochs_per_s"][hw] * batch_factor
    return work / rate + n_toys * RESOURCE_RATES["fit_seconds_per_toy"][hw]


def _toys_mem_mb(n_toys, features, attempt):
    n, s1, s2 = _toy_sizes(features)
    together = min(n_toys, config["toys"]["models_per_batch"] or n_toys)
    # on a GPU the samples live in device memory, on a CPU in a few copies
    copies = 3 if _hardware() == "cpu" else 1
    sample_mb = math.ceil((together * (s1 + s2) * 18 * 4 * copies + n * 18 * 8) / 1e6)
    return attempt * min(256000, BASE_MEM_MB[_hardware()] + sample_mb)


def toys_chunk_runtime(wildcards, input, attempt):
    seconds = _toys_seconds(max(1, chunk_count(wildcards)), input.features)
    return _runtime_min(seconds, attempt)


def toys_chunk_mem_mb(wildcards, input, attempt):
    return _toys_mem_mb(max(1, chunk_count(wildcards)), input.features, attempt)


def lee_observed_runtime(wildcards, input, attempt):
    return _runtime_min(_toys_seconds(1, input.features), attempt)


def lee_observed_mem_mb(wildcards, input, attempt):
    return _toys_mem_mb(1, input.features, attempt)


# Validation helpers (appended by the validation engineer; rules/validation.smk, issue 7).
# The study logic (names, per-study toy config, which studies coincide) is ganlee.validation.studies.
VALIDATION_PLOTS = (
    "zmax_gan_vs_mc",
    "ensemble",
    "sensitivity",
    "sculpting",
    "amplification",
)
VALIDATION_REFERENCE_INDEX = 100000  # reference MC jobs: mc-generate indices 100000 + j


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
    inputs = {"features": "results/mc/features.root"}
    if model:
        inputs["model"] = model
    return inputs


def validation_model_arg(wildcards, input):
    model = input.get("model")
    return f"--model {model}" if model else ""


def validation_toys_cfg(wildcards):
    cfg = _vstudies().study_toy_config(config, wildcards.study)
    return json.dumps(cfg, sort_keys=True)


def validation_chunk_first(wildcards):
    return int(wildcards.chunk) * _vstudies().sizes(config)[1]


def validation_chunk_count(wildcards):
    n, size = _vstudies().sizes(config)
    return max(0, min(size, n - validation_chunk_first(wildcards)))


def _validation_toys_seconds(wildcards, features):
    toys = _vstudies().study_toy_config(config, wildcards.study)["toys"]
    hw = _hardware()
    _, s1, s2 = _toy_sizes(features)
    passes = toys["k_folds"] if toys["scoring"] == "kfold" else 1
    n = max(1, validation_chunk_count(wildcards))
    work = n * (s1 + s2) * toys["dnn"]["epochs"] * passes
    batch_factor = min(1.0, toys["dnn"]["batch_size"] / 128)
    rate = RESOURCE_RATES["dnn_event_epochs_per_s"][hw] * batch_factor
    return work / rate + n * RESOURCE_RATES["fit_seconds_per_toy"][hw]


def validation_toys_runtime(wildcards, input, attempt):
    return _runtime_min(_validation_toys_seconds(wildcards, input.features), attempt)


def validation_toys_mem_mb(wildcards, input, attempt):
    n = max(1, validation_chunk_count(wildcards))
    return _toys_mem_mb(n, input.features, attempt)


def validation_gan_cfg(wildcards):
    cfg = json.loads(cfg_json("gan"))
    cfg["seed"] = _vstudies().ensemble_seed(config, int(wildcards.g))
    return json.dumps(cfg, sort_keys=True)


def validation_lee_cfg(wildcards):
    cfg = json.loads(cfg_json("lee"))
    cfg["toys"] = {"n_toys": _vstudies().sizes(config)[0]}
    return json.dumps(cfg, sort_keys=True)


def validation_reference_files():
    jobs = config["validation"]["amplification"]["reference_jobs"]
    return expand("results/validation/reference/generated_{j}.root", j=range(jobs))


def validation_reference_index(wildcards):
    return VALIDATION_REFERENCE_INDEX + int(wildcards.j)


def validation_reference_input():
    ref = config["validation"]["amplification"]["reference"]
    if ref == "holdout":
        return []
    if ref == "generate":
        if config["mc"]["input_files"]:
            raise ValueError(
                "config key 'validation.amplification.reference' is 'generate' but "
                "mc.input_files is set (the MC is not generated here): give a features "
                "ROOT file of an independent sample of the same process, or 'holdout'"
            )
        return ["results/validation/reference/features.root"]
    return [ref]


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


def validation_plot_files(ext=("pdf", "png")):
    return [f"results/validation/plots/{n}.{e}" for n in VALIDATION_PLOTS for e in ext]


def validation_outputs():
    if not config["validation"]["enabled"]:
        return []
    return ["results/validation/summary.json", *validation_plot_files()]
