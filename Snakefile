from snakemake.utils import min_version

min_version("9.19")


# The embedded demo's settings apply only when no config file is named: with
# `--configfile my.yaml` the config is the schema's defaults plus my.yaml (and --config).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


include: "rules/common.smk"


report: report_front_page()


include: "rules/mc.smk"
include: "rules/gan.smk"
include: "rules/fit.smk"
include: "rules/toys.smk"
include: "rules/lee.smk"


if SETTINGS.validation.enabled:

    include: "rules/validation.smk"


rule all:
    default_target: True
    input:
        final_outputs(),
        validation_outputs() if SETTINGS.validation.enabled else [],


onsuccess:
    print_headline()
