# make run  : create .venv, install ganlee and run the whole pipeline on the embedded default
# make test : same install, then the test suite
# Without a local CPU wheel, PyPI's torch==2.13.0 on Linux is the CUDA build (several GB with its
# nvidia-* wheels); for the CPU build: make run TORCH_INDEX=https://download.pytorch.org/whl/cpu
VENV ?= .venv
CORES ?= 2
TORCH ?= torch==2.13.0
TORCH_INDEX ?=
ACT := . $(VENV)/bin/activate &&

.PHONY: setup run test lint dag clean
setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH)"
	$(VENV)/bin/python -m pip install --quiet -e ".[test,slurm]"
	touch $@

run: setup
	$(ACT) snakemake --cores $(CORES)

test: setup lint
	$(ACT) python -m pytest

lint: setup
	$(ACT) ruff check src tests bench && ruff format --check src tests bench && mypy && lint-imports && python -m pytest -q --doctest-modules src

dag: setup
	$(ACT) snakemake --dag | dot -Tpdf > dag.pdf

clean:
	rm -rf results logs .snakemake
