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
        study=validation_study_pattern(),
    conda:
        "../envs/torch.yaml"
    resources:
        runtime=toys_chunk_runtime,
        mem_mb=toys_chunk_mem_mb,
    params:
        cfg=validation_toys_cfg,
        model=validation_model_arg,
        first=chunk_first,
        n=chunk_count,
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
        study=validation_study_pattern(),
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
        reference=validation_reference_input(),
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
