rule lee_observed:
    input:
        model="results/gan/model.pt",
        features="results/mc/features.root",
        data=observed_features(),
    output:
        "results/lee/observed.npz",
    params:
        cfg=cfg_json("toys", "fit", drop=["toys.n_toys"]),
    log:
        "logs/lee/observed.log",
    conda:
        "../envs/torch.yaml"
    shell:
        "ganlee observe --config {params.cfg:q} --model {input.model} "
        "--features {input.features} --data {input.data} --out {output} > {log} 2>&1"


rule lee_aggregate:
    input:
        chunks=toy_chunk_files(),
        observed=lee_observed_input(),
    output:
        summary="results/lee/summary.json",
        zmax="results/lee/zmax.csv",
        hist="results/lee/zmax_hist.pkl",
    params:
        cfg=cfg_json("lee", "fit", "toys.n_toys"),
        observed=lambda wildcards, input: f"--observed {input.observed}" if input.observed else "",
    log:
        "logs/lee/aggregate.log",
    conda:
        "../envs/torch.yaml"
    shell:
        "ganlee lee-aggregate --config {params.cfg:q} {params.observed} --summary {output.summary} "
        "--zmax {output.zmax} --hist {output.hist} {input.chunks} > {log} 2>&1"


rule lee_plots:
    input:
        summary="results/lee/summary.json",
        zmax="results/lee/zmax.csv",
        hist="results/lee/zmax_hist.pkl",
        chunks=toy_chunk_files(),
        observed=lee_observed_input(),
    output:
        pglobal=report(
            "results/lee/plots/pglobal.pdf",
            caption="../report/pglobal.rst",
            category="LEE",
        ),
        plots=directory("results/lee/plots"),
    params:
        cfg=cfg_json("lee", "fit"),
        observed=lambda wildcards, input: f"--observed {input.observed}" if input.observed else "",
    log:
        "logs/lee/plots.log",
    conda:
        "../envs/torch.yaml"
    shell:
        "ganlee lee-plots --config {params.cfg:q} --summary {input.summary} --zmax {input.zmax} "
        "--hist {input.hist} {params.observed} --outdir {output.plots} {input.chunks} > {log} 2>&1"
