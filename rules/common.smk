import math
import os
import sys

from snakemake.utils import validate

# ganlee from the checkout when ganlee is not installed where Snakemake runs
sys.path.append(os.path.join(workflow.basedir, "src"))
from ganlee import report as report_spec
from ganlee import resources
from ganlee.chunks import chunk_paths
from ganlee.config import coerce_types, inline_config
from ganlee.settings import Settings

# Strings where the schema wants numbers (YAML 1.1 `1e-4`, `--config toys='{n_toys: 30}'`)
# become numbers, as in the ganlee CLI; the validated config typed once (ganlee.settings);
# then every configured input file must exist.
config.update(coerce_types(config))
validate(config, schema="../config/schema.yaml")
SETTINGS = Settings.from_mapping(config)
SETTINGS.check_input_paths()


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
    return expand("results/mc/generated_{i}.root", i=range(SETTINGS.mc.generate.n_jobs))


def mc_input_files():
    return list(SETTINGS.mc.input_files) or mc_generated_files()


def toy_chunk_files():
    return chunk_paths(SETTINGS.toys.n_toys, SETTINGS.toys.chunk_size)


def chunk_first(wildcards):
    t = SETTINGS.toys
    return resources.chunk_span(t.n_toys, t.chunk_size, int(wildcards.chunk))[0]


def chunk_count(wildcards):
    t = SETTINGS.toys
    return resources.chunk_span(t.n_toys, t.chunk_size, int(wildcards.chunk))[1]


def observed_features():
    """The observed dataset: the user's file, the pseudo-data or the MC itself."""
    return SETTINGS.lee.observed.path("results/mc/features.root")


def observed_size_input():
    """The dataset whose size the toys take (toys.sample2_size null, lee.observed.enabled): an
    input of every rule that resolves the toy sizes, so that a new dataset reruns them.
    """
    if SETTINGS.toys.sample2_size is not None or not SETTINGS.lee.observed.enabled:
        return []
    return [observed_features()]


def observed_arg(wildcards, input):
    return f"--observed {input.observed}" if input.get("observed") else ""


def pseudo_data_files():
    g = SETTINGS.lee.observed.generate
    return [f"results/mc/pseudo_data/generated_{j}.root" for j in range(g.n_jobs)]


def pseudo_data_index(wildcards):
    return SETTINGS.lee.observed.FIRST_JOB + int(wildcards.j)


def pseudo_data_cfg():
    """mc-generate's config of a pseudo-data job: mc.generate with the pseudo-data's sizes."""
    g = SETTINGS.lee.observed.generate
    gen = {**SETTINGS.mc.generate.to_dict(), "n_jobs": g.n_jobs}
    gen["events_per_job"] = g.events_per_job
    cfg = {"seed": SETTINGS.seed, "device": SETTINGS.device, "mc": {"generate": gen}}
    return inline_config(cfg)


def pseudo_data_max_events():
    events = SETTINGS.lee.observed.generate.events
    return f"--max-events {events}" if events is not None else ""


def pseudo_data_runtime(wildcards, attempt):
    return resources.pseudo_data_runtime(SETTINGS, attempt)


def lee_observed_input():
    return ["results/lee/observed.npz"] if SETTINGS.lee.observed.enabled else []


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
            f"key 'toys.chunk_size' (now {SETTINGS.toys.chunk_size})"
        )
    return args


def lee_plot_dir(wildcards, output):
    return os.path.dirname(output[0])


def lee_observed_arg(wildcards, input):
    return f"--observed {input.observed}" if input.observed else ""


def lee_scan_chunk_files():
    """The first chunks, enough to hold lee.n_scan_plots toys for the Z(mass) scan plot."""
    wanted = max(1, math.ceil(SETTINGS.lee.n_scan_plots / SETTINGS.toys.chunk_size))
    return toy_chunk_files()[:wanted]


# Cluster resources (runtime [min], mem_mb [MB]): ganlee.resources.
def mc_generate_runtime(wildcards, attempt):
    return resources.mc_generate_runtime(SETTINGS, attempt)


def gan_train_runtime(wildcards, input, attempt):
    return resources.gan_train_runtime(SETTINGS, input[0], attempt)


def gan_train_mem_mb(wildcards, input, attempt):
    return resources.gan_train_mem_mb(SETTINGS, input[0], attempt)


def toys_chunk_runtime(wildcards, input, attempt):
    n = chunk_count(wildcards)
    return resources.toys_runtime(SETTINGS, n, input.features, attempt)


def toys_chunk_mem_mb(wildcards, input, attempt):
    n = chunk_count(wildcards)
    return resources.toys_mem_mb(SETTINGS, n, input.features, attempt)


def fit_model_runtime(wildcards, input, attempt):
    """The pilot toys of rule fit_model, counted twice for scoring the template sample."""
    pilots = 2 * SETTINGS.fit.spurious.pilot_toys
    return resources.toys_runtime(SETTINGS, pilots, input.features, attempt)


def fit_model_mem_mb(wildcards, input, attempt):
    return resources.toys_mem_mb(SETTINGS, 1, input.features, attempt) + 2000


def fit_plot_dir(wildcards, output):
    return os.path.dirname(output.spurious_signal_pdf)


def lee_observed_runtime(wildcards, input, attempt):
    return resources.toys_runtime(SETTINGS, 1, input.features, attempt)


def lee_observed_mem_mb(wildcards, input, attempt):
    return resources.toys_mem_mb(SETTINGS, 1, input.features, attempt)
