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


rule mc_pseudo_data_generate:
    output:
        "results/mc/pseudo_data/generated_{j}.root",
    log:
        "logs/mc/pseudo_data_generate_{j}.log",
    wildcard_constraints:
        j=r"\d+",
    conda:
        "../envs/hep-io.yaml"
    resources:
        runtime=pseudo_data_runtime,
    params:
        cfg=pseudo_data_cfg(),
        index=pseudo_data_index,
    shell:
        "ganlee mc-generate --config {params.cfg:q} --index {params.index} --out {output} > {log} 2>&1"


rule mc_pseudo_data_convert:
    input:
        pseudo_data_files(),
    output:
        features="results/mc/pseudo_data.root",
        provenance="results/mc/pseudo_data.json",
    log:
        "logs/mc/pseudo_data_convert.log",
    conda:
        "../envs/hep-io.yaml"
    params:
        cfg=cfg_json("mc", drop=["mc.generate"]),
        max_events=pseudo_data_max_events(),
    shell:
        "ganlee mc-convert --config {params.cfg:q} {params.max_events} "
        "--out {output.features} --provenance {output.provenance} {input} > {log} 2>&1"
