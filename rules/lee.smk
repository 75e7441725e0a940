rule lee_observed:
    input:
        model="results/gan/model.pt",
        features="results/mc/features.root",
        data=observed_features(),
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
        cfg=cfg_json("toys", "fit", drop=["toys.n_toys"]),
    shell:
        "ganlee observe --config {params.cfg:q} --model {input.model} "
        "--features {input.features} --data {input.data} --out {output} > {log} 2>&1"


rule lee_aggregate:
    input:
        chunks=toy_chunk_files(),
        model="results/gan/model.pt",
        observed=lee_observed_input(),
    output:
        summary="results/lee/summary.json",
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
        "--summary {output.summary} --zmax {output.zmax} --hist {output.hist} {params.chunks} "
        "> {log} 2>&1"


rule lee_plots:
    input:
        summary="results/lee/summary.json",
        zmax="results/lee/zmax.csv",
        hist="results/lee/zmax_hist.pkl",
        chunks=lee_scan_chunk_files(),
        observed=lee_observed_input(),
    output:
        zmax_hist_pdf=report(
            "results/lee/plots/zmax_hist.pdf",
            caption="../report/zmax_hist.rst",
            category="LEE",
            subcategory="PDF",
        ),
        zmax_hist_png=report(
            "results/lee/plots/zmax_hist.png",
            caption="../report/zmax_hist.rst",
            category="LEE",
            subcategory="PNG",
        ),
        pglobal_pdf=report(
            "results/lee/plots/pglobal.pdf",
            caption="../report/pglobal.rst",
            category="LEE",
            subcategory="PDF",
        ),
        pglobal_png=report(
            "results/lee/plots/pglobal.png",
            caption="../report/pglobal.rst",
            category="LEE",
            subcategory="PNG",
        ),
        trials_factor_pdf=report(
            "results/lee/plots/trials_factor.pdf",
            caption="../report/trials_factor.rst",
            category="LEE",
            subcategory="PDF",
        ),
        trials_factor_png=report(
            "results/lee/plots/trials_factor.png",
            caption="../report/trials_factor.rst",
            category="LEE",
            subcategory="PNG",
        ),
        upcrossings_pdf=report(
            "results/lee/plots/upcrossings.pdf",
            caption="../report/upcrossings.rst",
            category="LEE",
            subcategory="PDF",
        ),
        upcrossings_png=report(
            "results/lee/plots/upcrossings.png",
            caption="../report/upcrossings.rst",
            category="LEE",
            subcategory="PNG",
        ),
        zmax_location_pdf=report(
            "results/lee/plots/zmax_location.pdf",
            caption="../report/zmax_location.rst",
            category="LEE",
            subcategory="PDF",
        ),
        zmax_location_png=report(
            "results/lee/plots/zmax_location.png",
            caption="../report/zmax_location.rst",
            category="LEE",
            subcategory="PNG",
        ),
        scans_pdf=report(
            "results/lee/plots/scans.pdf",
            caption="../report/scans.rst",
            category="LEE",
            subcategory="PDF",
        ),
        scans_png=report(
            "results/lee/plots/scans.png",
            caption="../report/scans.rst",
            category="LEE",
            subcategory="PNG",
        ),
        observed_fit_pdf=report(
            "results/lee/plots/observed_fit.pdf",
            caption="../report/observed_fit.rst",
            category="LEE",
            subcategory="PDF",
        ),
        observed_fit_png=report(
            "results/lee/plots/observed_fit.png",
            caption="../report/observed_fit.rst",
            category="LEE",
            subcategory="PNG",
        ),
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
