from snakemake.utils import min_version

min_version("9.19")


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
