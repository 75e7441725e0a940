import json
import math

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
