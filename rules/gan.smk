rule gan_train:
    input:
        "results/mc/features.root",
    output:
        model="results/gan/model.pt",
        history="results/gan/history.csv",
    log:
        "logs/gan/train.log",
    conda:
        "../envs/torch.yaml"
    resources:
        runtime=gan_train_runtime,
        mem_mb=gan_train_mem_mb,
    params:
        cfg=cfg_json(
            "gan", "mc.selection", drop=("gan.fidelity", "gan.require_fidelity")
        ),
        checkpoint="results/gan/checkpoint.pt",
    shell:
        "ganlee gan-train --config {params.cfg:q} --features {input} --model {output.model} "
        "--history {output.history} --checkpoint {params.checkpoint} > {log} 2>&1"


rule gan_validate:
    input:
        features="results/mc/features.root",
        model="results/gan/model.pt",
        history="results/gan/history.csv",
        observed=observed_size_input(),
    output:
        metrics=report(
            "results/gan/validation.json",
            caption="../report/gan_validation.rst",
            category="GAN",
        ),
        plots=report(
            directory("results/gan/plots"),
            patterns=["{name}.png"],
            caption="../report/gan_plots.rst",
            category="GAN",
        ),
    log:
        "logs/gan/validate.log",
    conda:
        "../envs/torch.yaml"
    params:
        cfg=cfg_json(
            "gan",
            "mc.selection",
            "toys.sample1_size",
            "toys.sample2_size",
            "lee.observed",
        ),
        observed=observed_arg,
    shell:
        "ganlee gan-validate --config {params.cfg:q} --features {input.features} "
        "--model {input.model} --history {input.history} {params.observed} "
        "--out {output.metrics} --plots {output.plots} > {log} 2>&1"
