rule toys_chunk:
    input:
        model="results/gan/model.pt",
        features="results/mc/features.root",
        background="results/fit/background.json",
        observed=observed_size_input(),
    output:
        "results/toys/chunk_{chunk}.npz",
    log:
        "logs/toys/chunk_{chunk}.log",
    conda:
        "../envs/torch.yaml"
    resources:
        runtime=toys_chunk_runtime,
        mem_mb=toys_chunk_mem_mb,
    params:
        cfg=cfg_json("toys", "fit", "lee.observed", drop=["toys.n_toys"]),
        first=chunk_first,
        n=chunk_count,
        observed=observed_arg,
    shell:
        "ganlee toys --config {params.cfg:q} --model {input.model} --features {input.features} "
        "--background {input.background} {params.observed} --first {params.first} "
        "--count {params.n} --out {output} > {log} 2>&1"
