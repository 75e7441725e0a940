rule fit_model:
    input:
        model="results/gan/model.pt",
        features="results/mc/features.root",
        observed=observed_size_input(),
    output:
        **figure_outputs("fit"),
        choice="results/fit/background.json",
    log:
        "logs/fit/fit_model.log",
    conda:
        "../envs/torch.yaml"
    resources:
        runtime=fit_model_runtime,
        mem_mb=fit_model_mem_mb,
    params:
        cfg=cfg_json(
            "toys",
            "fit",
            "lee.observed",
            drop=["toys.n_toys", "toys.chunk_size", "toys.diagnostics"],
        ),
        plots=fit_plot_dir,
        observed=observed_arg,
    shell:
        "ganlee fit-model --config {params.cfg:q} --model {input.model} "
        "--features {input.features} {params.observed} --out {output.choice} "
        "--plots {params.plots} > {log} 2>&1"
