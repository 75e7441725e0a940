#!/usr/bin/env bash
# Run by Snakemake inside the environment it has just created from the .yaml beside this file
# (the .yaml is copied to .snakemake/conda/, so a relative "-e .." there would point into
# .snakemake/; this script is run from its own place in the checkout). Installs ganlee from
# this checkout, editable and without dependencies: the .yaml lists this family's own.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
python -m pip install --no-deps --editable "$root"
