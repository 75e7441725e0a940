rule lee_observed:
    input:
        model="results/gan/model.pt",
        features="results/mc/features.root",
        data=observed_features(),
        background="results/fit/background.json",
    output:
        "results/lee/observed.npz",
    log:
        "logs/lee/observed.log",
    conda:
        "../envs/torch.yaml"
    resources:
        runtime=lee_observed_runtime,
        mem_mb=lee_observed_mem_mb,
    params:
        cfg=cfg_json("toys", "fit", "lee.observed", drop=["toys.n_toys"]),
    shell:
        "ganlee observe --config {params.cfg:q} --model {input.model} "
        "--features {input.features} --data {input.data} --background {input.background} "
        "--out {output} > {log} 2>&1"


rule lee_aggregate:
    input:
        chunks=toy_chunk_files(),
        model="results/gan/model.pt",
        observed=lee_observed_input(),
        background="results/fit/background.json",
    output:
        summary=report(
            "results/lee/summary.json",
            caption="../report/lee_summary.rst",
            category="LEE",
        ),
        zmax="results/lee/zmax.csv",
        hist="results/lee/zmax_hist.pkl",
    log:
        "logs/lee/aggregate.log",
    conda:
        "../envs/torch.yaml"
    params:
        cfg=cfg_json("lee", "toys.n_toys"),
        chunks=lee_chunk_args,
        observed=lee_observed_arg,
    shell:
        "ganlee lee-aggregate --config {params.cfg:q} --model {input.model} {params.observed} "
        "--background {input.background} --summary {output.summary} --zmax {output.zmax} "
        "--hist {output.hist} {params.chunks} > {log} 2>&1"


rule lee_plots:
    input:
        summary="results/lee/summary.json",
        zmax="results/lee/zmax.csv",
        hist="results/lee/zmax_hist.pkl",
        chunks=lee_scan_chunk_files(),
        observed=lee_observed_input(),
    output:
        **figure_outputs("lee"),
    log:
        "logs/lee/plots.log",
    conda:
        "../envs/torch.yaml"
    params:
        cfg=cfg_json("lee", "fit"),
        outdir=lee_plot_dir,
        observed=lee_observed_arg,
    shell:
        "ganlee lee-plots --config {params.cfg:q} --summary {input.summary} --zmax {input.zmax} "
        "--hist {input.hist} {params.observed} --outdir {params.outdir} {input.chunks} > {log} 2>&1"


rule report_front_page:
    input:
        description="report/workflow.rst",
        summary="results/lee/summary.json",
        gan="results/gan/validation.json",
        background="results/fit/background.json",
    output:
        "results/report/front_page.rst",
    log:
        "logs/report/front_page.log",
    conda:
        "../envs/torch.yaml"
    params:
        cfg=cfg_json("lee"),
    shell:
        "ganlee report-front-page --config {params.cfg:q} --description {input.description} "
        "--summary {input.summary} --gan {input.gan} --background {input.background} "
        "--out {output} > {log} 2>&1"
