import ganlee.validation.studies as vstudies
import ganlee.validation.workflow as vwf


# Input, params and resource functions of the validation rules: one line each, the logic is
# ganlee.validation.workflow (tested) and ganlee.validation.studies.
def validation_outputs():
    figures = report_spec.figure_paths("validation")
    if SETTINGS.validation.closure.enabled:
        figures += report_spec.figure_paths("closure")
    return [*vwf.outputs(SETTINGS), *figures]


def _study_span(wildcards):
    n, size = vstudies.sizes(SETTINGS)
    return resources.chunk_span(n, size, int(wildcards.chunk))


def validation_chunk_first(wildcards):
    return _study_span(wildcards)[0]


def validation_chunk_count(wildcards):
    return _study_span(wildcards)[1]


def _study_settings(wildcards):
    return vstudies.study_settings(SETTINGS, wildcards.study)


def validation_toys_runtime(wildcards, input, attempt):
    n = validation_chunk_count(wildcards)
    return resources.toys_runtime(
        _study_settings(wildcards), n, input.features, attempt
    )


def validation_toys_mem_mb(wildcards, input, attempt):
    n = validation_chunk_count(wildcards)
    return resources.toys_mem_mb(_study_settings(wildcards), n, input.features, attempt)


def validation_toys_inputs(wildcards):
    return vwf.toys_inputs(SETTINGS, wildcards.study)


def validation_model_arg(wildcards, input):
    model = input.get("model")
    return f"--model {model}" if model else ""


def validation_toys_cfg(wildcards):
    return inline_config(vstudies.study_toy_config(SETTINGS, wildcards.study))


def validation_gan_cfg(wildcards):
    return inline_config(vwf.gan_config(SETTINGS, int(wildcards.g)))


def validation_lee_cfg(wildcards):
    return inline_config(vwf.lee_config(SETTINGS))


def validation_aggregate_chunks(wildcards):
    return vwf.study_chunk_files(SETTINGS, wildcards.study)


def validation_reference_files(wildcards):
    return vwf.mc_reference_files(SETTINGS, wildcards.sample)


def validation_reference_index(wildcards):
    return vwf.MC_INDEX[wildcards.sample] + int(wildcards.j)


def validation_reference_arg(wildcards, input):
    return input.reference if input.get("reference") else "holdout"


def validation_summary_inputs(wildcards):
    return vwf.summary_inputs(SETTINGS)


def validation_study_args(wildcards, input):
    return vwf.study_args(SETTINGS)


def validation_main_lee_dir(wildcards, input):
    return os.path.dirname(input.main_lee[0])


def validation_closure_inputs(wildcards):
    return vwf.closure_inputs(SETTINGS)


def validation_closure_args(wildcards, input):
    return vwf.closure_args(SETTINGS, input)


rule validation_reference_generate:
    output:
        "results/validation/{sample}/generated_{j}.root",
    log:
        "logs/validation/{sample}_generate_{j}.log",
    wildcard_constraints:
        sample="reference|pool",
        j=r"\d+",
    conda:
        "../envs/hep-io.yaml"
    resources:
        runtime=mc_generate_runtime,
    params:
        cfg=cfg_json("mc.generate"),
        index=validation_reference_index,
    shell:
        "ganlee mc-generate --config {params.cfg:q} --index {params.index} --out {output} > {log} 2>&1"


rule validation_reference_convert:
    input:
        validation_reference_files,
    output:
        features="results/validation/{sample}/features.root",
        provenance="results/validation/{sample}/features.json",
    log:
        "logs/validation/{sample}_convert.log",
    wildcard_constraints:
        sample="reference|pool",
    conda:
        "../envs/hep-io.yaml"
    params:
        cfg=cfg_json("mc", drop=["mc.generate"]),
    shell:
        "ganlee mc-convert --config {params.cfg:q} --out {output.features} "
        "--provenance {output.provenance} {input} > {log} 2>&1"


rule validation_gan_train:
    input:
        "results/mc/features.root",
    output:
        model="results/validation/gan_ens{g}/model.pt",
        history="results/validation/gan_ens{g}/history.csv",
    log:
        "logs/validation/gan_ens{g}_train.log",
    wildcard_constraints:
        g=r"[1-9][0-9]*",
    conda:
        "../envs/torch.yaml"
    resources:
        runtime=gan_train_runtime,
        mem_mb=gan_train_mem_mb,
    params:
        cfg=validation_gan_cfg,
        checkpoint="results/validation/gan_ens{g}/checkpoint.pt",
    shell:
        "ganlee gan-train --config {params.cfg:q} --features {input} --model {output.model} "
        "--history {output.history} --checkpoint {params.checkpoint} > {log} 2>&1"


