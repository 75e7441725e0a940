rule gan_train:
    input:
        "results/mc/features.root",
    output:
        model="results/gan/model.pt",
        history="results/gan/history.csv",
    params:
        cfg=cfg_json("gan"),
        checkpoint="results/gan/checkpoint.pt",
    log:
        "logs/gan/train.log",
    conda:
        "../envs/torch.yaml"
    shell:
        "ganlee gan-train --config {params.cfg:q} --features {input} --model {output.model} "
        "--history {output.history} --checkpoint {params.checkpoint} > {log} 2>&1"


rule gan_validate:
    input:
        features="results/mc/features.root",
        model="results/gan/model.pt",
        history="results/gan/history.csv",
    output:
        metrics="results/gan/validation.json",
        plots=directory("results/gan/plots"),
    params:
        cfg=cfg_json("gan"),
    log:
        "logs/gan/validate.log",
    conda:
        "../envs/torch.yaml"
    shell:
        "ganlee gan-validate --config {params.cfg:q} --features {input.features} "
        "--model {input.model} --history {input.history} --out {output.metrics} "
        "--plots {output.plots} > {log} 2>&1"
