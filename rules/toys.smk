rule toys_chunk:
    input:
        model="results/gan/model.pt",
        features="results/mc/features.root",
    output:
        "results/toys/chunk_{chunk}.npz",
    params:
        cfg=cfg_json("toys", "fit", drop=["toys.n_toys"]),
        first=chunk_first,
        n=chunk_count,
    log:
        "logs/toys/chunk_{chunk}.log",
    conda:
        "../envs/torch.yaml"
    shell:
        "ganlee toys --config {params.cfg:q} --model {input.model} --features {input.features} "
        "--first {params.first} --count {params.n} --out {output} > {log} 2>&1"