rule validation_toys_chunk:
    input:
        unpack(validation_toys_inputs),
    output:
        "results/validation/{study}/chunk_{chunk}.npz",
    log:
        "logs/validation/{study}/chunk_{chunk}.log",
    wildcard_constraints:
        study=vstudies.STUDY_PATTERN,
    conda:
        "../envs/torch.yaml"
    resources:
        runtime=validation_toys_runtime,
        mem_mb=validation_toys_mem_mb,
    params:
        cfg=validation_toys_cfg,
        model=validation_model_arg,
        first=validation_chunk_first,
        n=validation_chunk_count,
    shell:
        "ganlee toys --config {params.cfg:q} {params.model} --features {input.features} "
        "--background {input.background} --first {params.first} --count {params.n} "
        "--out {output} > {log} 2>&1"


rule validation_aggregate:
    input:
        chunks=validation_aggregate_chunks,
    output:
        summary="results/validation/{study}/lee/summary.json",
        zmax="results/validation/{study}/lee/zmax.csv",
        hist="results/validation/{study}/lee/zmax_hist.pkl",
    log:
        "logs/validation/{study}/aggregate.log",
    wildcard_constraints:
        study=vstudies.STUDY_PATTERN,
    conda:
        "../envs/torch.yaml"
    params:
        cfg=validation_lee_cfg,
        chunk_dir=lee_chunk_dir,
    shell:
        "ganlee lee-aggregate --config {params.cfg:q} --summary {output.summary} "
        "--zmax {output.zmax} --hist {output.hist} {params.chunk_dir} > {log} 2>&1"


rule validation_amplification:
    input:
        features="results/mc/features.root",
        model="results/gan/model.pt",
        reference=vwf.reference_input(SETTINGS),
    output:
        "results/validation/amplification.json",
    log:
        "logs/validation/amplification.log",
    conda:
        "../envs/torch.yaml"
    params:
        cfg=cfg_json("validation.amplification"),
        reference=validation_reference_arg,
    shell:
        "ganlee validation-amplification --config {params.cfg:q} --features {input.features} "
        "--model {input.model} --reference {params.reference} --out {output} > {log} 2>&1"


rule validation_summary:
    input:
        unpack(validation_summary_inputs),
    output:
        report(
            "results/validation/summary.json",
            caption="../report/validation_summary.rst",
            category="Validation",
        ),
    log:
        "logs/validation/summary.log",
    conda:
        "../envs/torch.yaml"
    params:
        cfg=cfg_json("validation", "toys", "fit", "lee"),
        studies=validation_study_args,
        main_lee=validation_main_lee_dir,
    shell:
        "ganlee validation-summary --config {params.cfg:q} {params.studies} "
        "--main-lee {params.main_lee} --amplification {input.amplification} "
        "--features {input.features} --out {output} > {log} 2>&1"


rule validation_plots:
    input:
        "results/validation/summary.json",
    output:
        **figure_outputs("validation"),
    log:
        "logs/validation/plots.log",
    conda:
        "../envs/torch.yaml"
    params:
        cfg=cfg_json("validation"),
        outdir=lee_plot_dir,
    shell:
        "ganlee validation-plots --config {params.cfg:q} --summary {input} "
        "--outdir {params.outdir} > {log} 2>&1"


rule validation_closure:
    input:
        unpack(validation_closure_inputs),
    output:
        report(
            "results/validation/closure.json",
            caption="../report/validation_closure_json.rst",
            category="Validation",
        ),
    log:
        "logs/validation/closure.log",
    conda:
        "../envs/torch.yaml"
    params:
        cfg=cfg_json("validation", "toys", "fit", "lee", "gan"),
        studies=validation_closure_args,
    shell:
        "ganlee validation-closure --config {params.cfg:q} {params.studies} --out {output} "
        "> {log} 2>&1"


rule validation_closure_plots:
    input:
        "results/validation/closure.json",
    output:
        **figure_outputs("closure"),
    log:
        "logs/validation/closure_plots.log",
    conda:
        "../envs/torch.yaml"
    params:
        cfg=cfg_json("validation"),
        outdir=lee_plot_dir,
    shell:
        "ganlee validation-closure-plots --config {params.cfg:q} --closure {input} "
        "--outdir {params.outdir} > {log} 2>&1"
