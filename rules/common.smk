import json
import math
import os

from snakemake.utils import validate

validate(config, schema="../config/schema.yaml")


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


# Cluster resources (appended by the SLURM engineer). Runtime [min] and memory [MB] of the
# heavy rules, estimated from the config's sizes and the features file's size, generous by
# design and doubled on each retry (attempt). Local runs ignore them; a cluster profile uses
# them (profiles/slurm). Rates are per job: pythia events/s by realism, GAN generator steps/s
# and DNN event-epochs/s on GPU (seed-size models, DESIGN.md figures / ~20) and on CPU.
RESOURCE_RATES = {
    "pythia_events_per_s": {"full": 50, "no_mpi": 300, "parton_shower": 300},
    "gan_steps_per_s": {"gpu": 10.0, "cpu": 2.0},
    "dnn_event_epochs_per_s": {"gpu": 2.0e6, "cpu": 5.0e3},
    "fit_seconds_per_toy": {"gpu": 0.01, "cpu": 0.2},
}
FEATURE_BYTES_PER_EVENT = 72  # 18 float32 branches: the file size bounds the event count


def _hardware():
    return "cpu" if config["device"] == "cpu" else "gpu"


def _runtime_min(seconds, attempt, floor=10):
    """Twice the estimate plus 5 minutes, at least `floor`, times the attempt."""
    return attempt * max(floor, math.ceil(2 * seconds / 60) + 5)


def _n_events(path):
    """Upper bound on the events in a features file (FileNotFoundError before it exists)."""
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
    return attempt * (4000 + math.ceil(_n_events(input[0]) * 18 * 8 * 4 / 1e6))


def _toy_sizes(features):
    toys = config["toys"]
    n = _n_events(features)
    s1 = toys["sample1_size"] or n
    s2 = toys["sample2_size"] or n
    return n, s1, s2


def _toys_seconds(n_toys, features):
    toys, hw = config["toys"], _hardware()
    _, s1, s2 = _toy_sizes(features)
    passes = toys["k_folds"] if toys["scoring"] == "kfold" else 1
    work = n_toys * (s1 + s2) * toys["dnn"]["epochs"] * passes
    rate = RESOURCE_RATES["dnn_event_epochs_per_s"][hw] * min(1.0, toys["dnn"]["batch_size"] / 128)
    return work / rate + n_toys * RESOURCE_RATES["fit_seconds_per_toy"][hw]


def _toys_mem_mb(n_toys, features, attempt):
    n, s1, s2 = _toy_sizes(features)
    together = min(n_toys, config["toys"]["models_per_batch"] or n_toys)
    copies = 3 if _hardware() == "cpu" else 1  # on GPU the samples live in device memory
    sample_bytes = together * (s1 + s2) * 18 * 4 * copies + n * 18 * 8
    return attempt * min(256000, 3000 + math.ceil(sample_bytes / 1e6))


def toys_chunk_runtime(wildcards, input, attempt):
    return _runtime_min(_toys_seconds(max(1, chunk_count(wildcards)), input.features), attempt)


def toys_chunk_mem_mb(wildcards, input, attempt):
    return _toys_mem_mb(max(1, chunk_count(wildcards)), input.features, attempt)


def lee_observed_runtime(wildcards, input, attempt):
    return _runtime_min(_toys_seconds(1, input.features), attempt)


def lee_observed_mem_mb(wildcards, input, attempt):
    return _toys_mem_mb(1, input.features, attempt)
