rule mc_generate:
    output:
        "results/mc/generated_{i}.root",
    log:
        "logs/mc/generate_{i}.log",
    conda:
        "../envs/hep-io.yaml"
    resources:
        runtime=mc_generate_runtime,
    params:
        cfg=cfg_json("mc.generate"),
    shell:
        "ganlee mc-generate --config {params.cfg:q} --index {wildcards.i} --out {output} > {log} 2>&1"


rule mc_convert:
    input:
        mc_input_files(),
    output:
        features="results/mc/features.root",
        provenance="results/mc/features.json",
    log:
        "logs/mc/convert.log",
    conda:
        "../envs/hep-io.yaml"
    params:
        cfg=cfg_json("mc", drop=["mc.generate"]),
    shell:
        "ganlee mc-convert --config {params.cfg:q} --out {output.features} "
        "--provenance {output.provenance} {input} > {log} 2>&1"
